"""The fake Jira: REST shapes and errors, writes that change the site, events that writes fire.

Most tests call the Python port (forgeq.api) inside a real invocation of a real engine over an
in-memory state: the same path a handler takes, without a handler per case. The end-to-end tests
run handlers through the loop.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import V2_MANIFEST, write_app

from forgeq import runtime
from forgeq.api import api, assume_trusted_route, route
from forgeq.emulator.loop.invocation import Invocation
from forgeq.emulator.products import payloads
from forgeq.testing import ForgeApp

TRIGGER_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/site-test
modules:
  trigger:
    - key: on-updated
      function: on-updated-fn
      events: [avi:jira:updated:issue, avi:jira:created:issue, avi:jira:commented:issue]
  function:
    - key: on-updated-fn
      handler: index.handler
"""


@contextmanager
def invocation(app: ForgeApp) -> Iterator[Invocation]:
    """A live invocation of `app`'s engine, as a handler's code runs in one."""
    engine = app.emulator
    engine.start()
    current = Invocation(engine, app.installation, None, None, app.now)
    token = runtime.bind(current)
    try:
        yield current
    finally:
        runtime.unbind(token)
        engine.flush()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ForgeApp]:
    manifest = write_app(tmp_path / "app", V2_MANIFEST, {"src/index.py": "def handler(event, context):\n    pass\n"})
    with ForgeApp(manifest, product_limits="none") as forge_app:
        forge_app.push_product_event("issue-created", count=3)
        yield forge_app


def jira(method: str, path: Any, body: Any = None, *, as_user: bool = False) -> tuple[int, Any]:
    requester = api.as_user() if as_user else api.as_app()
    response = requester.request_jira(path, method=method, json=body) if body is not None else requester.request_jira(path, method=method)
    text = response.text()
    return response.status, json.loads(text) if text else None


def test_get_issue_answers_the_seeded_issue_in_jiras_shape(app: ForgeApp) -> None:
    with invocation(app):
        status, issue = jira("GET", route("/rest/api/3/issue/{}", "DEMO-2"))
        by_id_status, by_id = jira("GET", route("/rest/api/2/issue/{}?fields=summary,labels", "10002"))
        missing_status, missing = jira("GET", route("/rest/api/3/issue/{}", "DEMO-99"))
    assert status == 200
    assert issue["key"] == "DEMO-2" and issue["id"] == "10002"
    assert issue["self"] == "https://site-1.atlassian.net/rest/api/3/issue/10002"
    fields = issue["fields"]
    assert fields["summary"] == "Sample issue 2"
    assert fields["labels"] == [] and fields["priority"]["name"] == "Medium"
    assert fields["status"]["name"] == "To Do" and fields["status"]["statusCategory"]["key"] == "new"
    assert fields["reporter"]["displayName"] == "Riley Reporter" and fields["reporter"]["accountType"] == "atlassian"
    assert fields["comment"] == {"comments": [], "self": "https://site-1.atlassian.net/rest/api/3/issue/10002/comment", "maxResults": 0, "total": 0, "startAt": 0}
    assert by_id_status == 200 and set(by_id["fields"]) == {"summary", "labels"}
    assert (missing_status, missing) == (404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})


def test_a_handler_that_changes_the_issue_it_read_changes_no_other_answer(app: ForgeApp) -> None:
    # The site keeps the users, statuses and projects it shapes; a Python handler gets the JSON
    # value itself, so each answer must hold its own copies of them.
    with invocation(app):
        first = api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1")).json()
        pristine = json.loads(json.dumps(first))
        fields = first["fields"]
        for name in ("status", "issuetype", "priority", "project", "reporter", "creator", "watches"):
            fields[name]["self"] = "changed"
        fields["status"]["statusCategory"]["name"] = "changed"
        fields["reporter"]["avatarUrls"]["48x48"] = "changed"
        again = api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1")).json()
        some = api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1?fields=summary,reporter,status,comment")).json()
    assert again == pristine
    assert some["fields"] == {name: pristine["fields"][name] for name in ("summary", "reporter", "status", "comment")}


def test_a_fields_subset_answers_what_the_whole_issue_answers_and_answers_own_their_objects(app: ForgeApp) -> None:
    # `?fields=` builds only the fields it names (shapes.issue_fields), and the reads of one batch
    # share the stored issue (platform/site/data.py): each answer must still be what the whole
    # issue answers, with objects of its own.
    adf = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hello"}]}]}
    edit = {"labels": ["a"], "description": adf, "customfield_10001": [1, {"x": 2}], "priority": {"name": "High"}, "assignee": {"accountId": payloads.DEMO_ASSIGNEE_ACCOUNT_ID}}
    with invocation(app):
        assert jira("PUT", route("/rest/api/3/issue/DEMO-1"), {"fields": edit})[0] == 204
    with invocation(app):
        for version in ("2", "3"):
            _, whole = jira("GET", route(f"/rest/api/{version}/issue/DEMO-1"))
            for name in [*whole["fields"], "customfield_99", "labels,customfield_10001,description,assignee"]:
                _, some = jira("GET", route(f"/rest/api/{version}/issue/DEMO-1?fields={name}"))
                assert some["fields"] == {part: whole["fields"][part] for part in name.split(",") if part in whole["fields"]}, name
        first = api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1")).json()
        pristine = json.loads(json.dumps(first))
        first["fields"]["labels"].append("changed")
        first["fields"]["customfield_10001"][1]["x"] = 0
        first["fields"]["description"]["content"].clear()
        some = api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1?fields=labels,customfield_10001")).json()
        some["fields"]["labels"].append("changed")
        again = api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1")).json()
    assert again == pristine
    assert pristine["fields"]["labels"] == ["a"] and pristine["fields"]["customfield_10001"] == [1, {"x": 2}]


def test_edit_changes_the_issue_and_its_history(app: ForgeApp) -> None:
    with invocation(app):
        edited, _ = jira("PUT", route("/rest/api/3/issue/{}", "DEMO-1"), {"fields": {"summary": "Renamed"}, "update": {"labels": [{"add": "imported"}, {"add": "x"}, {"remove": "x"}]}})
        status, issue = jira("GET", route("/rest/api/3/issue/DEMO-1"))
        unknown, problems = jira("PUT", route("/rest/api/3/issue/DEMO-1"), {"fields": {"status": {"name": "Done"}, "labels": ["has space"]}})
    assert edited == 204 and status == 200
    assert issue["fields"]["summary"] == "Renamed" and issue["fields"]["labels"] == ["imported"]
    assert unknown == 400
    assert problems["errors"] == {
        "status": "Field 'status' cannot be set. It is not on the appropriate screen, or unknown.",
        "labels": "The label 'has space' contains spaces which is invalid.",
    }
    history = app.site.history("DEMO-1")
    assert [entry["action"] for entry in history] == ["created", "updated"]
    items = {item["field"]: item for item in history[1]["items"]}
    assert items["summary"]["fromString"] == "Sample issue 1" and items["summary"]["toString"] == "Renamed"
    assert items["labels"]["toString"] == "imported"
    assert history[1]["actor_name"] == "forgeq app"
    assert app.site.issue("DEMO-1")["fields"]["labels"] == ["imported"]  # committed with the batch


