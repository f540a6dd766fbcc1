"""The corpus apps (tests/apps/published, written in the styles of 2022-2025 with the @forge versions
they pin) driven through their own pushers from the command line: `forgeq webtrigger` and `forgeq
invoke`, as a webhook and a Custom UI page would call them, then `forgeq run`. One end-to-end test per
pusher kind; test_published_apps.py calls every corpus pusher through the testing API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import forgeq
from nodejs import requires_node
from test_published_apps import published

from forgeq.testing import ForgeApp

__all__ = ["published"]  # the session fixture that installs the corpus's npm packages

pytestmark = requires_node


def test_a_legacy_sandbox_web_trigger_queues_rows_that_its_consumer_stores(published, tmp_path: Path):
    manifest, db = published["sandbox-2022"], tmp_path / "state.db"
    rows = {"rows": [{"id": 1, "summary": "first"}, {"id": 2, "summary": "second"}, {"id": 3}]}
    called = forgeq("webtrigger", "import-hook", "-m", manifest, "--db", db, "--body", json.dumps(rows), "--json")
    assert called.returncode == 0, called.stderr
    data = json.loads(called.stdout)
    assert data["response"]["statusCode"] == 200
    [job] = json.loads(data["response"]["body"])["jobs"]
    assert job.startswith("import-rows#")  # a v1 push answers "<queue>#<jobId>"
    assert data["pushed"] == [{"queue": "import-rows", "job_id": job.split("#", 1)[1], "events": 3}]
    ran = forgeq("run", manifest, "--db", db, "--until-idle")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "queue events: 3 pushed, 3 succeeded" in ran.stdout
    with ForgeApp(manifest, store=db) as app:
        stored = app.kvs.as_dict()
        assert stored["last-import"] == {"jobs": [job], "rows": 3}  # the legacy storage write of the web trigger
        assert sorted(key for key in stored if key.startswith("row-")) == ["row-1", "row-2"]
        assert stored["row-1"]["installContext"] == "ari:cloud:jira::site/site-1"


def test_a_custom_ui_resolver_starts_a_sync_and_reports_its_progress(published, tmp_path: Path):
    manifest, db = published["proxy-2023"], tmp_path / "state.db"
    started = forgeq("invoke", "startSync", "-m", manifest, "--db", db, "--payload", '{"issueKey": "DEMO-1", "links": ["a", "b"]}', "--json")
    assert started.returncode == 0, started.stderr
    value = json.loads(started.stdout)["value"]
    assert value["jobId"].startswith("link-sync#") and value["accountId"]
    assert forgeq("run", manifest, "--db", db, "--until-idle").returncode == 0
    status = forgeq("invoke", "getStatus", "-m", manifest, "--db", db, "--payload", '{"issueKey": "DEMO-1"}', "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["value"] == {"success": 2, "inProgress": 0, "failed": 0, "synced": 2}


@pytest.mark.slow
def test_a_typescript_web_trigger_with_headers_and_query_then_a_ui_resolver(published, tmp_path: Path):
    """entity-hook-2023-ts: the handlers re-exported by index.ts, @forge/api 3.7 and its nested copies."""
    manifest, db = published["entity-hook-2023-ts"], tmp_path / "state.db"
    body = json.dumps({"deliveries": [{"id": "d1", "repo": "a/b"}, {"id": "d2", "repo": "a/c"}, {"id": "d3", "repo": "a/d"}]})
    posted = forgeq("webtrigger", "delivery-hook", "-m", manifest, "--db", db, "-H", "X-GitHub-Event: push", "--body", body)
    assert posted.returncode == 0, posted.stderr
    head, _, text = posted.stdout.partition("\n\n")
    assert head.splitlines() == ["HTTP 201 Created", "Content-Type: application/json", "X-Relay: forge"]
    job = json.loads(text)["jobId"]
    assert "pushed 3 events to deliveries as job" in posted.stderr
    ran = forgeq("run", manifest, "--db", db, "--until-idle")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "queue events: 3 pushed, 3 succeeded" in ran.stdout and "calls answered: 1 web trigger call, 0 UI resolver calls" in ran.stdout
    stats = forgeq("webtrigger", "delivery-hook", "-m", manifest, "--db", db, "-q", f"job={job}", "--json")
    assert json.loads(json.loads(stats.stdout)["response"]["body"]) == {"success": 3, "inProgress": 0, "failed": 0}
    summary = forgeq("invoke", "summary", "-m", manifest, "--db", db, "--json")
    assert summary.returncode == 0, summary.stderr
    value = json.loads(summary.stdout)["value"]
    assert value["done"] == ["d1", "d2", "d3"] and value["url"].startswith("https://")
    linted = json.loads(forgeq("lint", manifest.parent, "--json").stdout)
    assert {(f["code"], f["severity"]) for f in linted["findings"]} == {("FQ603", "warning")}  # the legacy storage import only
