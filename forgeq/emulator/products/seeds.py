"""What a product event says exists on the fake product site: the issue, comment, project, users
or page it names, with the same keys and ids (forgeq/emulator/platform/site/ serves them).

`forgeq push issue-created --count 1000` makes DEMO-1..DEMO-1000 exist on the site of the
installation they were pushed to, in the same transaction as the events (firing.py). An event about
an object merges into it: an issue-updated payload replaces the fields it carries and keeps the
rest (labels an app set stay), and its changelog becomes the issue's history; an issue-deleted
payload removes the issue. Nothing here touches the store: `site_writes` gets a reader for the
objects as they stand.

Objects are JSON documents keyed by (installation, kind, key):

- issue     key DEMO-17, ref 10017: {"id", "key", "fields"} (fields as the payload carries them:
            users as {accountId}; the site widens them when it answers)
- comment   key DEMO-17/20017, ref 20017: the payload's comment
- project   key DEMO, ref 10000: the payload's project
- user      key the account id: {"accountId", "displayName", "accountType"}
- page      key 40017, ref 40017: the payload's content (Confluence)
- space     key DEMO: the payload's space
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from forgeq.emulator.products import payloads
from forgeq.emulator.store.batch import NewEvent, SiteChange, SiteKey, SiteRow
from forgeq.jsontext import compact_tree, escape_surrogates

ISSUE = "issue"
COMMENT = "comment"
PROJECT = "project"
USER = "user"
PAGE = "page"
SPACE = "space"
# Set on an issue once it has had a comment: reading an issue never commented skips looking for them.
COMMENTED = "commented"

# The people product events name (payloads.py's stand-in account ids), as the site shows them.
KNOWN_USERS = {
    payloads.DEMO_USER_ACCOUNT_ID: "Riley Reporter",
    payloads.DEMO_ASSIGNEE_ACCOUNT_ID: "Sam Assignee",
}

Reader = Callable[[str, str, str], str | None]


def dumps(value: Any) -> str:
    """A site object's JSON text, a lone surrogate escaped as JavaScript escapes it (the state file
    is UTF-8). Objects come from JSON (payloads, request bodies parsed without NaN), so compact's
    text is JSON.stringify's but for that escape, and they hold no cycle (compact_tree)."""
    return escape_surrogates(compact_tree(value))