def test_an_edited_issue_is_still_found_by_its_id_once_committed(app: ForgeApp) -> None:
    # The commit rewrites an edited issue's row without its id (store/site.py's kept_ref).
    with invocation(app):
        jira("GET", route("/rest/api/3/issue/DEMO-1"))
        jira("PUT", route("/rest/api/3/issue/DEMO-1"), {"fields": {"summary": "Once"}})
        jira("PUT", route("/rest/api/3/issue/10001"), {"fields": {"summary": "Twice"}})
    with invocation(app):
        status, issue = jira("GET", route("/rest/api/3/issue/10001?fields=summary"))
    assert (status, issue["key"], issue["fields"]) == (200, "DEMO-1", {"summary": "Twice"})
    assert app.emulator.store.site_key_of(app.installation, "issue", "10001") == "DEMO-1"


def test_create_transition_comment_property_and_delete(app: ForgeApp) -> None:
    with invocation(app):
        created_status, created = jira("POST", route("/rest/api/3/issue"), {"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Bug"}, "summary": "From the app"}})
        key = created["key"]
        bad_status, bad = jira("POST", route("/rest/api/3/issue"), {"fields": {"project": {"key": "NOPE"}}})
        transitions_status, transitions = jira("GET", route("/rest/api/3/issue/{}/transitions", key))
        moved, _ = jira("POST", route("/rest/api/3/issue/{}/transitions", key), {"transition": {"id": "31"}})
        wrong_move, wrong = jira("POST", route("/rest/api/3/issue/{}/transitions", key), {"transition": {"id": "99"}})
        comment_status, comment = jira("POST", route("/rest/api/3/issue/{}/comment", key), {"body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hello"}]}]}})
        listed_status, listed = jira("GET", route("/rest/api/2/issue/{}/comment", key))
        set_status, _ = jira("PUT", route("/rest/api/3/issue/{}/properties/{}", key, "import.state"), {"done": True})
        again_status, _ = jira("PUT", route("/rest/api/3/issue/{}/properties/{}", key, "import.state"), {"done": False})
        prop_status, prop = jira("GET", route("/rest/api/3/issue/{}/properties/import.state", key))
        keys_status, keys = jira("GET", route("/rest/api/3/issue/{}/properties", key))
        done_status, done = jira("GET", route("/rest/api/3/issue/{}?fields=status,resolution", key))
        deleted, _ = jira("DELETE", route("/rest/api/3/issue/{}", key))
        gone, _ = jira("GET", route("/rest/api/3/issue/{}", key))
    assert created_status == 201 and key == "DEMO-4" and created["id"] == "10004"  # the next product number: no clash with pushes
    assert created["self"] == "https://site-1.atlassian.net/rest/api/3/issue/10004"
    assert bad_status == 400 and bad["errors"] == {"project": "Specify a valid project ID or key", "issuetype": "Specify an issue type", "summary": "You must specify a summary of the issue."}
    assert transitions_status == 200 and [t["id"] for t in transitions["transitions"]] == ["11", "21", "31"]
    assert moved == 204 and (wrong_move, wrong["errorMessages"]) == (400, ["Transition id '99' is not valid for this issue."])
    assert comment_status == 201 and comment["author"]["displayName"] == "forgeq app" and comment["body"]["type"] == "doc"
    assert listed_status == 200 and listed["total"] == 1 and listed["comments"][0]["body"] == "hello"  # v2 answers plain text
    assert (set_status, again_status) == (201, 200)
    assert (prop_status, prop) == (200, {"key": "import.state", "value": {"done": False}})
    assert keys_status == 200 and [k["key"] for k in keys["keys"]] == ["import.state"]
    assert done_status == 200 and done["fields"]["status"]["name"] == "Done" and done["fields"]["resolution"]["name"] == "Done"
    assert (deleted, gone) == (204, 404)
    assert app.site.issue(key) is None
    assert [entry["action"] for entry in app.site.history(key)][-1] == "deleted"


def test_bulk_create_makes_each_issue_or_says_which_element_failed_and_why(app: ForgeApp) -> None:
    """POST issue/bulk, the import's endpoint: each element created or refused on its own (201 with
    both lists), 400 when none was created, at most 50 a request."""
    good = {"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Task"}, "summary": "Imported one", "labels": ["imported"]}}
    with invocation(app):
        status, answer = jira("POST", route("/rest/api/3/issue/bulk"), {"issueUpdates": [
            good,
            {"fields": {"project": {"key": "NOPE"}, "issuetype": {"name": "Task"}, "summary": "Lost"}},
            {"fields": {**good["fields"], "summary": "Imported two"}, "update": {"labels": [{"add": "second"}]}},
            {"fields": {**good["fields"], "labels": ["has space"]}},
        ]})  # fmt: skip
        none_status, none = jira("POST", route("/rest/api/2/issue/bulk"), {"issueUpdates": [{"fields": {}}]})
        over_status, over = jira("POST", route("/rest/api/3/issue/bulk"), {"issueUpdates": [good] * 51})
        shapeless_status, shapeless = jira("POST", route("/rest/api/3/issue/bulk"), {"issues": [good]})
        got_status, got = jira("GET", route("/rest/api/3/issue/{}?fields=summary,labels", "DEMO-5"))
    assert status == 201
    assert [(issue["key"], issue["id"]) for issue in answer["issues"]] == [("DEMO-4", "10004"), ("DEMO-5", "10005")]
    assert answer["issues"][0]["self"] == "https://site-1.atlassian.net/rest/api/3/issue/10004"
    assert [error["failedElementNumber"] for error in answer["errors"]] == [1, 3]
    first, second = answer["errors"]
    assert first["status"] == 400 and first["elementErrors"]["errors"] == {"project": "Specify a valid project ID or key"}
    assert second["elementErrors"]["errors"] == {"labels": "The label 'has space' contains spaces which is invalid."}
    assert none_status == 400 and none["issues"] == [] and none["errors"][0]["failedElementNumber"] == 0
    assert set(none["errors"][0]["elementErrors"]["errors"]) == {"project", "issuetype", "summary"}
    assert over_status == 400 and "at most 50" in over["errorMessages"][0]
    assert shapeless_status == 400 and "issueUpdates" in shapeless["errorMessages"][0]
    assert got_status == 200 and got["fields"] == {"summary": "Imported two", "labels": ["imported", "second"]}
    assert app.site.issue("DEMO-4")["fields"]["labels"] == ["imported"]
    assert [entry["action"] for entry in app.site.history("DEMO-5")] == ["created"]
    assert app.site.issue("DEMO-6") is None and app.site.issue("DEMO-7") is None  # the refused elements, and the over-long request


