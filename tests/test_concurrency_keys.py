"""Concurrency keys (Atlassian's "Concurrency" page for async events; docs/fidelity.md): at most `limit` events of a key run at once, per installation; the
others wait with Forge's internal backoff (no retry, no attempt, order not kept) and a backlog
that waits past the retention window is dropped into the ledger (docs/fidelity.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from conftest import V2_MANIFEST, forgeq, write_app

from forgeq.emulator import limits
from forgeq.testing import ForgeApp

SOURCE = """
from forgeq.kvs import kvs


def handler(event, context):
    kvs.set(f"done-{event['body']['n']}", event["body"]["n"])
"""


def app_dir(tmp_path: Path) -> Path:
    return write_app(tmp_path / "app", V2_MANIFEST, {"src/index.py": SOURCE}).parent


def push_keyed(app: ForgeApp, n: int, limit: int, key: str = "api", installation: str | None = None) -> None:
    for start in range(0, n, 50):
        app.push(
            "work",
            [
                {"body": {"n": i}, "concurrency": {"key": key, "limit": limit}}
                for i in range(start, min(n, start + 50))
            ],
            installation=installation,
        )


def most_running_at_once(attempts: list[Any]) -> int:
    edges = sorted(
        [(a.started_at, 1) for a in attempts] + [(a.ended_at, -1) for a in attempts]
    )  # an end before a start at one instant
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_a_key_runs_at_most_limit_events_at_once_and_the_rest_wait_without_a_retry(tmp_path: Path) -> None:
    with ForgeApp(app_dir(tmp_path) / "manifest.yml", storage_limits="none", seed=4) as app:
        push_keyed(app, 200, limit=3)
        app.run_until_idle()
        attempts = app.timeline()
        assert len(attempts) == 200, "a wait is not an attempt"
        assert {(a.attempt, a.retry_count, a.outcome) for a in attempts} == {(1, 0, "succeeded")}
        assert most_running_at_once(attempts) == 3
        waited = [a for a in attempts if any("for its concurrency key" in note for note in a.notes)]
        assert len(waited) == 197, "all but the first three waited, and their attempt says so"
        assert len(app.kvs.query_all(prefix="done-")) == 200
        order = [a.event for a in sorted(attempts, key=lambda a: (a.started_at, a.event))]
        assert order != sorted(order), "Forge keeps no order among the events that waited"


def test_the_waits_back_off_exponentially_up_to_15_minutes(tmp_path: Path) -> None:
    """One slot, a backlog of 300: the last events wait many times, the gaps doubling from 2 s and
    never above 900 s, so the backlog takes far longer than 300 invocations back to back."""
    with ForgeApp(app_dir(tmp_path) / "manifest.yml", storage_limits="none", seed=1) as app:
        push_keyed(app, 300, limit=1)
        start = app.now
        app.run_until_idle()
        attempts = app.timeline()
        assert most_running_at_once(attempts) == 1
        waits = [
            int(note.split("waited ")[1].split(" time")[0])
            for a in attempts
            for note in a.notes
            if "concurrency key" in note
        ]
        assert max(waits) >= 8
        span = max(a.ended_at for a in attempts) - start
        assert span > 300 * limits.INVOCATION_SECONDS * 5
        starts = sorted(a.started_at for a in attempts)
        assert (
            max(b - a for a, b in zip(starts, starts[1:], strict=False))
            <= limits.CONCURRENCY_WAIT_MAX_SECONDS
        )


def test_keys_are_counted_per_installation(tmp_path: Path) -> None:
    with ForgeApp(
        app_dir(tmp_path) / "manifest.yml", storage_limits="none", installations=["site-1", "site-2"]
    ) as app:
        push_keyed(app, 20, limit=1, installation="site-1")
        push_keyed(app, 20, limit=1, installation="site-2")
        app.run_until_idle()
        attempts = app.timeline()
        assert most_running_at_once([a for a in attempts if a.installation == "site-1"]) == 1
        assert most_running_at_once([a for a in attempts if a.installation == "site-2"]) == 1
        assert most_running_at_once(attempts) == 2, "one key, two installations: two counters"


def test_a_backlog_that_waits_past_the_retention_window_is_dropped_into_the_ledger(tmp_path: Path) -> None:
    # 10-minute invocations through one slot: 200 events need 33 h, the retention window is 24 h.
    with ForgeApp(app_dir(tmp_path) / "manifest.yml", storage_limits="none", invocation_seconds=600) as app:
        push_keyed(app, 200, limit=1)
        app.run_until_idle()
        ran = app.timeline()
        dropped = app.dropped()
        assert ran and dropped and len(ran) + len(dropped) == 200
        assert len(ran) < 24 * 3600 / 600 + 1
        assert all(
            d.drop_reason == "retention window over while waiting for concurrency key 'api' (limit 1): "
            "the next try would fall 24 h after the event was pushed"
            for d in dropped
        )
        assert {e.state for e in app.events("work")} == {"succeeded", "dropped"}


def test_the_same_seed_gives_the_same_waits(tmp_path: Path) -> None:
    runs = []
    for _ in range(2):
        with ForgeApp(app_dir(tmp_path) / "manifest.yml", storage_limits="none", seed=7) as app:
            push_keyed(app, 100, limit=2)
            app.run_until_idle()
            runs.append([(a.event, a.started_at, a.notes) for a in app.timeline()])
    assert runs[0] == runs[1]


def test_a_large_backlog_on_one_key_drains_in_linear_time(tmp_path: Path) -> None:
    """Each wait touches its event once: 10x the backlog is about 10x the work, not 100x (the old
    model re-leased every waiting event at every instant a slot was full). Counted, not timed."""
    touched = []
    for n in (200, 2000):
        with ForgeApp(app_dir(tmp_path) / "manifest.yml", storage_limits="none") as app:
            push_keyed(app, n, limit=5)
            calls = [0]

            def counting(*args: Any, deliver: Any = app.emulator._deliver, calls: list[int] = calls) -> None:
                calls[0] += 1
                deliver(*args)

            app.emulator._deliver = counting  # type: ignore[method-assign]
            app.run_until_idle()
            assert len(app.timeline()) == n
            touched.append(calls[0] / n)
    assert touched[1] < touched[0] * 2.5, (
        f"deliveries per event grew from {touched[0]:.1f} to {touched[1]:.1f}"
    )


def test_the_cli_pushes_with_a_key_and_the_timeline_shows_the_wait(tmp_path: Path) -> None:
    app = app_dir(tmp_path)
    pushed = forgeq(
        "push",
        "--queue",
        "work",
        "--body",
        '{"n": 1}',
        "--count",
        "5",
        "--concurrency-key",
        "api",
        "--concurrency-limit",
        "1",
        cwd=app,
    )
    assert pushed.returncode == 0, pushed.stderr
    run = forgeq("run", "--until-idle", "--seed", "3", cwd=app)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("for its concurrency key") == 4
    assert "5 succeeded" in run.stdout


def test_the_cli_refuses_half_a_concurrency_option(tmp_path: Path) -> None:
    app = app_dir(tmp_path)
    for extra, message in (
        (["--concurrency-key", "api"], "--concurrency-key and --concurrency-limit go together"),
        (
            ["--concurrency-limit", "0", "--concurrency-key", "api"],
            "--concurrency-limit must be 1 or more, not 0",
        ),
    ):
        done = forgeq("push", "--queue", "work", "--body", "{}", *extra, cwd=app)
        assert done.returncode == 2
        assert message in done.stderr
        assert "Traceback" not in done.stderr
    done = forgeq("push", "issue-created", "--concurrency-key", "api", "--concurrency-limit", "1", cwd=app)
    assert done.returncode == 2 and "apply to --queue" in done.stderr


def test_the_summary_counts_a_keys_retention_drops_on_one_line(tmp_path: Path) -> None:
    app = app_dir(tmp_path)
    key = ["--concurrency-key", "api", "--concurrency-limit", "1"]
    assert (
        forgeq("push", "--queue", "work", "--body", '{"n": 1}', "--count", "150", *key, cwd=app).returncode
        == 0
    )
    run = forgeq(
        "run", "--until-idle", "--quiet", "--invocation-ms", "600000", "--storage-limits", "none", cwd=app
    )
    assert run.returncode == 0, run.stderr
    # One slot busy 10 min per event, 24 h of retention: at most 144 can run, fewer as the slot
    # idles between the waiters' tries.
    summary = re.search(r"queue events: 150 pushed, (\d+) succeeded, 0 retried", run.stdout)
    assert summary is not None, run.stdout
    succeeded = int(summary[1])
    dropped = int(re.search(r"this run: .*\n  dropped (\d+), lost 0\n", run.stdout)[1])  # type: ignore[index]
    assert succeeded <= 144 and dropped >= 6 and succeeded + dropped == 150
    drops = [line for line in run.stdout.splitlines() if " dropped: " in line]
    assert drops == [
        f"    {dropped:>6} dropped: retention window over while waiting for concurrency key 'api' (limit 1): "
        "the next try would fall 24 h after the event was pushed"
    ]
    assert run.stdout.count("waited") >= 6, "each drop's notice says how long the event waited"


def test_a_malformed_concurrency_is_ignored_with_one_warning(tmp_path: Path) -> None:
    """@forge/events sends `concurrency` unchecked; forgeq runs such events unthrottled and says so once."""
    with ForgeApp(app_dir(tmp_path) / "manifest.yml", storage_limits="none") as app:
        app.push("work", [{"body": {"n": i}, "concurrency": {"key": "api", "limit": "1"}} for i in range(10)])
        app.run_until_idle()
        assert most_running_at_once(app.timeline()) == 10
        warnings = [n.text for n in app.notices if "ignored" in n.text]
        assert len(warnings) == 1, "one warning, not one per event"
        assert re.fullmatch(
            r'event #\d+: concurrency \{"key": "api", "limit": "1"\} ignored: it needs a key \(a non-empty string\) '
            r"and a limit \(an integer of 1 or more\); @forge/events does not check it on push",
            warnings[0],
        )
