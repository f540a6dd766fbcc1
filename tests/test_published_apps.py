"""Apps written the way Forge apps were written from 2022 to 2025, with the @forge versions they pin.

tests/apps/published/ holds nine small apps (README.md there lists them with their versions), each
with its own package.json and package-lock.json, installed from npm once (nodejs.install_packages,
all at once) and run end to end on their real packages: the legacy sandbox's global.api, the
Node.js runtime's proxy, the FORGE_PRODUCT_REQUEST agent, __forge_fetch__, nested copies of
@forge/api, v1 and v2 pushes and consumers, the legacy storage API beside @forge/kvs, TypeScript,
.jsx, a JSON import, a file that mixes require() with export. Their web triggers and UI resolvers
are the real pushers; here the events are pushed as `forgeq push --queue` (or a product event) does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, forgeq
from nodejs import NODE, finish_install, requires_node, start_install

from forgeq.testing import ForgeApp

CORPUS = REPO / "tests" / "apps" / "published"
APPS = (
    "sandbox-2022", "proxy-2023", "magic-2024-ts", "fetch-2024", "v2-2025-mixed", "trigger-2023-jsx",
    "shared-resolver-2022", "entity-hook-2023-ts", "esm-kvs-2024",
)  # fmt: skip

pytestmark = requires_node


@pytest.fixture(scope="session")
def published() -> dict[str, Path]:
    """Every corpus app's manifest, its npm packages installed (the installs run at once)."""
    if NODE is None:
        pytest.skip("Node.js is not installed: the JavaScript bridge needs it")
    started = [(CORPUS / name, start_install(CORPUS / name)) for name in APPS]
    for app, process in started:
        finish_install(app, process)
    return {name: CORPUS / name / "manifest.yml" for name in APPS}


def test_the_corpus_is_what_the_readme_lists():
    readme = (CORPUS / "README.md").read_text()
    for name in APPS:
        pins = json.loads((CORPUS / name / "package.json").read_text())["dependencies"]
        assert (CORPUS / name / "package-lock.json").is_file()
        for package, version in pins.items():
            assert f"{package} {version}" in readme, f"{name}: README.md does not list {package} {version}"


def test_a_legacy_sandbox_app_runs_end_to_end_from_the_cli(published, tmp_path):
    """@forge/api 2.6 and @forge/events 0.5 need the legacy runtime's global.api; forgeq provides it,
    says that Forge no longer runs them, and the legacy storage writes land in the store."""
    manifest, db = published["sandbox-2022"], tmp_path / "state.db"
    row = json.dumps({"id": 1, "summary": "first"})
    pushed = forgeq("push", "-m", manifest, "--db", db, "--queue", "import-rows", "--body", row, "--count", "2")
    assert pushed.returncode == 0, pushed.stderr
    done = forgeq("run", manifest, "--db", db, "--until-idle")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "queue events: 2 pushed, 2 succeeded" in done.stdout and "\n  dropped 0, lost 0\n" in done.stdout
    assert "@forge/api 2.6.0 (node_modules/@forge/resolver/node_modules/@forge/api) needs global.api" in done.stdout
    assert "upgrade @forge/resolver" in done.stdout
    kvs = json.loads(forgeq("inspect", "kvs", "-m", manifest, "--db", db, "--json").stdout)
    rows = {entry["key"]: entry["value"] for entry in kvs["keys"]}
    assert sorted(rows) == ["row-1"]
    assert rows["row-1"]["summary"] == "first" and rows["row-1"]["imports"] == 2
    # @forge/resolver 1.4 takes installContext from the runtime payload, as every version does
    assert rows["row-1"]["installContext"] == "ari:cloud:jira::site/site-1"
    assert len(rows["row-1"]["jobId"]) == 36


def _run(manifest: Path, queue: str, bodies: list[dict[str, Any]]) -> ForgeApp:
    app = ForgeApp(manifest)
    for body in bodies:
        app.push(queue, {"body": body})
    app.run_until_idle()
    return app


def test_the_runtime_proxy_era_and_a_nested_magic_agent_copy_run_together(published):
    with _run(published["proxy-2023"], "link-sync", [{"issueKey": "DEMO-1", "link": "a"}, {"issueKey": "DEMO-1", "link": "b"}]) as app:
        assert app.dropped() == [] and {a.outcome for a in app.attempts} == {"succeeded"}
        stored = app.kvs.as_dict()
        assert stored["synced-DEMO-1-a"]["site"] == "ari:cloud:jira::site/site-1"
        jobs = {a.event: a.job_id for a in app.attempts}
        assert stored["synced-DEMO-1-b"]["jobId"] == jobs[2]  # context.jobId, as @forge/resolver 1.5 builds it
        # the consumer's requestJira reached forgeq's fake Jira through the 2.14 proxy and was answered
        assert [(r["product"], r["method"], r["path"], r["status"]) for r in app.site.requests()] == [("jira", "GET", "/rest/api/3/issue/DEMO-1/remotelink", 404)] * 2
        # 404: the fake Jira serves remote links, and no issue DEMO-1 was pushed to the site