def test_bulk_create_fires_an_event_for_each_issue_it_made(tmp_path: Path) -> None:
    handler = """
        from forgeq.api import api, route
        seen = []

        def handler(event, context):
            seen.append(event["issue"]["key"])
            if event["issue"]["key"] == "DEMO-1":
                updates = [{"fields": {"project": {"key": "DEMO"}, "issuetype": {"id": "10002"}, "summary": f"copy {n}"}} for n in range(3)]
                answer = api.as_app().request_jira(route("/rest/api/3/issue/bulk"), method="POST", json={"issueUpdates": updates})
                assert answer.status == 201, answer.text()
    """
    manifest = write_app(tmp_path / "bulk", TRIGGER_MANIFEST.replace("avi:jira:updated:issue, ", ""), {"src/index.py": handler})
    with ForgeApp(manifest, product_limits="none") as bulk_app:
        bulk_app.push_product_event("issue-created", count=1)
        bulk_app.run_until_idle()
        created = [e for e in bulk_app.events(kind="product") if e.target == "avi:jira:created:issue"]
        assert [e.body["issue"]["key"] for e in created] == ["DEMO-1", "DEMO-2", "DEMO-3", "DEMO-4"]
        assert all(e.body.get("selfGenerated") for e in created[1:])
        assert bulk_app.site.issue("DEMO-3")["fields"]["summary"] == "copy 1"
        assert bulk_app.dropped() == []


def test_bulk_fetch_reads_issues_by_id_or_key_in_the_order_asked(app: ForgeApp) -> None:
    with invocation(app):
        status, answer = jira("POST", route("/rest/api/3/issue/bulkfetch"), {"issueIdsOrKeys": ["DEMO-3", "10001", "DEMO-99", "demo-3"], "fields": ["summary", "labels"]})
        navigable_status, navigable = jira("POST", route("/rest/api/3/issue/bulkfetch"), {"issueIdsOrKeys": ["DEMO-2"]})
        too_many, over = jira("POST", route("/rest/api/3/issue/bulkfetch"), {"issueIdsOrKeys": [f"DEMO-{n}" for n in range(101)]})
        empty, _ = jira("POST", route("/rest/api/3/issue/bulkfetch"), {"issueIdsOrKeys": []})
        single_status, single = jira("GET", route("/rest/api/3/issue/{}?fields=summary,labels", "DEMO-3"))
    assert status == 200 and answer["issueErrors"] == []
    assert [issue["key"] for issue in answer["issues"]] == ["DEMO-3", "DEMO-1"]  # the missing one left out, the repeat once
    assert answer["issues"][0] == single and single_status == 200  # what GET issue answers for the same fields
    assert navigable_status == 200 and "summary" in navigable["issues"][0]["fields"] and "comment" not in navigable["issues"][0]["fields"]
    assert too_many == 400 and "at most 100" in over["errorMessages"][0]
    assert empty == 400


def test_the_field_list_names_system_and_jira_software_fields(app: ForgeApp) -> None:
    with invocation(app):
        status, fields = jira("GET", route("/rest/api/3/field"))
        fields[0]["schema"]["type"] = "changed by the handler"
        _, again = jira("GET", route("/rest/api/2/field"))
        story_points = next(field["id"] for field in again if field["name"] == "Story point estimate")
        edited, _ = jira("PUT", route("/rest/api/3/issue/DEMO-1"), {"fields": {story_points: 5}})
        _, issue = jira("GET", route("/rest/api/3/issue/DEMO-1?fields={}", story_points))
    assert status == 200
    by_id = {field["id"]: field for field in again}
    assert by_id["summary"] == {
        "id": "summary", "key": "summary", "name": "Summary", "custom": False, "orderable": True, "navigable": True,
        "searchable": True, "clauseNames": ["summary"], "schema": {"type": "string", "system": "summary"},
    }  # fmt: skip
    assert by_id["labels"]["schema"] == {"type": "array", "items": "string", "system": "labels"}
    assert by_id["customfield_10020"]["name"] == "Sprint" and by_id["customfield_10020"]["clauseNames"] == ["cf[10020]", "Sprint"]
    assert again[0]["schema"]["type"] != "changed by the handler"  # each answer owns its objects
    assert (story_points, edited, issue["fields"]) == ("customfield_10016", 204, {"customfield_10016": 5})


def test_issue_types_priorities_statuses_and_projects_are_listed_for_lookups_by_name(app: ForgeApp) -> None:
    with invocation(app):
        types_status, types = jira("GET", route("/rest/api/2/issuetype"))
        project_types_status, project_types = jira("GET", route("/rest/api/3/issuetype/project?projectId={}", "10000"))
        no_project, _ = jira("GET", route("/rest/api/3/issuetype/project?projectId={}", "99999"))
        priorities_status, priorities = jira("GET", route("/rest/api/3/priority"))
        statuses_status, statuses = jira("GET", route("/rest/api/3/status"))
        projects_status, projects = jira("GET", route("/rest/api/3/project"))
        projects[0]["key"] = "CHANGED"  # the handler's own copy
        _, again = jira("GET", route("/rest/api/3/project"))
        bug = next(t["id"] for t in types if t["name"] == "Bug")
        created, made = jira("POST", route("/rest/api/3/issue"), {"fields": {"project": {"key": again[0]["key"]}, "issuetype": {"id": bug}, "summary": "By id"}})
    assert types_status == 200 and [t["name"] for t in types] == ["Epic", "Story", "Task", "Sub-task", "Bug"]
    assert types[0]["self"] == "https://site-1.atlassian.net/rest/api/2/issuetype/10000" and types[3]["subtask"] is True
    assert project_types_status == 200 and project_types == [{**t, "self": t["self"].replace("/api/2/", "/api/3/")} for t in types]
    assert no_project == 404
    assert priorities_status == 200 and [p["name"] for p in priorities] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert statuses_status == 200 and [(s["name"], s["statusCategory"]["key"]) for s in statuses] == [("To Do", "new"), ("In Progress", "indeterminate"), ("Done", "done")]
    assert projects_status == 200 and [p["key"] for p in again] == ["DEMO"]
    assert created == 201 and app.site.issue(made["key"])["fields"]["issuetype"]["name"] == "Bug"


