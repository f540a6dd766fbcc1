"""The fake Jira's fields: GET /rest/api/{2,3}/field, what apps read to find a field's id by its name.

The system fields an issue's representation holds (shapes.issue_fields), and the custom fields a
new Jira Cloud site with Jira Software has, under the ids such a site usually gives them (Story
point estimate is customfield_10016, Sprint customfield_10020, ...): an app that looks a field up
by name finds it, and writes it as any `customfield_N` (jira.py's edits take every one). A site's
own custom fields are a stub away (docs/product-site.md).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from forgeq.emulator.app.replies import Answer
from forgeq.emulator.platform.site.calls import Call, reply

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


class JiraFields:
    def fields(self, call: Call) -> Answer:
        """GET /field: every field, system and custom."""
        return reply(200, [{**field, "clauseNames": list(field["clauseNames"]), "schema": dict(field["schema"])} for field in catalogue()])
