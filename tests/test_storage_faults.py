"""Storage faults (reliability.md S3-S6): disk full at each commit point, a locked file, a read-only
connection, SQLite errors injected at the Nth statement (once and persistent). Each must end in a
clean rollback and one clear message; after the fault is gone, the same state file drains with
nothing acknowledged lost, no attempt acknowledged twice, and `PRAGMA integrity_check` ok.

In-process on a real SQLite file (max_page_count and the connection proxy act on the connection
the loop itself uses); the CLI's mapping of the same errors is tested in test_bad_inputs.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import write_app

from forgeq.emulator.app.manifest import load_manifest
from forgeq.emulator.errors import ForgeqError, StateBusyError, StateFileError
from forgeq.emulator.loop.engine import Emulator
from forgeq.emulator.settings import Settings
from forgeq.emulator.store import Store

pytestmark = pytest.mark.timeout(300)

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/storage-faults
modules:
  consumer:
    - key: c
      queue: work
      function: f
  function:
    - key: f
      handler: index.handler
"""

HANDLER = """
import json
import os

from forgeq.events import InvocationError
from forgeq.kvs import kvs

JOURNAL = {journal!r}


def handler(event, context):
    body = event["body"]
    retry = (event.get("retryContext") or {{}}).get("retryCount", 0)
    with open(JOURNAL, "a") as journal:
        journal.write(json.dumps([body["n"], retry]) + "\\n")
    kvs.set(f"item-{{body['n']}}", {{"n": body["n"], "pad": "x" * 600}})
    if body["n"] % 7 == 0 and retry == 0:
        return InvocationError(retry_after=30)
    return None
"""

EVENTS = 60


class FaultyConnection:
    """A connection proxy raising an SQLite error at the Nth statement (once, or from then on)."""

    def __init__(
        self, real: sqlite3.Connection, fail_at: int, persistent: bool, message: str = "disk I/O error"
    ) -> None:
        self.real = real
        self.fail_at = fail_at
        self.persistent = persistent
        self.message = message
        self.statements = 0
        self.failures = 0

    def _tick(self, sql: str) -> None:
        if sql.lstrip().upper().startswith("ROLLBACK"):
            return  # a failing ROLLBACK is a compound fault; SQLite rolls back on close anyway
        self.statements += 1
        if self.statements == self.fail_at or (self.persistent and self.statements > self.fail_at):
            self.failures += 1
            raise sqlite3.OperationalError(self.message)

    def execute(self, sql: str, *args: Any) -> Any:
        self._tick(sql)
        return self.real.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        self._tick(sql)
        return self.real.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _app(tmp_path: Path) -> tuple[Path, Path, Path]:
    journal = tmp_path / "journal.jsonl"
    manifest = write_app(tmp_path / "app", MANIFEST, {"src/index.py": HANDLER.format(journal=str(journal))})
    db = tmp_path / "state.db"
    store = Store(db)
    emulator = Emulator(load_manifest(manifest), store, Settings(seed=3))
    for first in range(0, EVENTS, 20):
        emulator.push("work", [{"body": {"n": n}, "delayInSeconds": n % 5} for n in range(first, first + 20)])
    store.close()
    return manifest, db, journal


def _emulator(manifest: Path, db: Path) -> Emulator:
    # Commits come from the event count only, not the wall clock: the Nth statement is the same one
    # in the counting run and in the faulty run, however loaded the machine is.
    return Emulator(load_manifest(manifest), Store(db), Settings(seed=3, ack_batch_seconds=1e9))


def _committed(db: Path) -> dict[int, tuple[int, int]]:
    """Event number -> (state, retry_count) as committed."""
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT json_extract(body, '$.n'), state, retry_count FROM events").fetchall()
    conn.close()
    return {n: (state, retries) for n, state, retries in rows}


def _drain_and_check(manifest: Path, db: Path, journal: Path, before: dict[int, tuple[int, int]]) -> None:
    """After the fault: integrity ok, then a clean run finishes everything; nothing acknowledged lost."""
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    emulator = _emulator(manifest, db)
    emulator.run(until_idle=True)
    assert emulator.store.integrity_check() == "ok"
    emulator.store.close()
    after = _committed(db)
    assert len(after) == EVENTS
    assert all(state == 2 for state, _ in after.values()), "every event ends succeeded"
    for n, (state, retries) in before.items():
        if state == 2:
            assert after[n] == (2, retries), (
                f"event {n} was acknowledged before the fault and must not change"
            )
    conn = sqlite3.connect(db)
    acknowledged = Counter(conn.execute("SELECT event, retry_count FROM attempts").fetchall())
    redelivered = {
        tuple(r)
        for r in conn.execute("SELECT event, retry_count FROM attempts WHERE notes LIKE 'redelivered:%'")
    }
    kv = conn.execute("SELECT count(*) FROM kvs").fetchone()[0]
    conn.close()
    assert max(acknowledged.values()) == 1, "no attempt is acknowledged twice"
    assert kv == EVENTS
    runs = Counter(tuple(json.loads(line)) for line in journal.read_text().splitlines())
    for (n, retry), count in runs.items():
        assert count <= 2, f"event {n} retry {retry} ran {count} times"
    seq_of = {n: n + 1 for n in range(EVENTS)}  # pushed in order from an empty state
    for (n, retry), count in runs.items():
        if count == 2:
            assert (seq_of[n], retry) in redelivered, (
                f"event {n} ran again after the fault without the redelivered mark"
            )