def test_issue_links_read_from_both_ends_and_go_away_with_their_issue(app: ForgeApp) -> None:
    adf = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "linked"}]}]}
    with invocation(app):
        types_status, types = jira("GET", route("/rest/api/3/issueLinkType"))
        made, nothing = jira("POST", route("/rest/api/3/issueLink"), {"type": {"name": "Blocks"}, "outwardIssue": {"key": "DEMO-1"}, "inwardIssue": {"id": "10002"}, "comment": {"body": adf}})
        again, _ = jira("POST", route("/rest/api/3/issueLink"), {"type": {"id": "10000"}, "outwardIssue": {"key": "DEMO-1"}, "inwardIssue": {"key": "DEMO-2"}})
        related, _ = jira("POST", route("/rest/api/2/issueLink"), {"type": {"name": "Relates"}, "outwardIssue": {"key": "DEMO-3"}, "inwardIssue": {"key": "DEMO-1"}})
        unknown_type, unknown = jira("POST", route("/rest/api/3/issueLink"), {"type": {"name": "Causes"}, "outwardIssue": {"key": "DEMO-1"}, "inwardIssue": {"key": "DEMO-2"}})
        missing_issue, missing = jira("POST", route("/rest/api/3/issueLink"), {"type": {"name": "Blocks"}, "outwardIssue": {"key": "DEMO-1"}, "inwardIssue": {"key": "DEMO-99"}})
        _, one = jira("GET", route("/rest/api/3/issue/DEMO-1?fields=issuelinks,comment"))
        _, two = jira("GET", route("/rest/api/3/issue/DEMO-2?fields=issuelinks"))
        link_id = one["fields"]["issuelinks"][0]["id"]
        got_status, got = jira("GET", route("/rest/api/3/issueLink/{}", link_id))
        removed, _ = jira("DELETE", route("/rest/api/3/issueLink/{}", link_id))
        gone, _ = jira("GET", route("/rest/api/3/issueLink/{}", link_id))
        _, two_after = jira("GET", route("/rest/api/3/issue/DEMO-2?fields=issuelinks"))
        jira("DELETE", route("/rest/api/3/issue/DEMO-3"))
        _, one_after = jira("GET", route("/rest/api/3/issue/DEMO-1?fields=issuelinks"))
        jira("POST", route("/rest/api/3/issueLink"), {"type": {"name": "Duplicate"}, "outwardIssue": {"key": "DEMO-1"}, "inwardIssue": {"key": "DEMO-2"}})
    assert [(link["type"]["name"], link["inwardIssue"]["key"]) for link in app.site.issue("DEMO-2")["fields"]["issuelinks"]] == [("Duplicate", "DEMO-1")]  # the committed view, widened too
    assert types_status == 200 and [(t["name"], t["inward"], t["outward"]) for t in types["issueLinkTypes"]][0] == ("Blocks", "is blocked by", "blocks")
    assert (made, nothing, again, related) == (201, None, 201, 201)
    assert (unknown_type, unknown["errorMessages"]) == (404, ["No issue link type with name 'Causes' found."])
    assert (missing_issue, missing["errorMessages"]) == (404, ["Issue Does Not Exist"])
    blocks, relates = one["fields"]["issuelinks"]  # the duplicate request made no second link
    assert blocks["type"]["name"] == "Blocks" and blocks["outwardIssue"]["key"] == "DEMO-2" and "inwardIssue" not in blocks
    assert blocks["outwardIssue"]["fields"]["summary"] == "Sample issue 2" and blocks["outwardIssue"]["fields"]["status"]["name"] == "To Do"
    assert blocks["self"] == f"https://site-1.atlassian.net/rest/api/3/issueLink/{link_id}"
    assert relates["inwardIssue"]["key"] == "DEMO-3"
    assert one["fields"]["comment"]["total"] == 1  # the link's comment, on the outward issue
    assert [(link["type"]["inward"], link["inwardIssue"]["key"]) for link in two["fields"]["issuelinks"]] == [("is blocked by", "DEMO-1")]
    assert got_status == 200 and (got["outwardIssue"]["key"], got["inwardIssue"]["key"], got["type"]["id"]) == ("DEMO-1", "DEMO-2", "10000")
    assert (removed, gone) == (204, 404)
    assert two_after["fields"]["issuelinks"] == []
    assert one_after["fields"]["issuelinks"] == []  # DEMO-3, at the Relates link's other end, was deleted
    links = [item for entry in app.site.history("DEMO-2") for item in entry.get("items", ()) if item["field"] == "Link"]
    assert [(item["toString"], item["fromString"]) for item in links] == [
        ("This issue is blocked by DEMO-1", None), (None, "This issue is blocked by DEMO-1"), ("This issue is duplicated by DEMO-1", None),
    ]  # fmt: skip


