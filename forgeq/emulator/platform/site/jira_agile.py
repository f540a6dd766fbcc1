"""The fake Jira Software agile API (/rest/agile/1.0): boards, their sprints, and the issues in one.

A mixin of `Jira` (jira.py). Each project of the site has one scrum board (ids 1, 2, ... in the
projects' order) with one active sprint of the same id, two weeks from the virtual epoch. An issue
is in a sprint when its Sprint field (customfield_10020, as GET /field lists it) names it: POST
/sprint/{id}/issue sets the field, with the changelog item Jira writes, and GET /sprint/{id}/issue
lists those issues. Shapes from the Jira Software REST reference
(developer.atlassian.com/cloud/jira/software/rest/).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from forgeq.emulator import limits
from forgeq.emulator.app.replies import Answer
from forgeq.emulator.platform.site import shapes
from forgeq.emulator.platform.site.calls import Call, body_object, jira_error, paging, reply
from forgeq.emulator.products.seeds import ISSUE

if TYPE_CHECKING:
    from forgeq.emulator.platform.site.data import SiteData
    from forgeq.emulator.platform.site.service import Site

SPRINT_FIELD = "customfield_10020"
SPRINT_DAYS = 14
SPRINT_ISSUES_MAX = 50  # issues one POST /sprint/{id}/issue moves at most
BOARDS_PAGE = 50


class JiraAgile:
    site: Site
    data: SiteData

    def projects(self, installation: str) -> dict[str, dict[str, Any]]:  # provided by JiraSearch
        raise NotImplementedError

    def issue_representation(self, call: Call, key: str, doc: dict[str, Any], wanted: list[str], expand: Sequence[str]) -> dict[str, Any]:  # provided by Jira
        raise NotImplementedError

    def _save(self, call: Call, key: str, doc: dict[str, Any], stored: dict[str, Any], changes: list[dict[str, Any]]) -> None:  # provided by Jira
        raise NotImplementedError

    # -- boards and sprints -------------------------------------------------------------------------

    def _boards(self, call: Call) -> list[dict[str, Any]]:
        base = shapes.base_url(call.installation)
        boards = []
        for number, (key, project) in enumerate(self.projects(call.installation).items(), start=1):
            boards.append({
                "id": number, "self": f"{base}/rest/agile/1.0/board/{number}", "name": f"{key} board", "type": "scrum",
                "location": {
                    "projectId": int(project.get("id") or 0), "displayName": f"{project.get('name')} ({key})", "projectName": project.get("name"),
                    "projectKey": key, "projectTypeKey": project.get("projectTypeKey", "software"), "name": f"{project.get('name')} ({key})",
                },
            })  # fmt: skip
        return boards

    def _board(self, call: Call, given: str) -> dict[str, Any]:
        found = next((board for board in self._boards(call) if str(board["id"]) == given), None)
        if found is None:
            raise jira_error(404, [f"Board {given} does not exist or you do not have permission to see it."])
        return found

    def _sprint(self, call: Call, board: dict[str, Any]) -> dict[str, Any]:
        start = limits.VIRTUAL_EPOCH
        return {
            "id": board["id"], "self": f"{shapes.base_url(call.installation)}/rest/agile/1.0/sprint/{board['id']}", "state": "active",
            "name": f"{board['location']['projectKey']} Sprint 1", "startDate": shapes.iso_time(start),
            "endDate": shapes.iso_time(start + SPRINT_DAYS * 86400), "originBoardId": board["id"], "goal": "",
        }  # fmt: skip

    def boards(self, call: Call) -> Answer:
        """GET /board: the boards, by `projectKeyOrId`, `type` and `name`, paged."""
        wanted, kind, name = call.first("projectKeyOrId"), call.first("type"), call.first("name")
        found = [
            board for board in self._boards(call)
            if (wanted is None or wanted in (board["location"]["projectKey"], str(board["location"]["projectId"])))
            and (kind is None or kind in board["type"].split(","))
            and (name is None or name.lower() in board["name"].lower())
        ]  # fmt: skip
        return self._page(call, found, BOARDS_PAGE)

    def board(self, call: Call) -> Answer:
        return reply(200, self._board(call, call.params["boardId"]))

    def board_sprints(self, call: Call) -> Answer:
        """GET /board/{id}/sprint: its one sprint, active (`state` may ask for closed or future ones: none)."""
        sprint = self._sprint(call, self._board(call, call.params["boardId"]))
        states = {state for value in call.query.get("state", ()) for state in value.split(",")}
        return self._page(call, [sprint] if not states or "active" in states else [], BOARDS_PAGE)

    def sprint(self, call: Call) -> Answer:
        return reply(200, self._sprint(call, self._board(call, call.params["sprintId"])))

    # -- issues in a sprint -------------------------------------------------------------------------

    def sprint_issues(self, call: Call) -> Answer:
        """GET /sprint/{id}/issue: the issues whose Sprint field names the sprint, as search answers them."""
        sprint = self._sprint(call, self._board(call, call.params["sprintId"]))
        found = [(key, doc) for key, doc in self.data.scan(call.installation, ISSUE) if _in_sprint(doc, sprint["id"])]
        start, size = paging(call, BOARDS_PAGE)
        wanted = call.listed("fields") or ["*navigable"]
        issues = [self.issue_representation(call, key, doc, wanted, call.listed("expand")) for key, doc in found[start : start + size]]
        return reply(200, {"expand": "schema,names", "startAt": start, "maxResults": size, "total": len(found), "issues": issues})

    def move_to_sprint(self, call: Call) -> Answer:
        """POST /sprint/{id}/issue {issues: [keys or ids]}: each issue's Sprint field set to it; 204."""
        sprint = self._sprint(call, self._board(call, call.params["sprintId"]))
        wanted = body_object(call).get("issues")
        if not isinstance(wanted, list) or not wanted:
            raise jira_error(400, ["issues must be a list of issue keys or ids."])
        if len(wanted) > SPRINT_ISSUES_MAX:
            raise jira_error(400, [f"The request moves {len(wanted)} issues; one request moves at most {SPRINT_ISSUES_MAX}."])
        docs = []
        for item in wanted:
            given = str(item)
            key = self.data.key_of(call.installation, ISSUE, given) if given.isdigit() else given.upper()
            doc = self.data.get(call.installation, ISSUE, key) if key else None
            if doc is None:
                raise jira_error(400, [f"Issue '{given}' does not exist or you do not have permission to see it."])
            docs.append((str(doc["key"]), doc))
        entry = {name: sprint[name] for name in ("id", "name", "state", "goal", "startDate", "endDate")} | {"boardId": sprint["originBoardId"]}
        for key, doc in docs:
            stored = dict(doc.get("fields") or {})
            before = stored.get(SPRINT_FIELD)
            if _in_sprint(doc, sprint["id"]):
                continue
            stored[SPRINT_FIELD] = [entry]
            names = ", ".join(str(s.get("name")) for s in before or () if isinstance(s, dict)) or None
            change = {
                "field": "Sprint", "fieldtype": "custom", "fieldId": SPRINT_FIELD, "from": None, "fromString": names,
                "to": str(sprint["id"]), "toString": sprint["name"],
            }  # fmt: skip
            self._save(call, key, doc, stored, [change])
        return reply(204)

    def _page(self, call: Call, values: list[dict[str, Any]], default: int) -> Answer:
        start, size = paging(call, default)
        page = values[start : start + size]
        return reply(200, {"maxResults": size, "startAt": start, "total": len(values), "isLast": start + size >= len(values), "values": page})


def _in_sprint(doc: dict[str, Any], sprint_id: int) -> bool:
    sprints = (doc.get("fields") or {}).get(SPRINT_FIELD)
    return isinstance(sprints, list) and any(isinstance(s, dict) and s.get("id") == sprint_id for s in sprints)
