"""The seed guide's pattern under the storage quotas: refused writes are retried into later windows
and every key is written in the end (2025 and 2023 limits), in-process and through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, forgeq

from forgeq.emulator import limits
from forgeq.emulator.platform.quota import window_start
from forgeq.testing import ForgeApp

APP = REPO / "tests" / "apps" / "kvs-backoff" / "manifest.yml"
QUEUE = "storage-async-queue"
EPOCH = limits.VIRTUAL_EPOCH


@pytest.fixture
def app_on_file(tmp_path: Path) -> Iterator[Any]:
    apps: list[ForgeApp] = []

    def make(**options: Any) -> ForgeApp:
        app = ForgeApp(APP, store=tmp_path / "state.db", **options)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


def check_refusals_retried_into_later_windows(
    app: ForgeApp, metric: str, seconds: float, events: int
) -> None:
    attempts = app.timeline(queue=QUEUE)
    refused = [a for a in attempts if a.quota_refusals]
    assert refused, "the quota never refused a write"
    assert all(a.outcome == "retry" and a.reason == "FUNCTION_UPSTREAM_RATE_LIMITED" for a in refused)
    by_event: dict[int, list[Any]] = {}
    for attempt in attempts:
        by_event.setdefault(attempt.event, []).append(attempt)
    for attempt in refused:
        final = by_event[attempt.event][-1]
        assert final.outcome == "succeeded"
        assert window_start(final.started_at, seconds) > window_start(attempt.started_at, seconds)
    assert app.dropped() == []
    assert len(app.kvs.keys("issue-")) == events
    windows = [w for w in app.quota() if w["metric"] == metric]
    assert all(w["used"] <= w["quota"] for w in windows)
    assert sum(w["refused"] for w in windows) == len(refused)
    assert max(w["used"] for w in windows) == windows[0]["quota"]  # the first window filled up


def test_2025_write_units_fill_and_the_refused_writes_land_later(app_on_file: Any) -> None:
    app = app_on_file(storage_limits="2025")
    # 500 writes of ~95 KB: 10 units each, 5000 units against 4000 per minute (and 500 requests < 1000/s)
    app.push_many(QUEUE, [{"issueKey": f"DEMO-{n}", "padBytes": 95 * 1024} for n in range(500)])
    app.run_until_idle()
    check_refusals_retried_into_later_windows(app, "write_units", 60, 500)
    first = [w for w in app.quota() if w["metric"] == "write_units"][0]
    # 100 refused at once, plus the retries whose jitter brought them back within the same minute
    assert (first["window_start"], first["used"]) == (EPOCH, 4000) and first["refused"] >= 100


def test_2025_a_backlog_of_small_writes_fills_the_minute_of_write_units(app_on_file: Any) -> None:
    app = app_on_file(storage_limits="2025")
    app.push_many(QUEUE, [{"issueKey": f"DEMO-{n}"} for n in range(5000)])
    app.run_until_idle()
    # 50 invocations in parallel per installation (the default model): ~400 writes/s, under the
    # 1000 requests/s, so the 4000 write units per minute bind first
    check_refusals_retried_into_later_windows(app, "write_units", 60, 5000)
    assert all(w["refused"] == 0 for w in app.quota() if w["metric"] == "requests")


def test_2025_unbounded_parallelism_meets_the_request_rate(app_on_file: Any) -> None:
    app = app_on_file(storage_limits="2025", concurrency=0)
    app.push_many(QUEUE, [{"issueKey": f"DEMO-{n}"} for n in range(2500)])
    app.run_until_idle()
    # with --concurrency 0 a backlog due at one instant starts at once, so 1000 requests/s binds first
    check_refusals_retried_into_later_windows(app, "requests", 1, 2500)
    assert [w for w in app.quota() if w["metric"] == "requests"][0]["refused"] == 1500


def test_2023_writes_per_20_seconds(app_on_file: Any) -> None:
    app = app_on_file(storage_limits="2023")
    app.push_many(QUEUE, [{"issueKey": f"DEMO-{n}"} for n in range(1500)])
    app.run_until_idle()
    check_refusals_retried_into_later_windows(app, "writes", 20, 1500)


def test_a_tight_custom_quota_drops_events_once_the_v1_retries_run_out(app_on_file: Any) -> None:
    app = app_on_file(storage_limits="2025,write_units=1/3600")
    app.push_many(QUEUE, [{"issueKey": f"DEMO-{n}"} for n in range(3)])
    app.run_until_idle()
    assert len(app.kvs.keys("issue-")) == 1
    assert len(app.dropped()) == 2  # 4 retries each within the hour, all refused


def test_the_cli_shows_the_quota_biting(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    pushed = forgeq(
        "push",
        "--queue",
        QUEUE,
        "--body",
        '{"issueKey": "K", "padBytes": 30000}',
        "--count",
        "300",
        "--manifest",
        APP,
        "--db",
        db,
    )
    assert pushed.returncode == 0, pushed.stderr
    run = forgeq(
        "run", APP, "--db", db, "--until-idle", "--quiet", "--storage-limits", "2025,write_units=500"
    )
    assert run.returncode == 0, run.stderr
    assert "storage quota [site-1]: write_units 498/500 per minute at the peak, 188 calls refused" in run.stdout, run.stdout
    report = json.loads(forgeq("inspect", "quota", "--manifest", APP, "--db", db, "--json").stdout)
    write_windows = [w for w in report["windows"] if w["metric"] == "write_units"]
    # 300 writes of 3 units: 166 fit in the first minute (498 units), the rest land later
    assert (
        write_windows[0]["window_start"] == EPOCH
        and write_windows[0]["used"] == 498
        and write_windows[0]["refused"] > 0
    )
    assert sum(w["used"] for w in write_windows) == 900
    assert report["totals"][-1]["metric"] == "write_units" and report["totals"][-1]["peak"] <= 500
    table = forgeq("inspect", "quota", "--manifest", APP, "--db", db)
    assert table.returncode == 0
    assert any("write_units" in line and "498" in line for line in table.stdout.splitlines()), table.stdout
    kvs = json.loads(forgeq("inspect", "kvs", "--manifest", APP, "--db", db, "--json").stdout)
    assert [item["key"] for item in kvs["keys"]] == ["issue-K"]
    events = json.loads(
        forgeq("inspect", "events", "--manifest", APP, "--db", db, "--json", "--limit", "1000").stdout
    )["events"]
    assert {event["state"] for event in events} == {"succeeded"}