def test_users_in_bulk_watchers_and_remote_links(app: ForgeApp) -> None:
    reporter = payloads.DEMO_USER_ACCOUNT_ID
    link = {"globalId": "github=pr-7", "object": {"url": "https://github.com/o/r/pull/7", "title": "PR #7"}}
    with invocation(app):
        users_status, users = jira("GET", route("/rest/api/3/user/bulk?accountId={}&accountId={}&accountId={}", reporter, "nobody-1", reporter))
        watched, _ = jira("POST", route("/rest/api/3/issue/DEMO-1/watchers"), reporter)
        again, _ = jira("POST", route("/rest/api/3/issue/DEMO-1/watchers"), reporter)
        myself, _ = jira("POST", route("/rest/api/3/issue/DEMO-1/watchers"))  # no body: the caller watches
        unknown, _ = jira("POST", route("/rest/api/3/issue/DEMO-1/watchers"), "nobody-1")
        half, _ = jira("POST", route("/rest/api/3/issue/DEMO-1/watchers"), "\ud800")  # a lone surrogate names no one
        watchers_status, watchers = jira("GET", route("/rest/api/3/issue/DEMO-1/watchers"))
        _, issue = jira("GET", route("/rest/api/3/issue/DEMO-1?fields=watches"))
        unwatched, _ = jira("DELETE", route("/rest/api/3/issue/DEMO-1/watchers?accountId={}", reporter))
        _, after = jira("GET", route("/rest/api/3/issue/DEMO-1/watchers"))
        added_status, added = jira("POST", route("/rest/api/3/issue/DEMO-2/remotelink"), link)
        replaced_status, replaced = jira("POST", route("/rest/api/3/issue/DEMO-2/remotelink"), {**link, "object": {**link["object"], "title": "PR #7 (merged)"}})
        bad, _ = jira("POST", route("/rest/api/3/issue/DEMO-2/remotelink"), {"object": {"url": "https://x"}})
        listed_status, listed = jira("GET", route("/rest/api/3/issue/DEMO-2/remotelink"))
        by_global_status, by_global = jira("GET", route("/rest/api/3/issue/DEMO-2/remotelink?globalId={}", "github=pr-7"))
        one_status, one = jira("GET", route("/rest/api/3/issue/DEMO-2/remotelink/{}", added["id"]))
        deleted, _ = jira("DELETE", route("/rest/api/3/issue/DEMO-2/remotelink?globalId={}", "github=pr-7"))
        gone, _ = jira("GET", route("/rest/api/3/issue/DEMO-2/remotelink/{}", added["id"]))
    assert users_status == 200 and [u["accountId"] for u in users["values"]] == [reporter] and users["total"] == 1
    assert (watched, again, myself, unknown, half) == (204, 204, 204, 404, 404)
    assert watchers_status == 200 and watchers["watchCount"] == 2 and watchers["isWatching"] is True
    assert [w["accountId"] for w in watchers["watchers"]] == [reporter, app.emulator.app_account_id]
    assert issue["fields"]["watches"]["watchCount"] == 2 and issue["fields"]["watches"]["isWatching"] is True
    assert unwatched == 204 and after["watchCount"] == 1
    assert (added_status, replaced_status, replaced["id"]) == (201, 200, added["id"])  # the same globalId: the link replaced
    assert added["self"] == f"https://site-1.atlassian.net/rest/api/3/issue/DEMO-2/remotelink/{added['id']}"
    assert bad == 400
    assert listed_status == 200 and [(r["globalId"], r["object"]["title"]) for r in listed] == [("github=pr-7", "PR #7 (merged)")]
    assert (by_global_status, by_global["id"], one_status, one["object"]["url"]) == (200, added["id"], 200, "https://github.com/o/r/pull/7")
    assert (deleted, gone) == (204, 404)
    assert [entry["action"] for entry in app.site.history("DEMO-2")][-3:] == ["remote link added", "remote link updated", "remote link deleted"]


def test_worklogs_add_up_on_their_issue(app: ForgeApp) -> None:
    from forgeq.emulator.platform.site.jira_worklogs import duration_seconds, duration_text

    note = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "imported"}]}]}
    with invocation(app):
        first_status, first = jira("POST", route("/rest/api/3/issue/DEMO-1/worklog"), {"timeSpent": "1h 30m", "started": "2025-11-17T09:00:00.000+0000", "comment": note})
        second_status, second = jira("POST", route("/rest/api/2/issue/DEMO-1/worklog"), {"timeSpentSeconds": 28800, "comment": "a day"})
        bad_duration, bad = jira("POST", route("/rest/api/3/issue/DEMO-1/worklog"), {"timeSpent": "soon"})
        nothing, _ = jira("POST", route("/rest/api/3/issue/DEMO-1/worklog"), {})
        bad_start, _ = jira("POST", route("/rest/api/3/issue/DEMO-1/worklog"), {"timeSpent": "1h", "started": "yesterday"})
        _, issue = jira("GET", route("/rest/api/3/issue/DEMO-1?fields=timespent,timetracking,progress,worklog"))
        updated_status, updated = jira("PUT", route("/rest/api/3/issue/DEMO-1/worklog/{}", first["id"]), {"timeSpent": "2h"})
        listed_status, listed = jira("GET", route("/rest/api/3/issue/DEMO-1/worklog"))
        deleted, _ = jira("DELETE", route("/rest/api/3/issue/DEMO-1/worklog/{}", second["id"]))
        gone, _ = jira("GET", route("/rest/api/3/issue/DEMO-1/worklog/{}", second["id"]))
        _, after = jira("GET", route("/rest/api/3/issue/DEMO-1?fields=timespent,timetracking"))
        _, untouched = jira("GET", route("/rest/api/3/issue/DEMO-2?fields=timespent,worklog"))
        _, changelog = jira("GET", route("/rest/api/3/issue/DEMO-1/changelog"))
    assert (first_status, first["timeSpent"], first["timeSpentSeconds"], first["started"]) == (201, "1h 30m", 5400, "2025-11-17T09:00:00.000+0000")
    assert first["author"]["displayName"] == "forgeq app" and first["comment"] == note and first["issueId"] == "10001"
    assert (second_status, second["timeSpent"], second["comment"]) == (201, "1d", "a day")
    assert (bad_duration, bad["errors"]) == (400, {"timeLogged": "Invalid time duration entered."})
    assert (nothing, bad_start) == (400, 400)
    fields = issue["fields"]
    assert fields["timespent"] == 34200 and fields["timetracking"] == {"timeSpent": "1d 1h 30m", "timeSpentSeconds": 34200}
    assert fields["progress"] == {"progress": 34200, "total": 34200, "percent": 100}
    assert fields["worklog"]["total"] == 2 and [w["id"] for w in fields["worklog"]["worklogs"]] == [first["id"], second["id"]]
    assert fields["worklog"]["worklogs"][1]["comment"]["type"] == "doc"  # v3 answers a v2 text comment as ADF
    assert (updated_status, updated["timeSpentSeconds"], updated["comment"]) == (200, 7200, note)
    assert listed_status == 200 and listed["total"] == 2
    assert (deleted, gone) == (204, 404)
    assert after["fields"]["timespent"] == 7200 and after["fields"]["timetracking"]["timeSpent"] == "2h"
    assert untouched["fields"] == {"timespent": None, "worklog": {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []}}
    items = [item["field"] for entry in changelog["values"] for item in entry["items"]]
    assert items == ["timespent", "WorklogId", "timespent", "WorklogId", "timespent", "WorklogId", "timespent", "WorklogId"]
    assert [duration_seconds(text) for text in ("1w", "2d 4h", "1.5h", "90m", "1h30m", "x", "1y")] == [144000, 72000, 5400, 5400, 5400, None, None]
    assert [duration_text(seconds) for seconds in (0, 60, 5400, 28800, 144000 + 28800 + 60)] == ["0m", "1m", "1h 30m", "1d", "1w 1d 1m"]


