"""Crash safety with real processes: kill -9 at random instants, deterministic crash points, the run
lock, quarantine. The harness and its scorer live in tests/crashkit.py (also a command)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import crashkit
import pytest
from conftest import forgeq, write_app

from forgeq.emulator.store.schema import SCHEMA_VERSION

pytestmark = pytest.mark.timeout(600)


# -- random kill -9 instants ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [11])
def test_kill_9_at_random_instants_loses_nothing(tmp_path: Path, seed: int) -> None:
    # The quick variant of test_kill_9_long (-m slow): ten kills over 500 events.
    score = crashkit.random_kills(tmp_path, seed=seed, cycles=10, events=500, pushes_during=25)
    print(score.line())
    assert score.ok, score.details()
    assert score.cycles == 10, "ten runs killed with SIGKILL"
    assert score.redeliveries > 0, "no kill landed on an attempt: the test exercised nothing"
    assert score.quarantined == 0, "random kills must not quarantine innocent events"
    assert score.integrity_checks == score.runs + 1


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_kill_9_long(tmp_path: Path, seed: int) -> None:
    score = crashkit.random_kills(tmp_path, seed=seed, cycles=60, events=3000, pushes_during=50)
    print(score.line())
    assert score.ok, score.details()
    assert score.cycles == 60 and score.quarantined == 0


# -- deterministic crash points --------------------------------------------------------------------


@pytest.mark.parametrize("point", crashkit_points := ["claim", "commit", "committed", "attempt"])
def test_crash_points_recover(tmp_path: Path, point: str) -> None:
    results = crashkit.sweep(tmp_path, [point], events=20, numbers=[3])
    assert [n for _, n, _ in results] == [3], "the crash point was never reached"
    for _, n, score in results:
        assert score.ok, f"{point}:{n}: {score.details()}"


@pytest.mark.slow
def test_crash_point_sweep_every_point(tmp_path: Path) -> None:
    results = crashkit.sweep(tmp_path, crashkit_points, events=20)
    failures = [f"{p}:{n}: {s.details()}" for p, n, s in results if not s.ok]
    print(f"{len(results)} crash points swept: {len(results) - len(failures)} recovered")
    assert len(results) > 40
    assert not failures


def test_crash_at_rejects_a_bad_spec(tmp_path: Path) -> None:
    harness = crashkit.Harness(tmp_path)
    harness.push(1)
    harness.close()
    done = forgeq(
        "run",
        harness.manifest,
        "--until-idle",
        cwd=tmp_path,
        env={"FORGEQ_CRASH_AT": "commit:zero", "CRASHKIT_JOURNAL": str(harness.journal)},
    )
    assert done.returncode == 2
    assert "FORGEQ_CRASH_AT='commit:zero'" in done.stderr
    assert "Traceback" not in done.stderr


# -- the scorer can fail -------------------------------------------------------------------------------


def test_scorer_reports_loss_ghosts_and_duplicates(tmp_path: Path) -> None:
    harness = crashkit.Harness(tmp_path, seed=5)
    harness.push(30)
    harness.drain()
    clean = harness.score(1)
    assert clean.ok, clean.details()
    key, seq = next(iter(harness.pushed.items()))
    conn = sqlite3.connect(harness.db)
    with conn:
        conn.execute("UPDATE events SET state = 0 WHERE id = ?", (seq,))  # acknowledged, never finished
    conn.close()
    pid = harness.processes[-1].pid
    with harness.journal.open("a") as journal:
        journal.write(f"ghost 0 {pid}\n")  # ran an event the state never held
        journal.write(f"{next(k for k in list(harness.pushed)[1:])} 0 {pid}\n")  # ran twice in one process
    broken = harness.score(1)
    assert [item.split(":")[0] for item in broken.lost] == [key]
    assert broken.unexpected == ["ghost"]
    assert len(broken.unexplained) == 1
    assert not broken.ok


# -- one run per state file ------------------------------------------------------------------------


def _spawn_endless_run(harness: crashkit.Harness) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "forgeq", "run", str(harness.manifest), "--quiet"]
    return subprocess.Popen(
        command,
        cwd=harness.root,
        env=harness.environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def test_second_run_is_refused_with_exit_3_and_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    harness = crashkit.Harness(tmp_path)
    harness.push(5)
    harness.close()
    first = _spawn_endless_run(harness)
    lock = Path(f"{harness.db}.run-lock")
    try:
        _wait_for(lambda: lock.exists() and lock.read_text().strip() == f"pid {first.pid}")
        second = forgeq(
            "run",
            harness.manifest,
            "--until-idle",
            cwd=tmp_path,
            env={"CRASHKIT_JOURNAL": str(harness.journal)},
        )
        assert second.returncode == 3, second.stderr
        assert "Traceback" not in second.stderr
        assert str(harness.db) in second.stderr and f"pid {first.pid}" in second.stderr
        # push and inspect from other terminals still work while the run holds the lock
        pushed = forgeq(
            "push",
            "--queue",
            "work",
            "--body",
            '{"k": "from-cli"}',
            "--manifest",
            harness.manifest,
            cwd=tmp_path,
        )
        assert pushed.returncode == 0, pushed.stderr
        _wait_for(lambda: "from-cli" in harness.journal.read_text())
        inspected = forgeq("inspect", "queue", "--manifest", harness.manifest, "--json", cwd=tmp_path)
        assert inspected.returncode == 0, inspected.stderr
        exported = forgeq("export", "--manifest", harness.manifest, cwd=tmp_path)  # a consistent snapshot
        assert exported.returncode == 0 and '"forgeq-export"' in exported.stdout, exported.stderr
        (tmp_path / "export.json").write_text(exported.stdout)
        for refused in (["reset", "--yes"], ["import", str(tmp_path / "export.json"), "--replace"]):
            done = forgeq(*refused, "--manifest", harness.manifest, cwd=tmp_path)
            assert done.returncode == 3 and "Traceback" not in done.stderr, (refused, done.stderr)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    after = forgeq(
        "run",
        harness.manifest,
        "--until-idle",
        "--quiet",
        cwd=tmp_path,
        env={"CRASHKIT_JOURNAL": str(harness.journal)},
    )
    assert after.returncode == 0, after.stderr


@pytest.mark.slow
def test_runs_started_at_once_through_every_name_of_a_state_file_never_overlap(tmp_path: Path) -> None:
    """The lock is on the file, not its path: through the real path, a symbolic link to the file and
    one to its folder, one run delivers and the others are refused; no attempt runs twice."""
    harness = crashkit.Harness(tmp_path, seed=9)
    harness.push(300)
    harness.close()
    link = tmp_path / "state-link.db"
    link.symlink_to(harness.db)
    folder = tmp_path / "folder-link"
    folder.symlink_to(harness.db.parent, target_is_directory=True)
    codes = harness.race([harness.db, link, folder / harness.db.name])
    assert set(codes) <= {0, 3} and 0 in codes, (codes, harness.stderr)
    assert codes.count(3) >= 1, f"two runs started at once must not both deliver: {codes}"
    harness.drain()
    score = harness.score(0)
    assert score.ok and score.redeliveries == 0, score.details()


def test_sigterm_stops_cleanly_with_nothing_left_running(tmp_path: Path) -> None:
    harness = crashkit.Harness(tmp_path, seed=3)
    harness.push(400)
    harness.close()
    proc = _spawn_endless_run(harness)
    _wait_for(lambda: harness.journal.exists() and len(harness.journal.read_text().splitlines()) > 20)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    conn = sqlite3.connect(harness.db)
    running = conn.execute("SELECT count(*) FROM leases, json_each(leases.events)").fetchone()[0]
    conn.close()
    assert running == 0, "a clean stop must acknowledge or release every lease"
    harness.drain()
    score = harness.score(1)
    assert score.ok and score.redeliveries == 0, score.details()


# -- an event that brings forgeq down is quarantined ------------------------------------------------

POISON_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/poison
modules:
  consumer:
    - key: c
      queue: work
      function: f
  function:
    - key: f
      handler: index.handler
"""

