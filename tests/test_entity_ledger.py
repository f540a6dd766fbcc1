"""Issue #18 checked the way an outsider's apps check it (tests/apps/entity-ledger-py and -js): a bulk
import of created issues keeps a record per issue in a custom entity and counts it in a transaction,
under duplicate deliveries (of the trigger too) and injected 429s. The counts end exact, every
duplicate consumer delivery changes nothing, and the indexed query a web trigger answers page by page
while the import runs returns what a model of the records says, in Python and in JavaScript,
through the testing API and through the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import forgeq, forgeq_json
from nodejs import NODE, copy_app, install_fixture_packages, js_fixture, requires_node

from forgeq.testing import ForgeApp

__all__ = ["js_fixture"]

# Reads, writes and transactions meet the 429s; the web trigger's queries do not, so that its
# answer halfway through can be compared with the model (a refused one would be Forge's 500).
REFUSED = ["read", "write", "delete", "transaction"]


def ledger(language: str, folder: Path) -> Path:
    """The app copied to `folder` (a JavaScript one with the fixture's real @forge packages); its manifest."""
    return copy_app(f"entity-ledger-{language}", folder, js=language == "js")


def failed_model(records: dict[str, Any]) -> list[str]:
    """The keys of by-status [failed] where attempts > 2, sorted DESC: most attempts first, ties by key, reversed."""
    chosen = [key for key, value in records.items() if value["status"] == "failed" and value["attempts"] > 2]
    return sorted(chosen, key=lambda key: (records[key]["attempts"], key), reverse=True)


def counter_of(app: ForgeApp) -> Any:
    held = app.kvs.entity("tally").get("counter")  # the JavaScript app's (Forge checks entity items only)
    return held["count"] if held is not None else app.kvs.get("counter")


def run_import(manifest: Path, *, seed: int, count: int, storage_limits: str = "2025") -> dict[str, Any]:
    with ForgeApp(manifest, seed=seed, storage_limits=storage_limits) as app:
        app.faults.duplicates(queue="import-queue", probability=0.3, delay=5)
        app.faults.duplicates(queue="audit-queue", probability=0.3, delay=5)
        app.faults.duplicates(trigger="import-trigger", probability=0.1, delay=2)
        app.faults.storage_429(0, 120, operations=REFUSED, probability=0.2)
        app.push_product_event("issue-created", count=count)

        app.run_until(lambda a: len(a.kvs.entity("import-record")) >= count // 2, within=3600)
        halfway = app.webtrigger("status")
        assert halfway.status_code == 200, halfway.error
        records = app.kvs.entity("import-record").as_dict()
        assert 0 < len(records) < count  # the import is still running
        assert halfway.json() == {"counter": len(records), "failed": failed_model(records)}

        app.run_until_idle()
        records = app.kvs.entity("import-record").as_dict()
        report = app.webtrigger("status").json()
        duplicates = [r for r in app.faults.redeliveries if app.event(r.event).kind == "queue"]
        return {
            "records": records,
            "counter": counter_of(app),
            "tallies": {status: app.kvs.entity("tally").get(status) for status in ("done", "failed")},
            "seen": len(app.kvs.entity("tally").keys("seen-")),
            "report": report,
            "dropped": app.dropped(),
            "counts": dict(app.faults.counts),
            "duplicates_changed": [(r.event, r.outcome, [str(c) for c in r.kvs_changes]) for r in duplicates if not r.idempotent],
            "duplicates": len(duplicates),
            "retries": sum(1 for a in app.timeline() if a.outcome == "retry"),
        }


def assert_exact(result: dict[str, Any], count: int) -> None:
    failed = count // 3
    assert result["dropped"] == []
    assert result["counter"] == len(result["records"]) == result["seen"] == count
    assert sorted(result["records"]) == sorted(f"rec-DEMO-{n}" for n in range(1, count + 1))
    assert result["tallies"] == {"done": {"status": "done", "count": count - failed}, "failed": {"status": "failed", "count": failed}}
    assert result["report"] == {"counter": count, "failed": failed_model(result["records"])}
    assert result["duplicates_changed"] == []  # each duplicate delivery read, found its record, wrote nothing
    assert result["duplicates"] > 5 and result["counts"]["storage_429"] > 5 and result["retries"] > 5  # the faults bit


def test_the_python_ledger_counts_each_issue_once(tmp_path: Path) -> None:
    assert_exact(run_import(ledger("py", tmp_path), seed=3, count=90), 90)


@requires_node
@pytest.mark.usefixtures("js_fixture")
def test_the_javascript_ledger_counts_each_issue_once_and_stores_what_python_stores(tmp_path: Path) -> None:
    javascript = run_import(ledger("js", tmp_path), seed=3, count=90)
    assert_exact(javascript, 90)
    python = run_import(ledger("py", tmp_path), seed=3, count=90)
    assert (javascript["records"], javascript["tallies"]) == (python["records"], python["tallies"])


def test_the_ledger_from_the_command_line(tmp_path: Path) -> None:
    manifest = ledger("py", tmp_path)
    app = manifest.parent
    (app / "faults.yml").write_text(
        "faults:\n"
        f"  - storage_429: {{start: 0, end: 120, probability: 0.2, operations: {json.dumps(REFUSED)}}}\n"
        "  - duplicates: {queue: import-queue, probability: 0.3, delay: 5}\n"
    )
    pushed = forgeq("push", "issue-created", "--count", "60", cwd=app)
    assert pushed.returncode == 0, pushed.stderr
    ran = forgeq("run", "--until-idle", "--seed", "11", "--faults", "faults.yml", cwd=app)
    assert ran.returncode == 0, ran.stderr
    assert "queue events: 120 pushed, 120 succeeded" in ran.stdout and "dropped 0, lost 0" in ran.stdout
    assert "duplicates that changed the store or pushed 0" in ran.stdout
    listed = forgeq_json("inspect", "kvs", "--entity", "import-record", "--index", "by-status", "--partition", "failed", cwd=app)
    records = {item["key"]: item["value"] for item in forgeq_json("inspect", "kvs", "--entity", "import-record", cwd=app)["items"]}
    assert len(records) == 60 and [item["key"] for item in listed["items"]] == sorted(
        (key for key, value in records.items() if value["status"] == "failed"), key=lambda key: (records[key]["attempts"], key)
    )
    answered = forgeq_json("webtrigger", "status", cwd=app)
    assert json.loads(answered["response"]["body"]) == {"counter": 60, "failed": failed_model(records)}
    linted = forgeq("lint", cwd=app)
    assert "FQ503" in linted.stdout and "Traceback" not in linted.stdout + linted.stderr


@pytest.mark.slow
@pytest.mark.parametrize("language", ["py", "js"])
@pytest.mark.parametrize(("seed", "storage_limits"), [(1, "2025"), (2, "2023"), (5, "none"), (8, "2025,write_units=150")])
def test_the_ledger_stays_exact_across_seeds_and_storage_eras(tmp_path: Path, language: str, seed: int, storage_limits: str) -> None:
    if language == "js":
        if NODE is None:
            pytest.skip("Node.js is not installed: the JavaScript bridge needs it")
        install_fixture_packages()
    assert_exact(run_import(ledger(language, tmp_path), seed=seed, count=200, storage_limits=storage_limits), 200)