def test_agile_boards_sprints_and_moving_issues_into_a_sprint(app: ForgeApp) -> None:
    with invocation(app):
        boards_status, boards = jira("GET", route("/rest/agile/1.0/board?projectKeyOrId={}", "DEMO"))
        none_status, none = jira("GET", route("/rest/agile/1.0/board?projectKeyOrId={}", "NOPE"))
        board_id = boards["values"][0]["id"]
        sprints_status, sprints = jira("GET", route("/rest/agile/1.0/board/{}/sprint?state=active,future", board_id))
        closed_status, closed = jira("GET", route("/rest/agile/1.0/board/{}/sprint?state=closed", board_id))
        sprint_id = sprints["values"][0]["id"]
        moved, _ = jira("POST", route("/rest/agile/1.0/sprint/{}/issue", sprint_id), {"issues": ["DEMO-1", "10002"]})
        missing, _ = jira("POST", route("/rest/agile/1.0/sprint/{}/issue", sprint_id), {"issues": ["DEMO-99"]})
        issues_status, issues = jira("GET", route("/rest/agile/1.0/sprint/{}/issue?fields=summary", sprint_id))
        _, issue = jira("GET", route("/rest/api/3/issue/DEMO-2?fields=customfield_10020"))
        no_board, _ = jira("GET", route("/rest/agile/1.0/board/{}", 99))
        searches = {
            jql: [i["key"] for i in jira("POST", route("/rest/api/3/search/jql"), {"jql": jql, "fields": ["summary"]})[1]["issues"]]
            for jql in ("sprint in openSprints() ORDER BY key", f"sprint = {sprint_id}", 'sprint = "DEMO Sprint 1"', "sprint in closedSprints()", "project = DEMO AND sprint IS EMPTY")
        }
    assert boards_status == 200 and [(b["name"], b["type"], b["location"]["projectKey"]) for b in boards["values"]] == [("DEMO board", "scrum", "DEMO")]
    assert none_status == 200 and none["values"] == [] and none["total"] == 0
    assert sprints_status == 200 and [(s["name"], s["state"], s["originBoardId"]) for s in sprints["values"]] == [("DEMO Sprint 1", "active", board_id)]
    assert closed_status == 200 and closed["values"] == []
    assert (moved, missing) == (204, 400)
    assert issues_status == 200 and issues["total"] == 2 and [i["key"] for i in issues["issues"]] == ["DEMO-1", "DEMO-2"]
    assert issues["issues"][0]["fields"] == {"summary": "Sample issue 1"}
    assert [(s["id"], s["name"], s["boardId"]) for s in issue["fields"]["customfield_10020"]] == [(sprint_id, "DEMO Sprint 1", board_id)]
    assert no_board == 404
    assert searches == {
        "sprint in openSprints() ORDER BY key": ["DEMO-1", "DEMO-2"], f"sprint = {sprint_id}": ["DEMO-2", "DEMO-1"],
        'sprint = "DEMO Sprint 1"': ["DEMO-2", "DEMO-1"], "sprint in closedSprints()": [], "project = DEMO AND sprint IS EMPTY": ["DEMO-3"],
    }  # fmt: skip
    sprint_items = [item for entry in app.site.history("DEMO-1") for item in entry.get("items", ()) if item["field"] == "Sprint"]
    assert [(item["to"], item["toString"]) for item in sprint_items] == [(str(sprint_id), "DEMO Sprint 1")]


def test_create_and_edit_metadata_describe_the_screens_an_app_fills(app: ForgeApp) -> None:
    with invocation(app):
        types_status, types = jira("GET", route("/rest/api/3/issue/createmeta/{}/issuetypes", "DEMO"))
        task = next(t["id"] for t in types["issueTypes"] if t["name"] == "Task")
        fields_status, fields = jira("GET", route("/rest/api/3/issue/createmeta/{}/issuetypes/{}", "10000", task))
        old_status, old = jira("GET", route("/rest/api/2/issue/createmeta?projectKeys={}&issuetypeNames={}&expand=projects.issuetypes.fields", "DEMO", "Bug"))
        bare_status, bare = jira("GET", route("/rest/api/3/issue/createmeta"))
        edit_status, edit = jira("GET", route("/rest/api/3/issue/DEMO-1/editmeta"))
        no_project, _ = jira("GET", route("/rest/api/3/issue/createmeta/{}/issuetypes", "NOPE"))
        no_type, _ = jira("GET", route("/rest/api/3/issue/createmeta/{}/issuetypes/{}", "DEMO", "999"))
        issue_status, _ = jira("GET", route("/rest/api/3/issue/DEMO-1"))  # createmeta's route takes no issue
    assert types_status == 200 and types["total"] == 5 and [t["name"] for t in types["issueTypes"]][:3] == ["Epic", "Story", "Task"]
    assert fields_status == 200
    by_id = {field["fieldId"]: field for field in fields["fields"]}
    assert {name for name, field in by_id.items() if field["required"]} == {"project", "issuetype", "summary", "reporter"}
    assert by_id["summary"]["schema"] == {"type": "string", "system": "summary"} and by_id["summary"]["operations"] == ["set"]
    assert by_id["labels"]["operations"] == ["set", "add", "remove"]
    assert [value["name"] for value in by_id["priority"]["allowedValues"]] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert by_id["priority"]["defaultValue"]["name"] == "Medium" and by_id["issuetype"]["allowedValues"][0]["name"] == "Task"
    assert by_id["customfield_10016"]["name"] == "Story point estimate"
    assert old_status == 200 and [(p["key"], [t["name"] for t in p["issuetypes"]]) for p in old["projects"]] == [("DEMO", ["Bug"])]
    assert old["projects"][0]["issuetypes"][0]["fields"]["summary"]["required"] is True
    assert bare_status == 200 and "fields" not in bare["projects"][0]["issuetypes"][0]  # without the expand, no fields
    assert edit_status == 200 and "project" not in edit["fields"] and edit["fields"]["summary"]["required"] is False
    from forgeq.emulator.platform.site.jira import EDITABLE

    assert {name for name in edit["fields"] if not name.startswith("customfield_")} == EDITABLE  # what an edit takes
    assert "customfield_10020" in edit["fields"]
    assert (no_project, no_type, issue_status) == (404, 404, 200)


def test_a_handler_that_changes_a_project_it_read_changes_no_other_answer(tmp_path: Path) -> None:
    """The project every site has (DEMO, before any push names one) is answered as a copy."""
    manifest = write_app(tmp_path / "app", V2_MANIFEST, {"src/index.py": "def handler(event, context):\n    pass\n"})
    with ForgeApp(manifest, product_limits="none") as bare, invocation(bare):
        for path in ("/rest/api/3/project/DEMO", "/rest/api/3/project/search", "/rest/api/3/project"):
            answer = api.as_app().request_jira(assume_trusted_route(path)).json()
            (answer.get("values") or [answer] if isinstance(answer, dict) else answer)[0]["name"] = "CHANGED"
        names = [jira("GET", route("/rest/api/3/project/DEMO"))[1]["name"], jira("GET", route("/rest/api/3/project/search"))[1]["values"][0]["name"]]
    assert names == ["Project DEMO", "Project DEMO"]