POISON_HANDLER = """
import ctypes
import os

_FD = os.open(os.environ["CRASHKIT_JOURNAL"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def handler(event, context):
    os.write(_FD, f"{event['body']['k']} {os.getpid()}\\n".encode())
    if event["body"].get("poison"):
        # takes the whole emulator down, like a segfault in a native extension: libc's _exit, which
        # forgeq's guard on os._exit cannot see (forgeq/emulator/app/sandbox.py)
        ctypes.CDLL(None)._exit(1)
"""


def test_an_event_that_kills_forgeq_three_times_is_quarantined(tmp_path: Path) -> None:
    manifest = write_app(tmp_path, POISON_MANIFEST, {"src/index.py": POISON_HANDLER})
    journal = tmp_path / "journal.txt"
    env = {"CRASHKIT_JOURNAL": str(journal)}
    assert (
        forgeq("push", "--queue", "work", "--body", '{"k": "e"}', "--count", "19", cwd=tmp_path).returncode
        == 0
    )
    assert (
        forgeq(
            "push", "--queue", "work", "--body", '{"k": "poison", "poison": true}', cwd=tmp_path
        ).returncode
        == 0
    )
    codes = []
    for _ in range(6):
        done = forgeq("run", manifest, "--until-idle", "--quiet", cwd=tmp_path, env=env)
        codes.append(done.returncode)
        assert "Traceback" not in done.stderr
        if done.returncode == 0:
            break
    assert codes == [1, 1, 1, 0], codes
    runs = [line.split() for line in journal.read_text().splitlines()]
    assert [key for key, _ in runs].count("poison") == 3
    assert len({pid for key, pid in runs if key == "poison"}) == 3, "one crash per run"
    conn = sqlite3.connect(tmp_path / ".forgeq" / "state.db")
    ledger = conn.execute(
        "SELECT e.body, l.drop_reason, l.last_error FROM ledger l JOIN events e ON e.id = l.event"
    ).fetchall()
    states = dict(conn.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
    conn.close()
    assert len(ledger) == 1 and '"poison"' in ledger[0][0] and ledger[0][1] == "quarantined", ledger
    assert "3 crashes" in ledger[0][2]
    assert states == {2: 19, 3: 1}
    dropped = forgeq("inspect", "events", "--state", "dropped", "--json", cwd=tmp_path)
    assert dropped.returncode == 0 and "quarantined" in dropped.stdout


ONE_KILL_HANDLER = """
import ctypes
import os
import signal
from pathlib import Path

_FD = os.open(os.environ["CRASHKIT_JOURNAL"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
_KILLED = Path(os.environ["CRASHKIT_JOURNAL"] + ".killed")


def handler(event, context):
    os.write(_FD, f"{event['body']['k']}\\n".encode())
    if event["body"]["k"] == "k-9" and not _KILLED.exists():
        _KILLED.touch()
        ctypes.CDLL(None).kill(os.getpid(), signal.SIGKILL)  # kill -9 of the whole emulator, mid-window (libc's: os.kill is guarded)
"""


def test_a_kill_marks_only_the_leased_events_whose_attempt_started(tmp_path: Path) -> None:
    """The window leases 200 events; a kill -9 redelivers (and counts a crash for) only those whose
    attempt started, as the flight log says; the rest of the window waits as it was, unmarked."""
    manifest = write_app(tmp_path, POISON_MANIFEST, {"src/index.py": ONE_KILL_HANDLER})
    journal = tmp_path / "journal.txt"
    env = {"CRASHKIT_JOURNAL": str(journal)}
    from forgeq.emulator.loop.pushing import new_events
    from forgeq.emulator.store import Store

    (tmp_path / ".forgeq").mkdir()
    store = Store(tmp_path / ".forgeq" / "state.db")
    bodies = [{"body": {"k": f"k-{k}"}} for k in range(300)]
    store.push_job("work", "site-1", 1763370000.0, "test", new_events("work", bodies, installation="site-1", now=1763370000.0, job_id=None))
    store.close()
    killed = forgeq("run", manifest, "--until-idle", "--quiet", cwd=tmp_path, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    db = tmp_path / ".forgeq" / "state.db"
    conn = sqlite3.connect(db)
    leased = {row[0] for row in conn.execute("SELECT value FROM leases, json_each(leases.events)")}
    committed = {row[0] for row in conn.execute("SELECT event FROM attempts")}
    numbers = {json.loads(body)["k"]: n for n, body in conn.execute("SELECT id, body FROM events")}
    conn.close()
    started = {numbers[line] for line in journal.read_text().split()}
    interrupted = started - committed
    assert numbers["k-9"] in interrupted and interrupted <= leased
    assert len(leased) > len(interrupted), "the window leased events that had not started"
    done = forgeq("run", manifest, "--until-idle", "--quiet", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(db)
    marked = {row[0] for row in conn.execute("SELECT event FROM attempts WHERE notes LIKE 'redelivered:%'")}
    attempts = dict(conn.execute("SELECT event, count(*) FROM attempts GROUP BY event").fetchall())
    states = dict(conn.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
    left = conn.execute("SELECT count(*) FROM leases, json_each(leases.events)").fetchone()[0]
    conn.close()
    assert marked == interrupted, "exactly the attempts that started and were not acknowledged run again marked"
    assert set(attempts.values()) == {1} and len(attempts) == 300, "each event's outcome recorded once"
    assert states == {2: 300} and left == 0


def test_a_redelivered_attempt_is_marked_and_uses_no_retry(tmp_path: Path) -> None:
    harness = crashkit.Harness(tmp_path)
    store = harness._open_store()
    from forgeq.emulator.loop.pushing import new_events

    store.push_job(
        "work",
        "site-1",
        1763370000.0,
        "test",
        new_events("work", [{"body": {"k": "only"}}], installation="site-1", now=1763370000.0, job_id=None),
    )
    harness.pushed["only"] = 1
    harness.close()
    first = harness.run_with({"FORGEQ_CRASH_AT": "attempt:1"})
    assert first.crashed and first.code == crashkit.CRASH_EXIT_CODE
    harness.drain()
    conn = sqlite3.connect(harness.db)
    rows = conn.execute("SELECT attempt, retry_count, outcome, notes FROM attempts").fetchall()
    event = conn.execute("SELECT state, attempts, retry_count, crashes, redelivered FROM events").fetchone()
    conn.close()
    assert len(rows) == 1
    attempt, retry_count, outcome, notes = rows[0]
    assert (attempt, retry_count, outcome) == (1, 0, "succeeded")
    assert notes.startswith("redelivered:")
    assert event == (
        2,
        1,
        0,
        0,
        0,
    )  # succeeded, 1 attempt, no retry used; the acknowledgement cleared the crash count
    assert [line.split()[:2] for line in harness.journal.read_text().splitlines()] == [
        ["only", "0"],
        ["only", "0"],
    ]
    timeline = forgeq("inspect", "timeline", "1", "--manifest", harness.manifest, cwd=tmp_path)
    assert timeline.returncode == 0 and "redelivered" in timeline.stdout


SLOW_HANDLER = """
import os
import time

_FD = os.open(os.environ["CRASHKIT_JOURNAL"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def handler(event, context):
    os.write(_FD, f"{event['body']['k']} {os.getpid()}\\n".encode())
    time.sleep(0.3)
"""


def test_a_second_ctrl_c_stops_at_once_and_only_the_attempt_in_flight_runs_again(tmp_path: Path) -> None:
    manifest = write_app(tmp_path, POISON_MANIFEST, {"src/index.py": SLOW_HANDLER})
    journal = tmp_path / "journal.txt"
    assert (
        forgeq("push", "--queue", "work", "--body", '{"k": "e"}', "--count", "20", cwd=tmp_path).returncode
        == 0
    )
    env = {**os.environ, "CRASHKIT_JOURNAL": str(journal), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "forgeq", "run", str(manifest), "--until-idle", "--quiet"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _wait_for(lambda: journal.exists() and len(journal.read_text().splitlines()) >= 2)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)  # two signals sent at once reach Python's handler as one; nothing to poll for here
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "forgeq: error: interrupted" in err and "Traceback" not in err, err
    conn = sqlite3.connect(tmp_path / ".forgeq" / "state.db")
    running = conn.execute("SELECT count(*) FROM leases, json_each(leases.events)").fetchone()[0]
    conn.close()
    assert running == 1, "only the attempt in flight stays leased; the others are given back"
    done = forgeq(
        "run", manifest, "--until-idle", "--quiet", cwd=tmp_path, env={"CRASHKIT_JOURNAL": str(journal)}
    )
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(tmp_path / ".forgeq" / "state.db")
    marked = conn.execute("SELECT count(*) FROM attempts WHERE notes LIKE 'redelivered:%'").fetchone()[0]
    states = dict(conn.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
    conn.close()
    assert marked == 1 and states == {2: 20}


PUSHER = """
import sys

from forgeq.emulator.limits import VIRTUAL_EPOCH
from forgeq.emulator.loop.pushing import new_events
from forgeq.emulator.store import Store

db, name, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = Store(db)
for job in range(jobs):
    events = [{"body": {"k": f"{name}-{job}-{i}"}} for i in range(50)]
    store.push_job("work", "site-1", VIRTUAL_EPOCH, name, new_events("work", events, installation="site-1", now=VIRTUAL_EPOCH, job_id=None))
print(jobs * 50)
"""


def test_three_pushers_beside_a_run_each_event_delivered_exactly_once(tmp_path: Path) -> None:
    harness = crashkit.Harness(tmp_path, seed=9)
    run = _spawn_endless_run(harness)
    lock = Path(f"{harness.db}.run-lock")
    _wait_for(lambda: lock.exists() and lock.read_text().strip() == f"pid {run.pid}")
    pushers = [
        subprocess.Popen(
            [sys.executable, "-c", PUSHER, str(harness.db), f"p{n}", "20"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    second = forgeq(
        "run", harness.manifest, "--until-idle", cwd=tmp_path, env={"CRASHKIT_JOURNAL": str(harness.journal)}
    )
    results = [p.communicate(timeout=120) for p in pushers]
    assert all(
        p.returncode == 0 and out.strip() == "1000" for p, (out, _) in zip(pushers, results, strict=True)
    ), results
    assert second.returncode == 3, "a second run is refused, not run beside the first"
    _wait_for(
        lambda: harness.journal.exists() and len(harness.journal.read_text().splitlines()) >= 3000,
        timeout=120,
    )
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0 and b"Traceback" not in err, err
    keys = [line.split()[0] for line in harness.journal.read_text().splitlines()]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    assert len(keys) == 3000 and len(set(keys)) == 3000, f"every event delivered exactly once, not {twice}"
    conn = sqlite3.connect(harness.db)
    states = dict(conn.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
    conn.close()
    assert states == {2: 3000}


def _old_state(tmp_path: Path, count: int, alter: Callable[[sqlite3.Connection], None]) -> tuple[Path, Path]:
    """The poison app with `count` events pushed, its state file then changed by `alter` into what an
    older forgeq left behind; returns (manifest, state file)."""
    manifest = write_app(tmp_path, POISON_MANIFEST, {"src/index.py": SLOW_HANDLER.replace("time.sleep(0.3)", "pass")})
    assert forgeq("push", "--queue", "work", "--body", '{"k": "e"}', "--count", str(count), cwd=tmp_path).returncode == 0
    db = tmp_path / ".forgeq" / "state.db"
    conn = sqlite3.connect(db)
    alter(conn)
    conn.commit()
    conn.close()
    return manifest, db


def _run_recovering_one(tmp_path: Path, manifest: Path, db: Path) -> tuple[list[int], int, dict[int, int]]:
    """Run until idle, recovering one interrupted attempt; returns (events run again marked
    redelivered, the schema version, events by state)."""
    done = forgeq("run", manifest, "--until-idle", "--quiet", cwd=tmp_path, env={"CRASHKIT_JOURNAL": str(tmp_path / "j")})
    assert done.returncode == 0, done.stderr
    assert "recovered 1 interrupted attempt" in done.stdout + done.stderr
    conn = sqlite3.connect(db)
    marked = [row[0] for row in conn.execute("SELECT event FROM attempts WHERE notes LIKE 'redelivered:%'")]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    states = dict(conn.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
    conn.close()
    return marked, version, states


def test_a_schema_1_state_with_an_attempt_in_flight_is_migrated_and_recovered(tmp_path: Path) -> None:
    """A run of the schema-1 forgeq leased by writing RUNNING into the event's row; such a state
    file, left by a kill, opens (the leases table is added) and its attempt in flight runs again."""

    def schema_1(conn: sqlite3.Connection) -> None:
        conn.execute("DROP TABLE leases")
        conn.execute("UPDATE events SET state = 1, lease_owner = 'dead-run' WHERE id = 2")
        conn.execute("PRAGMA user_version = 1")

    manifest, db = _old_state(tmp_path, 3, schema_1)
    counts = json.loads(forgeq("inspect", "queue", "--json", cwd=tmp_path).stdout)
    assert counts["queues"]["work"]["running"] == 1 and counts["queues"]["work"]["pending"] == 2, counts
    marked, version, states = _run_recovering_one(tmp_path, manifest, db)
    assert marked == [2] and version == SCHEMA_VERSION and states == {2: 3}


def test_a_schema_4_state_with_leases_by_event_is_migrated_and_recovered(tmp_path: Path) -> None:
    """Schema 2 to 4 held a row per leased event in `leases`; such a state file, left by a kill with
    one attempt started (the flight log) and two leased but not started, opens with its leases
    carried over: the started attempt runs again marked, the other two run unmarked."""

    def schema_4(conn: sqlite3.Connection) -> None:
        for view in ("events_view", "attempts_view", "ledger_view", "kvs_view", "quota_view"):
            conn.execute(f"DROP VIEW IF EXISTS {view}")
        conn.execute("DROP TABLE leases")
        conn.execute("CREATE TABLE leases (event INTEGER PRIMARY KEY, owner TEXT NOT NULL)")
        conn.executemany("INSERT INTO leases VALUES (?, 'dead-run')", [(2,), (3,), (4,)])
        conn.execute("PRAGMA user_version = 4")

    manifest, db = _old_state(tmp_path, 4, schema_4)
    (tmp_path / ".forgeq" / "state.db-flight").write_bytes(struct.pack("<qq", 3, 0))  # #3's attempt had started
    counts = json.loads(forgeq("inspect", "queue", "--json", cwd=tmp_path).stdout)
    assert counts["queues"]["work"]["running"] == 3 and counts["queues"]["work"]["pending"] == 1, counts
    marked, version, states = _run_recovering_one(tmp_path, manifest, db)
    conn = sqlite3.connect(db)
    leases = conn.execute("SELECT count(*) FROM leases").fetchone()[0]
    view = conn.execute("SELECT count(*) FROM events_view WHERE state = 'succeeded'").fetchone()[0]
    conn.close()
    assert marked == [3] and version == SCHEMA_VERSION and states == {2: 4} and leases == 0 and view == 4
