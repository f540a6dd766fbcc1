"""`forgeq export`, `forgeq reset`, `forgeq import`: the whole state as JSON and back, through the CLI.

The state comes from tests/apps/picky-writer stopped half-way: retrying, delayed and dropped events,
lost trigger events, a replay, jobs, keys, a secret and quota windows.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import forgeq, forgeq_json
from test_ledger_replay import PICKY, copy_app, ok

CANARY = "picky-writer-canary-5b1e9d"  # the secret the app stores (tests/apps/picky-writer/src/index.py)
TRIGGER_FAILS = {"PICKY_WRITER_TRIGGER_FAILS": "1"}


def half_run_state(app: Path) -> None:
    """Drops, a lost trigger event and a replay done; then stopped with retries and delays pending."""
    ok("push", "issue-created", "--count", "24", cwd=app)
    ok("run", "manifest.yml", "--until-idle", "--seed", "3", cwd=app, env=TRIGGER_FAILS)
    ok("replay", "--dropped", "--queue", "issue-writes", cwd=app)
    ok("push", "issue-created", "--count", "10", cwd=app)
    ok("push", "--queue", "issue-writes", "--body", '{"issueKey": "LATER-1"}', "--delay", "600", cwd=app)
    ok("run", "manifest.yml", "--max-attempts", "15", "--seed", "3", cwd=app, env=TRIGGER_FAILS)


def answering(answer: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess, with `answer` typed at its prompt."""
    env = {key: value for key, value in os.environ.items() if key != "FORGEQ_DB"}
    return subprocess.run(
        [sys.executable, "-m", "forgeq", *args],
        cwd=cwd,
        input=answer + "\n",
        capture_output=True,
        text=True,
        env={**env, "NO_COLOR": "1"},
        timeout=60,
    )


def database(app: Path) -> Path:
    return app / ".forgeq" / "state.db"


