"""The fake Jira's worklogs: the time logged on an issue, and what an issue's fields say of it.

A mixin of `Jira` (jira.py). A worklog is a site object (kind `worklog`, keyed `ISSUE-KEY/id`);
its issue keeps the total in `timespent` (seconds) and a flag that it has worklogs, so a
representation reads them only then (`fields.worklog`, `timetracking`, `progress`). Durations
read and write as Jira's do, on its default working time: a day is 8 hours and a week 5 days
("1w 2d 3h 30m"). Shapes from Jira's REST reference
(developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-worklogs/).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from forgeq.emulator.app.replies import Answer
from forgeq.emulator.platform.site import shapes
from forgeq.emulator.platform.site.calls import Call, body_object, jira_error, paging, reply
from forgeq.emulator.products.seeds import ISSUE

if TYPE_CHECKING:
    from forgeq.emulator.platform.site.data import SiteData
    from forgeq.emulator.platform.site.service import Site

WORKLOG = "worklog"
WORKLOGGED = "worklogged"  # an issue flag: it has worklogs (a representation reads them only then)
WORKLOG_ID_BASE = 80000
WORKLOGS_IN_FIELD = 20  # the worklogs an issue's `worklog` field holds; GET worklog pages the rest
WORKLOGS_PAGE = 5000
_UNITS = {"w": 5 * 8 * 3600, "d": 8 * 3600, "h": 3600, "m": 60}
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*([wdhm])\s*)+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhm])")


def duration_text(seconds: int) -> str:
    """Jira's duration: "1w 2d 3h 30m" (8-hour days, 5-day weeks); "0m" for nothing."""
    parts = []
    for unit, size in _UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0m"


def duration_seconds(text: str) -> int | None:
    """Seconds of a duration as Jira reads it ("3h 20m", "1.5h", "2d"), or None when it is not one."""
    if not _DURATION.match(text):
        return None
    return int(sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text)))


