"""What `forgeq inspect site` and the testing API's `app.site` show: the fake site's objects after a run.

An issue as GET /rest/api/3/issue answers it (fields widened, comments included), with its
properties and its change history (who changed what, from which event's attempt or which
`forgeq push`); a page as GET /wiki/api/v2/pages answers it, with its history. Read from the
state file: committed writes only (the testing API flushes the loop's batch first).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from forgeq.emulator.platform.site import shapes
from forgeq.emulator.platform.site.confluence import CONTENT_PROPERTY
from forgeq.emulator.platform.site.jira_comments import ISSUE_PROPERTY
from forgeq.emulator.platform.site.jira_links import shown_links
from forgeq.emulator.platform.site.jira_search import DEFAULT_PROJECT
from forgeq.emulator.platform.site.stubs import Stub, make_stub
from forgeq.emulator.products import seeds
from forgeq.emulator.store import Store

if TYPE_CHECKING:
    from forgeq.emulator.loop.engine import Emulator

_UNSET: Any = object()


def users_of(store: Store, installation: str, ids: set[str], app_account_id: str | None) -> dict[str, dict[str, Any] | None]:
    found: dict[str, dict[str, Any] | None] = {}
    for account_id in ids:
        row = store.site_get(installation, seeds.USER, account_id)
        if row is not None:
            found[account_id] = json.loads(row.doc)
        elif account_id == app_account_id:
            found[account_id] = seeds.user_doc(account_id, "forgeq app", "app")
        else:
            found[account_id] = seeds.user_doc(account_id) if account_id in seeds.KNOWN_USERS else None
    return found


def history(store: Store, installation: str, kind: str, key: str, names: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    entries = []
    for row in store.site_history(installation, kind, key):
        change = json.loads(row["change"])
        actor = row["actor"]
        person = names.get(actor) if actor else None
        entries.append(
            {
                "at": row["at"],
                "actor": actor,
                "actor_name": (person or {}).get("displayName") if actor else None,
                "source": row["source"],
                **change,
            }
        )
    return entries


def issue_view(store: Store, installation: str, key: str, app_account_id: str | None = None) -> dict[str, Any] | None:
    """The issue `key` (or its id) with comments, properties and history; None if it never existed."""
    key = key.upper() if not key.isdigit() else (store.site_key_of(installation, seeds.ISSUE, key) or key)
    row = store.site_get(installation, seeds.ISSUE, key)
    actors = {entry["actor"] for entry in store.site_history(installation, seeds.ISSUE, key) if entry["actor"]}
    if row is None:
        if not actors and not store.site_history(installation, seeds.ISSUE, key):
            return None
        names = users_of(store, installation, actors, app_account_id)
        return {"installation": installation, "key": key, "deleted": True, "issue": None, "properties": {}, "history": history(store, installation, seeds.ISSUE, key, names)}
    doc = json.loads(row.doc)
    comments = sorted((json.loads(r.doc) for _, r in store.site_scan(installation, seeds.COMMENT, f"{key}/")), key=lambda c: str(c.get("id")).zfill(12))
    names = users_of(store, installation, shapes.account_ids(doc, comments) | actors, app_account_id)
    issue = {
        "id": doc.get("id"),
        "self": f"{shapes.base_url(installation)}/rest/api/3/issue/{doc.get('id')}",
        "key": key,
        "fields": shapes.issue_fields(installation, doc, names, comments, "3", _project(store, installation, doc)),
    }
    if issue["fields"].get("issuelinks"):  # the slim entries the issue keeps of its links
        issue["fields"]["issuelinks"] = shown_links(issue["fields"]["issuelinks"], installation, "3", lambda other: _stored(store, installation, other))
    properties = {json.loads(r.doc)["key"]: json.loads(r.doc)["value"] for _, r in store.site_scan(installation, ISSUE_PROPERTY, f"{key}/")}
    return {
        "installation": installation,
        "key": key,
        "deleted": False,
        "issue": issue,
        "properties": properties,
        "history": history(store, installation, seeds.ISSUE, key, names),
    }


def _stored(store: Store, installation: str, key: str) -> dict[str, Any] | None:
    row = store.site_get(installation, seeds.ISSUE, key)
    return None if row is None else dict(json.loads(row.doc))


def _project(store: Store, installation: str, doc: dict[str, Any]) -> dict[str, Any] | None:
    key = ((doc.get("fields") or {}).get("project") or {}).get("key")
    if not isinstance(key, str):
        return None
    row = store.site_get(installation, seeds.PROJECT, key)
    if row is not None:
        project: dict[str, Any] = json.loads(row.doc)
        return project
    return DEFAULT_PROJECT if key == DEFAULT_PROJECT["key"] else None


def page_view(store: Store, installation: str, page_id: str, app_account_id: str | None = None) -> dict[str, Any] | None:
    row = store.site_get(installation, seeds.PAGE, page_id)
    if row is None:
        return None
    doc = json.loads(row.doc)
    actors = {entry["actor"] for entry in store.site_history(installation, seeds.PAGE, page_id) if entry["actor"]}
    names = users_of(store, installation, actors, app_account_id)
    properties = {json.loads(r.doc)["key"]: json.loads(r.doc)["value"] for _, r in store.site_scan(installation, CONTENT_PROPERTY, f"{page_id}/")}
    return {"installation": installation, "id": page_id, "page": doc, "properties": properties, "history": history(store, installation, seeds.PAGE, page_id, names)}


def issue_list(store: Store, installation: str) -> list[dict[str, Any]]:
    """Every issue: key, summary, status, labels, updated (for `forgeq inspect site issues`)."""
    listed = []
    for key, row in store.site_scan(installation, seeds.ISSUE):
        fields = json.loads(row.doc).get("fields") or {}
        listed.append(
            {
                "key": key,
                "summary": fields.get("summary"),
                "status": (fields.get("status") or {}).get("name"),
                "labels": fields.get("labels") or [],
                "updated_at": row.updated_at,
            }
        )
    return sorted(listed, key=lambda item: _key_order(item["key"]))


def _key_order(key: str) -> tuple[str, int]:
    project, _, number = key.rpartition("-")
    return (project, int(number)) if number.isdigit() else (key, 0)


class SiteHandle:
    """The testing API's `app.site`: stubs, and the site's objects and requests after a run.

        app.site.stub("GET", "/rest/api/3/issue/{key}", status=429, headers={"Retry-After": "30"}, times=3)
        app.site.issue("DEMO-7")["fields"]["labels"]       # as GET /rest/api/3/issue/DEMO-7 answers
        app.site.requests(status=429)                       # every product call answered 429
    """

    def __init__(self, engine: Emulator, installation: str) -> None:
        self._engine = engine
        self.installation = installation

    def stub(
        self,
        method: str | None,
        path: str,
        *,
        status: int = 200,
        headers: dict[str, Any] | None = None,
        body: Any = _UNSET,
        times: int | None = None,
        responses: list[dict[str, Any]] | None = None,
        product: str | None = None,
        body_contains: str | None = None,
        seconds: float | None = None,
    ) -> Stub:
        """Answer matching requests with this response (stubs.yml's keys; docs/product-site.md).
        The returned Stub counts the requests it answered (`.calls`)."""
        stub = make_stub(
            method, path, status=status, headers=headers, body=None if body is _UNSET else body, has_body=body is not _UNSET,
            times=times, responses=responses, product=product, body_contains=body_contains, seconds=seconds,
        )  # fmt: skip
        return self._engine.site.stubs.add(stub)

    def issue(self, key: str) -> dict[str, Any] | None:
        """The issue as GET /rest/api/3/issue/KEY answers (None if it does not exist)."""
        view = issue_view(self._store(), self.installation, key, self._engine.app_account_id)
        return None if view is None or view["deleted"] else view["issue"]

    def issue_properties(self, key: str) -> dict[str, Any]:
        view = issue_view(self._store(), self.installation, key, self._engine.app_account_id)
        return {} if view is None else view["properties"]

    def history(self, key: str) -> list[dict[str, Any]]:
        """What happened to the issue KEY (or the page with that id), oldest first."""
        store = self._store()
        view = issue_view(store, self.installation, key, self._engine.app_account_id) if not key.isdigit() else None
        if view is None:
            view = page_view(store, self.installation, key, self._engine.app_account_id)
        return [] if view is None else list(view["history"])

    def page(self, page_id: str | int) -> dict[str, Any] | None:
        view = page_view(self._store(), self.installation, str(page_id), self._engine.app_account_id)
        return None if view is None else view["page"]

    def issues(self) -> list[dict[str, Any]]:
        return issue_list(self._store(), self.installation)

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """Product calls, oldest first; filters: status, method, path (a substring), product, event."""
        return self._store().site_requests(installation=self.installation, **filters)

    def _store(self) -> Store:
        self._engine.flush()
        return self._engine.store
