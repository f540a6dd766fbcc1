"""How the fake site's objects look over REST: Jira issues, users, comments; timestamps and ADF.

Stored issues hold their fields as product events carry them (users as `{accountId}`); `issue`
widens them into the representation GET /rest/api/{2,3}/issue answers, filling the fields Jira
always sends (labels, priority, watches, ...). Version 3 carries rich text (description, comment
bodies) as Atlassian Document Format, version 2 as plain text; either is converted on the way out.
The shapes follow Jira's REST reference (developer.atlassian.com/cloud/jira/platform/rest/v3/).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from forgeq.emulator.products.seeds import user_doc

# The workflow every project of the fake site uses: Jira's simplified one, three statuses with a
# global transition into each (docs/product-site.md).
CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
STATUSES = {
    "10000": ("To Do", "new"),
    "3": ("In Progress", "indeterminate"),
    "10001": ("Done", "done"),
}
TRANSITIONS = {"11": "10000", "21": "3", "31": "10001"}  # transition id -> status id
PRIORITIES = {"1": "Highest", "2": "High", "3": "Medium", "4": "Low", "5": "Lowest"}
ISSUE_TYPES = {"10000": "Epic", "10001": "Story", "10002": "Task", "10003": "Sub-task", "10004": "Bug"}
RESOLUTION_DONE = {"id": "10000", "name": "Done", "description": "Work has been completed on this issue."}

# Fields that are users: widened from {accountId} to Jira's user representation.
USER_FIELDS = ("assignee", "reporter", "creator")
_WIDENED = ("issuetype", "status", "priority", "project")
NAVIGABLE_EXCLUDED = ("comment", "worklog")
# How a stored field is shaped on the way out (issue_fields); the others are answered as stored.
_PERSON, _RICH, _WIDEN = "person", "rich", "widen"
_SHAPING = {
    **{name: _PERSON for name in USER_FIELDS}, "description": _RICH, "environment": _RICH, **{name: _WIDEN for name in _WIDENED},
}  # fmt: skip


@lru_cache(maxsize=64)
def base_url(installation: str) -> str:
    return f"https://{installation}.atlassian.net"


def jira_time(epoch: float) -> str:
    """Jira's timestamps: 2025-11-17T09:00:00.000+0000."""
    return f"{_second(int(epoch))}.{int(round((epoch - int(epoch)) * 1000)) % 1000:03d}+0000"


@lru_cache(maxsize=256)
def _second(epoch: int) -> str:
    return f"{datetime.fromtimestamp(epoch, tz=UTC):%Y-%m-%dT%H:%M:%S}"


def iso_time(epoch: float) -> str:
    """Confluence's timestamps: 2025-11-17T09:00:00.000Z."""
    return jira_time(epoch).replace("+0000", "Z")


# -- rich text --------------------------------------------------------------------------------------


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document (one paragraph per line)."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]} if line else {"type": "paragraph", "content": []}
        for line in text.split("\n")
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def plain(document: Any) -> str:
    """The text of an ADF document (or the string itself)."""
    if isinstance(document, str) or document is None:
        return document or ""
    lines: list[str] = []

    def walk(node: Any, line: list[str]) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text" and isinstance(node.get("text"), str):
                line.append(node["text"])
            for child in node.get("content") or ():
                if isinstance(child, dict) and child.get("type") in ("paragraph", "heading", "listItem", "codeBlock"):
                    inner: list[str] = []
                    walk(child, inner)
                    lines.append("".join(inner))
                else:
                    walk(child, line)

    rest: list[str] = []
    walk(document, rest)
    if rest:
        lines.append("".join(rest))
    return "\n".join(lines)


def rich_text(value: Any, version: str) -> Any:
    """A stored description or comment body in the form API version `version` answers with."""
    if value is None:
        return None
    if version == "2":
        return plain(value)
    return adf(value) if isinstance(value, str) else value


# -- users ------------------------------------------------------------------------------------------


class Users(Protocol):
    """The stored users a representation names, by account id (a dict, or the site's own lookup)."""

    def get(self, account_id: str, /) -> dict[str, Any] | None: ...