def tables(app: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (and the event sequence), straight from SQLite."""
    conn = sqlite3.connect(database(app))
    try:
        names = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        return {name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names}
    finally:
        conn.close()


def inspected(app: Path) -> dict[str, Any]:
    """What `inspect --json` shows of the state."""
    seen: dict[str, Any] = {
        "queue": forgeq_json("inspect", "queue", cwd=app),
        "events": forgeq_json("inspect", "events", "--limit", "10000", cwd=app),
        "jobs": forgeq_json("inspect", "jobs", "--limit", "10000", cwd=app),
        "dropped": forgeq_json("inspect", "dropped", cwd=app),
        "kvs": forgeq_json("inspect", "kvs", cwd=app),
        "quota": forgeq_json("inspect", "quota", cwd=app),
    }
    ledger = seen["dropped"]["dropped"]
    seen["timelines"] = [
        forgeq_json("inspect", "timeline", str(entry["seq"]), cwd=app) for entry in ledger[:1] + ledger[-1:]
    ]
    return seen


def test_export_then_reset_then_import_restores_an_identical_state(tmp_path):
    app = copy_app(PICKY, tmp_path)
    half_run_state(app)
    before, rows_before = inspected(app), tables(app)
    states = {e["state"] for e in before["events"]["events"]} | {
        "retrying" for e in before["events"]["events"] if e["retrying"]
    }
    assert {"succeeded", "dropped", "pending", "retrying", "delivered"} <= states
    assert (
        any(e["replay_of"] for e in before["events"]["events"])
        and before["kvs"]["keys"]
        and rows_before["quota_windows"]
    )

    exported = forgeq("export", "state.json", cwd=app)
    assert exported.returncode == 0, exported.stderr
    assert "1 secret left out" in exported.stderr
    text = (app / "state.json").read_text()
    assert CANARY not in text
    document = json.loads(text)
    assert document["format"] == "forgeq-export" and document["secrets_left_out"] == 1
    assert len(document["events"]) == len(before["events"]["events"])

    copy = tmp_path / "original.db"  # the original, to compare a run of it with a run of the imported state
    original = sqlite3.connect(database(app))
    backup = sqlite3.connect(copy)
    original.backup(backup)
    backup.close()
    original.close()

    reset = forgeq("reset", "--yes", cwd=app)
    assert reset.returncode == 0 and "deleted" in reset.stdout
    assert forgeq_json("inspect", "queue", cwd=app)["queues"] == {}
    assert all(not rows for rows in tables(app).values())
    imported = forgeq("import", "state.json", cwd=app)
    assert imported.returncode == 0, imported.stderr

    assert inspected(app) == before
    after = tables(app)
    secrets = [row for row in rows_before["kvs"] if row[1] == 1]
    assert len(secrets) == 1 and CANARY in secrets[0][3]
    assert after == {**rows_before, "kvs": [row for row in rows_before["kvs"] if row[1] != 1]}

    # The imported state runs on exactly as the original would (same clock, numbers, ids, schedule).
    runs = [
        ok("run", "manifest.yml", "--until-idle", "--seed", "9", "--db", db, cwd=app)
        for db in (database(app), copy)
    ]
    strip = lambda out: [line for line in out.splitlines() if "s wall" not in line and not line.startswith("state: ")]  # noqa: E731
    assert strip(runs[0]) == strip(runs[1])


def test_secrets_are_exported_only_when_asked(tmp_path):
    app = copy_app(PICKY, tmp_path)
    ok("push", "issue-created", "--count", "2", cwd=app)
    ok("run", "manifest.yml", "--until-idle", cwd=app)
    to_stdout = forgeq("export", cwd=app)
    assert to_stdout.returncode == 0 and CANARY not in to_stdout.stdout + to_stdout.stderr
    assert json.loads(to_stdout.stdout)["secrets"] == "left out"

    with_secrets = forgeq("export", "with-secrets.json", "--include-secrets", cwd=app)
    assert with_secrets.returncode == 0 and "1 secret included" in with_secrets.stderr
    path = app / "with-secrets.json"
    assert (path.stat().st_mode & 0o777) == 0o600
    document = json.loads(path.read_text())
    assert document["kvs"]["site-1"]["secret"] == [
        {k: v for k, v in document["kvs"]["site-1"]["secret"][0].items() if k != "value"} | {"value": CANARY}
    ]
    ok("import", path, "--replace", cwd=app)
    conn = sqlite3.connect(database(app))
    assert conn.execute("SELECT value FROM kvs WHERE space = 1").fetchall() == [(json.dumps(CANARY),)]
    conn.close()


def test_import_refuses_what_is_not_a_forgeq_export(tmp_path):
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.store import Store
    from forgeq.emulator.tools.transfer import import_state, read_export

    app = copy_app(PICKY, tmp_path)
    ok("push", "issue-created", "--count", "3", cwd=app)
    ok("export", "good.json", cwd=app)
    good = json.loads((app / "good.json").read_text())
    cases: dict[str, tuple[str, str]] = {
        "array.json": ("[1, 2]", "is not a forgeq export: the document is a JSON list, not an object"),
        "other.json": ('{"queues": []}', "is not a forgeq export: it has no 'format' key"),
        "wrong-format.json": ('{"format": "firebase-export"}', "'format' is 'firebase-export'"),
        "newer.json": (
            json.dumps({**good, "format_version": 99}),
            "exported by a newer forgeq (format 99; this one reads 1)",
        ),
        "bad-state.json": (
            json.dumps({**good, "events": [{**good["events"][0], "state": "sleeping"}]}),
            "events[0].state: 'sleeping' is not a state",
        ),
        "bad-column.json": (
            json.dumps({**good, "jobs": [{"job_id": "j", "colour": "red"}]}),
            "jobs[0].colour: no such column in table jobs",
        ),
        "missing.json": (
            json.dumps({**good, "events": [{"id": 1, "installation": "site-1"}]}),
            "events[0]: 'event_id' is missing",
        ),
        "duplicate.json": (
            json.dumps({**good, "events": [good["events"][0], good["events"][0]]}),
            "events: UNIQUE constraint failed",
        ),
        "bad-kvs.json": (
            json.dumps({**good, "kvs": {"site-1": {"attic": []}}}),
            "kvs.site-1.attic: not a space",
        ),
    }
    store = Store(tmp_path / "target.db")
    for name, (content, message) in cases.items():
        try:
            import_state(store, read_export(content, name), name)
        except InputError as error:
            assert message in str(error), (name, str(error))
            assert str(error).startswith(name)
        else:
            raise AssertionError(f"{name} was imported")
        assert all(n == 0 for n in store.row_counts().values()), name  # nothing half-imported
    store.close()

    # Through the CLI: one line, exit 2, no traceback; a state that is not empty is kept unless --replace.
    (tmp_path / "not-json.json").write_text("{ this is not json")
    refused = forgeq("import", tmp_path / "not-json.json", cwd=app)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "not-json.json is not a forgeq export: not JSON (line 1 column 3" in refused.stderr
    missing = forgeq("import", tmp_path / "nowhere.json", cwd=app)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    before = tables(app)
    busy = forgeq("import", "good.json", cwd=app)
    assert busy.returncode == 2 and "is not empty (" in busy.stderr and "--replace" in busy.stderr
    assert tables(app) == before
    ok("import", "good.json", "--replace", cwd=app)
    assert tables(app) == before


def test_reset_asks_first_and_nothing_replaces_a_state_a_run_is_using(tmp_path):
    app = copy_app(PICKY, tmp_path)
    ok("push", "issue-created", "--count", "3", cwd=app)
    ok("export", "before.json", cwd=app)
    before = tables(app)
    declined = answering("n", "reset", cwd=app)
    assert declined.returncode == 1 and "not reset" in declined.stderr and "3 events" in declined.stderr
    assert tables(app) == before

    from forgeq.emulator.store import StateLock

    run = subprocess.Popen(
        [sys.executable, "-m", "forgeq", "run", "manifest.yml"],
        cwd=app,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        lock = StateLock(str(database(app)))
        deadline = time.monotonic() + 30
        while not lock.is_held_elsewhere():
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for command in (("reset", "--yes"), ("import", "before.json", "--replace")):
            refused = forgeq(*command, cwd=app)
            assert refused.returncode == 3, refused.stderr
            assert (
                "in use by a `forgeq run` (pid " in refused.stderr and "stop that run first" in refused.stderr
            )
        during = forgeq("export", "during.json", cwd=app)  # export reads a snapshot beside the run
        assert (
            during.returncode == 0
            and json.loads((app / "during.json").read_text())["format"] == "forgeq-export"
        )
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=30)
    agreed = answering("y", "reset", cwd=app)
    assert agreed.returncode == 0, agreed.stderr
    assert all(not rows for rows in tables(app).values())
    again = forgeq("reset", "--yes", "--db", tmp_path / "none.db", cwd=app)
    assert again.returncode == 0 and "nothing to reset" in again.stdout


def test_an_export_taken_while_a_run_drains_is_a_consistent_snapshot(tmp_path):
    """Attempts, event rows and ledger rows commit together; an export must never see half of a commit."""
    app = copy_app(PICKY, tmp_path)
    ok("push", "issue-created", "--count", "1500", cwd=app)
    run = subprocess.Popen(
        [sys.executable, "-m", "forgeq", "run", "manifest.yml", "--until-idle", "--quiet"],
        cwd=app,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    documents = []
    try:
        lock_path = str(database(app))
        from forgeq.emulator.store import StateLock

        lock = StateLock(lock_path)
        while run.poll() is None and not lock.is_held_elsewhere():
            time.sleep(0.02)
        while run.poll() is None or not documents:
            done = forgeq("export", cwd=app)
            assert done.returncode == 0, done.stderr
            documents.append(json.loads(done.stdout))
    finally:
        run.wait(timeout=120)
    assert run.returncode == 0
    for document in documents:
        for event in document["events"]:
            assert len(event.get("timeline", [])) == event["attempts"], event
            assert ("ledger" in event) == (event["state"] == "dropped"), event
            if event["attempts"]:
                assert event["timeline"][-1]["attempt"] == event["attempts"]
        jobs = {job["job_id"] for job in document["jobs"]}
        assert {e["job_id"] for e in document["events"] if e.get("job_id")} <= jobs