class JiraWorklogs:
    site: Site
    data: SiteData

    def _issue(self, call: Call) -> tuple[str, dict[str, Any]]:  # provided by Jira
        raise NotImplementedError

    def worklogs(self, installation: str, key: str) -> list[dict[str, Any]]:
        found = [doc for _, doc in self.data.scan(installation, WORKLOG, f"{key}/")]
        return sorted(found, key=lambda doc: int(doc["id"]))

    def shown_worklog(self, call: Call, key: str, stored: dict[str, Any]) -> dict[str, Any]:
        shaped: dict[str, Any] = {"self": f"{shapes.base_url(call.installation)}/rest/api/{call.version}/issue/{stored['issueId']}/worklog/{stored['id']}"}
        for name in ("author", "updateAuthor"):
            person = (stored.get(name) or {}).get("accountId")
            shaped[name] = shapes.user(call.installation, self.site.user(call.installation, person), person, call.version) if person else None
        if stored.get("comment") is not None:
            shaped["comment"] = shapes.rich_text(stored["comment"], call.version)
        seconds = int(stored["timeSpentSeconds"])
        shaped.update({
            "created": stored["created"], "updated": stored["updated"], "started": stored["started"],
            "timeSpent": duration_text(seconds), "timeSpentSeconds": seconds, "id": str(stored["id"]), "issueId": stored["issueId"],
        })  # fmt: skip
        call.identities += 2
        return shaped

    def worklog_fields(self, call: Call, key: str, doc: dict[str, Any], fields: dict[str, Any]) -> None:
        """What an issue's representation says of its worklogs: the total, time tracking, progress
        and (when the issue has any) the first worklogs."""
        spent = (doc.get("fields") or {}).get("timespent")
        if isinstance(spent, int) and spent:
            for name in ("timespent", "aggregatetimespent"):
                if name in fields:
                    fields[name] = spent
            if "timetracking" in fields:
                fields["timetracking"] = {"timeSpent": duration_text(spent), "timeSpentSeconds": spent}
            for name in ("progress", "aggregateprogress"):
                if name in fields:
                    fields[name] = {"progress": spent, "total": spent, "percent": 100}
        if doc.get(WORKLOGGED) and "worklog" in fields:
            found = self.worklogs(call.installation, key)
            fields["worklog"] = {
                "startAt": 0, "maxResults": WORKLOGS_IN_FIELD, "total": len(found),
                "worklogs": [self.shown_worklog(call, key, stored) for stored in found[:WORKLOGS_IN_FIELD]],
            }  # fmt: skip

    # -- endpoints ----------------------------------------------------------------------------------

    def get_worklogs(self, call: Call) -> Answer:
        key, _ = self._issue(call)
        found = self.worklogs(call.installation, key)
        start, size = paging(call, WORKLOGS_PAGE)
        page = found[start : start + size]
        return reply(200, {"startAt": start, "maxResults": size, "total": len(found), "worklogs": [self.shown_worklog(call, key, w) for w in page]})

    def get_worklog(self, call: Call) -> Answer:
        key, _ = self._issue(call)
        return reply(200, self.shown_worklog(call, key, self._worklog(call, key)))

    def add_worklog(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        call.issue = key
        seconds, started, comment = self._worklog_body(call, body_object(call), None)
        worklog_id = WORKLOG_ID_BASE + self.data.new_number()
        now = shapes.jira_time(call.at)
        actor = {"accountId": call.account_id} if call.account_id else None
        stored = {
            "id": str(worklog_id), "issueId": str(doc.get("id")), "author": actor, "updateAuthor": actor, "comment": comment,
            "created": now, "updated": now, "started": started or now, "timeSpentSeconds": seconds,
        }  # fmt: skip
        self.data.put(call.installation, WORKLOG, f"{key}/{worklog_id}", stored, call.at, str(worklog_id))
        self._spend(call, key, seconds, str(worklog_id), "added")
        return reply(201, self.shown_worklog(call, key, stored))

    def update_worklog(self, call: Call) -> Answer:
        key, _ = self._issue(call)
        call.issue = key
        stored = dict(self._worklog(call, key))
        seconds, started, comment = self._worklog_body(call, body_object(call), stored)
        before = int(stored["timeSpentSeconds"])
        stored.update({
            "timeSpentSeconds": seconds, "started": started or stored["started"], "comment": comment, "updated": shapes.jira_time(call.at),
            "updateAuthor": {"accountId": call.account_id} if call.account_id else None,
        })  # fmt: skip
        self.data.put(call.installation, WORKLOG, f"{key}/{stored['id']}", stored, call.at, str(stored["id"]))
        self._spend(call, key, seconds - before, str(stored["id"]), "updated")
        return reply(200, self.shown_worklog(call, key, stored))

    def delete_worklog(self, call: Call) -> Answer:
        key, _ = self._issue(call)
        call.issue = key
        stored = self._worklog(call, key)
        self.data.delete(call.installation, WORKLOG, f"{key}/{stored['id']}")
        self._spend(call, key, -int(stored["timeSpentSeconds"]), str(stored["id"]), "deleted")
        return reply(204)

    # -- helpers ------------------------------------------------------------------------------------

    def _worklog(self, call: Call, key: str) -> dict[str, Any]:
        found = self.data.child(call.installation, WORKLOG, key, call.params["id"])
        if found is None:
            raise jira_error(404, [f"Cannot find worklog with id: {call.params['id']}."])
        return found

    @staticmethod
    def _worklog_body(call: Call, body: dict[str, Any], stored: dict[str, Any] | None) -> tuple[int, str | None, Any]:
        """(seconds, started, comment) of a worklog's body; an update keeps what it does not name."""
        seconds: int | None
        if "timeSpentSeconds" in body:
            given = body["timeSpentSeconds"]
            seconds = given if type(given) is int else None
        elif "timeSpent" in body:
            seconds = duration_seconds(body["timeSpent"]) if isinstance(body["timeSpent"], str) else None
        else:
            seconds = int(stored["timeSpentSeconds"]) if stored is not None else 0
        if seconds is None or seconds <= 0:
            raise jira_error(400, [], {"timeLogged": "You must indicate the time spent working." if seconds == 0 else "Invalid time duration entered."})
        started = body.get("started")
        if started is not None and not (isinstance(started, str) and re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$", started)):
            raise jira_error(400, [], {"started": "Started date must be in the format yyyy-MM-dd'T'HH:mm:ss.SSSZ (2021-01-17T12:34:00.000+0000)."})
        comment = body["comment"] if "comment" in body else (stored or {}).get("comment")
        if "comment" in body and comment is not None:
            if call.version == "3" and not isinstance(comment, dict):
                raise jira_error(400, [], {"comment": "Comment must be an Atlassian Document (see the Atlassian Document Format)."})
            if call.version == "2" and not isinstance(comment, str):
                raise jira_error(400, [], {"comment": "Comment must be a string in API version 2."})
        return seconds, started, comment

    def _spend(self, call: Call, key: str, change: int, worklog_id: str, how: str) -> None:
        """The issue's total time spent moved by `change` seconds, with the changelog items Jira writes."""
        doc = self.data.get(call.installation, ISSUE, key)
        if doc is None:
            return
        stored = dict(doc.get("fields") or {})
        spent = stored.get("timespent")
        before = spent if isinstance(spent, int) else 0
        after = max(0, before + change)
        stored["timespent"] = after or None
        stored["updated"] = shapes.jira_time(call.at)
        has_any = how != "deleted" or bool([w for w in self.worklogs(call.installation, key) if str(w["id"]) != worklog_id])
        self.data.put(call.installation, ISSUE, key, {**doc, "fields": stored, WORKLOGGED: has_any}, call.at, doc.get("id"))
        items = [{"field": "WorklogId", "fieldtype": "jira", "from": worklog_id if how == "deleted" else None, "fromString": None, "to": None if how == "deleted" else worklog_id, "toString": None}]
        if change:
            items.insert(0, {"field": "timespent", "fieldtype": "jira", "from": str(before or "") or None, "fromString": str(before or "") or None, "to": str(after or "") or None, "toString": str(after or "") or None})
        self.site.record(call, ISSUE, key, {"action": "updated", "items": items})