def test_server_info_assignable_users_and_a_projects_statuses(app: ForgeApp) -> None:
    with invocation(app):
        info_status, info = jira("GET", route("/rest/api/3/serverInfo"))
        people_status, people = jira("GET", route("/rest/api/3/user/assignable/search?project={}", "DEMO"))
        sam_status, sam = jira("GET", route("/rest/api/3/user/assignable/search?issueKey={}&query={}", "DEMO-1", "sam"))
        unbounded, _ = jira("GET", route("/rest/api/3/user/assignable/search"))
        statuses_status, statuses = jira("GET", route("/rest/api/3/project/{}/statuses", "DEMO"))
        components_status, components = jira("GET", route("/rest/api/3/project/{}/components", "DEMO"))
        no_project, _ = jira("GET", route("/rest/api/3/project/{}/versions", "NOPE"))
    assert info_status == 200 and info["baseUrl"] == "https://site-1.atlassian.net" and info["deploymentType"] == "Cloud"
    assert people_status == 200 and {p["displayName"] for p in people} >= {"Riley Reporter", "Sam Assignee"} and all(p["accountType"] == "atlassian" for p in people)
    assert sam_status == 200 and [p["displayName"] for p in sam] == ["Sam Assignee"]
    assert unbounded == 400
    assert statuses_status == 200 and [t["name"] for t in statuses][:2] == ["Epic", "Story"]
    assert [s["name"] for s in statuses[0]["statuses"]] == ["To Do", "In Progress", "Done"]
    assert (components_status, components, no_project) == (200, [], 404)


def test_search_by_jql(app: ForgeApp) -> None:
    with invocation(app):
        jira("PUT", route("/rest/api/3/issue/DEMO-2"), {"fields": {"labels": ["imported"]}})
        found_status, found = jira("POST", route("/rest/api/3/search/jql"), {"jql": "project = DEMO AND labels = imported", "fields": ["summary", "labels"]})
        ids_status, ids = jira("GET", route("/rest/api/3/search/jql?jql={}&maxResults=2", "project = DEMO ORDER BY key ASC"))
        page_two_status, page_two = jira("GET", route("/rest/api/3/search/jql?jql={}&maxResults=2&nextPageToken={}", "project = DEMO ORDER BY key ASC", ids["nextPageToken"]))
        count_status, count = jira("POST", route("/rest/api/3/search/approximate-count"), {"jql": "labels IS EMPTY AND status = 'To Do'"})
        unbounded, unbounded_body = jira("POST", route("/rest/api/3/search/jql"), {"jql": "ORDER BY created DESC"})
        unknown, unknown_body = jira("POST", route("/rest/api/3/search/jql"), {"jql": "flavour = sweet"})
        no_project, no_project_body = jira("POST", route("/rest/api/3/search/jql"), {"jql": "project = NOPE"})
        history_search, _ = jira("POST", route("/rest/api/3/search/jql"), {"jql": "status WAS Done"})
        removed, removed_body = jira("GET", route("/rest/api/3/search?jql=project=DEMO"))
    assert found_status == 200 and [i["key"] for i in found["issues"]] == ["DEMO-2"] and found["isLast"] is True
    assert found["issues"][0]["fields"] == {"summary": "Sample issue 2", "labels": ["imported"]}
    assert ids_status == 200 and ids["issues"] == [{"id": "10001"}, {"id": "10002"}] and ids["isLast"] is False
    assert page_two_status == 200 and page_two["issues"] == [{"id": "10003"}] and page_two["isLast"] is True
    assert (count_status, count) == (200, {"count": 2})
    assert unbounded == 400 and unbounded_body["errorMessages"] == ["Unbounded JQL queries are not allowed here. Please add a search restriction to your query."]
    assert unknown == 400 and unknown_body["errorMessages"] == ["Field 'flavour' does not exist or you do not have permission to view it."]
    assert no_project == 400 and no_project_body["errorMessages"] == ["The value 'NOPE' does not exist for the field 'project'."]
    assert history_search == 501
    assert removed == 410 and "CHANGE-2046" in removed_body["errorMessages"][0]


def test_users_app_properties_and_unauthenticated_calls(app: ForgeApp) -> None:
    with invocation(app) as current:
        me_app, me = jira("GET", route("/rest/api/3/myself"))
        me_user_status, me_user = jira("GET", route("/rest/api/3/myself"), as_user=True)
        user_status, user = jira("GET", route("/rest/api/3/user?accountId={}", "5f4dcc3b5aa765d61d8327df"))
        nobody_status, nobody = jira("GET", route("/rest/api/3/user?accountId=000000000000000000000000"))
        put_status, put = jira("PUT", route("/rest/forge/1/app/properties/{}", "config"), {"mode": "bulk"})
        get_status, got = jira("GET", route("/rest/forge/1/app/properties/config"))
        as_user_status, _ = jira("GET", route("/rest/forge/1/app/properties/config"), as_user=True)
        anonymous = api.request_jira(route("/rest/api/3/issue/DEMO-1"))
    assert me_app == 200 and me["accountType"] == "app" and me["accountId"] == app.emulator.app_account_id
    assert me_user_status == 200 and me_user["displayName"] == "Riley Reporter"
    assert user_status == 200 and user["displayName"] == "Sam Assignee"
    assert nobody_status == 404 and nobody["errorMessages"] == ["Specified user does not exist or you do not have required permissions"]
    assert (put_status, put) == (201, {"message": "Property created.", "statusCode": 201})
    assert (get_status, got) == (200, {"key": "config", "value": {"mode": "bulk"}})
    assert as_user_status == 403
    assert anonymous.status == 401
    assert any("without asApp() or asUser()" in note for note in current.notes)