def test_typescript_with_the_magic_agent_keeps_secrets_and_totals(published):
    with _run(published["magic-2024-ts"], "records", [{"id": "r1"}, {"id": "r2"}, {"id": "r1"}]) as app:
        assert app.dropped() == []
        stored = app.kvs.as_dict()
        assert stored["total"] == 3
        assert stored["record:r1"] == {"id": "r1", "state": "synced", "attempts": 2}
        assert "token missing, first r1, site ari:cloud:jira::site/site-1" in app.attempts[0].logs


def test_forge_fetch_era_with_nested_copies_and_get_app_context(published):
    with _run(published["fetch-2024"], "page-export", [{"pageId": "101"}, {"pageId": "102"}]) as app:
        assert app.dropped() == []
        exported = app.kvs.as_dict()
        assert exported["exported-101"]["environmentType"] == "DEVELOPMENT"
        assert exported["exported-101"]["title"] == "page 101"  # requestConfluence was answered (501 until the fake site serves it)


def test_v2_consumer_in_a_mixed_module_retries_and_shares_the_store_with_kvs(published):
    bodies = [{"issueKey": "DEMO-1", "label": "x"}, {"issueKey": "DEMO-7", "label": "x"}]
    with _run(published["v2-2025-mixed"], "labels", bodies) as app:
        assert app.dropped() == []
        outcomes = sorted((a.event, a.attempt, a.outcome) for a in app.attempts)
        assert outcomes == [(1, 1, "succeeded"), (2, 1, "retry"), (2, 2, "succeeded")]
        stored = app.kvs.as_dict()
        assert stored["labelled:DEMO-7"] == ["x"] and stored["labelled-count"] == 2  # legacy storage and @forge/kvs


def test_a_trigger_pushes_v1_events_that_a_jsx_consumer_scores(published):
    with ForgeApp(published["trigger-2023-jsx"]) as app:
        app.push_product_event("issue-created", count=12)
        app.run_until_idle()
        assert app.dropped() == []
        queued = [a for a in app.attempts if a.logs and "queued DEMO-" in a.logs]
        assert len(queued) == 12 and all("as triage#" in a.logs for a in queued)  # v1 job ids: "<queue>#<uuid>"
        scores = app.kvs.keys("score-")
        assert len(scores) == 10  # the consumer keeps the last ten and deletes older ones


def test_an_ari_in_a_stored_value_prints_as_it_is(capsys):
    """`ari:cloud:jira::...` holds ":cloud:", which the terminal renderer must not turn into an emoji."""
    from forgeq.cli import render

    render.kvs_table("site-1", [{"key": "row-1", "value": {"site": "ari:cloud:jira::site/site-1"}, "updated_at": 0.0}])
    assert "ari:cloud:jira::site/site-1" in capsys.readouterr().out


# -- the apps' own pushers: their web triggers and UI resolvers (forge_app.webtrigger / invoke) -----------


def test_a_web_trigger_of_the_sandbox_era_queues_v1_rows_that_the_consumer_stores(published):
    with ForgeApp(published["sandbox-2022"]) as app:
        rows = [{"id": 1, "summary": "one"}, {"id": 2, "summary": "two"}, "not a row"]
        response = app.webtrigger("import-hook", body={"rows": rows})
        assert response.status_code == 200
        (job,) = json.loads(response.body)["jobs"]
        assert job.startswith("import-rows#")
        app.run_until_idle()
        assert app.dropped() == []
        stored = app.kvs.as_dict()
        assert sorted(stored) == ["last-import", "row-1", "row-2"]  # the text row was skipped by the consumer
        assert stored["row-2"]["jobId"] == job.split("#")[1]


def test_a_ui_resolver_starts_a_sync_and_reports_its_progress(published):
    with ForgeApp(published["proxy-2023"]) as app:
        started = app.invoke("startSync", {"issueKey": "DEMO-1", "links": ["a", "b", "c"]})
        assert started["jobId"].startswith("link-sync#")
        assert app.invoke("getStatus", {"issueKey": "DEMO-1"}) == {"success": 0, "inProgress": 3, "failed": 0, "synced": 0}
        app.run_until_idle()
        assert app.invoke("getStatus", {"issueKey": "DEMO-1"}) == {"success": 3, "inProgress": 0, "failed": 0, "synced": 3}


@pytest.mark.slow
def test_every_corpus_pusher(published):
    with ForgeApp(published["magic-2024-ts"]) as app:
        response = app.webtrigger("records-hook", body=[{"id": "r1"}, {"id": "r2"}], headers={"x-hook-token": "t0k3n"})
        assert response.status_code == 202 and json.loads(response.body)["queued"] == 2
        app.run_until_idle()
        assert app.kvs.get_secret("hook-token") == "t0k3n" and app.kvs.get("total") == 2
        assert all("token set" in a.logs for a in app.attempts if a.target == "records")
    with ForgeApp(published["v2-2025-mixed"]) as app:
        response = app.webtrigger("label-hook", body={"issueKeys": ["DEMO-1", "DEMO-7", "DEMO-9"], "label": "triaged"})
        job = json.loads(response.body)["jobId"]
        app.run_until_idle()
        assert app.dropped() == [] and app.kvs.get(f"job:{job}") == {"label": "triaged", "total": 3}
        assert app.kvs.get("labelled-count") == 3
    with ForgeApp(published["fetch-2024"]) as app:
        app.invoke("enqueue", {"pageIds": ["1", "2"]})
        app.run_until_idle()
        assert app.invoke("progress") == {"exported": 2}


