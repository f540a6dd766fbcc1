"""scheduledTrigger modules on the emulator's clock (Atlassian's manifest reference): `forgeq run --for`, restarts, resets."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import emulator, forgeq

from forgeq.emulator import limits
from forgeq.emulator.loop.clock import VirtualClock
from forgeq.emulator.loop.engine import IDLE_POLL_SECONDS

APPS = Path(__file__).resolve().parent / "apps"
EPOCH = limits.VIRTUAL_EPOCH
KEYS = ("every-five-minutes", "hourly", "daily-report", "weekly-cleanup")


def copy_app(tmp_path: Path) -> Path:
    target = tmp_path / "scheduled"
    shutil.copytree(APPS / "scheduled", target)
    return target


def calls(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def scheduled_rows(app: Path) -> list[Any]:
    from forgeq.emulator.store import Store

    store = Store(app / ".forgeq" / "state.db")
    try:
        return store.events(kind="scheduled", limit=1_000_000)
    finally:
        store.close()


def run_for(app: Path, journal: Path, duration: str) -> str:
    done = forgeq("run", "--for", duration, "-q", cwd=app, env={"JOURNAL": str(journal)})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_virtual_week_of_scheduled_runs(tmp_path: Path) -> None:
    app = copy_app(tmp_path)
    journal = tmp_path / "journal.jsonl"
    output = run_for(app, journal, "7d")

    # First run 5 min after the run starts, then every interval, up to 7 days inclusive.
    entries = calls(journal)
    per_key = Counter(entry["request"]["context"]["moduleKey"] for entry in entries)
    assert per_key == {"every-five-minutes": 2016, "hourly": 168, "daily-report": 7, "weekly-cleanup": 1}
    rows = scheduled_rows(app)
    for key, interval in (("every-five-minutes", 300), ("hourly", 3600), ("daily-report", 86400)):
        times = sorted(row.available_at - EPOCH for row in rows if row.target == key)
        assert times == [300 + interval * n for n in range(len(times))]

    # The request and context a scheduled trigger function receives.
    for entry in entries:
        request = entry["request"]
        assert set(request) == {"context", "contextToken"}
        assert request["context"]["cloudId"] == "site-1"
        assert isinstance(request["contextToken"], str) and request["contextToken"]
        assert entry["context"]["principal"] is None
        assert entry["context"]["installContext"] == "ari:cloud:jira::site/site-1"
    assert len({entry["request"]["contextToken"] for entry in entries}) == len(entries)

    # No retries: a thrown error loses the run (ledger), a returned InvocationError is ignored.
    assert all(row.attempts == 1 for row in rows)
    lost = [row for row in rows if row.state == 3]
    assert {row.target for row in lost} == {"daily-report"} and len(lost) == 7
    assert all("RuntimeError: the daily report failed" in (row.last_error or "") for row in lost)
    assert "  triggers: 2192 invoked, 2185 succeeded, 0 retried, 0 pending" in output
    assert "\n  dropped 0, lost 7\n" in output
    assert "     7 lost: scheduled trigger failed; Forge does not retry it" in output


def test_a_restart_continues_the_schedule(tmp_path: Path) -> None:
    once = copy_app(tmp_path / "once")
    twice = copy_app(tmp_path / "twice")
    run_for(once, tmp_path / "once.jsonl", "2d")
    run_for(twice, tmp_path / "twice.jsonl", "1d")
    run_for(twice, tmp_path / "twice.jsonl", "1d")

    def fires(app: Path) -> list[tuple[str, float]]:
        return sorted((row.target, row.available_at) for row in scheduled_rows(app))

    assert fires(twice) == fires(once)
    assert len(fires(once)) == 576 + 48 + 2 + 1


def test_until_idle_ignores_future_scheduled_runs(tmp_path: Path) -> None:
    app = copy_app(tmp_path)
    journal = tmp_path / "journal.jsonl"
    done = forgeq("run", "--until-idle", cwd=app, env={"JOURNAL": str(journal)})
    assert done.returncode == 0, done.stderr
    assert calls(journal) == []
    assert (
        "scheduled triggers (daily-report, every-five-minutes, hourly, weekly-cleanup) start" in done.stdout
    )


def test_changing_a_scheduled_trigger_resets_every_start_time(tmp_path: Path) -> None:
    app = copy_app(tmp_path)
    journal = tmp_path / "journal.jsonl"
    run_for(app, journal, "1h")
    run_for(app, journal, "1h")  # unchanged: the weekly trigger waits for next week
    assert Counter(e["request"]["context"]["moduleKey"] for e in calls(journal))["weekly-cleanup"] == 1

    manifest = app / "manifest.yml"
    manifest.write_text(manifest.read_text().replace("interval: hour", "interval: day"))
    output = run_for(app, journal, "1h")
    assert "start: first run 300 s from now" in output
    weekly = sorted(row.available_at - EPOCH for row in scheduled_rows(app) if row.target == "weekly-cleanup")
    assert weekly == [300, 2 * 3600 + 300]  # recreated: 5 min after the changed app started


@pytest.mark.parametrize("duration", ["0", "soon", "-1h"])
def test_run_for_needs_a_duration(tmp_path: Path, duration: str) -> None:
    done = forgeq("run", "--for", duration, cwd=copy_app(tmp_path))
    assert done.returncode == 2 and "--for" in done.stderr and "Traceback" not in done.stderr


def test_every_installation_gets_each_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL", str(tmp_path / "journal.jsonl"))
    emu, recorder = emulator(
        copy_app(tmp_path) / "manifest.yml", tmp_path / "state.db", installations=["site-1", "site-2"]
    )
    emu.run(stop_at=EPOCH + 600)
    fired = sorted(
        (r.target, r.installation, r.started_at - EPOCH)
        for r in recorder.attempts
        if r.target == "every-five-minutes"
    )
    assert fired == [
        ("every-five-minutes", "site-1", 300.0),
        ("every-five-minutes", "site-1", 600.0),
        ("every-five-minutes", "site-2", 300.0),
        ("every-five-minutes", "site-2", 600.0),
    ]
    clouds = Counter(entry["request"]["context"]["cloudId"] for entry in calls(tmp_path / "journal.jsonl"))
    assert clouds == {"site-1": 5, "site-2": 5}  # 2 five-minute runs + hourly, daily, weekly at +300


class _CountingClock(VirtualClock):
    """A virtual clock whose idle waits cost no wall time: the test counts them instead."""

    def __init__(self, start: float, stop_after: int) -> None:
        super().__init__(start)
        self.waits = 0
        self.stop_after = stop_after
        self.emulator: Any = None

    def wait(self, seconds: float) -> None:
        self.waits += 1
        if self.waits >= self.stop_after:
            self.emulator.interrupted = True


def test_an_endless_run_lets_virtual_time_follow_the_wall_clock_while_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.store import Store

    monkeypatch.setenv("JOURNAL", str(tmp_path / "journal.jsonl"))
    waits = int(400 / IDLE_POLL_SECONDS)  # 400 s of idling: one five-minute run, no racing ahead
    clock = _CountingClock(EPOCH, stop_after=waits)
    emu = Emulator(
        load_manifest(copy_app(tmp_path) / "manifest.yml"), Store(tmp_path / "state.db"), clock=clock
    )
    clock.emulator = emu
    emu.run(until_idle=False)
    assert emu.clock.now() - EPOCH == pytest.approx(waits * IDLE_POLL_SECONDS, abs=IDLE_POLL_SECONDS)
    per_key = Counter(entry["request"]["context"]["moduleKey"] for entry in calls(tmp_path / "journal.jsonl"))
    assert per_key == dict.fromkeys(KEYS, 1)


def test_missed_runs_are_coalesced_into_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL", str(tmp_path / "journal.jsonl"))
    emu, recorder = emulator(copy_app(tmp_path) / "manifest.yml", tmp_path / "state.db")
    emu.start()
    emu.clock.advance_to(EPOCH + 300 + 3 * 300 + 10)  # four five-minute runs fell due meanwhile
    emu.step()
    emu.flush()
    fired = [r for r in recorder.attempts if r.target == "every-five-minutes"]
    assert len(fired) == 1 and fired[0].started_at - EPOCH == 1210.0  # it runs now, once
    row = emu.store.event(fired[0].seq)
    assert row is not None and row.available_at - EPOCH == 1200.0  # due at the latest missed time
    assert any(
        "every-five-minutes': 3 missed runs coalesced into this one" in n.text for n in recorder.notices
    )
    assert emu.scheduler.next_fire["every-five-minutes"] == EPOCH + 1500
