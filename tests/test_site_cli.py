"""The fake site through the CLI: push seeds the site, run serves it under --product-limits, the
timeline shows each call, inspect requests / inspect site show what happened, export carries it."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from conftest import forgeq, forgeq_json, write_app
from test_site_limits import IMPORT_MANIFEST, IMPORTER

from forgeq.emulator.store import Store
from forgeq.emulator.tools.quota_report import quota_report
from forgeq.emulator.tools.site_view import issue_view
from forgeq.emulator.tools.transfer import export_state, import_state


def test_push_run_inspect_and_export_the_site(tmp_path: Path) -> None:
    manifest = write_app(tmp_path / "app", IMPORT_MANIFEST, {"src/index.py": IMPORTER.format(wait=None)})
    pushed = forgeq("push", "issue-created", "--count", "120", "--manifest", manifest)
    assert pushed.returncode == 0, pushed.stderr
    before = issue_view(Store(tmp_path / "app" / ".forgeq" / "state.db"), "site-1", "DEMO-17")
    assert before is not None and before["issue"]["fields"]["labels"] == []  # the 120 issues exist before the run

    done = forgeq("run", manifest, "--until-idle", "--product-limits", "2026,burst_put=20")
    assert done.returncode == 0, done.stderr
    assert "GET /rest/api/3/issue/DEMO-17 -> 200" in done.stdout
    assert "-> 429  Retry-After 1s  (jira-burst-based)" in done.stdout
    # A burst limit is a token bucket: its busiest second may pass its rate without a refusal, and
    # the summary says so rather than print "used/limit" as if the limit had been broken.
    burst = next(line for line in done.stdout.splitlines() if "jira_burst PUT" in line)
    assert re.search(r"jira_burst PUT \S+ \d+ in a second at the peak \(a token bucket refilled at 20 a second: .*\), \d+ calls refused$", burst), burst
    quota = forgeq("inspect", "quota", "--manifest", manifest)
    assert re.search(r"jira_burst PUT \S+: peak \d+ in a second \(a token bucket refilled at 20 a second", quota.stdout), quota.stdout

    refused = forgeq_json("inspect", "requests", "--status", "429", "--method", "put", "--manifest", manifest)
    assert refused["total"] == len(refused["requests"]) > 0
    first = refused["requests"][0]
    assert (first["product"], first["principal"], first["method"], first["reason"], first["retry_after"]) == ("jira", "app", "PUT", "jira-burst-based", 1.0)

    text = forgeq("inspect", "site", "issue", "DEMO-17", "--manifest", manifest)
    assert "labels    imported" in text.stdout and "updated; labels: - -> \"imported\"  by forgeq app" in text.stdout

    store = Store(tmp_path / "app" / ".forgeq" / "state.db")
    issue = issue_view(store, "site-1", "DEMO-17")
    assert issue is not None and issue["issue"]["fields"]["labels"] == ["imported"]
    assert [entry["action"] for entry in issue["history"]] == ["created", "updated"]
    assert issue["history"][1]["source"].startswith("event #")
    requests = store.site_requests(event=first["event"], attempt=first["attempt"])
    assert [(r["method"], r["status"]) for r in requests] == [("GET", 200), ("PUT", 429)]
    metrics = {total["metric"]: total for total in quota_report(store)["totals"]}
    assert metrics["jira_points"]["limit"] == 65000 and metrics["jira_points"]["peak"] > 240
    assert metrics["jira_burst PUT /rest/api/{version}/issue/{issueIdOrKey}"]["refused"] == refused["total"]

    exported = io.StringIO()
    export_state(store, exported)
    document = json.loads(exported.getvalue())
    objects = document["tables"]["site_objects"]
    assert any(row["key"] == "DEMO-17" and row["doc"]["fields"]["labels"] == ["imported"] for row in objects)
    copy = Store(":memory:")
    import_state(copy, document, "state.json")
    again = issue_view(copy, "site-1", "DEMO-17")
    assert again is not None and again["issue"]["fields"]["labels"] == ["imported"] and len(again["history"]) == 2
    assert issue_view(copy, "site-1", "DEMO-404") is None


def test_bad_product_limits_are_a_one_line_error(tmp_path: Path) -> None:
    manifest = write_app(tmp_path / "app", IMPORT_MANIFEST, {"src/index.py": IMPORTER.format(wait=None)})
    bad = forgeq("run", manifest, "--until-idle", "--product-limits", "2026,points=lots")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "points: 'lots' is not a whole number" in bad.stderr
    assert not (tmp_path / "app" / ".forgeq").exists()


LINKER = """
from forgeq.api import api, route
from forgeq.events import Queue

queue = Queue(key="import")


def on_created(event, context):
    queue.push({"body": {"key": event["issue"]["key"]}})


def importer(event, context):
    key = event["body"]["key"]
    if key == "DEMO-1":
        return
    jira = api.as_app().request_jira
    linked = jira(route("/rest/api/3/issueLink"), method="POST", json={"type": {"name": "Blocks"}, "outwardIssue": {"key": key}, "inwardIssue": {"key": "DEMO-1"}})
    logged = jira(route("/rest/api/3/issue/{}/worklog", key), method="POST", json={"timeSpent": "1h 30m"})
    assert (linked.status, logged.status) == (201, 201), (linked.text(), logged.text())
"""


def test_inspect_site_issue_shows_an_issues_links_and_logged_time(tmp_path: Path) -> None:
    manifest = write_app(tmp_path / "app", IMPORT_MANIFEST, {"src/index.py": LINKER})
    assert forgeq("push", "issue-created", "--count", "3", "--manifest", manifest).returncode == 0
    done = forgeq("run", manifest, "--until-idle", "--product-limits", "none")
    assert done.returncode == 0 and "dropped 0, lost 0" in done.stdout, done.stdout + done.stderr
    first = forgeq("inspect", "site", "issue", "DEMO-1", "--manifest", manifest).stdout
    second = forgeq("inspect", "site", "issue", "DEMO-2", "--manifest", manifest).stdout
    assert "  links     is blocked by DEMO-2; is blocked by DEMO-3\n" in first and "logged" not in first
    assert "  links     blocks DEMO-1\n" in second and "  logged    1h 30m\n" in second
    assert 'updated; timespent: - -> "5400"; WorklogId: - -> ' in second  # the changelog items Jira writes
