"""Parity: the seed guide's app as Python (fixtures/storage-queue) and as JavaScript with Forge's own
npm packages (fixtures/storage-queue-js) behave the same under forgeq: the same counts, the same
retry schedule under one seed (jitter included: Math.random draws what Python's random draws),
the same quota refusals and the same drops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import forgeq, forgeq_json
from nodejs import JS_APP, PY_APP, js_fixture, requires_node

from forgeq.testing import ForgeApp

__all__ = ["js_fixture"]

pytestmark = [requires_node, pytest.mark.usefixtures("js_fixture")]

QUEUE = "storage-async-queue"


def schedule(app: ForgeApp) -> list[tuple[Any, ...]]:
    """Every attempt as what the app decided and forgeq did: no ids, no wall times, no logs."""
    return [
        (a.event, a.kind, a.target, a.attempt, a.retry_count, a.started_at, a.outcome, a.reason, a.error,
         a.retry_after_asked, a.retry_after_applied, a.next_at, a.quota_refusals, a.storage_calls)
        for a in app.timeline()
    ]  # fmt: skip


def outcome(manifest: Path, scenario: Any, **options: Any) -> dict[str, Any]:
    with ForgeApp(manifest, seed=11, **options) as app:
        scenario(app)
        app.run_until_idle()
        return {
            "schedule": schedule(app),
            "dropped": [(d.event, d.drop_reason, d.last_error, d.retry_count) for d in app.dropped()],
            "queues": app.queues(),
            "kvs": app.kvs.as_dict(),
            "quota": app.quota(),
        }


def test_a_bulk_import_over_the_push_limit_and_a_storage_outage_give_the_same_timeline():
    def scenario(app: ForgeApp) -> None:
        app.faults.storage_429(0, 150)  # every storage call refused for the first 150 virtual seconds
        app.push_product_event("issue-created", count=540)  # 540 pushes in a minute: 40 refused (500/min)

    python, javascript = (
        outcome(PY_APP / "manifest.yml", scenario),
        outcome(JS_APP / "manifest.yml", scenario),
    )
    assert javascript["schedule"] == python["schedule"]
    assert javascript["queues"] == python["queues"]
    assert javascript["kvs"] == python["kvs"] and len(python["kvs"]) == 540
    assert javascript["quota"] == python["quota"]
    outcomes = [row[6] for row in python["schedule"]]
    assert outcomes.count("retry") > 40  # the trigger's jittered retries and the consumer's backoff both ran
    jittered = {
        row[10] for row in python["schedule"] if row[2] == "issue-created-trigger" and row[6] == "retry"
    }
    assert len(jittered) == 40 and all(60 <= delay <= 900 for delay in jittered)


def test_a_storage_outage_that_never_ends_drops_after_four_retries_in_both():
    def scenario(app: ForgeApp) -> None:
        app.faults.storage_429(0)
        app.push(QUEUE, [{"body": {"issueKey": f"DEMO-{n}"}} for n in range(1, 4)])

    python, javascript = (
        outcome(PY_APP / "manifest.yml", scenario),
        outcome(JS_APP / "manifest.yml", scenario),
    )
    assert javascript["schedule"] == python["schedule"]
    assert javascript["dropped"] == python["dropped"]
    assert [row[6] for row in python["schedule"] if row[0] == 1] == [
        "retry",
        "retry",
        "retry",
        "retry",
        "dropped",
    ]
    assert len(python["dropped"]) == 3 and all("retries exhausted" in d[1] for d in python["dropped"])
    for row in python["schedule"][:-3]:  # 20 s doubling plus up to 100 s of jitter
        assert 20 * 2 ** row[4] <= row[10] <= 20 * 2 ** row[4] + 100


def test_an_invalid_key_is_thrown_not_retried_by_either_app():
    def scenario(app: ForgeApp) -> None:
        app.push(QUEUE, {"body": {"issueKey": "DEMO 1!"}})

    python, javascript = (
        outcome(PY_APP / "manifest.yml", scenario),
        outcome(JS_APP / "manifest.yml", scenario),
    )
    errors = [(row[6], row[8]) for row in javascript["schedule"]]
    assert [kind for kind, _ in errors] == ["error"] * 4 + ["dropped"]
    assert all(
        error.startswith('ForgeKvsAPIError: INVALID_KEY: The key "issue-DEMO 1!" must match')
        for _, error in errors
    )
    source = (JS_APP / "src" / "index.js").read_text().splitlines()
    line = next(number for number, text in enumerate(source, 1) if "await kvs.set(" in text)
    assert all(error.endswith(f"(src/index.js:{line})") for _, error in errors)  # the awaited call, rethrown
    python_errors = [row[8] for row in python["schedule"]]
    assert all(
        error.startswith('ForgeKvsAPIError: INVALID_KEY: The key "issue-DEMO 1!" must match')
        for error in python_errors
    )
    # The same schedule; only the error's file:line differ.
    without_error = [row[:8] + row[9:] for row in python["schedule"]]
    assert [row[:8] + row[9:] for row in javascript["schedule"]] == without_error


def test_tight_storage_limits_refuse_the_same_calls_through_the_cli(tmp_path):
    results = {}
    for name, app_dir in (("python", PY_APP), ("javascript", JS_APP)):
        db = tmp_path / f"{name}.db"
        pushed = forgeq(
            "push", "issue-created", "--count", "60", "--manifest", app_dir / "manifest.yml", "--db", db
        )
        assert pushed.returncode == 0, pushed.stderr
        done = forgeq(
            "run", app_dir / "manifest.yml", "--until-idle", "--seed", "5", "--db", db, "-q",
            "--storage-limits", "2025,write_units=20,requests=15/1",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        quota = forgeq_json("inspect", "quota", "--db", db)
        summary = [line for line in done.stdout.splitlines() if "queue events:" in line or "refused" in line]
        results[name] = (quota, summary)
    assert results["javascript"] == results["python"]
    quota, summary = results["python"]
    assert any("queue events: 60 pushed, 60 succeeded" in line for line in summary), summary
    assert any("write_units" in line and "refused" in line for line in summary), summary