def user(installation: str, stored: dict[str, Any] | None, account_id: str, version: str = "3") -> dict[str, Any]:
    """Jira's user representation of a stored user (or a stand-in for an unknown account id)."""
    doc = stored or user_doc(account_id)
    slot = (installation, account_id, version, doc.get("displayName", account_id), doc.get("accountType", "atlassian"))
    shaped = _USERS.get(slot)
    if shaped is None:
        avatar = f"https://avatar-management.services.atlassian.net/default/{account_id[:2]}"
        shaped = _remember(_USERS, slot, {
            "self": f"{base_url(installation)}/rest/api/{version}/user?accountId={account_id}",
            "accountId": account_id,
            "avatarUrls": {size: f"{avatar}/{size.split('x')[0]}" for size in ("48x48", "24x24", "16x16", "32x32")},
            "displayName": slot[3],
            "active": True,
            "timeZone": "Etc/UTC",
            "accountType": slot[4],
        })  # fmt: skip
    return {**shaped, "avatarUrls": {**shaped["avatarUrls"]}}


# Shapes made from a few ids and names, kept once made (the answers get copies: a Python handler
# gets the JSON value itself and may change it). A representation of an issue is most of the
# cost of GET issue: these are half of it made afresh.
_USERS: dict[tuple[str, ...], dict[str, Any]] = {}
_STATUSES: dict[tuple[str, ...], dict[str, Any]] = {}
_FLAT: dict[tuple[str, ...], dict[str, Any]] = {}  # priorities and issue types: no nested objects


def _remember(cache: dict[tuple[str, ...], dict[str, Any]], slot: tuple[str, ...], shaped: dict[str, Any]) -> dict[str, Any]:
    if len(cache) >= 4096:
        cache.clear()
    cache[slot] = shaped
    return shaped


_CONTAINERS = (dict, list)
_PROJECT_REFERENCE = frozenset(("key", "id"))  # a project kept by its key (or id): widened to the site's project


def fresh(value: Any) -> Any:
    """A copy of a JSON value's objects and arrays (its strings and numbers are immutable)."""
    if type(value) is dict:
        copy = value.copy()
        for key, item in value.items():
            if type(item) in _CONTAINERS:
                copy[key] = fresh(item)
        return copy
    if type(value) is list:
        return [fresh(item) if type(item) in _CONTAINERS else item for item in value]
    return value


# -- issues -----------------------------------------------------------------------------------------


def status(status_id: str, installation: str, name: str | None = None, category: str | None = None) -> dict[str, Any]:
    """A status's representation; `name` and `category` as the issue keeps them, where they differ
    from the workflow's."""
    slot = (status_id, installation, name or "", category or "")
    shaped = _STATUSES.get(slot)
    if shaped is None:
        default_name, default_category = STATUSES.get(status_id, (status_id, "new"))
        chosen = category if category in CATEGORIES else default_category
        base = base_url(installation)
        shaped = _remember(_STATUSES, slot, {
            "self": f"{base}/rest/api/3/status/{status_id}",
            "description": "",
            "iconUrl": f"{base}/",
            "name": name or default_name,
            "id": status_id,
            "statusCategory": {"self": f"{base}/rest/api/3/statuscategory/{CATEGORIES[chosen]['id']}", **CATEGORIES[chosen]},
        })  # fmt: skip
    return {**shaped, "statusCategory": {**shaped["statusCategory"]}}


def priority(priority_id: str, installation: str, name: str | None = None) -> dict[str, Any]:
    slot = ("priority", priority_id, installation, name or "")
    shaped = _FLAT.get(slot)
    if shaped is None:
        base = base_url(installation)
        known = PRIORITIES.get(priority_id, priority_id)
        shaped = _remember(_FLAT, slot, {
            "self": f"{base}/rest/api/3/priority/{priority_id}", "iconUrl": f"{base}/images/icons/priorities/{known.lower()}.svg", "name": name or known, "id": priority_id,
        })  # fmt: skip
    return {**shaped}