def test_one_resolver_function_serves_the_issue_panel_and_the_consumer(published):
    """@forge/resolver 1.3.5 (older than 1.4, its own @forge/api 2.3.0) on the sandbox's global.api, and
    copies of 2022 given today's @forge/storage 1.8: the UI resolver pushes, the same function consumes."""
    with ForgeApp(published["shared-resolver-2022"]) as app:
        issue = {"issue": {"key": "APP-7"}}
        job = app.invoke("queueComments", {"comments": ["a", "b", "c"]}, extension=issue, account_id="acc-1")
        assert job.startswith("comment-queue#")  # a v1 job id
        before = app.invoke("status", extension=issue)
        assert before == {"success": 0, "inProgress": 3, "failed": 0, "count": 0, "first": None, "by": "acc-1", "secret": "acc-1"}
        app.run_until_idle()
        assert app.dropped() == [] and {a.outcome for a in app.attempts} == {"succeeded"}
        assert app.invoke("status", extension=issue) == {**before, "success": 3, "inProgress": 0, "count": 3, "first": "a"}
        stored = app.kvs.get("comment-APP-7-2")
        # 1.3.5 reads no call.jobId, but spreads the call's context, where the platform puts jobId too
        assert stored == {"text": "c", "installContext": "ari:cloud:jira::site/site-1", "jobId": job.split("#")[1]}
        assert app.invoke("getText") == "Hello, world!"
        assert app.invoke("reset", extension=issue) == {"deleted": 3, "secret": True}
        assert app.kvs.as_dict() == {}


@pytest.mark.slow
def test_a_typescript_web_trigger_keeps_legacy_entities_that_a_ui_resolver_queries(published):
    with ForgeApp(published["entity-hook-2023-ts"]) as app:
        ignored = app.webtrigger("delivery-hook", method="POST", body={"deliveries": []})
        assert (ignored.status_code, ignored.json()) == (202, {"ignored": True})
        deliveries = [{"id": "d1", "repo": "a/b"}, {"id": "d2", "repo": "a/c"}]
        created = app.webtrigger("delivery-hook", body={"deliveries": deliveries}, headers={"X-GitHub-Event": "push"})
        assert (created.status_code, created.status_text, created.header("x-relay")) == (201, "Created", "forge")
        job = created.json()["jobId"]
        assert job.startswith("deliveries#") and created.pushed[0]["events"] == 2
        assert app.webtrigger("delivery-hook", query={"job": job}).json() == {"success": 0, "inProgress": 2, "failed": 0}
        assert app.invoke("summary")["queued"] == 2
        app.run_until_idle()
        assert app.dropped() == []
        assert app.webtrigger("delivery-hook", query={"job": job}).json() == {"success": 2, "inProgress": 0, "failed": 0}
        assert app.kvs.entity("delivery").get("d1") == {"repo": "a/b", "status": "done", "attempts": 1}
        summary = app.invoke("summary")
        assert summary["done"] == ["d1", "d2"] and summary["queued"] == 0
        assert re.fullmatch(r"https://[0-9a-f-]{36}\.hello\.atlassian-dev\.net/x1/\w+", summary["url"])  # webTrigger.getUrl, @forge/api 3.7
        assert app.kvs.get("delivered:d2") == {"jobId": job.split("#")[1], "installContext": "ari:cloud:jira::site/site-1"}


@pytest.mark.slow
def test_an_es_module_app_on_kvs_1_0_builds_follows_and_cancels_reports(published):
    with ForgeApp(published["esm-kvs-2024"]) as app:
        refused = app.webtrigger("report-hook")
        assert (refused.status_code, refused.header("www-authenticate")) == (401, "Bearer")
        assert app.webtrigger("report-hook", headers={"Authorization": "Bearer s3cret"}).status_code == 204
        built = app.invoke("build", {"n": 1})
        assert built["reportId"] == "DEMO-1"  # the project page's context.extension.project
        app.run_until_idle()
        assert app.dropped() == []
        assert app.invoke("progress", {"reportId": "DEMO-1"}) == {"success": 4, "inProgress": 0, "failed": 0, "built": 4, "token": "s3cret"}
        velocity = app.kvs.get("section:DEMO-1:velocity")
        assert velocity == {"status": 200, "installContext": "ari:cloud:jira::site/site-1", "jobId": built["jobId"], "retries": 1}
        later = app.invoke("build", {"n": 2}, extension={"project": {"key": "OPS"}})  # requestJira would 404: cancelled first
        assert app.invoke("cancel", {"reportId": "OPS-2"}) == {"cancelled": later["jobId"]}
        app.run_until_idle()
        assert app.kvs.keys("section:OPS-2:") == [] and app.kvs.get_secret("export-token") is None
        assert len(app.events("report-sections", state="cancelled")) == 4
