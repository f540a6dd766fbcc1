"""The fake Jira: the platform REST endpoints apps call most, answered from the site's objects.

Issues here (get, create, edit, delete, assign, transitions, changelog); comments and properties
in jira_comments.py; JQL search, users and projects in jira_search.py. API versions 2 and 3, with
the response shapes and error bodies of Jira's REST reference
(developer.atlassian.com/cloud/jira/platform/rest/v3/). A write that fires a product event on
Forge (an issue created, updated, assigned, deleted or commented) fires it here too, through
`Site.fire` (service.py), which applies the triggers' subscriptions, ignoreSelf and the
cyclic-invocation limit. docs/product-site.md lists every endpoint and what is not served.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from forgeq.emulator.app.replies import Answer
from forgeq.emulator.platform.site import shapes
from forgeq.emulator.platform.site.calls import (
    Call,
    Refused,
    Route,
    body_object,
    jira_error,
    paging,
    reply,
    route,
)
from forgeq.emulator.platform.site.jira_agile import JiraAgile
from forgeq.emulator.platform.site.jira_catalogues import JiraCatalogues
from forgeq.emulator.platform.site.jira_comments import ISSUE_PROPERTY, JiraComments
from forgeq.emulator.platform.site.jira_links import JiraLinks
from forgeq.emulator.platform.site.jira_people import JiraPeople
from forgeq.emulator.platform.site.jira_search import JiraSearch
from forgeq.emulator.platform.site.jira_worklogs import WORKLOGGED, JiraWorklogs
from forgeq.emulator.products import payloads, seeds
from forgeq.emulator.products.seeds import COMMENTED, ISSUE

if TYPE_CHECKING:
    from forgeq.emulator.platform.site.service import Site

MAX_SUMMARY = 255
MAX_BULK_CREATE = 50  # issues one POST issue/bulk creates at most (Jira's REST reference)
CHANGELOG_DEFAULT_RESULTS = 100

# Fields an edit may set. Anything else is "not on the appropriate screen, or unknown", as Jira
# answers for a field missing from the edit screen; custom fields (customfield_N) are accepted.
EDITABLE = {
    "summary", "description", "labels", "assignee", "reporter", "priority", "duedate", "components",
    "fixVersions", "versions", "environment", "issuetype", "parent",
}  # fmt: skip
LIST_FIELDS = {"labels", "components", "fixVersions", "versions"}
ALL = ["*all"]  # the fields a GET issue answers when it names none (never changed)



def not_found_issue() -> Refused:
    return jira_error(404, ["Issue does not exist or you do not have permission to see it."])


class Jira(JiraComments, JiraSearch, JiraCatalogues, JiraLinks, JiraPeople, JiraWorklogs, JiraAgile):
    def __init__(self, site: Site) -> None:
        self.site = site
        self.data = site.data
        self.routes: list[Route] = [
            # Before GET issue/{issueIdOrKey}, which would take "createmeta" for a key: the first route that matches serves.
            route("GET", "/rest/api/{version}/issue/createmeta", self.create_meta),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}", self.get_issue),
            route("PUT", "/rest/api/{version}/issue/{issueIdOrKey}", self.edit_issue),
            route("DELETE", "/rest/api/{version}/issue/{issueIdOrKey}", self.delete_issue),
            route("POST", "/rest/api/{version}/issue", self.create_issue),
            route("POST", "/rest/api/{version}/issue/bulk", self.create_issues),
            route("POST", "/rest/api/{version}/issue/bulkfetch", self.bulk_fetch),
            route("PUT", "/rest/api/{version}/issue/{issueIdOrKey}/assignee", self.assign),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}/transitions", self.get_transitions),
            route("POST", "/rest/api/{version}/issue/{issueIdOrKey}/transitions", self.transition),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}/changelog", self.get_changelog),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}/comment", self.get_comments),
            route("POST", "/rest/api/{version}/issue/{issueIdOrKey}/comment", self.add_comment),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}/comment/{id}", self.get_comment),
            route("PUT", "/rest/api/{version}/issue/{issueIdOrKey}/comment/{id}", self.edit_comment),
            route("DELETE", "/rest/api/{version}/issue/{issueIdOrKey}/comment/{id}", self.delete_comment),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}/properties", self.property_keys),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}/properties/{propertyKey}", self.get_property),
            route("PUT", "/rest/api/{version}/issue/{issueIdOrKey}/properties/{propertyKey}", self.set_property),
            route("DELETE", "/rest/api/{version}/issue/{issueIdOrKey}/properties/{propertyKey}", self.delete_property),
            route("GET", "/rest/api/{version}/search/jql", self.search),
            route("POST", "/rest/api/{version}/search/jql", self.search),
            route("POST", "/rest/api/{version}/search/approximate-count", self.count),
            route("GET", "/rest/api/{version}/search", self.removed_search),
            route("POST", "/rest/api/{version}/search", self.removed_search),
            route("GET", "/rest/api/{version}/myself", self.myself),
            route("GET", "/rest/api/{version}/field", self.fields),
            route("GET", "/rest/api/{version}/issue/createmeta/{projectIdOrKey}/issuetypes", self.create_meta_types),
            route("GET", "/rest/api/{version}/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}", self.create_meta_fields),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}/editmeta", self.edit_meta),
            route("GET", "/rest/api/{version}/issuetype", self.issue_types),
            route("GET", "/rest/api/{version}/issuetype/project", self.project_issue_types),
            route("GET", "/rest/api/{version}/priority", self.priorities),
            route("GET", "/rest/api/{version}/status", self.statuses),
            route("GET", "/rest/api/{version}/project", self.all_projects),
            route("GET", "/rest/api/{version}/issueLinkType", self.link_types),
            route("GET", "/rest/api/{version}/issueLinkType/{issueLinkTypeId}", self.link_type),
            route("POST", "/rest/api/{version}/issueLink", self.create_link),
            route("GET", "/rest/api/{version}/issueLink/{linkId}", self.get_link),
            route("DELETE", "/rest/api/{version}/issueLink/{linkId}", self.delete_link),
            route("GET", "/rest/api/{version}/user/bulk", self.users_bulk),
            route("GET", "/rest/api/{version}/user/assignable/search", self.assignable_users),
            route("GET", "/rest/api/{version}/serverInfo", self.server_info),
            route("GET", "/rest/api/{version}/project/{projectIdOrKey}/statuses", self.project_statuses),
            route("GET", "/rest/api/{version}/project/{projectIdOrKey}/components", self.project_components),
            route("GET", "/rest/api/{version}/project/{projectIdOrKey}/versions", self.project_components),
            route("GET", "/rest/agile/1.0/board", self.boards),
            route("GET", "/rest/agile/1.0/board/{boardId}", self.board),
            route("GET", "/rest/agile/1.0/board/{boardId}/sprint", self.board_sprints),
            route("GET", "/rest/agile/1.0/sprint/{sprintId}", self.sprint),
            route("GET", "/rest/agile/1.0/sprint/{sprintId}/issue", self.sprint_issues),
            route("POST", "/rest/agile/1.0/sprint/{sprintId}/issue", self.move_to_sprint),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}/worklog", self.get_worklogs),
            route("POST", "/rest/api/{version}/issue/{issueIdOrKey}/worklog", self.add_worklog),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}/worklog/{id}", self.get_worklog),
            route("PUT", "/rest/api/{version}/issue/{issueIdOrKey}/worklog/{id}", self.update_worklog),
            route("DELETE", "/rest/api/{version}/issue/{issueIdOrKey}/worklog/{id}", self.delete_worklog),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}/watchers", self.get_watchers),
            route("POST", "/rest/api/{version}/issue/{issueIdOrKey}/watchers", self.add_watcher),
            route("DELETE", "/rest/api/{version}/issue/{issueIdOrKey}/watchers", self.remove_watcher),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}/remotelink", self.get_remote_links),
            route("POST", "/rest/api/{version}/issue/{issueIdOrKey}/remotelink", self.put_remote_link),
            route("DELETE", "/rest/api/{version}/issue/{issueIdOrKey}/remotelink", self.delete_remote_link),
            route("GET", "/rest/api/{version}/issue/{issueIdOrKey}/remotelink/{linkId}", self.get_remote_link),
            route("PUT", "/rest/api/{version}/issue/{issueIdOrKey}/remotelink/{linkId}", self.update_remote_link),
            route("DELETE", "/rest/api/{version}/issue/{issueIdOrKey}/remotelink/{linkId}", self.delete_remote_link),
            route("GET", "/rest/api/{version}/user", self.get_user),
            route("GET", "/rest/api/{version}/user/search", self.search_users),
            route("GET", "/rest/api/{version}/project/search", self.search_projects),
            route("GET", "/rest/api/{version}/project/{projectIdOrKey}", self.get_project),
            route("GET", "/rest/forge/1/app/properties", self.app_property_keys),
            route("GET", "/rest/forge/1/app/properties/{propertyKey}", self.get_app_property),
            route("PUT", "/rest/forge/1/app/properties/{propertyKey}", self.set_app_property),
            route("DELETE", "/rest/forge/1/app/properties/{propertyKey}", self.delete_app_property),
        ]

    # -- lookups ------------------------------------------------------------------------------------

    def _issue(self, call: Call) -> tuple[str, dict[str, Any]]:
        """(key, stored issue) of the path's issueIdOrKey, or 404 as Jira answers."""
        wanted = call.params["issueIdOrKey"]
        key = self.data.key_of(call.installation, ISSUE, wanted) if wanted.isdigit() else wanted.upper()
        doc = self.data.get(call.installation, ISSUE, key) if key else None
        if doc is None:
            raise not_found_issue()
        return str(doc["key"]), doc

    def _users(self, installation: str, ids: set[str]) -> dict[str, dict[str, Any] | None]:
        return {account_id: self.site.user(installation, account_id) for account_id in ids}

    def issue_representation(self, call: Call, key: str, doc: dict[str, Any], wanted: list[str], expand: Sequence[str]) -> dict[str, Any]:
        installation, version = call.installation, call.version
        comments = self._comments(installation, key) if doc.get(COMMENTED) and self._wants_comments(wanted) else []
        project = self.site.project(installation, ((doc.get("fields") or {}).get("project") or {}).get("key"))
        only = None if wanted is ALL or any(name[:1] in "*-" for name in wanted) else frozenset(wanted)
        fields = shapes.issue_fields(installation, doc, self.site.users_of(installation), comments, version, project, only)
        if fields.get("issuelinks"):  # the slim entries an issue keeps of its links (jira_links.py)
            fields["issuelinks"] = self.links_shown(call, fields["issuelinks"])
        if doc.get(WORKLOGGED) or (doc.get("fields") or {}).get("timespent"):
            self.worklog_fields(call, key, doc, fields)
        watchers = doc.get("watchers")
        if watchers and isinstance(fields.get("watches"), dict):  # kept by jira_people.py
            fields["watches"].update(watchCount=len(watchers), isWatching=call.account_id in watchers)
        shaped: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": doc.get("id"),
            "self": f"{shapes.base_url(installation)}/rest/api/{version}/issue/{doc.get('id')}",
            "key": key,
            "fields": fields if wanted is ALL else shapes.select_fields(fields, wanted),
        }
        if "changelog" in expand:
            values = self._changelog(call, key)
            shaped["changelog"] = {"startAt": 0, "maxResults": len(values), "total": len(values), "histories": values}
        if "transitions" in expand:
            shaped["transitions"] = self._transitions(call, doc)
        properties = call.listed("properties") if call.query else None
        if properties:
            shaped["properties"] = {
                name: found["value"]
                for name in properties
                if (found := self.data.get(call.installation, ISSUE_PROPERTY, f"{key}/{name}")) is not None
            }
        call.objects += 1
        return shaped

    @staticmethod
    def _wants_comments(wanted: list[str]) -> bool:
        return "*all" in wanted or "comment" in wanted

    # -- issues -------------------------------------------------------------------------------------

    def get_issue(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        if not call.query:
            return reply(200, self.issue_representation(call, key, doc, ALL, ()))
        return reply(200, self.issue_representation(call, key, doc, call.listed("fields") or ALL, call.listed("expand")))

    def create_issue(self, call: Call) -> Answer:
        return reply(201, self._create(call, body_object(call)))

    def create_issues(self, call: Call) -> Answer:
        """POST issue/bulk: up to 50 issues, each created or refused on its own; 201 when any was
        created, 400 when none was (both answer the created and the errors by element number)."""
        body = body_object(call)
        updates = body.get("issueUpdates")
        if not isinstance(updates, list):
            raise jira_error(400, ["The request must hold issueUpdates: a list of issues to create, each {fields, update}."])
        if len(updates) > MAX_BULK_CREATE:
            raise jira_error(400, [f"The request holds {len(updates)} issues; one request creates at most {MAX_BULK_CREATE}."])
        created: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for number, element in enumerate(updates):
            call.commented = False  # per issue: a comment one element adds flags that issue alone
            try:
                if not isinstance(element, dict):
                    raise jira_error(400, ["Each of issueUpdates must be an object with fields."])
                created.append(self._create(call, element))
            except Refused as refused:
                found = refused.answer.get("value") or {}
                element_errors = {"errorMessages": found.get("errorMessages", []), "errors": found.get("errors", {}), "status": refused.answer["status"]}
                errors.append({"status": refused.answer["status"], "elementErrors": element_errors, "failedElementNumber": number})
        call.objects += len(created)
        return reply(201 if created or not updates else 400, {"issues": created, "errors": errors})

    def _create(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        """Create one issue from a create request's body; its {id, key, self}. Raises Jira's 400."""
        fields = body.get("fields")
        if not isinstance(fields, dict):
            raise jira_error(400, [], {"project": "Specify a valid project ID or key", "issuetype": "Specify an issue type", "summary": "You must specify a summary of the issue."})
        problems: dict[str, str] = {}
        project = self._project_of(call.installation, fields.get("project"))
        if project is None:
            problems["project"] = "Specify a valid project ID or key"
        type_id = _issue_type_id(fields.get("issuetype"))
        if type_id is None:
            problems["issuetype"] = "Specify a valid issue type" if fields.get("issuetype") else "Specify an issue type"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            problems["summary"] = "You must specify a summary of the issue."
        if problems:
            raise jira_error(400, [], problems)
        assert project is not None and type_id is not None
        number = self.data.new_number()
        key = f"{project['key']}-{number}"
        ref = str(payloads.ISSUE_ID_BASE + number)
        now = shapes.jira_time(call.at)
        actor = {"accountId": call.account_id} if call.account_id else None
        stored: dict[str, Any] = {
            "summary": summary,
            "issuetype": {"id": type_id, "name": shapes.ISSUE_TYPES[type_id]},
            "creator": actor,
            "created": now,
            "project": {"key": project["key"]},
            "reporter": actor,
            "assignee": None,
            "updated": now,
            "status": {"id": "10000", "name": "To Do", "category": "new"},
        }
        changes = self._apply_fields(call, stored, {k: v for k, v in fields.items() if k not in ("project", "issuetype", "summary")})
        self._apply_updates(call, stored, body.get("update"), changes, key)
        doc: dict[str, Any] = {"id": ref, "key": key, "fields": stored}
        if call.commented:
            doc[COMMENTED] = True
        self.data.put(call.installation, ISSUE, key, doc, call.at, ref)
        self.site.record(call, ISSUE, key, {"action": "created"})
        self.site.fire(call, "avi:jira:created:issue", lambda: self._event(doc, call))
        answer: dict[str, Any] = {"id": ref, "key": key, "self": f"{shapes.base_url(call.installation)}/rest/api/{call.version}/issue/{ref}"}
        if isinstance(body.get("transition"), dict):
            self._move(call, key, doc, body["transition"])
        return answer

    def edit_issue(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        call.issue = key
        body = body_object(call)
        stored = dict(doc.get("fields") or {})
        fields = body.get("fields") or {}
        if not isinstance(fields, dict):
            raise jira_error(400, ["Can not deserialize the fields of the request: it must be an object."])
        changes = self._apply_fields(call, stored, fields)
        self._apply_updates(call, stored, body.get("update"), changes, key)
        if changes:
            self._save(call, key, doc, stored, changes)
        if call.first("returnIssue") == "true":
            return reply(200, self.issue_representation(call, key, self.data.get(call.installation, ISSUE, key) or doc, ["*all"], call.listed("expand")))
        return reply(204)

    def assign(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        call.issue = key
        body = body_object(call)
        stored = dict(doc.get("fields") or {})
        changes = self._apply_fields(call, stored, {"assignee": body if body.get("accountId") is not None else None})
        if changes:
            self._save(call, key, doc, stored, changes)
        return reply(204)

    def delete_issue(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        call.issue = key
        self.data.delete(call.installation, ISSUE, key)
        self.site.record(call, ISSUE, key, {"action": "deleted"})
        self.site.fire(call, "avi:jira:deleted:issue", lambda: self._event(doc, call))
        return reply(204)

    def _save(self, call: Call, key: str, doc: dict[str, Any], stored: dict[str, Any], changes: list[dict[str, Any]]) -> None:
        stored["updated"] = shapes.jira_time(call.at)
        base = self.data.pending(call.installation, ISSUE, key) if call.commented else doc  # a comment this call added flagged it
        updated = {**(base or doc), "fields": stored}
        self.data.put(call.installation, ISSUE, key, updated, call.at, doc.get("id"))
        change_id = self.site.record(call, ISSUE, key, {"action": "updated", "items": changes})
        changelog = {"id": change_id, "items": changes}
        self.site.fire(call, "avi:jira:updated:issue", lambda: {**self._event(updated, call), "changelog": changelog})
        if any(item["field"] == "assignee" for item in changes):
            assigned = [item for item in changes if item["field"] == "assignee"]
            self.site.fire(call, "avi:jira:assigned:issue", lambda: {**self._event(updated, call), "changelog": {"id": change_id, "items": assigned}})

    def _event(self, doc: dict[str, Any], call: Call) -> dict[str, Any]:
        """The payload Forge sends for an issue event the app caused (selfGenerated, Atlassian's product events pages; docs/product-events.md)."""
        fields = doc.get("fields") or {}
        keep = ("summary", "issuetype", "creator", "created", "project", "reporter", "assignee", "updated", "status")
        actor = call.account_id or self.site.app_account_id
        project = self.site.project(call.installation, (fields.get("project") or {}).get("key"))
        shown = {name: shapes.widen(name, fields.get(name), call.installation, project) for name in keep}
        return {
            "issue": {"id": doc.get("id"), "key": doc.get("key"), "fields": shown},
            "atlassianId": actor,
            "associatedUsers": [{"accountId": actor}],
            "selfGenerated": True,
        }

    # -- fields -------------------------------------------------------------------------------------

    def _apply_fields(self, call: Call, stored: dict[str, Any], fields: dict[str, Any]) -> list[dict[str, Any]]:
        """Set `fields` on `stored`; return Jira's changelog items for what changed. Raises 400."""
        problems: dict[str, str] = {}
        changes: list[dict[str, Any]] = []
        for name, value in fields.items():
            if name not in EDITABLE and not name.startswith("customfield_"):
                problems[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                continue
            try:
                new = self._field_value(call, name, value)
            except ValueError as invalid:
                problems[name] = str(invalid)
                continue
            old = stored.get(name)
            if new != old:
                changes.append(_change(call, name, old, new, self.site))
                stored[name] = new
        if problems:
            raise jira_error(400, [], problems)
        return changes

    def _field_value(self, call: Call, name: str, value: Any) -> Any:
        if name == "summary":
            if not isinstance(value, str) or not value.strip():
                raise ValueError("You must specify a summary of the issue.")
            if len(value) > MAX_SUMMARY:
                raise ValueError("Summary must be less than 255 characters.")
            return value
        if name == "labels":
            if value is None:
                return []
            if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
                raise ValueError("The labels must be a list of strings.")
            for label in value:
                if " " in label:
                    raise ValueError(f"The label '{label}' contains spaces which is invalid.")
            return list(value)
        if name in ("assignee", "reporter"):
            if value is None or (isinstance(value, dict) and value.get("accountId") is None and "id" not in value):
                if name == "reporter":
                    raise ValueError("Reporter is required.")
                return None
            if not isinstance(value, dict) or not isinstance(value.get("accountId"), str):
                raise ValueError(f"Specify the {name} as an object with an accountId.")
            if self.site.user(call.installation, value["accountId"]) is None:
                raise ValueError(f"User '{value['accountId']}' does not exist.")
            return {"accountId": value["accountId"]}
        if name == "priority":
            wanted = value.get("id") or value.get("name") if isinstance(value, dict) else None
            for priority_id, priority_name in shapes.PRIORITIES.items():
                if wanted in (priority_id, priority_name):
                    return {"id": priority_id, "name": priority_name}
            raise ValueError("The priority selected is invalid.")
        if name == "issuetype":
            type_id = _issue_type_id(value)
            if type_id is None:
                raise ValueError("Specify a valid issue type")
            return {"id": type_id, "name": shapes.ISSUE_TYPES[type_id]}
        if name in ("description", "environment"):
            if value is not None and not isinstance(value, str | dict):
                raise ValueError(f"Operation value must be a string or an Atlassian Document ({name}).")
            if call.version == "3" and isinstance(value, str):
                raise ValueError("Operation value must be an Atlassian Document (see the Atlassian Document Format)")
            return value
        return value

    def _apply_updates(self, call: Call, stored: dict[str, Any], update: Any, changes: list[dict[str, Any]], key: str) -> None:
        """The `update` operations of an edit or create: set, add, remove on list fields; set on others."""
        if update is None:
            return
        if not isinstance(update, dict):
            raise jira_error(400, ["The update of the request must be an object."])
        problems: dict[str, str] = {}
        for name, operations in update.items():
            if name == "comment":
                continue  # comments are added after the edit (below)
            if name not in EDITABLE and not name.startswith("customfield_"):
                problems[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                continue
            if not isinstance(operations, list):
                problems[name] = "The operations of a field must be a list."
                continue
            value = stored.get(name)
            for operation in operations:
                if not isinstance(operation, dict) or len(operation) != 1:
                    problems[name] = "Each operation must be an object with one of set, add, remove."
                    break
                verb, argument = next(iter(operation.items()))
                if verb == "set":
                    try:
                        value = self._field_value(call, name, argument)
                    except ValueError as invalid:
                        problems[name] = str(invalid)
                        break
                elif verb in ("add", "remove") and name in LIST_FIELDS:
                    item = argument if name == "labels" else argument
                    if name == "labels" and (not isinstance(item, str) or " " in item):
                        problems[name] = f"The label '{item}' contains spaces which is invalid."
                        break
                    items = list(value or [])
                    if verb == "add" and item not in items:
                        items.append(item)
                    elif verb == "remove" and item in items:
                        items.remove(item)
                    value = items
                else:
                    problems[name] = f"Field '{name}' does not support the operation '{verb}'."
                    break
            if name not in problems and value != stored.get(name):
                changes.append(_change(call, name, stored.get(name), value, self.site))
                stored[name] = value
        if problems:
            raise jira_error(400, [], problems)
        for operation in update.get("comment") or ():
            if isinstance(operation, dict) and isinstance(operation.get("add"), dict):
                self._new_comment(call, key, {"id": None, "key": key}, operation["add"])

    # -- transitions --------------------------------------------------------------------------------

    def _transitions(self, call: Call, doc: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "id": transition_id,
                "name": shapes.STATUSES[status_id][0],
                "to": shapes.status(status_id, call.installation),
                "hasScreen": False,
                "isGlobal": True,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "isLooped": False,
            }
            for transition_id, status_id in shapes.TRANSITIONS.items()
        ]

    def get_transitions(self, call: Call) -> Answer:
        _, doc = self._issue(call)
        return reply(200, {"expand": "transitions", "transitions": self._transitions(call, doc)})

    def transition(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        call.issue = key
        body = body_object(call)
        wanted = body.get("transition")
        if not isinstance(wanted, dict) or not (wanted.get("id") or wanted.get("name")):
            raise jira_error(400, ["Missing 'transition' identifier"])
        self._move(call, key, doc, wanted, body.get("fields"), body.get("update"))
        return reply(204)

    def _move(self, call: Call, key: str, doc: dict[str, Any], wanted: dict[str, Any], fields: Any = None, update: Any = None) -> None:
        transition_id = str(wanted.get("id") or "")
        if not transition_id:
            transition_id = next((t for t, s in shapes.TRANSITIONS.items() if shapes.STATUSES[s][0] == wanted.get("name")), "")
        status_id = shapes.TRANSITIONS.get(transition_id)
        if status_id is None:
            raise jira_error(400, [f"Transition id '{wanted.get('id') or wanted.get('name')}' is not valid for this issue."])
        current = self.data.get(call.installation, ISSUE, key) or doc
        stored = dict(current.get("fields") or {})
        changes = self._apply_fields(call, stored, fields) if isinstance(fields, dict) else []
        self._apply_updates(call, stored, update, changes, key)
        name, category = shapes.STATUSES[status_id]
        old_status = stored.get("status") or {}
        if old_status.get("id") != status_id:
            changes.append({
                "field": "status", "fieldtype": "jira", "fieldId": "status",
                "from": old_status.get("id"), "fromString": old_status.get("name"), "to": status_id, "toString": name,
            })  # fmt: skip
            stored["status"] = {"id": status_id, "name": name, "category": category}
            done = shapes.STATUSES[status_id][1] == "done"
            stored["resolution"] = shapes.RESOLUTION_DONE if done else None
            stored["resolutiondate"] = shapes.jira_time(call.at) if done else None
            stored["statuscategorychangedate"] = shapes.jira_time(call.at)
        if changes:
            self._save(call, key, current, stored, changes)

    # -- changelog ----------------------------------------------------------------------------------

    def _changelog(self, call: Call, key: str) -> list[dict[str, Any]]:
        values = []
        for number, entry in enumerate(self.site.history(call.installation, ISSUE, key), start=1):
            change = json.loads(entry["change"])
            if change.get("action") != "updated" or not change.get("items"):
                continue
            author = entry["actor"]
            values.append(
                {
                    "id": str(change.get("id", number)),
                    "author": shapes.user(call.installation, self.site.user(call.installation, author), author, call.version) if author else None,
                    "created": shapes.jira_time(entry["at"]),
                    "items": change["items"],
                }
            )
        return values

    def get_changelog(self, call: Call) -> Answer:
        key, _ = self._issue(call)
        values = self._changelog(call, key)
        start, size = paging(call, CHANGELOG_DEFAULT_RESULTS)
        page = values[start : start + size]
        return reply(200, {"self": call.target, "maxResults": size, "startAt": start, "total": len(values), "isLast": start + size >= len(values), "values": page})

# -- helpers ----------------------------------------------------------------------------------------


def _issue_type_id(given: Any) -> str | None:
    if not isinstance(given, dict):
        return None
    wanted = given.get("id") or given.get("name")
    for type_id, name in shapes.ISSUE_TYPES.items():
        if wanted in (type_id, name):
            return type_id
    return None


def _change(call: Call, name: str, old: Any, new: Any, site: Site) -> dict[str, Any]:
    """Jira's changelog item for a field that changed."""
    custom = name.startswith("customfield_")
    item: dict[str, Any] = {"field": name, "fieldtype": "custom" if custom else "jira", "fieldId": name}
    if name in ("assignee", "reporter"):
        item.update(
            {
                "from": (old or {}).get("accountId"),
                "fromString": _display(call, site, old),
                "to": (new or {}).get("accountId"),
                "toString": _display(call, site, new),
            }
        )
    elif isinstance(new, list) or isinstance(old, list):
        item.update({"from": None, "fromString": " ".join(map(_string, old or [])) or None, "to": None, "toString": " ".join(map(_string, new or [])) or None})
    elif isinstance(new, dict) or isinstance(old, dict):
        item.update({"from": (old or {}).get("id"), "fromString": (old or {}).get("name"), "to": (new or {}).get("id"), "toString": (new or {}).get("name")})
    elif name in ("description", "environment"):
        item.update({"from": None, "fromString": shapes.plain(old) or None, "to": None, "toString": shapes.plain(new) or None})
    else:
        item.update({"from": None, "fromString": None if old is None else _string(old), "to": None, "toString": None if new is None else _string(new)})
    return item


def _display(call: Call, site: Site, person: Any) -> str | None:
    if not isinstance(person, dict) or not isinstance(person.get("accountId"), str):
        return None
    stored = site.user(call.installation, person["accountId"])
    return str((stored or seeds.user_doc(person["accountId"]))["displayName"])


def _string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