def issue_type(type_id: str, installation: str, name: str | None = None) -> dict[str, Any]:
    slot = ("issuetype", type_id, installation, name or "")
    shaped = _FLAT.get(slot)
    if shaped is None:
        name = name or ISSUE_TYPES.get(type_id, type_id)
        base = base_url(installation)
        shaped = _remember(_FLAT, slot, {
            "self": f"{base}/rest/api/3/issuetype/{type_id}",
            "id": type_id,
            "description": "",
            "iconUrl": f"{base}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{type_id}?size=medium",
            "name": name,
            "subtask": name == "Sub-task",
            "hierarchyLevel": 1 if name == "Epic" else -1 if name == "Sub-task" else 0,
        })  # fmt: skip
    return {**shaped}


def widen(name: str, value: Any, installation: str, project: dict[str, Any] | None = None) -> Any:
    """A field as the site keeps it (products/seeds.py's slim_fields) in Jira's representation."""
    if not isinstance(value, dict) or value.get("id") is None and name != "project":
        return value
    if name == "issuetype":
        return issue_type(str(value["id"]), installation, value.get("name"))
    if name == "status":
        return status(str(value["id"]), installation, value.get("name"), value.get("category"))
    if name == "priority":
        return priority(str(value["id"]), installation, value.get("name"))
    if name == "project":
        return fresh(project) if project is not None and value.keys() <= _PROJECT_REFERENCE else value
    return value


def slim(name: str, value: Any) -> Any:
    """A field in Jira's representation as the site keeps it."""
    from forgeq.emulator.products.seeds import slim_fields

    return slim_fields({name: value})[name]


