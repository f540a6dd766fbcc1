"""The fake Confluence: pages through REST v2 and v1, version numbers, content properties, and the
events a page write fires."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_app
from test_site_jira import invocation

from forgeq.api import api, assume_trusted_route, route
from forgeq.testing import ForgeApp

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/confluence-test
modules:
  trigger:
    - key: on-page
      function: on-page-fn
      events: [avi:confluence:created:page, avi:confluence:updated:page]
  function:
    - key: on-page-fn
      handler: index.handler
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ForgeApp]:
    manifest = write_app(tmp_path / "app", MANIFEST, {"src/index.py": "def handler(event, context):\n    pass\n"})
    with ForgeApp(manifest, product_limits={"points": 1000}) as forge_app:
        forge_app.push_product_event("page-created", count=1)
        forge_app.run_until_idle()
        yield forge_app


def confluence(method: str, path: object, body: object = None) -> tuple[int, object]:
    response = api.as_app().request_confluence(path, method=method, json=body) if body is not None else api.as_app().request_confluence(path, method=method)
    text = response.text()
    import json

    return response.status, json.loads(text) if text else None


def test_pages_v2_and_v1_with_versions_and_properties(app: ForgeApp) -> None:
    with invocation(app):
        seeded_status, seeded = confluence("GET", route("/wiki/api/v2/pages/{}?body-format=storage", "40001"))
        created_status, created = confluence("POST", route("/wiki/api/v2/pages"), {"spaceId": "827392002", "status": "current", "title": "Import log", "body": {"representation": "storage", "value": "<p>started</p>"}})
        page_id = created["id"]  # type: ignore[index]
        stale, conflict = confluence("PUT", route("/wiki/api/v2/pages/{}", page_id), {"id": page_id, "status": "current", "title": "Import log", "body": {"representation": "storage", "value": "<p>x</p>"}, "version": {"number": 1}})
        updated_status, _ = confluence("PUT", route("/wiki/api/v2/pages/{}", page_id), {"id": page_id, "status": "current", "title": "Import log", "body": {"representation": "storage", "value": "<p>done</p>"}, "version": {"number": 2}})
        v1_status, v1 = confluence("GET", route("/wiki/rest/api/content/{}?expand=body.storage,version", page_id))
        added_status, added = confluence("POST", route("/wiki/rest/api/content/{}/property", page_id), {"key": "progress", "value": {"done": 10}})
        twice, _ = confluence("POST", route("/wiki/rest/api/content/{}/property", page_id), {"key": "progress", "value": {"done": 11}})
        bumped, _ = confluence("PUT", route("/wiki/rest/api/content/{}/property/progress", page_id), {"value": {"done": 20}, "version": {"number": 2}})
        listed_status, listed = confluence("GET", route("/wiki/api/v2/pages/{}/properties", page_id))
        missing, missing_body = confluence("GET", route("/wiki/api/v2/pages/99999"))
    assert seeded_status == 200 and seeded["title"] == "Sample page 1" and seeded["version"]["number"] == 1  # type: ignore[index]
    assert created_status == 200 and created["title"] == "Import log" and created["body"]["storage"]["value"] == "<p>started</p>"  # type: ignore[index]
    assert stale == 409 and "Current Version: [1]. Provided version: [1]" in conflict["errors"][0]["title"]  # type: ignore[index]
    assert updated_status == 200
    assert v1_status == 200 and v1["version"]["number"] == 2 and v1["body"]["storage"]["value"] == "<p>done</p>"  # type: ignore[index]
    assert added_status == 200 and added["version"]["number"] == 1 and twice == 409 and bumped == 200  # type: ignore[index]
    assert listed_status == 200 and [(p["key"], p["value"]) for p in listed["results"]] == [("progress", {"done": 20})]  # type: ignore[index]
    assert missing == 404 and missing_body["errors"][0]["code"] == "NOT_FOUND"  # type: ignore[index]
    page = app.site.page(page_id)
    assert page is not None and page["version"]["number"] == 2
    assert [entry["action"] for entry in app.site.history(page_id)] == ["created", "updated", "property set", "property set"]
    fired = [e.target for e in app.events(kind="product") if e.body.get("atlassianId") == app.emulator.app_account_id]
    assert fired == ["avi:confluence:created:page", "avi:confluence:updated:page"]
    points = [row for row in app.quota() if row["metric"] == "confluence_points"]
    assert points and points[0]["installation"] == "*" and points[0]["quota"] == 1000


def test_spaces_and_page_listings_find_pages_by_space_and_title(app: ForgeApp) -> None:
    with invocation(app):
        for n in range(3):
            confluence("POST", route("/wiki/api/v2/pages"), {"spaceId": "827392002", "title": f"Report {n}", "body": {"representation": "storage", "value": "<p>r</p>"}})
        spaces_status, spaces = confluence("GET", route("/wiki/api/v2/spaces?keys={}", "DEMO"))
        none_status, none = confluence("GET", route("/wiki/api/v2/spaces?keys={}", "NOPE"))
        space_status, space = confluence("GET", route("/wiki/api/v2/spaces/{}", "827392002"))
        missing_space, _ = confluence("GET", route("/wiki/api/v2/spaces/{}", "1"))
        v1_status, v1 = confluence("GET", route("/wiki/rest/api/space/{}", "DEMO"))
        titled_status, titled = confluence("GET", route("/wiki/api/v2/pages?space-id={}&title={}", "827392002", "Report 1"))
        first_status, first = confluence("GET", route("/wiki/api/v2/spaces/{}/pages?limit=2", "827392002"))
        following = first["_links"]["next"]  # type: ignore[index]
        second_status, second = confluence("GET", assume_trusted_route(following))  # as an app follows _links.next
    assert spaces_status == 200 and [s["key"] for s in spaces["results"]] == ["DEMO"] and spaces["results"][0]["id"] == "827392002"  # type: ignore[index]
    assert none_status == 200 and none["results"] == []  # type: ignore[index]
    assert space_status == 200 and space["name"] == "Space DEMO" and missing_space == 404  # type: ignore[index]
    assert v1_status == 200 and v1["key"] == "DEMO"  # type: ignore[index]
    assert titled_status == 200 and [p["title"] for p in titled["results"]] == ["Report 1"]  # type: ignore[index]
    assert first_status == 200 and [p["title"] for p in first["results"]] == ["Sample page 1", "Report 0"]  # type: ignore[index]
    assert following.startswith("/wiki/api/v2/spaces/827392002/pages?") and "cursor=2" in following
    assert second_status == 200 and [p["title"] for p in second["results"]] == ["Report 1", "Report 2"] and "next" not in second["_links"]  # type: ignore[index]


def test_children_labels_and_footer_comments(app: ForgeApp) -> None:
    storage = {"representation": "storage", "value": "<p>x</p>"}
    with invocation(app):
        _, parent = confluence("POST", route("/wiki/api/v2/pages"), {"spaceId": "827392002", "title": "Parent", "body": storage})
        for n in range(2):
            confluence("POST", route("/wiki/api/v2/pages"), {"spaceId": "827392002", "title": f"Child {n}", "parentId": parent["id"], "body": storage})  # type: ignore[index]
        children_status, children = confluence("GET", route("/wiki/api/v2/pages/{}/children", parent["id"]))  # type: ignore[index]
        labelled_status, labelled = confluence("POST", route("/wiki/rest/api/content/{}/label", parent["id"]), [{"prefix": "global", "name": "Imported"}, {"prefix": "global", "name": "q4"}])  # type: ignore[index]
        again, _ = confluence("POST", route("/wiki/rest/api/content/{}/label", parent["id"]), {"prefix": "global", "name": "imported"})  # type: ignore[index]
        bad_label, _ = confluence("POST", route("/wiki/rest/api/content/{}/label", parent["id"]), {"prefix": "global", "name": "two words"})  # type: ignore[index]
        removed, _ = confluence("DELETE", route("/wiki/rest/api/content/{}/label/{}", parent["id"], "q4"))  # type: ignore[index]
        labels_status, labels = confluence("GET", route("/wiki/api/v2/pages/{}/labels", parent["id"]))  # type: ignore[index]
        added_status, comment = confluence("POST", route("/wiki/api/v2/footer-comments"), {"pageId": parent["id"], "body": storage})  # type: ignore[index]
        stale, _ = confluence("PUT", route("/wiki/api/v2/footer-comments/{}", comment["id"]), {"version": {"number": 1}, "body": storage})  # type: ignore[index]
        edited_status, edited = confluence("PUT", route("/wiki/api/v2/footer-comments/{}", comment["id"]), {"version": {"number": 2}, "body": {"representation": "storage", "value": "<p>y</p>"}})  # type: ignore[index]
        listed_status, listed = confluence("GET", route("/wiki/api/v2/pages/{}/footer-comments?body-format=storage", parent["id"]))  # type: ignore[index]
        deleted, _ = confluence("DELETE", route("/wiki/api/v2/footer-comments/{}", comment["id"]))  # type: ignore[index]
        gone, _ = confluence("GET", route("/wiki/api/v2/footer-comments/{}", comment["id"]))  # type: ignore[index]
        no_page, _ = confluence("POST", route("/wiki/api/v2/footer-comments"), {"pageId": "1", "body": storage})
    assert children_status == 200 and [(c["title"], c["childPosition"]) for c in children["results"]] == [("Child 0", 0), ("Child 1", 1)]  # type: ignore[index]
    assert labelled_status == 200 and [label["name"] for label in labelled["results"]] == ["imported", "q4"]  # type: ignore[index]
    assert (again, bad_label, removed) == (200, 400, 204)
    assert labels_status == 200 and [(label["name"], label["prefix"]) for label in labels["results"]] == [("imported", "global")]  # type: ignore[index]
    assert added_status == 201 and comment["pageId"] == parent["id"] and comment["version"]["number"] == 1  # type: ignore[index]
    assert (stale, edited_status, edited["version"]["number"]) == (409, 200, 2)  # type: ignore[index]
    assert listed_status == 200 and [c["body"]["storage"]["value"] for c in listed["results"]] == ["<p>y</p>"]  # type: ignore[index]
    assert (deleted, gone, no_page) == (204, 404, 404)