# -- disk full (SQLite's tkt2920 / diskfull.test: max_page_count moves the failure one page at a time) ----


def _disk_full_at(tmp_path: Path, extra_pages: int) -> bool:
    manifest, db, journal = _app(tmp_path)
    emulator = _emulator(manifest, db)
    pages = emulator.store.conn.execute("PRAGMA page_count").fetchone()[0]
    emulator.store.conn.execute(f"PRAGMA max_page_count = {pages + extra_pages}")
    failed = False
    try:
        emulator.run(until_idle=True)
    except StateFileError as error:
        failed = True
        assert "disk is full" in error.message and "nothing acknowledged was lost" in error.message
    assert not emulator.store.conn.in_transaction, "the failing transaction was rolled back"
    before = _committed(db)
    emulator.store.close()
    _drain_and_check(manifest, db, journal, before)
    return failed


@pytest.mark.parametrize("extra_pages", [1, 4, 9])
def test_disk_full_rolls_back_and_resumes(tmp_path: Path, extra_pages: int) -> None:
    assert _disk_full_at(tmp_path, extra_pages), "the disk must have filled"


@pytest.mark.slow
def test_disk_full_at_every_page(tmp_path: Path) -> None:
    points = 0
    for extra in range(1, 200):
        if not _disk_full_at(tmp_path / f"p{extra}", extra):
            break
        points += 1
    print(f"disk full at {points} page limits: every one rolled back and resumed")
    assert points > 5


# -- injected SQLite errors at the Nth statement ----------------------------------------------------------


def _statements_in_a_clean_run(tmp_path: Path) -> int:
    manifest, db, _ = _app(tmp_path)
    emulator = _emulator(manifest, db)
    proxy = FaultyConnection(emulator.store.conn, fail_at=1 << 60, persistent=False)
    emulator.store.conn = proxy  # type: ignore[assignment]
    emulator.run(until_idle=True)
    return proxy.statements


def _inject(tmp_path: Path, fail_at: int, persistent: bool) -> None:
    manifest, db, journal = _app(tmp_path)
    emulator = _emulator(manifest, db)
    real = emulator.store.conn
    proxy = FaultyConnection(real, fail_at, persistent)
    emulator.store.conn = proxy  # type: ignore[assignment]
    try:
        emulator.run(until_idle=True)
    except ForgeqError as error:
        assert "disk I/O error" in error.message
    except sqlite3.OperationalError as error:  # a plain read outside a transaction; the CLI maps it (exit 4)
        assert str(error) == "disk I/O error"
    assert proxy.failures >= 1
    assert not real.in_transaction, "every failed transaction is rolled back"
    before = _committed(db)
    real.close()
    _drain_and_check(manifest, db, journal, before)


@pytest.fixture(scope="module")
def statement_count(tmp_path_factory: pytest.TempPathFactory) -> int:
    return _statements_in_a_clean_run(tmp_path_factory.mktemp("count"))


@pytest.mark.parametrize("persistent", [False, True], ids=["once", "persistent"])
@pytest.mark.parametrize("fraction", [0.0, 0.15, 0.4, 0.7, 0.95])
def test_injected_sqlite_error(
    tmp_path: Path, statement_count: int, fraction: float, persistent: bool
) -> None:
    _inject(tmp_path, max(1, int(statement_count * fraction)), persistent)


@pytest.mark.slow
def test_injected_sqlite_error_at_every_statement(tmp_path: Path, statement_count: int) -> None:
    for fail_at in range(1, statement_count + 1):
        for persistent in (False, True):
            _inject(tmp_path / f"{fail_at}-{persistent}", fail_at, persistent)
    print(f"{statement_count} statements x once/persistent: every injected error rolled back and recovered")


# -- locked and read-only ----------------------------------------------------------------------------------


def test_a_locked_state_file_stops_the_run_with_busy(tmp_path: Path) -> None:
    manifest, db, journal = _app(tmp_path)
    emulator = _emulator(manifest, db)
    emulator.store.conn.execute("PRAGMA busy_timeout = 200")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateBusyError) as raised:
            emulator.run(until_idle=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked" in raised.value.message and raised.value.exit_code == 3
    before = _committed(db)
    emulator.store.close()
    _drain_and_check(manifest, db, journal, before)


def test_a_read_only_connection_is_refused_clearly(tmp_path: Path) -> None:
    manifest, db, journal = _app(tmp_path)
    emulator = _emulator(manifest, db)
    emulator.store.conn.execute("PRAGMA query_only = ON")  # what a read-only file does to every write
    with pytest.raises(StateFileError) as raised:
        emulator.run(until_idle=True)
    assert "read-only" in raised.value.message
    before = _committed(db)
    emulator.store.close()
    assert all(state == 0 for state, _ in before.values())
    _drain_and_check(manifest, db, journal, before)