def issue_fields(
    installation: str,
    doc: dict[str, Any],
    users: Users,
    comments: list[dict[str, Any]],
    version: str,
    project: dict[str, Any] | None = None,
    only: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Every field of the issue, as GET issue with fields=*all answers (`project`: the project's
    representation, for a project kept by its key). With `only`, the fields not named in it are
    left out or left as they are stored (select_fields drops them): a request for a few fields
    does not pay for the users, statuses and defaults of the others."""
    stored = doc.get("fields") or {}
    if only is not None and only.isdisjoint(_COMPUTED):
        fields = {}
        for name in only:
            if name in stored:
                value = stored[name]
                shaping = _SHAPING.get(name)
                fields[name] = _copy(value) if shaping is None else _shape(name, value, shaping, installation, users, version, project)
            elif name in _constant_defaults():
                fields[name] = _copy(_constant_defaults()[name])
        return fields
    base = base_url(installation)
    created = stored.get("created")
    fields = {
        "statuscategorychangedate": created,
        "issuetype": stored.get("issuetype"),
        "timespent": None,
        "project": stored.get("project"),
        "fixVersions": [],
        "aggregatetimespent": None,
        "resolution": None,
        "resolutiondate": None,
        "workratio": -1,
        "watches": {"self": f"{base}/rest/api/{version}/issue/{doc.get('key')}/watchers", "watchCount": 0, "isWatching": False},
        "lastViewed": None,
        "created": created,
        "priority": None if "priority" in stored else priority("3", installation),
        "labels": [],
        "aggregatetimeoriginalestimate": None,
        "timeestimate": None,
        "versions": [],
        "issuelinks": [],
        "assignee": None,
        "updated": stored.get("updated"),
        "status": stored.get("status"),
        "components": [],
        "timeoriginalestimate": None,
        "description": None,
        "timetracking": {},
        "security": None,
        "attachment": [],
        "aggregatetimeestimate": None,
        "summary": stored.get("summary"),
        "creator": None,
        "subtasks": [],
        "reporter": None,
        "aggregateprogress": {"progress": 0, "total": 0},
        "environment": None,
        "duedate": None,
        "progress": {"progress": 0, "total": 0},
        "votes": {"self": f"{base}/rest/api/{version}/issue/{doc.get('key')}/votes", "votes": 0, "hasVoted": False},
    }
    for name, value in stored.items():
        shaping = _SHAPING.get(name)
        if shaping is None or (only is not None and name not in only):
            fields[name] = _copy(value)
        else:
            fields[name] = _shape(name, value, shaping, installation, users, version, project)
    fields["comment"] = {
        "comments": [comment(installation, doc, c, users, version) for c in comments] if only is None or "comment" in only else [],
        "self": f"{base}/rest/api/{version}/issue/{doc.get('id')}/comment",
        "maxResults": len(comments),
        "total": len(comments),
        "startAt": 0,
    }
    fields["worklog"] = {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []}
    return fields


# The fields whose default issue_fields computes from the issue, its installation or the API
# version; every other field of an issue that does not store it answers the same
# (_constant_defaults).
_COMPUTED = frozenset(("statuscategorychangedate", "watches", "priority", "votes", "comment", "worklog"))


@lru_cache(maxsize=1)
def _constant_defaults() -> dict[str, Any]:
    """What issue_fields answers for each field an issue does not store, but for _COMPUTED."""
    every = issue_fields("default", {}, _NO_USERS, [], "3")
    return {name: value for name, value in every.items() if name not in _COMPUTED}


class _NoUsers:
    def get(self, account_id: str, /) -> dict[str, Any] | None:
        return None


_NO_USERS = _NoUsers()


def _copy(value: Any) -> Any:
    # The stored issue is shared by the batch's reads (platform/site/data.py): its objects are
    # copied, since a Python handler gets the representation itself and may change it.
    return fresh(value) if type(value) in _CONTAINERS else value


def _shape(name: str, value: Any, shaping: str, installation: str, users: Users, version: str, project: dict[str, Any] | None) -> Any:
    """A stored field that is a user, rich text, or an object the site keeps slim, as Jira answers it."""
    if shaping is _PERSON:
        return user(installation, users.get(value["accountId"]), value["accountId"], version) if _has_account(value) else None
    shaped = rich_text(value, version) if shaping is _RICH else widen(name, value, installation, project)
    return _copy(shaped) if shaped is value else shaped


def select_fields(fields: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """Jira's `fields` parameter: names, `*all`, `*navigable`, `-name` to leave one out (only
    exclusions: every navigable field but those)."""
    if wanted == ["*all"]:
        return fields
    includes = [name for name in wanted if not name.startswith("-")] or ["*navigable"]
    excluded = {name[1:] for name in wanted if name.startswith("-")}
    chosen: dict[str, Any] = {}
    for name in includes:
        if name == "*all":
            chosen.update(fields)
        elif name == "*navigable":
            chosen.update((k, v) for k, v in fields.items() if k not in NAVIGABLE_EXCLUDED)
        elif name in fields:
            chosen[name] = fields[name]
    return {k: v for k, v in chosen.items() if k not in excluded}


def comment(installation: str, issue: dict[str, Any], stored: dict[str, Any], users: Users, version: str) -> dict[str, Any]:
    shaped = dict(stored)
    shaped["self"] = f"{base_url(installation)}/rest/api/{version}/issue/{issue.get('id')}/comment/{stored.get('id')}"
    for name in ("author", "updateAuthor"):
        person = stored.get(name)
        if isinstance(person, dict) and isinstance(person.get("accountId"), str):
            shaped[name] = user(installation, users.get(person["accountId"]), person["accountId"], version)
    shaped["body"] = rich_text(stored.get("body"), version)
    return shaped


def account_ids(doc: dict[str, Any], comments: list[dict[str, Any]]) -> set[str]:
    """The account ids an issue's representation names (to read their users once)."""
    found: set[str] = set()
    for name in USER_FIELDS:
        person = (doc.get("fields") or {}).get(name)
        if isinstance(person, dict) and isinstance(person.get("accountId"), str):
            found.add(person["accountId"])
    for stored in comments:
        for name in ("author", "updateAuthor"):
            person = stored.get(name)
            if isinstance(person, dict) and isinstance(person.get("accountId"), str):
                found.add(person["accountId"])
    return found


def _has_account(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("accountId"), str)
