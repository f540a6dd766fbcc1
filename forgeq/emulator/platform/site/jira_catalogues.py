"""The fake Jira's catalogues: its fields, issue types, priorities, statuses and projects, which apps
read to find an id by its name.

Fields (GET /field): the system fields an issue's representation holds (shapes.issue_fields), and
the custom fields a new Jira Cloud site with Jira Software has, under the ids such a site usually
gives them (Story point estimate is customfield_10016, Sprint customfield_10020, ...): an app that
looks a field up by name finds it, and writes it as any `customfield_N` (jira.py's edits take every
one). A site's own custom fields are a stub away (docs/product-site.md).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from forgeq.emulator.app.replies import Answer
from forgeq.emulator.platform.site import shapes
from forgeq.emulator.platform.site.calls import Call, jira_error, paging, reply

# id: (name, schema type, items type or None); every one navigable, orderable and searchable
# unless listed in _NOT_ORDERABLE (Jira's own flags for them).
_SYSTEM: dict[str, tuple[str, str, str | None]] = {
    "summary": ("Summary", "string", None),
    "description": ("Description", "string", None),
    "issuetype": ("Issue Type", "issuetype", None),
    "project": ("Project", "project", None),
    "status": ("Status", "status", None),
    "priority": ("Priority", "priority", None),
    "labels": ("Labels", "array", "string"),
    "assignee": ("Assignee", "user", None),
    "reporter": ("Reporter", "user", None),
    "creator": ("Creator", "user", None),
    "created": ("Created", "datetime", None),
    "updated": ("Updated", "datetime", None),
    "duedate": ("Due date", "date", None),
    "resolution": ("Resolution", "resolution", None),
    "resolutiondate": ("Resolved", "datetime", None),
    "statuscategorychangedate": ("Status Category Changed", "datetime", None),
    "components": ("Components", "array", "component"),
    "fixVersions": ("Fix versions", "array", "version"),
    "versions": ("Affects versions", "array", "version"),
    "environment": ("Environment", "string", None),
    "parent": ("Parent", "issuelink", None),
    "subtasks": ("Sub-tasks", "array", "issuelinks"),
    "issuelinks": ("Linked Issues", "array", "issuelinks"),
    "attachment": ("Attachment", "array", "attachment"),
    "comment": ("Comment", "comments-page", None),
    "worklog": ("Log Work", "array", "worklog"),
    "timetracking": ("Time tracking", "timetracking", None),
    "watches": ("Watchers", "watches", None),
    "votes": ("Votes", "votes", None),
    "security": ("Security Level", "securitylevel", None),
    "lastViewed": ("Last Viewed", "datetime", None),
}
CREATE_META_PAGE = 50
_NOT_ORDERABLE = frozenset(("creator", "created", "updated", "resolutiondate", "statuscategorychangedate", "subtasks", "lastViewed", "watches", "votes"))

# id: (name, schema type, items type or None, the custom field type's key)
_CUSTOM: dict[str, tuple[str, str, str | None, str]] = {
    "customfield_10014": ("Epic Link", "any", None, "com.pyxis.greenhopper.jira:gh-epic-link"),
    "customfield_10015": ("Start date", "date", None, "com.atlassian.jira.plugin.system.customfieldtypes:datepicker"),
    "customfield_10016": ("Story point estimate", "number", None, "com.pyxis.greenhopper.jira:jsw-story-points"),
    "customfield_10019": ("Rank", "any", None, "com.pyxis.greenhopper.jira:gh-lexo-rank"),
    "customfield_10020": ("Sprint", "array", "json", "com.pyxis.greenhopper.jira:gh-sprint"),
    "customfield_10021": ("Flagged", "array", "option", "com.atlassian.jira.plugin.system.customfieldtypes:multicheckboxes"),
    "customfield_10028": ("Story Points", "number", None, "com.atlassian.jira.plugin.system.customfieldtypes:float"),
}


@lru_cache(maxsize=1)
def catalogue() -> tuple[dict[str, Any], ...]:
    """Every field as GET /field lists it (each answer gets copies: a Python handler may change it)."""
    found: list[dict[str, Any]] = []
    for field_id, (name, kind, items) in _SYSTEM.items():
        schema: dict[str, Any] = {"type": kind, **({"items": items} if items else {}), "system": field_id}
        found.append({
            "id": field_id, "key": field_id, "name": name, "custom": False, "orderable": field_id not in _NOT_ORDERABLE,
            "navigable": True, "searchable": True, "clauseNames": [field_id], "schema": schema,
        })  # fmt: skip
    for field_id, (name, kind, items, custom) in _CUSTOM.items():
        number = int(field_id.removeprefix("customfield_"))
        schema = {"type": kind, **({"items": items} if items else {}), "custom": custom, "customId": number}
        found.append({
            "id": field_id, "key": field_id, "name": name, "untranslatedName": name, "custom": True, "orderable": True,
            "navigable": True, "searchable": True, "clauseNames": [f"cf[{number}]", name], "schema": schema,
        })  # fmt: skip
    return tuple(found)


# The create and edit screens every project and issue type of the site shares: field -> required.
_CREATE_SCREEN = {
    "project": True, "issuetype": True, "summary": True, "reporter": True, "description": False, "assignee": False,
    "labels": False, "priority": False, "duedate": False, "components": False, "fixVersions": False, "versions": False,
    "environment": False, "parent": False, **{field_id: False for field_id in _CUSTOM},
}  # fmt: skip
_EDIT_SCREEN = [name for name in _CREATE_SCREEN if name != "project"]  # jira.py's EDITABLE, and the custom fields
_LIST_OPERATIONS = ("labels", "components", "fixVersions", "versions")


class JiraCatalogues:
    """A mixin of `Jira` (jira.py), which provides the projects and the issue lookup."""

    def projects(self, installation: str) -> dict[str, dict[str, Any]]:  # provided by JiraSearch
        raise NotImplementedError

    def _issue(self, call: Call) -> tuple[str, dict[str, Any]]:  # provided by Jira
        raise NotImplementedError

    def fields(self, call: Call) -> Answer:
        """GET /field: every field, system and custom."""
        return reply(200, [{**field, "clauseNames": list(field["clauseNames"]), "schema": dict(field["schema"])} for field in catalogue()])

    def issue_types(self, call: Call) -> Answer:
        """GET /issuetype: the site's issue types (every project has them all)."""
        return reply(200, [self._issue_type(call, type_id) for type_id in shapes.ISSUE_TYPES])

    def project_issue_types(self, call: Call) -> Answer:
        """GET /issuetype/project?projectId=: a project's issue types."""
        wanted = call.first("projectId")
        if not wanted or not any(str(project.get("id")) == wanted for project in self.projects(call.installation).values()):
            raise jira_error(404, [f"No project could be found with id '{wanted}'."] if wanted else ["The projectId query parameter is required."])
        return reply(200, [self._issue_type(call, type_id) for type_id in shapes.ISSUE_TYPES])

    @staticmethod
    def _issue_type(call: Call, type_id: str) -> dict[str, Any]:
        shaped = shapes.issue_type(type_id, call.installation)
        shaped["self"] = shaped["self"].replace("/rest/api/3/", f"/rest/api/{call.version}/")
        return {**shaped, "untranslatedName": shaped["name"]}

    def priorities(self, call: Call) -> Answer:
        """GET /priority: the five default priorities, Highest first."""
        found = []
        for priority_id in shapes.PRIORITIES:
            shaped = shapes.priority(priority_id, call.installation)
            found.append({**shaped, "self": shaped["self"].replace("/rest/api/3/", f"/rest/api/{call.version}/"), "statusColor": _PRIORITY_COLOURS[priority_id], "description": ""})
        return reply(200, found)

    def statuses(self, call: Call) -> Answer:
        """GET /status: the workflow's statuses (To Do, In Progress, Done)."""
        found = []
        for status_id in shapes.STATUSES:
            shaped = shapes.status(status_id, call.installation)
            found.append({**shaped, "self": shaped["self"].replace("/rest/api/3/", f"/rest/api/{call.version}/"), "untranslatedName": shaped["name"]})
        return reply(200, found)

    def all_projects(self, call: Call) -> Answer:
        """GET /project: every project, unpaged (Jira deprecated it for /project/search, which pages)."""
        found = [shapes.fresh(project) for project in self.projects(call.installation).values()]
        call.objects += len(found)
        return reply(200, found)


    def server_info(self, call: Call) -> Answer:
        """GET /serverInfo: the site's address (apps read `baseUrl`) and Jira Cloud's version."""
        return reply(200, {
            "baseUrl": shapes.base_url(call.installation), "displayUrl": shapes.base_url(call.installation), "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud", "buildNumber": 100000, "serverTitle": "Jira", "defaultLocale": {"locale": "en_US"},
            "serverTimeZone": "Etc/UTC",
        })  # fmt: skip

    def project_statuses(self, call: Call) -> Answer:
        """GET /project/{key}/statuses: each issue type with the workflow's statuses."""
        self._project_named(call, call.params["projectIdOrKey"])
        statuses = [shapes.status(status_id, call.installation) for status_id in shapes.STATUSES]
        return reply(200, [
            {"self": self._issue_type(call, type_id)["self"], "id": type_id, "name": name, "subtask": name == "Sub-task", "statuses": shapes.fresh(statuses)}
            for type_id, name in shapes.ISSUE_TYPES.items()
        ])  # fmt: skip

    def project_components(self, call: Call) -> Answer:
        """GET /project/{key}/components and /versions: the site's projects have none."""
        self._project_named(call, call.params["projectIdOrKey"])
        return reply(200, [])

    # -- create and edit metadata --------------------------------------------------------------------

    def _field_meta(self, call: Call, field_id: str, required: bool, project: dict[str, Any] | None, type_id: str | None) -> dict[str, Any]:
        """A field as the create and edit metadata describe it (Jira's FieldCreateMetadata)."""
        known = next(field for field in catalogue() if field["id"] == field_id)
        meta: dict[str, Any] = {
            "required": required, "schema": dict(known["schema"]), "name": known["name"], "key": field_id, "fieldId": field_id,
            "hasDefaultValue": field_id == "priority", "operations": ["set", "add", "remove"] if field_id in _LIST_OPERATIONS else ["set"],
        }  # fmt: skip
        if field_id == "priority":
            meta["allowedValues"] = [shapes.priority(priority_id, call.installation) for priority_id in shapes.PRIORITIES]
            meta["defaultValue"] = shapes.priority("3", call.installation)
        elif field_id == "issuetype" and type_id is not None:
            meta["allowedValues"] = [self._issue_type(call, type_id)]
        elif field_id == "project" and project is not None:
            meta["allowedValues"] = [shapes.fresh(project)]
        return meta

    def _project_named(self, call: Call, given: str) -> tuple[str, dict[str, Any]]:
        for key, project in self.projects(call.installation).items():
            if given in (key, str(project.get("id"))):
                return key, project
        raise jira_error(404, [f"No project could be found with key '{given}'."])

    def create_meta_types(self, call: Call) -> Answer:
        """GET issue/createmeta/{projectIdOrKey}/issuetypes: the issue types one can create there, paged."""
        self._project_named(call, call.params["projectIdOrKey"])
        types = [self._issue_type(call, type_id) for type_id in shapes.ISSUE_TYPES]
        start, size = paging(call, CREATE_META_PAGE)
        return reply(200, {"issueTypes": types[start : start + size], "maxResults": size, "startAt": start, "total": len(types)})

    def create_meta_fields(self, call: Call) -> Answer:
        """GET issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}: the create screen's fields, paged."""
        _, project = self._project_named(call, call.params["projectIdOrKey"])
        type_id = call.params["issueTypeId"]
        if type_id not in shapes.ISSUE_TYPES:
            raise jira_error(404, [f"The issue type with id '{type_id}' does not exist."])
        fields = [self._field_meta(call, name, required, project, type_id) for name, required in _CREATE_SCREEN.items()]
        start, size = paging(call, CREATE_META_PAGE)
        return reply(200, {"fields": fields[start : start + size], "maxResults": size, "startAt": start, "total": len(fields)})

    def create_meta(self, call: Call) -> Answer:
        """GET issue/createmeta (the older, single form): projects by `projectKeys`/`projectIds`, their
        issue types by `issuetypeIds`/`issuetypeNames`, with their fields under `expand=projects.issuetypes.fields`."""
        keys, ids = set(call.listed("projectKeys")), set(call.listed("projectIds"))
        type_ids, type_names = set(call.listed("issuetypeIds")), set(call.listed("issuetypeNames"))
        with_fields = "projects.issuetypes.fields" in call.listed("expand")
        projects = []
        for key, project in self.projects(call.installation).items():
            if (keys or ids) and key not in keys and str(project.get("id")) not in ids:
                continue
            types = []
            for type_id, name in shapes.ISSUE_TYPES.items():
                if (type_ids or type_names) and type_id not in type_ids and name not in type_names:
                    continue
                shown: dict[str, Any] = {**self._issue_type(call, type_id), "expand": "fields"}
                if with_fields:
                    shown["fields"] = {name: self._field_meta(call, name, required, project, type_id) for name, required in _CREATE_SCREEN.items()}
                types.append(shown)
            base = shapes.base_url(call.installation)
            projects.append({
                "expand": "issuetypes", "self": f"{base}/rest/api/{call.version}/project/{project.get('id')}", "id": str(project.get("id")),
                "key": key, "name": project.get("name"), "issuetypes": types,
            })  # fmt: skip
        return reply(200, {"expand": "projects", "projects": projects})

    def edit_meta(self, call: Call) -> Answer:
        """GET issue/{issueIdOrKey}/editmeta: the fields an edit may set (jira.py's EDITABLE and the custom fields)."""
        _, doc = self._issue(call)
        type_id = str(((doc.get("fields") or {}).get("issuetype") or {}).get("id") or "") or None
        return reply(200, {"fields": {name: self._field_meta(call, name, False, None, type_id) for name in _EDIT_SCREEN}})


_PRIORITY_COLOURS = {"1": "#d04437", "2": "#f15C75", "3": "#f79232", "4": "#707070", "5": "#999999"}