def test_a_write_fires_its_product_event_and_ignore_self_drops_it(tmp_path: Path) -> None:
    handler = """
        from forgeq.api import api, route
        seen = []

        def handler(event, context):
            seen.append((event["eventType"], event.get("selfGenerated")))
            if event["eventType"] == "avi:jira:created:issue":
                api.as_app().request_jira(route("/rest/api/3/issue/{}", event["issue"]["key"]), method="PUT", json={"fields": {"summary": "touched"}})
    """
    manifest = write_app(tmp_path / "loop", TRIGGER_MANIFEST, {"src/index.py": handler})
    with ForgeApp(manifest, product_limits="none") as loop_app:
        loop_app.push_product_event("issue-created", count=2)
        loop_app.run_until_idle()
        updated = [e for e in loop_app.events(kind="product") if e.target == "avi:jira:updated:issue"]
        assert len(updated) == 2
        body = updated[0].body
        assert body["selfGenerated"] is True and body["atlassianId"] == loop_app.emulator.app_account_id
        assert body["changelog"]["items"][0]["toString"] == "touched"
        assert loop_app.site.issue("DEMO-1")["fields"]["summary"] == "touched"
    ignoring = TRIGGER_MANIFEST.replace("      events: [", "      filter:\n        ignoreSelf: true\n      events: [")
    manifest = write_app(tmp_path / "ignore", ignoring, {"src/index.py": handler})
    with ForgeApp(manifest, product_limits="none") as ignore_app:
        ignore_app.push_product_event("issue-created", count=2)
        ignore_app.run_until_idle()
        triggered = [e for e in ignore_app.events(kind="trigger")]
        assert len(triggered) == 2  # the two pushed events; the app's own updates were filtered out
        assert ignore_app.dropped() == []


def test_a_trigger_that_edits_what_fires_it_meets_the_cyclic_limit(tmp_path: Path) -> None:
    handler = """
        from forgeq.api import api, route

        def handler(event, context):
            key = event["issue"]["key"]
            count = int(event["issue"]["fields"]["summary"].rsplit(" ", 1)[-1]) if event["eventType"].endswith("updated:issue") else 0
            api.as_app().request_jira(route("/rest/api/3/issue/{}", key), method="PUT", json={"fields": {"summary": f"edit {count + 1}"}})
    """
    manifest = write_app(tmp_path / "cycle", TRIGGER_MANIFEST, {"src/index.py": handler})
    with ForgeApp(manifest, product_limits="none", invocation_seconds=0.001, product_call_seconds=0.001) as cycle:
        cycle.push_product_event("issue-created", count=1)
        cycle.run_until_idle(max_attempts=1100)
        assert cycle.site.issue("DEMO-1")["fields"]["summary"] == "edit 1001"
        last = cycle.timeline()[-1]
        assert any("cyclic-invocation limit is 1000" in note for note in last.notes)


def test_what_json_or_a_url_cannot_carry_is_refused_or_kept_safely(app: ForgeApp) -> None:
    with invocation(app):
        nan = api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1"), method="PUT", body='{"fields": {"summary": NaN}}')
        bad_path = api.as_app().request_jira(assume_trusted_route("/rest/api/3/issue/\ud800"))
        edited, _ = jira("PUT", route("/rest/api/3/issue/DEMO-1"), {"fields": {"summary": "half \ud800 a pair"}})
    assert nan.status == 400 and bad_path.status == 400 and edited == 204
    assert app.site.issue("DEMO-1")["fields"]["summary"] == "half \ud800 a pair"  # kept escaped in the UTF-8 state file


def test_a_web_trigger_reaches_the_site_and_its_requests_name_its_call(tmp_path: Path) -> None:
    manifest = """
app:
  id: ari:cloud:ecosystem::app/site-hook
modules:
  webtrigger:
    - key: hook
      function: hook-fn
  function:
    - key: hook-fn
      handler: index.hook
"""
    handler = """
        import json
        from forgeq.api import api, route

        def hook(request, context):
            made = api.as_app().request_jira(route("/rest/api/3/issue"), method="POST", json={"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Task"}, "summary": "from a hook"}})
            deep = api.as_app().request_jira(route("/rest/api/3/issue"), method="POST", body="[" * 100_000)
            return {"statusCode": 200, "body": json.dumps({"key": made.json()["key"], "deep": deep.status})}
    """
    with ForgeApp(write_app(tmp_path / "hook", manifest, {"src/index.py": handler}), product_limits="none") as hook_app:
        response = hook_app.webtrigger("hook")
        assert response.json() == {"key": "DEMO-1", "deep": 400}
        assert [(r["event"], r["method"], r["status"]) for r in hook_app.site.requests()] == [(response.call, "POST", 201), (response.call, "POST", 400)]
        assert hook_app.site.issue("DEMO-1")["fields"]["summary"] == "from a hook"



def test_the_python_port_and_the_workers_request_get_the_same_answers(app: ForgeApp) -> None:
    # The Python port reaches the site directly (Invocation.product_request), the worker's request
    # through the platform (platform_request): the same statuses, headers, bodies and records, and
    # the same 500 when the site fails.
    asked = [
        ("GET", "/rest/api/3/issue/DEMO-2", None), ("GET", "/rest/api/2/issue/10002?fields=summary,labels", None),
        ("PUT", "/rest/api/3/issue/DEMO-2", {"fields": {"labels": ["a"]}}), ("GET", "/rest/api/3/issue/DEMO-99", None),
        ("PUT", "/rest/api/3/issue/DEMO-3", {"fields": {"nope": 1}}), ("DELETE", "/rest/api/3/myself", None),
    ]  # fmt: skip
    target = {"type": "fpp", "provider": "app", "remote": "jira"}
    with invocation(app) as current:
        ported, sent = [], []
        for method, path, body in asked:
            response = api.as_app().request_jira(assume_trusted_route(path), method=method, json=body)
            ported.append((response.status, response.status_text, dict(response.headers.items()), response.text()))
            text = None if body is None else json.dumps(body, separators=(",", ":"))
            answer = current.platform_request({"target": target, "path": path, "method": method, "body": text})
            sent.append((answer["status"], answer["statusText"], answer["headers"], answer["body"] or ""))
        routes = app.emulator.site.routes["jira"]["GET"]
        index = next(n for n, r in enumerate(routes) if r.template == "/rest/api/{version}/issue/{issueIdOrKey}")
        routes[index] = dataclasses.replace(routes[index], handler=lambda call: 1 / 0)  # GET issue, failing
        broken = api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1"))
        records = [(r["method"], r["path"], r["status"]) for r in current.requests]
    assert [answer[0] for answer in ported] == [200, 200, 204, 404, 400, 405]
    assert ported == sent
    assert records[: 2 * len(asked) : 2] == records[1 : 2 * len(asked) : 2] == [(m, p, a[0]) for (m, p, _), a in zip(asked, ported, strict=True)]
    assert broken.status == 500 and broken.json() == {"code": "INTERNAL_SERVER_ERROR", "message": "forgeq: ZeroDivisionError: division by zero"}