def slim_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Issue fields as the site keeps them: objects the site can rebuild (the issue type, the
    status, the priority, the project) by their id and name only, so a read or an edit of an issue
    parses and writes a few hundred bytes, not the payload's kilobytes of links and avatars. The
    site widens them again when it answers (platform/site/shapes.py)."""
    slim = dict(fields)
    for name in ("issuetype", "priority"):
        value = slim.get(name)
        if isinstance(value, dict) and value.get("id") is not None:
            slim[name] = {"id": str(value["id"]), "name": value.get("name")}
    status = slim.get("status")
    if isinstance(status, dict) and status.get("id") is not None:
        category = status.get("statusCategory")
        key = category.get("key") if isinstance(category, dict) else status.get("category")
        slim["status"] = {"id": str(status["id"]), "name": status.get("name"), "category": key}
    project = slim.get("project")
    if isinstance(project, dict) and isinstance(project.get("key"), str):
        slim["project"] = {"key": project["key"]}
    return slim


def user_doc(account_id: str, display_name: str | None = None, account_type: str = "atlassian") -> dict[str, Any]:
    name = display_name or KNOWN_USERS.get(account_id) or f"User {account_id[:6]}"
    return {"accountId": account_id, "displayName": name, "accountType": account_type}


class SiteSeeder:
    """Collects the writes and history rows of a chunk of product events, reading through `read`."""

    def __init__(self, read: Reader) -> None:
        self.read = read
        self.writes: dict[SiteKey, SiteRow | None] = {}
        self.history: list[SiteChange] = []

    def current(self, installation: str, kind: str, key: str) -> dict[str, Any] | None:
        slot = (installation, kind, key)
        if slot in self.writes:
            row = self.writes[slot]
            return None if row is None else json.loads(row.doc)
        text = self.read(installation, kind, key)
        return None if text is None else json.loads(text)

    def put(self, installation: str, kind: str, key: str, ref: str | None, doc: dict[str, Any], at: float) -> None:
        self.writes[(installation, kind, key)] = SiteRow(ref, dumps(doc), at)

    def ensure(self, installation: str, kind: str, key: str, ref: str | None, doc: dict[str, Any], at: float) -> None:
        """Write `doc` unless the object exists already (a project, a user)."""
        if self.current(installation, kind, key) is None:
            self.put(installation, kind, key, ref, doc, at)

    def note(self, installation: str, kind: str, key: str, at: float, actor: str | None, source: str, change: dict[str, Any]) -> None:
        self.history.append((installation, kind, key, at, actor, source, dumps(change)))

    # -- one event ----------------------------------------------------------------------------------

    def seed(self, installation: str, event_type: str, payload: Any, at: float, source: str) -> None:
        if not isinstance(payload, dict):
            return
        actor = payload.get("atlassianId") if isinstance(payload.get("atlassianId"), str) else None
        if event_type.startswith("avi:jira:") and isinstance(payload.get("issue"), dict):
            self._issue(installation, event_type, payload, at, actor, source)
        elif event_type.startswith("avi:confluence:") and isinstance(payload.get("content"), dict):
            self._page(installation, event_type, payload["content"], at, actor, source)

    def _issue(self, installation: str, event_type: str, payload: dict[str, Any], at: float, actor: str | None, source: str) -> None:
        issue = payload["issue"]
        key, ref = issue.get("key"), issue.get("id")
        if not isinstance(key, str) or not key:
            return
        ref = str(ref) if ref is not None else None
        given = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
        fields = slim_fields(given)
        for account_id in _account_ids(payload, fields):
            self.ensure(installation, USER, account_id, None, user_doc(account_id), at)
        project = given.get("project")
        if isinstance(project, dict) and isinstance(project.get("key"), str):
            self.ensure(installation, PROJECT, project["key"], _text(project.get("id")), project, at)
        if event_type == "avi:jira:deleted:issue":
            if self.current(installation, ISSUE, key) is not None:
                self.writes[(installation, ISSUE, key)] = None
            self.note(installation, ISSUE, key, at, actor, source, {"action": "deleted"})
            return
        existing = self.current(installation, ISSUE, key)
        comment = payload.get("comment")
        doc: dict[str, Any]
        if existing is None:
            doc = {"id": ref, "key": key, "fields": dict(fields)}
            self.note(installation, ISSUE, key, at, actor, source, {"action": "created"})
        else:
            doc = {**existing, "fields": {**existing.get("fields", {}), **fields}}
            if ref is not None:
                doc["id"] = ref
        if isinstance(comment, dict) and comment.get("id") is not None:
            doc[COMMENTED] = True
        self.put(installation, ISSUE, key, _text(doc.get("id")), doc, at)
        changelog = payload.get("changelog")
        if isinstance(changelog, dict) and isinstance(changelog.get("items"), list) and existing is not None:
            self.note(installation, ISSUE, key, at, actor, source, {"action": "updated", "items": changelog["items"]})
        elif existing is not None and event_type != "avi:jira:commented:issue":
            self.note(installation, ISSUE, key, at, actor, source, {"action": "updated", "items": []})
        if isinstance(comment, dict) and comment.get("id") is not None:
            comment_id = str(comment["id"])
            self.put(installation, COMMENT, f"{key}/{comment_id}", comment_id, comment, at)
            self.note(installation, ISSUE, key, at, actor, source, {"action": "commented", "comment": comment_id})

    def _page(self, installation: str, event_type: str, content: dict[str, Any], at: float, actor: str | None, source: str) -> None:
        ref = _text(content.get("id"))
        if ref is None:
            return
        space = content.get("space")
        if isinstance(space, dict) and isinstance(space.get("key"), str):
            self.ensure(installation, SPACE, space["key"], _text(space.get("id")), space, at)
        existing = self.current(installation, PAGE, ref)
        self.put(installation, PAGE, ref, ref, {**(existing or {}), **content}, at)
        action = "created" if existing is None else "updated"
        self.note(installation, PAGE, ref, at, actor, source, {"action": action, "version": (content.get("version") or {}).get("number")})


def site_writes(
    events: Sequence[NewEvent], numbers: list[int], read: Reader
) -> tuple[dict[SiteKey, SiteRow | None], list[SiteChange]]:
    """The site writes of a chunk of product event rows, numbered `numbers` (for the history's
    "product event #n")."""
    seeder = SiteSeeder(read)
    for event, number in zip(events, numbers, strict=True):
        seeder.seed(event.installation, event.target, json.loads(event.body), event.available_at, f"product event #{number} (forgeq push)")
    return seeder.writes, seeder.history


def _account_ids(payload: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    found: dict[str, None] = {}
    if isinstance(payload.get("atlassianId"), str):
        found[payload["atlassianId"]] = None
    for name in ("creator", "reporter", "assignee"):
        person = fields.get(name)
        if isinstance(person, dict) and isinstance(person.get("accountId"), str):
            found[person["accountId"]] = None
    for person in payload.get("associatedUsers") or ():
        if isinstance(person, dict) and isinstance(person.get("accountId"), str):
            found[person["accountId"]] = None
    return list(found)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
