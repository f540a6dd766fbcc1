"""The fake Jira's search and directory: JQL search (jql.py), approximate counts, users, projects.

A mixin of `Jira` (jira.py), which provides the issue representation search answers with.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from forgeq.emulator.app.replies import Answer
from forgeq.emulator.platform.site import jql, shapes
from forgeq.emulator.platform.site.calls import Call, Refused, body_object, jira_error, paging, reply
from forgeq.emulator.products import payloads
from forgeq.emulator.products.seeds import ISSUE, PROJECT, USER

if TYPE_CHECKING:
    from forgeq.emulator.platform.site.data import SiteData
    from forgeq.emulator.platform.site.service import Site

SEARCH_DEFAULT_RESULTS = 50
SEARCH_MAX_RESULTS = 5000
BULK_FETCH_MAX = 100  # issues one POST issue/bulkfetch reads at most (Jira's REST reference)
REMOVED_SEARCH = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
DEFAULT_PROJECT: dict[str, Any] = {
    "self": "https://example.atlassian.net/rest/api/2/project/10000",
    "id": "10000",
    "key": payloads.DEFAULT_PROJECT_KEY,
    "name": f"Project {payloads.DEFAULT_PROJECT_KEY}",
    "projectTypeKey": "software",
    "simplified": False,
}


class JiraSearch:
    site: Site
    data: SiteData

    def issue_representation(self, call: Call, key: str, doc: dict[str, Any], wanted: list[str], expand: Sequence[str]) -> dict[str, Any]:  # provided by Jira
        raise NotImplementedError

    # -- search -------------------------------------------------------------------------------------

    def _search_arguments(self, call: Call) -> dict[str, Any]:
        if call.method == "POST":
            body = body_object(call)
            fields = body.get("fields")
            return {
                "jql": body.get("jql"),
                "nextPageToken": body.get("nextPageToken"),
                "maxResults": body.get("maxResults"),
                "fields": [str(f) for f in fields] if isinstance(fields, list) else None,
                "expand": str(body.get("expand") or "").split(",") if body.get("expand") else [],
            }
        size = call.first("maxResults")
        return {
            "jql": call.first("jql"),
            "nextPageToken": call.first("nextPageToken"),
            "maxResults": int(size) if size and size.isdigit() else None,
            "fields": call.listed("fields") or None,
            "expand": call.listed("expand"),
        }

    def _matching(self, call: Call, text: Any) -> list[tuple[str, dict[str, Any]]]:
        if not isinstance(text, str) or not text.strip():
            raise jira_error(400, ["Unbounded JQL queries are not allowed here. Please add a search restriction to your query."])
        try:
            query = jql.parse(text)
            if query.where is None:
                raise jira_error(400, ["Unbounded JQL queries are not allowed here. Please add a search restriction to your query."])
            context = jql.Context(self, call)
            issues = [(key, doc) for key, doc in self.data.scan(call.installation, ISSUE) if query.matches(context, doc)]
        except jql.JqlError as problem:
            raise jira_error(400, [str(problem)]) from None
        except jql.Unsupported as outside:
            call.notes.append(
                f"JQL {text!r} uses {outside}, outside forgeq's JQL subset (docs/product-site.md): it was answered 501; "
                f"stub the search to answer it (forge_app.site.stub({call.method!r}, {call.template!r}, body=...))"
            )
            raise Refused(reply(501, {"errorMessages": [f"forgeq does not evaluate {outside} in JQL"], "errors": {}})) from None
        return query.ordered(issues)

    def search(self, call: Call) -> Answer:
        arguments = self._search_arguments(call)
        found = self._matching(call, arguments["jql"])
        size = arguments["maxResults"] if isinstance(arguments["maxResults"], int) and arguments["maxResults"] > 0 else SEARCH_DEFAULT_RESULTS
        size = min(size, SEARCH_MAX_RESULTS)
        start = _token_offset(arguments["nextPageToken"])
        page = found[start : start + size]
        wanted = arguments["fields"] or ["id"]
        issues = []
        for key, doc in page:
            if wanted == ["id"]:
                issues.append({"id": doc.get("id")})
                call.objects += 1
            else:
                issues.append(self.issue_representation(call, key, doc, wanted, arguments["expand"]))
        answer: dict[str, Any] = {"issues": issues, "isLast": start + size >= len(found)}
        if not answer["isLast"]:
            answer["nextPageToken"] = _token(start + size)
        return reply(200, answer)

    def bulk_fetch(self, call: Call) -> Answer:
        """POST issue/bulkfetch: up to 100 issues by id or key, in the order asked, each as GET issue
        answers it (the navigable fields unless `fields` names others); the ones that do not exist
        are left out, as Jira leaves out what it cannot find or show."""
        body = body_object(call)
        wanted = body.get("issueIdsOrKeys")
        if not isinstance(wanted, list) or not wanted:
            raise jira_error(400, ["issueIdsOrKeys must be a list of 1 to 100 issue ids or keys."])
        if len(wanted) > BULK_FETCH_MAX:
            raise jira_error(400, [f"The request names {len(wanted)} issues; one request fetches at most {BULK_FETCH_MAX}."])
        fields = body.get("fields")
        expand = body.get("expand")
        names = [str(f) for f in fields] if isinstance(fields, list) and fields else ["*navigable"]
        expanded = [str(e) for e in expand] if isinstance(expand, list) else str(expand or "").split(",")
        issues, seen = [], set()
        for item in wanted:
            given = str(item)
            key = self.data.key_of(call.installation, ISSUE, given) if given.isdigit() else given.upper()
            doc = self.data.get(call.installation, ISSUE, key) if key and key not in seen else None
            if doc is not None:  # an issue named twice (by key and by id) is answered once
                seen.add(key)
                issues.append(self.issue_representation(call, str(doc["key"]), doc, names, expanded))
        return reply(200, {"expand": "schema,names", "issues": issues, "issueErrors": []})

    def count(self, call: Call) -> Answer:
        return reply(200, {"count": len(self._matching(call, body_object(call).get("jql")))})

    def removed_search(self, call: Call) -> Answer:
        raise jira_error(410, [REMOVED_SEARCH])

    # -- users and projects -------------------------------------------------------------------------

    def myself(self, call: Call) -> Answer:
        if call.account_id is None:
            raise jira_error(401, ["You are not authenticated. Authentication required to perform this operation."])
        shaped = shapes.user(call.installation, self.site.user(call.installation, call.account_id), call.account_id, call.version)
        call.identities += 1
        return reply(200, {**shaped, "locale": "en_US", "groups": {"size": 1, "items": []}, "applicationRoles": {"size": 1, "items": []}, "expand": "groups,applicationRoles"})

    def get_user(self, call: Call) -> Answer:
        account_id = call.first("accountId")
        if not account_id:
            raise jira_error(400, ["The accountId query parameter needs to be provided."])
        stored = self.site.user(call.installation, account_id)
        if stored is None:
            raise jira_error(404, ["Specified user does not exist or you do not have required permissions"])
        call.identities += 1
        return reply(200, shapes.user(call.installation, stored, account_id, call.version))

    def search_users(self, call: Call) -> Answer:
        text = (call.first("query") or "").lower()
        account_id = call.first("accountId")
        found = []
        for key, stored in self.data.scan(call.installation, USER):
            if (account_id and key == account_id) or (text and text in str(stored.get("displayName", "")).lower()):
                found.append(shapes.user(call.installation, stored, key, call.version))
        for key, name in self.site.builtin_users(call.installation).items():
            if all(user["accountId"] != key for user in found) and ((account_id and key == account_id) or (text and text in name["displayName"].lower())):
                found.append(shapes.user(call.installation, name, key, call.version))
        call.identities += len(found)
        return reply(200, found)

    def _project_of(self, installation: str, given: Any) -> dict[str, Any] | None:
        if not isinstance(given, dict):
            given = {"key": given} if isinstance(given, str) else {}
        wanted = given.get("key") or given.get("id")
        if wanted is None:
            return None
        for key, project in self.projects(installation).items():
            if wanted in (key, str(project.get("id"))):
                return project
        return None

    def projects(self, installation: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {str(DEFAULT_PROJECT["key"]): DEFAULT_PROJECT}
        found.update(self.data.scan(installation, PROJECT))
        return found

    def get_project(self, call: Call) -> Answer:
        project = self._project_of(call.installation, {"key": call.params["projectIdOrKey"]})
        if project is None:
            raise jira_error(404, [f"No project could be found with key '{call.params['projectIdOrKey']}'."])
        call.objects += 1
        return reply(200, shapes.fresh(project))  # a Python handler gets the value itself, and may change it

    def search_projects(self, call: Call) -> Answer:
        values = [shapes.fresh(project) for project in self.projects(call.installation).values()]  # the handler's own copies
        start, size = paging(call, 50)
        page = values[start : start + size]
        call.objects += len(page)
        return reply(200, {"self": call.target, "maxResults": size, "startAt": start, "total": len(values), "isLast": start + size >= len(values), "values": page})


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"forgeq:{offset}".encode()).decode().rstrip("=")


def _token_offset(token: Any) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.startswith("forgeq:") or not text[7:].isdigit():
        raise jira_error(400, ["The provided next page token is invalid or expired."])
    return int(text[7:])
