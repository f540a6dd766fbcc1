"""The SQLite backend: WAL, synchronous=NORMAL, busy_timeout, claims in one IMMEDIATE transaction.

The contract every caller relies on:
- `insert_events` commits before it returns: a push that returned is never lost.
- `claim_due` leases due events to this run (its row in `leases`), in one IMMEDIATE transaction.
- `commit(batch)` applies a WriteBatch atomically; nothing of it is visible before.
- `reclaim_running` (called once the run lock is held) returns interrupted attempts to PENDING.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgeq.emulator.errors import StateBusyError, StateFileError
from forgeq.emulator.ids import derived_uuid, event_uuid
from forgeq.emulator.store import counts, crashpoints, identity, schema
from forgeq.emulator.store.batch import (
    PLAIN_SUCCESS_COLUMNS,
    AttemptRow,
    KvRow,
    NewEvent,
    NewJob,
    PlainSuccess,
    Space,
    WriteBatch,
)
from forgeq.emulator.store.claims import Leases, WindowClaim, claim_window, lease
from forgeq.emulator.store.entities import EntityStore
from forgeq.emulator.store.flight import FlightLog
from forgeq.emulator.store.harness import HarnessStore
from forgeq.emulator.store.inspection import LOST_KINDS
from forgeq.emulator.store.products import ProductStore
from forgeq.emulator.store.quotas import QuotaStore
from forgeq.emulator.store.replays import Replays
from forgeq.emulator.store.report_queries import ReportQueries
from forgeq.emulator.store.rows import RowStatement
from forgeq.emulator.store.site import SiteStore, write_site
from forgeq.emulator.store.transfer import StateTransfer
from forgeq.jsontext import stringify

SQLITE_HEADER = b"SQLite format 3\x00"
PUSH_KEY_PREFIX = "push-key:"  # meta rows of `forgeq push --idempotency-key`
BUSY_TIMEOUT_SECONDS = 5.0
STATEMENTS_CACHED = 256  # the sqlite3 module's default is 128

# An event's columns in EventRecord's order. A lease reads only the first ones (_LEASED_COLUMNS): what
# an attempt needs. The rest hold the same for every leased event (PENDING, not finished), or only
# inspect reads them; each column read costs about 1% of a drain (bench/README.md).
_LEASED_COLUMNS = (
    "id, event_id, installation, kind, target, job_id, body, extra, available_at, enqueued_at, "
    "attempts, retry_count, retry_reason, retry_data, redelivered, root_id, last_error"
)
_EVENT_COLUMNS = f"{_LEASED_COLUMNS}, state, crashes, parent_id, replay_of, finished_at"

# For showing an event (inspect, the testing API): a leased event's state reads RUNNING.
_SHOWN_COLUMNS = _EVENT_COLUMNS.replace(", state,", f", {schema.shown_state()},", 1)


@dataclass(slots=True)
class EventRecord:
    id: int
    event_id: str
    installation: str
    kind: str
    target: str
    job_id: str | None
    body: str
    extra: str | None
    available_at: float
    enqueued_at: float
    attempts: int
    retry_count: int
    retry_reason: str | None
    retry_data: str | None
    redelivered: int
    root_id: int | None
    last_error: str | None
    # What a lease does not read (_LEASED_COLUMNS): as every leased event has them, or unknown.
    state: int = schema.PENDING
    crashes: int = 0
    parent_id: int | None = None
    replay_of: int | None = None
    finished_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def _describe(error: sqlite3.Error) -> str:
    text = str(error)
    if "database or disk is full" in text:
        return "the disk is full; free some space, then run again (nothing acknowledged was lost)"
    if "readonly" in text or "read-only" in text:
        return "the state file is read-only; check its permissions or pass --db with a writable path"
    if "locked" in text or "busy" in text:
        return f"the state file stayed locked for {BUSY_TIMEOUT_SECONDS:.0f} s; another process holds a long write"
    if "malformed" in text or "not a database" in text:
        return f"SQLite: {text}: the file is damaged; move it aside (forgeq never repairs or overwrites it)"
    return f"SQLite: {text}"


# Every state file this process opened, newest last: the CLI names it when an SQLite error reaches it.
OPENED: list[str] = []


def state_error(path: str, error: sqlite3.Error) -> StateFileError | StateBusyError:
    """An SQLite error as one line for a person: busy is exit 3, anything else exit 4."""
    text = str(error)
    if "locked" in text or "busy" in text:
        return StateBusyError(f"{path}: {_describe(error)}", "retry when it is done, or pass --db to use another state file")
    return StateFileError(f"{path}: {_describe(error)}")


class Store(HarnessStore, ReportQueries, ProductStore, QuotaStore, Replays, SiteStore, StateTransfer, EntityStore):
    """The whole emulator state in one SQLite database (a file, or ":memory:")."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.crash = crashpoints.from_env()  # FORGEQ_CRASH_AT (the crash harness); None normally
        self.in_memory = str(path) == ":memory:"
        # The real file, by identity: its -wal, -shm and flight log sit beside it (identity.py).
        self.file = None if self.in_memory else identity.open_file(str(path), create=True)
        self.path = self.file.path if self.file is not None else ":memory:"
        self.flight = FlightLog(None if self.in_memory else f"{self.path}-flight")
        self.leases = Leases()
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        if not self.in_memory:
            with suppress(OSError):
                os.chmod(self.path, 0o600)

    def _open(self) -> None:
        if self.file is not None:
            OPENED.append(self.path)
            header = os.pread(self.file.fd, 16, 0)
            if header and header != SQLITE_HEADER:
                raise StateFileError(
                    f"{self.path} is not a forgeq state file (SQLite: file is not a database)",
                    "move it aside or pass another --db; forgeq never overwrites it",
                )
        try:
            # The statement cache holds the few sizes of each many-row statement (store/rows.py) beside
            # the rest (about 90 distinct statements in a process running the fake site): a 128-row
            # statement prepared again after an eviction costs about 0.4 ms.
            self.conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False, cached_statements=STATEMENTS_CACHED
            )
            self._check_identity()  # before any PRAGMA that writes: a file that is not ours stays as it was
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=OFF")
            # 16 MiB of page cache (SQLite's default is 2 MiB): a 1e5 backlog's retries reach pages
            # all over the events table; +11% drain rate there, and peak RSS stays within 1.5x
            # between a 1e4 and a 1e6 backlog (bench/README.md).
            self.conn.execute("PRAGMA cache_size=-16384")
            # Checkpoint the WAL every 10,000 pages (40 MiB) instead of 1,000: a hot page written by
            # many commits is copied into the database once per checkpoint, not once per three
            # windows (+4% drain at 1e4, +12% at 1e5). The -wal file grows to about that size
            # during a run; SQLite removes it when the last connection closes.
            self.conn.execute("PRAGMA wal_autocheckpoint=10000")
            self._migrate()
        except sqlite3.DatabaseError as error:
            if "file is not a database" in str(error) or "malformed" in str(error):
                raise StateFileError(
                    f"{self.path} is not a forgeq state file (SQLite: {error})",
                    "move it aside or pass another --db; forgeq never overwrites it",
                ) from None
            raise state_error(self.path, error) from None

    def _check_identity(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.SCHEMA_VERSION:
            raise StateFileError(
                f"{self.path} was written by a newer forgeq (schema {version}; this one reads {schema.SCHEMA_VERSION})",
                "upgrade forgeq, or pass another --db",
            )
        if version == 0 and self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise StateFileError(f"{self.path} is an SQLite database but not a forgeq state file", "pass another --db")

    def _migrate(self) -> None:
        self._check_identity()  # again, under the connection's settings: another process may have won a race
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version == schema.SCHEMA_VERSION:
            views = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
            if not views >= schema.VIEWS.keys():
                with suppress(StateFileError), self.transaction():  # read-only: the views wait for a writable open
                    for name, select in schema.VIEWS.items():
                        self.conn.execute(f"CREATE VIEW IF NOT EXISTS {name} AS {select}")
            return
        if version == 5:
            # Schema 6 changed indexes only, and every query answers the same from schema 5's (more
            # slowly): a read-only open goes on with them, and the next writable open makes the new.
            with suppress(StateFileError):
                self._upgrade(version)
            return
        self._upgrade(version)

    def _upgrade(self, version: int) -> None:
        with self.transaction():
            # Read again under the write lock: another process opening the file at the same time
            # may have brought it up to date while this one waited.
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version == schema.SCHEMA_VERSION:
                return
            for name in schema.VIEWS:  # made again below: their SQL may have changed with the schema
                self.conn.execute(f"DROP VIEW IF EXISTS {name}")
            row_leases = 2 <= version < 5  # schema 2 to 4: a row per leased event (event, owner)
            if row_leases:
                self.conn.execute("ALTER TABLE leases RENAME TO leases_by_event")
            if version < 6:  # their columns or WHERE changed: CREATE INDEX IF NOT EXISTS would keep them
                self.conn.execute("DROP INDEX IF EXISTS events_due")
                self.conn.execute("DROP INDEX IF EXISTS events_by_target")
            for statement in schema.DDL.split(";"):
                if statement.strip():
                    self.conn.execute(statement)
            if row_leases:
                self.conn.execute(
                    "INSERT INTO leases(owner, events) SELECT owner, json_group_array(event) FROM "
                    "(SELECT owner, event FROM leases_by_event ORDER BY owner, event) GROUP BY owner"
                )
                self.conn.execute("DROP TABLE leases_by_event")
            for name, select in schema.VIEWS.items():
                self.conn.execute(f"CREATE VIEW IF NOT EXISTS {name} AS {select}")
            self.conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the connection, then the flight log, then give back the file (identity.release)."""
        conn = getattr(self, "conn", None)  # None when opening failed before connecting
        if conn is not None:
            conn.close()
        self.flight.close()
        if self.file is not None:
            file, self.file = self.file, None
            identity.release(file)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: take the write lock up front, so a read never has to upgrade (SQLITE_BUSY)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise state_error(self.path, error) from None
        try:
            yield self.conn
        except sqlite3.Error as error:  # disk full, I/O error, corruption found mid-write: all or nothing
            self._rollback()
            raise state_error(self.path, error) from None
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as error:
                self._rollback()
                raise state_error(self.path, error) from None

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            with suppress(sqlite3.Error):  # SQLite rolls back itself when even ROLLBACK fails
                self.conn.execute("ROLLBACK")

    # -- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # -- pushing ------------------------------------------------------------------------------

    def insert_events(self, events: Iterable[NewEvent], jobs: Iterable[NewJob] = ()) -> list[int]:
        """Insert and commit; return the new event numbers in order."""
        with self.transaction() as conn:
            self._insert_jobs(conn, jobs)
            return self._insert_events(conn, events)

    @staticmethod
    def _insert_jobs(conn: sqlite3.Connection, jobs: Iterable[NewJob]) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO jobs(job_id, installation, queue, created_at, origin) VALUES (?, ?, ?, ?, ?)",
            [(j.job_id, j.installation, j.queue, j.created_at, j.origin) for j in jobs],
        )

    @staticmethod
    def _insert_events(conn: sqlite3.Connection, events: Iterable[NewEvent], job_id: str | None = None) -> list[int]:
        """Insert with the next event numbers (in the job `job_id`, if given); return the numbers in
        order. The commonest event (a queue event of a job, with no extra options, no parent, no
        replay) is written without NULL parameters (see _kv_upsert); the others a statement per
        pattern of NULLs."""
        start = conn.execute("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'events'").fetchone()[0]
        seq = start
        plain = []
        others = []
        for event in events:
            seq += 1
            root = event.root_id if event.root_id is not None else seq
            job = job_id or event.job_id
            if event.extra is None and event.parent_id is None and event.replay_of is None and job is not None:
                plain.append(
                    (seq, event_uuid(seq), event.installation, event.kind, event.target, job, event.body, event.available_at, event.enqueued_at, root)
                )
            else:
                others.append(
                    (
                        seq, event_uuid(seq), event.installation, event.kind, event.target, job, event.body, event.extra,
                        schema.PENDING, event.available_at, event.enqueued_at, root, event.parent_id, event.replay_of,
                    )
                )  # fmt: skip
        if plain:
            _PUSHED_ROWS.run(conn, plain)
        if others:
            _insert_rows(conn, "events", _NEW_EVENT_COLUMNS, others)
        return list(range(start + 1, seq + 1))

    # -- the loop -----------------------------------------------------------------------------

    def push_job(self, queue: str, installation: str, now: float, origin: str, events: Iterable[NewEvent]) -> tuple[str, list[int]]:
        """One push from outside the loop (CLI, testing API): a job and its events, committed together.

        The job id derives from the first event's number, taken inside the transaction, so two
        processes pushing at once never mint the same id and a rerun from one state mints the same.
        """
        with self.transaction() as conn:
            return self._push_job(conn, queue, installation, now, origin, events)

    def _push_job(
        self, conn: sqlite3.Connection, queue: str, installation: str, now: float, origin: str, events: Iterable[NewEvent]
    ) -> tuple[str, list[int]]:
        first = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM sqlite_sequence WHERE name = 'events'").fetchone()[0]
        job_id = derived_uuid("job", "push", first)
        self._insert_jobs(conn, [NewJob(job_id, installation, queue, now, origin)])
        return job_id, self._insert_events(conn, events, job_id)

    def push_job_once(
        self, key: str, request: str, queue: str, installation: str, now: float, origin: str, events: Iterable[NewEvent]
    ) -> dict[str, Any]:
        """push_job at most once per idempotency key (`forgeq push --idempotency-key`): the key and
        the push commit together, so a push killed after its commit and retried pushes nothing
        again. Returns the first push's record (job_id, first, last, count, request) and whether
        this call only found it (`repeated`)."""
        name = PUSH_KEY_PREFIX + key
        with self.transaction() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
            if row is not None:
                return {**json.loads(row[0]), "repeated": True}
            job_id, seqs = self._push_job(conn, queue, installation, now, origin, events)
            record = {"job_id": job_id, "first": seqs[0], "last": seqs[-1], "count": len(seqs), "request": request}
            conn.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (name, dumps(record)))
        return {**record, "repeated": False}

    def claim_ids(self, ids: list[int], owner: str) -> list[EventRecord]:
        with self.transaction() as conn:
            rows = [
                row
                for i in ids
                for row in lease(
                    conn,
                    self.leases,
                    f"SELECT {_LEASED_COLUMNS} FROM events e WHERE id = ? AND {schema.WAITING}",
                    (i,),
                    owner,
                )
            ]
        if self.crash is not None and rows:
            self.crash.hit("claim")
        return [EventRecord(*row) for row in rows]

    def crashed_pending(self) -> list[tuple[int, float]]:
        """Events waiting to run again after a crash interrupted them: (number, due time)."""
        return self.conn.execute(
            f"SELECT id, available_at FROM events e WHERE {schema.WAITING} AND redelivered = 1"
        ).fetchall()

    def claim_due(
        self, now: float, limit: int, owner: str, exclude_crashed: bool = False, exclude_installations: tuple[str, ...] = ()
    ) -> list[EventRecord]:
        """Lease up to `limit` events due at `now`, oldest due first, none of `exclude_installations`."""
        crashed = "AND redelivered = 0" if exclude_crashed else ""
        busy = f"AND installation NOT IN ({', '.join('?' * len(exclude_installations))})" if exclude_installations else ""
        with self.transaction() as conn:
            rows = lease(
                conn,
                self.leases,
                f"SELECT {_LEASED_COLUMNS} FROM events e WHERE {schema.WAITING} AND available_at <= ? {crashed} {busy} "
                "ORDER BY available_at, id LIMIT ?",
                (now, *exclude_installations, limit),
                owner,
            )
        if self.crash is not None and rows:
            self.crash.hit("claim")
        return [EventRecord(*row) for row in rows]

    def next_due_at(self, exclude_installations: tuple[str, ...] = (), installation: str | None = None) -> float | None:
        """The earliest due time of a waiting event (of `installation`, or of none of `exclude_installations`)."""
        if installation is None and not exclude_installations:
            row = self.conn.execute(f"SELECT min(available_at) FROM events e WHERE {schema.WAITING}").fetchone()
            return None if row[0] is None else float(row[0])
        args: tuple[str, ...]
        if installation is not None:
            where, args = "installation = ?", (installation,)
        else:
            where, args = f"installation NOT IN ({', '.join('?' * len(exclude_installations))})", exclude_installations
        row = self.conn.execute(
            f"SELECT available_at FROM events e WHERE {schema.WAITING} AND {where} ORDER BY available_at, id LIMIT 1", args
        ).fetchone()
        return None if row is None else float(row[0])

    def has_crashed_due(self, now: float) -> bool:
        row = self.conn.execute(
            f"SELECT 1 FROM events e WHERE {schema.WAITING} AND available_at <= ? AND crashes > 0 LIMIT 1", (now,)
        ).fetchone()
        return row is not None

    def append_attempt_logs(self, rows: list[tuple[int, int, str]]) -> None:
        """Add text to the logs of committed attempts: (event, attempt, text)."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE attempts SET logs = coalesce(logs, '') || ? WHERE event = ? AND attempt = ?",
                [(text, event, attempt) for event, attempt, text in rows],
            )

    def commit(self, batch: WriteBatch, claim: WindowClaim | None = None) -> list[int]:
        """Apply every buffered write in one transaction; return the numbers of new events.

        With `claim`, the same transaction then leases the loop's next window (store/claims.py).
        """
        if batch.is_empty() and claim is None:
            return []
        with self.transaction() as conn:
            seqs = self._apply(conn, batch)
            if claim is not None:
                claim_window(conn, claim, _LEASED_COLUMNS, self.leases)
        succeeded, updates = batch.succeeded, batch.updates
        if self.flight.started and (succeeded or updates):
            self.flight.release({row[2] for row in succeeded} | {u.event for u in updates})
        if self.crash is not None and (succeeded or updates or batch.new_events):
            self.crash.hit("committed")
        if self.crash is not None and claim is not None and claim.rows:
            self.crash.hit("claim")
        return seqs

    def commit_call(self, batch: WriteBatch, call: NewEvent, attempt: AttemptRow) -> int:
        """A web trigger or UI resolver call (loop/calls.py): its row, answered, its one attempt and what
        it did (KVS writes, pushes, quota use), in one transaction; return the call's number.

        Its pushes become its children: their tree starts at the call, as Forge counts cyclic
        invocations from the invocation that made the first push.
        """
        with self.transaction() as conn:
            seq = self._insert_events(conn, [call])[0]
            conn.execute(
                "UPDATE events SET state = ?, attempts = 1, finished_at = ?, last_error = ? WHERE id = ?",
                (schema.ANSWERED, attempt.ended_at, attempt.error, seq),
            )
            for event in batch.new_events:
                if event.parent_id is None:
                    event.parent_id = event.root_id = seq
            batch.attempts.insert(0, attempt._replace(event=seq))
            batch.site_requests = [(row[0], seq, *row[2:]) for row in batch.site_requests]  # the call's product requests
            self._apply(conn, batch)
        return seq

    def _apply(self, conn: sqlite3.Connection, batch: WriteBatch) -> list[int]:
        """Every write of `batch`, inside the caller's transaction; the numbers of its new events."""
        self._insert_jobs(conn, batch.jobs)
        seqs = self._insert_events(conn, batch.new_events)
        succeeded, updates = batch.succeeded, batch.updates
        if succeeded:
            _SUCCEEDED_ROWS.run(conn, succeeded)
        if updates:
            _UPDATE_ROWS.run(
                conn,
                [
                    (u.state, u.available_at, u.attempts, u.retry_count, u.retry_reason, u.retry_data, u.finished_at, u.last_error, u.event)
                    for u in updates
                ],
            )
        if self.leases.held:
            unleased = {row[2] for row in succeeded}
            unleased.update(u.event for u in updates)
            unleased.update(batch.released)
            self.leases.give_back(conn, unleased)
        if batch.attempts:
            self._insert_attempts(conn, batch.attempts)
        if batch.ledger:
            conn.executemany(
                "INSERT OR REPLACE INTO ledger(event, dropped_at, drop_reason, last_error, retry_context) VALUES (?, ?, ?, ?, ?)",
                [(r.event, r.dropped_at, r.drop_reason, r.last_error, r.retry_context) for r in batch.ledger],
            )
        if batch.kv_writes:
            self._write_kv(conn, batch)
        if batch.site_writes or batch.site_history or batch.site_requests:
            write_site(conn, batch.site_writes, batch.site_history, batch.site_requests)
        if batch.quota:
            conn.executemany(
                "INSERT INTO quota_windows(installation, metric, window_start, window_seconds, used, refused, quota) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(installation, metric, window_start) DO UPDATE SET "
                "used = used + excluded.used, refused = refused + excluded.refused, quota = excluded.quota",
                [(inst, metric, start, v[0], v[1], v[2], v[3]) for (inst, metric, start), v in batch.quota.items()],
            )
        if batch.meta:
            conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                list(batch.meta.items()),
            )
        if self.crash is not None and (succeeded or updates or batch.new_events):
            self.crash.hit("commit")
        return seqs

    @staticmethod
    def _insert_attempts(conn: sqlite3.Connection, attempts: list[AttemptRow | PlainSuccess]) -> None:
        """Attempt rows numbered in the order they ran (the timeline's order), whatever their shape."""
        number = conn.execute("SELECT coalesce(max(id), 0) FROM attempts").fetchone()[0]
        plain: list[tuple[Any, ...]] = []
        full: list[tuple[Any, ...]] = []
        for row in attempts:
            number += 1
            (plain if len(row) == _PLAIN_LENGTH else full).append((number, *row))
        if plain:
            _PLAIN_ATTEMPT_ROWS.run(conn, plain)
        if full:
            _insert_rows(conn, "attempts", _ATTEMPT_COLUMNS, full)

    @staticmethod
    def _write_kv(conn: sqlite3.Connection, batch: WriteBatch) -> None:
        writes = batch.kv_writes
        # The commonest row first, in one comprehension: a set with no TTL whose createdAt is kept.
        plain = [slot + (row[0], row[2], row[2]) for slot, row in writes.items() if row is not None and row[1] is None and row[3] is None and type(slot[1]) is int]
        if plain:
            _PLAIN_SET_ROWS.run(conn, plain)
            if len(plain) == len(writes):
                return
        deletes = []
        items: list[tuple[str, str, str, KvRow | None]] = []
        upserts: dict[tuple[bool, bool], list[tuple[Any, ...]]] = {}
        for (installation, space, key), row in writes.items():
            if row is not None and row[1] is None and row[3] is None and type(space) is int:
                continue  # written above
            if type(space) is str:  # a custom entity's item (store/entities.py)
                items.append((installation, space, key, row))
            elif row is None:
                deletes.append((installation, space, key))
            else:
                value, created, updated, expire = row
                # A row whose createdAt is None keeps the stored row's, if that row is live at the write.
                shape = (created is None, expire is None)
                kept = (installation, space, key, value) if created is None else (installation, space, key, value, created)
                upserts.setdefault(shape, []).append((*kept, updated) if expire is None else (*kept, updated, expire))
        if deletes:
            conn.executemany("DELETE FROM kvs WHERE installation = ? AND space = ? AND key = ?", deletes)
        for shape, rows in upserts.items():
            conn.executemany(_KV_UPSERTS[shape], rows)
        if items:
            EntityStore._write_entities(conn, items)

    def reclaim_running(self, quarantine_after: int, now: float) -> tuple[list[int], list[int]]:
        """Return interrupted attempts to PENDING; quarantine events that were in flight too often.

        Only call this holding the run lock: then every lease (and every RUNNING row a schema-1 run
        left) belongs to a dead run. Returns (reclaimed event numbers, quarantined event numbers).

        An interrupted attempt is a leased event whose attempt started (the flight log, flight.py):
        it runs again marked `redelivered`. A leased event whose attempt had not started goes back
        to waiting untouched. `crashes` counts the crashes an event was in flight for since its
        last acknowledged attempt (commit resets it): a suspect runs again alone, so only an event
        that keeps bringing forgeq down reaches the threshold, not one that was merely leased at a kill.
        """
        started = self.flight.read()
        with self.transaction() as conn:
            rows = conn.execute(_IN_FLIGHT_ROWS).fetchall()
            conn.execute("DELETE FROM leases")
            self.leases.forget()
            interrupted = [r for r in rows if started is None or r[2] == schema.RUNNING or r[0] in started]
            reclaimed = [r[0] for r in interrupted if r[1] + 1 < quarantine_after]
            quarantined = [r[0] for r in interrupted if r[1] + 1 >= quarantine_after]
            conn.executemany(
                f"UPDATE events SET state = {schema.PENDING}, crashes = crashes + 1, redelivered = 1, lease_owner = NULL WHERE id = ?",
                [(i,) for i in reclaimed],
            )
            reason = f"quarantined: in flight during {quarantine_after} crashes of forgeq"
            conn.executemany(
                f"UPDATE events SET state = {schema.DROPPED}, crashes = crashes + 1, lease_owner = NULL, finished_at = ?, "
                "last_error = ? WHERE id = ?",
                [(now, reason, i) for i in quarantined],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO ledger(event, dropped_at, drop_reason, last_error, retry_context) "
                "SELECT id, ?, 'quarantined', ?, NULL FROM events WHERE id = ?",
                [(now, reason, i) for i in quarantined],
            )
        self.flight.reset()
        return reclaimed, quarantined

    def leased(self) -> set[int]:
        """Event numbers leased by a run (in flight, or left by one that died)."""
        return {row[0] for row in self.conn.execute(schema.LEASED_EVENTS)}

    def unblock(self, targets: Iterable[tuple[str, str]] | None = None) -> int:
        """Return BLOCKED events (handler not loadable) to PENDING: all, or those of (kind, target)."""
        with self.transaction() as conn:
            if targets is None:
                return conn.execute(
                    f"UPDATE events SET state = {schema.PENDING} WHERE state = {schema.BLOCKED} AND {schema.RUNNING_OR_BLOCKED}"
                ).rowcount
            total = 0
            for kind, target in targets:
                total += conn.execute(
                    f"UPDATE events SET state = {schema.PENDING} WHERE state = {schema.BLOCKED} AND {schema.RUNNING_OR_BLOCKED} "
                    "AND kind = ? AND target = ?",
                    (kind, target),
                ).rowcount
            return total

    def blocked_reasons(self) -> list[tuple[str, int]]:
        """Why events are BLOCKED (no consumer, a handler that cannot load), most events first."""
        rows = self.conn.execute(
            f"SELECT coalesce(last_error, 'blocked'), count(*) FROM events WHERE {schema.RUNNING_OR_BLOCKED} AND state = {schema.BLOCKED} "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        return [(str(reason), int(n)) for reason, n in rows]

    # -- key-value reads ------------------------------------------------------------------------

    def kv_get(self, installation: str, space: Space, key: str) -> KvRow | None:
        if type(space) is str:  # a custom entity's item
            return self.entity_get(installation, space, key)
        row = self.conn.execute(
            "SELECT value, created_at, updated_at, expire_at FROM kvs WHERE installation = ? AND space = ? AND key = ?",
            (installation, space, key),
        ).fetchone()
        return None if row is None else KvRow(row[0], row[1], row[2], row[3])

    def kv_scan(
        self, installation: str, space: Space, prefix: str, after: str | None, limit: int, now: float | None = None
    ) -> list[tuple[str, KvRow]]:
        """Keys in lexicographic (binary) order starting with `prefix`, after `after`, unexpired at `now`
        (a custom entity's items when `space` is its name)."""
        table, column = ("entities", "entity") if type(space) is str else ("kvs", "space")
        sql = f"SELECT key, value, created_at, updated_at, expire_at FROM {table} WHERE installation = ? AND {column} = ? AND key >= ?"
        args: list[Any] = [installation, space, prefix]
        if prefix:
            sql += " AND substr(key, 1, ?) = ?"
            args += [len(prefix), prefix]
        if after is not None:
            sql += " AND key > ?"
            args.append(after)
        if now is not None:
            sql += " AND (expire_at IS NULL OR expire_at > ?)"
            args.append(now)
        sql += " ORDER BY key LIMIT ?"
        args.append(limit)
        return [(r[0], KvRow(r[1], r[2], r[3], r[4])) for r in self.conn.execute(sql, args)]

    def children(self, seq: int, limit: int = 100) -> list[dict[str, Any]]:
        """The events event `seq` led to: a product event's trigger invocations, a handler's pushes."""
        rows = self.conn.execute(
            f"SELECT id, kind, target, ({schema.shown_state()}) FROM events WHERE parent_id = ? ORDER BY id LIMIT ?", (seq, limit)
        )
        return [{"seq": row[0], "kind": row[1], "queue": row[2], "state": schema.STATE_NAMES[row[3]]} for row in rows]

    def kv_count(self, installation: str, space: int, prefix: str, now: float | None = None) -> int:
        """How many keys kv_scan would list without a limit (a listing's "showing N of M")."""
        sql = "SELECT count(*) FROM kvs WHERE installation = ? AND space = ? AND key >= ? AND substr(key, 1, ?) = ?"
        args: list[Any] = [installation, space, prefix, len(prefix), prefix]
        if now is not None:
            sql += " AND (expire_at IS NULL OR expire_at > ?)"
            args.append(now)
        return int(self.conn.execute(sql, args).fetchone()[0])

    # -- jobs -----------------------------------------------------------------------------------

    def job(self, job_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT job_id, installation, queue, created_at, cancelled_at, origin FROM jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
        if row is None:
            return None
        return dict(zip(("job_id", "installation", "queue", "created_at", "cancelled_at", "origin"), row, strict=True))

    def job_state_counts(self, job_id: str) -> dict[int, int]:
        return dict(self.conn.execute("SELECT state, count(*) FROM events WHERE job_id = ? GROUP BY state", (job_id,)).fetchall())

    def cancel_job(self, job_id: str, now: float) -> int:
        """Cancel the job's pending events (retries included); running attempts finish as they are."""
        with self.transaction() as conn:
            conn.execute("UPDATE jobs SET cancelled_at = coalesce(cancelled_at, ?) WHERE job_id = ?", (now, job_id))
            return conn.execute(
                f"UPDATE events SET state = {schema.CANCELLED}, finished_at = ? WHERE job_id = ? AND state IN ({schema.PENDING}, {schema.BLOCKED}) "
                f"AND id NOT IN ({schema.LEASED_EVENTS})",
                (now, job_id),
            ).rowcount

    def is_job_cancelled(self, job_id: str) -> bool:
        row = self.conn.execute("SELECT cancelled_at FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return row is not None and row[0] is not None

    # -- reading for inspect ----------------------------------------------------------------------

    def queue_counts(self, now: float, installation: str | None = None, kind: str | None = "queue") -> dict[str, dict[str, int]]:
        """Per target: pending, delayed, running, retrying, succeeded, dropped, cancelled, blocked.

        From indexes in their own order (store/counts.py), so a history of a million finished events
        costs a covering-index scan without a sort, and the waiting ones an index range as long as
        the backlog.
        """
        return counts.target_counts(self.conn, now, QUEUE_COUNT_NAMES, installation, kind)

    def events(
        self,
        *,
        kind: str | None = None,
        target: str | None = None,
        state: int | None = None,
        job_id: str | None = None,
        installation: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[EventRecord]:
        clauses, args = [], []
        for column, value in (("kind", kind), ("target", target), (f"({schema.shown_state()})", state), ("job_id", job_id), ("installation", installation)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        rows = self.conn.execute(f"SELECT {_SHOWN_COLUMNS} FROM events{where} ORDER BY id LIMIT ? OFFSET ?", [*args, limit, offset])
        return [EventRecord(*row) for row in rows]

    def event(self, ref: int | str) -> EventRecord | None:
        column = "id" if isinstance(ref, int) else "event_id"
        row = self.conn.execute(f"SELECT {_SHOWN_COLUMNS} FROM events WHERE {column} = ?", (ref,)).fetchone()
        return None if row is None else EventRecord(*row)

    def attempts(self, event: int) -> list[dict[str, Any]]:
        cursor = self.conn.execute("SELECT * FROM attempts WHERE event = ? ORDER BY attempt, id", (event,))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def ledger(self, limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
        cursor = self.conn.execute(
            "SELECT l.event, e.event_id, e.installation, e.kind, e.target, e.job_id, e.body, l.dropped_at, l.drop_reason, "
            "l.last_error, l.retry_context, l.replayed_as, e.attempts, e.retry_count FROM ledger l JOIN events e ON e.id = l.event "
            "ORDER BY l.dropped_at, l.event LIMIT ? OFFSET ?",
            (limit, offset),
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def totals(self) -> dict[str, int]:
        row = self.conn.execute("SELECT count(*), (SELECT count(*) FROM attempts), (SELECT count(*) FROM ledger) FROM events").fetchone()
        return {"events": row[0], "attempts": row[1], "dropped": row[2]}

    def waiting_count(self) -> int:
        """Events not finished yet (due, delayed, retrying or leased): counted on the partial index events_due."""
        return int(self.conn.execute(f"SELECT count(*) FROM events WHERE state = {schema.PENDING}").fetchone()[0])

    def summary_mark(self) -> int:
        """The last attempt row now; a summary counts attempts after it."""
        return int(self.conn.execute("SELECT coalesce(max(id), 0) FROM attempts").fetchone()[0])

    def summary_counts(self, since_attempt: int, since_time: float, *, this_run: bool = True, finished: bool = True) -> dict[str, Any]:
        """What a run's summary shows: this run (attempts after `since_attempt`) and the whole state.
        An event is "finished this run" when its succeeded, dropped or lost attempt is one of this
        run's. A drop without such an attempt (a retention end while waiting, a quarantine) counts by
        its time, after `since_time`: an attempt's drop is stamped at the attempt's end, which can lie
        past the clock the run stopped at, so time alone would give the run before's last drops to
        the next run. With this_run=False, not the run's attempts by outcome and error; with
        finished=False, not the events they finished (the loop counted them)."""
        conn = self.conn
        by_kind_state = counts.kind_state_counts(conn)
        errors: list[Any] = []
        outcomes: list[Any] = []
        if this_run:
            errors = conn.execute(
                "SELECT coalesce(error, reason), count(*) FROM attempts WHERE id > ? AND outcome != 'succeeded' "
                "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
                (since_attempt,),
            ).fetchall()
            outcomes = conn.execute("SELECT outcome, count(*) FROM attempts WHERE id > ? GROUP BY outcome", (since_attempt,)).fetchall()
        dropping = "SELECT 1 FROM attempts a WHERE a.event = l.event AND a.outcome IN ('dropped', 'lost')"
        ended, histogram = self._finished_since(since_attempt) if finished else ([], [])
        return {
            "by_kind_state": [(*key, count) for key, count in by_kind_state.items()],
            "finished": ended,
            "histogram": histogram,
            "errors": errors,
            "outcomes": dict(outcomes),
            "drops_run": conn.execute(
                f"SELECT e.kind IN {LOST_KINDS!r}, l.drop_reason, count(*) FROM ledger l JOIN events e ON e.id = l.event "
                f"WHERE EXISTS ({dropping} AND a.id > ?) OR (l.dropped_at > ? AND NOT EXISTS ({dropping})) "
                "GROUP BY 1, 2 ORDER BY 3 DESC, 2",
                (since_attempt, since_time),
            ).fetchall(),
            "drops_state": conn.execute(
                f"SELECT e.kind IN {LOST_KINDS!r}, l.drop_reason, count(*) FROM ledger l JOIN events e ON e.id = l.event "
                "GROUP BY 1, 2 ORDER BY 3 DESC, 2"
            ).fetchall(),
        }

    def _finished_since(self, since_attempt: int) -> tuple[list[tuple[str, str, int]], list[tuple[int, int]]]:
        """The events that finished after attempt `since_attempt`, as (kind, final outcome, count),
        and their attempts histogram, [(attempts, events)] (product events not in it)."""
        final = "('succeeded', 'dropped', 'lost')"
        # One pass over the attempt rows (a 2e5-event run: 0.25 s; the two passes it replaces took 0.41 s).
        rows = self.conn.execute(
            f"SELECT e.kind, a.outcome, e.attempts, count(DISTINCT e.id) FROM attempts a JOIN events e ON e.id = a.event "
            f"WHERE a.id > ? AND a.outcome IN {final} GROUP BY 1, 2, 3",
            (since_attempt,),
        ).fetchall()
        finished, histogram = fold_finished(rows)
        if len({row[1] for row in rows}) > 1:
            # With one final outcome each event is in one row; with several, an event may be in two
            # (lost, then succeeded), and the histogram counts it once: asked for on its own.
            histogram = self.conn.execute(
                f"SELECT e.attempts, count(DISTINCT e.id) FROM attempts a JOIN events e ON e.id = a.event "
                f"WHERE a.id > ? AND a.outcome IN {final} AND e.kind != 'product' GROUP BY 1 ORDER BY 1",
                (since_attempt,),
            ).fetchall()
        return finished, histogram

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])


# The events in flight (schema.IN_FLIGHT) when a run starts, found from the few rows of the index and
# the lease table: IN_FLIGHT as a WHERE clause scans every waiting event (a 2e5 backlog: a fifth of
# a second at every start). CROSS JOIN keeps SQLite reading the leases first.
def fold_finished(rows: Iterable[tuple[str, str, int, int]]) -> tuple[list[tuple[str, str, int]], list[tuple[int, int]]]:
    """(kind, final outcome, attempts, events) counts as the summary shows them: events by (kind,
    outcome), and the attempts histogram [(attempts, events)] without product events."""
    finished: dict[tuple[str, str], int] = {}
    by_attempts: dict[int, int] = {}
    for kind, outcome, attempts, count in rows:
        finished[(kind, outcome)] = finished.get((kind, outcome), 0) + count
        if kind != "product":
            by_attempts[attempts] = by_attempts.get(attempts, 0) + count
    return [(*key, count) for key, count in sorted(finished.items())], sorted(by_attempts.items())


_IN_FLIGHT_ROWS = (
    f"SELECT id, crashes, state FROM events WHERE state = {schema.RUNNING} AND {schema.RUNNING_OR_BLOCKED} "
    f"UNION ALL SELECT e.id, e.crashes, e.state FROM leases l, json_each(l.events) j CROSS JOIN events e ON e.id = j.value "
    f"WHERE e.state = {schema.PENDING}"
)
_PLAIN_LENGTH = len(PLAIN_SUCCESS_COLUMNS)
# A batch's commonest writes, many rows a statement (store/rows.py). An attempt's acknowledgement
# when it succeeded (its retry fields stay as they were), and any other change of an event's row:
# `UPDATE ... FROM (VALUES ...)`, the plain form for an SQLite before 3.33.
_SUCCEEDED_ROWS = RowStatement(
    f"UPDATE events SET state = {schema.SUCCEEDED}, attempts = v.column1, finished_at = v.column2, last_error = NULL, "
    "lease_owner = NULL, redelivered = 0, crashes = 0 FROM (VALUES {values}) AS v WHERE events.id = v.column3",
    "(?, ?, ?)",
    single=f"UPDATE events SET state = {schema.SUCCEEDED}, attempts = ?, finished_at = ?, last_error = NULL, lease_owner = NULL, "
    "redelivered = 0, crashes = 0 WHERE id = ?",
    since=(3, 33, 0),
    key=2,
)
_UPDATE_ROWS = RowStatement(
    "UPDATE events SET state = v.column1, available_at = v.column2, attempts = v.column3, retry_count = v.column4, "
    "retry_reason = v.column5, retry_data = v.column6, finished_at = v.column7, last_error = v.column8, lease_owner = NULL, "
    "redelivered = 0, crashes = 0 FROM (VALUES {values}) AS v WHERE events.id = v.column9",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
    single="UPDATE events SET state = ?, available_at = ?, attempts = ?, retry_count = ?, retry_reason = ?, "
    "retry_data = ?, finished_at = ?, last_error = ?, lease_owner = NULL, redelivered = 0, crashes = 0 WHERE id = ?",
    since=(3, 33, 0),
    key=8,
)
# A plain success's attempt row (PLAIN_SUCCESS_COLUMNS, numbered).
_PLAIN_ATTEMPT_ROWS = RowStatement(
    "INSERT INTO attempts(id, event, attempt, retry_count, started_at, ended_at, outcome, quota_refusals, storage_calls, wall_ms) "
    "VALUES {values}",
    "(?, ?, ?, 0, ?, ?, 'succeeded', ?, ?, ?)",
)
_NEW_EVENT_COLUMNS = (
    "id", "event_id", "installation", "kind", "target", "job_id", "body", "extra", "state", "available_at", "enqueued_at",
    "root_id", "parent_id", "replay_of",
)  # fmt: skip
_ATTEMPT_COLUMNS = ("id", *AttemptRow._fields)
# A pushed event of a job, with no extra options, no parent, no replay.
_PUSHED_ROWS = RowStatement(
    "INSERT INTO events(id, event_id, installation, kind, target, job_id, body, state, available_at, enqueued_at, root_id) "
    "VALUES {values}",
    f"(?, ?, ?, ?, ?, ?, ?, {schema.PENDING}, ?, ?, ?)",
)


def _kv_upsert(keeps_created: bool, no_expiry: bool) -> str:
    """The KVS upsert for rows of one shape: createdAt given or kept from a live stored row, expiry or none.

    Written per shape so that no parameter is bound as None: Python's sqlite3 binds a None through
    its adapter lookup, about 0.5 µs each (bench/README.md), as much as the rest of a small row.
    """
    created, updated, expire = ("?5", "?5", "NULL" if no_expiry else "?6") if keeps_created else ("?5", "?6", "NULL" if no_expiry else "?7")
    kept = f"CASE WHEN kvs.expire_at IS NULL OR kvs.expire_at > {updated} THEN kvs.created_at ELSE excluded.created_at END"
    return (
        "INSERT INTO kvs(installation, space, key, value, created_at, updated_at, expire_at) "
        f"VALUES (?1, ?2, ?3, ?4, {created}, {updated}, {expire}) "
        f"ON CONFLICT(installation, space, key) DO UPDATE SET value = excluded.value, "
        f"created_at = {kept if keeps_created else 'excluded.created_at'}, "
        "updated_at = excluded.updated_at, expire_at = excluded.expire_at"
    )


# Every shape but the plain set's (createdAt kept, no expiry), which _PLAIN_SET_ROWS writes.
_KV_UPSERTS = {(keeps, no_expiry): _kv_upsert(keeps, no_expiry) for keeps, no_expiry in ((True, False), (False, True), (False, False))}
# The plain set, many rows a statement: _kv_upsert(True, True) with the write's time bound twice
# (created_at, updated_at) and named as excluded.updated_at, which any row can say.
_PLAIN_SET_ROWS = RowStatement(
    "INSERT INTO kvs(installation, space, key, value, created_at, updated_at, expire_at) VALUES {values} "
    "ON CONFLICT(installation, space, key) DO UPDATE SET value = excluded.value, created_at = CASE WHEN kvs.expire_at IS NULL "
    "OR kvs.expire_at > excluded.updated_at THEN kvs.created_at ELSE excluded.created_at END, "
    "updated_at = excluded.updated_at, expire_at = excluded.expire_at",
    "(?, ?, ?, ?, ?, ?, NULL)",
)
_INSERTS: dict[tuple[str, tuple[bool, ...]], str] = {}


def _insert_rows(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: list[Any]) -> None:
    """INSERT the rows, NULL written into the statement rather than bound (see _kv_upsert): one
    executemany per pattern of NULLs, which a batch has few of."""
    groups: dict[tuple[bool, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        nulls = tuple([value is None for value in row])
        groups.setdefault(nulls, []).append(tuple([value for value in row if value is not None]))
    for nulls, values in groups.items():
        sql = _INSERTS.get((table, nulls))
        if sql is None:
            marks = ", ".join("NULL" if null else "?" for null in nulls)
            sql = _INSERTS[(table, nulls)] = f"INSERT INTO {table}({', '.join(columns)}) VALUES ({marks})"
        conn.executemany(sql, values)


QUEUE_COUNT_NAMES = ("pending", "delayed", "running", "retrying", "succeeded", "dropped", "cancelled", "blocked")


def dumps(value: Any) -> str:
    return stringify(value)


class StateLock:
    """One `forgeq run` per state file: an flock on the file itself, which the kernel drops when the
    process dies, and which every path to the file shares (symbolic links, bind mounts: identity.py).

    A second run is refused (StateBusyError, exit 3) instead of cooperating: one loop owns the
    virtual clock, and two clocks over one queue would not be one Forge. `<db>.run-lock` beside the
    real file only says who holds it (`pid N`), for the refusal's message.
    """

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.file: identity.StateFile | None = None

    def acquire(self) -> None:
        file = identity.open_file(self.db_path, create=True)
        assert file is not None
        if not identity.try_lock(file):
            holder = _holder(f"{file.path}.run-lock")
            identity.release(file)
            raise StateBusyError(
                f"{file.path} is in use by another `forgeq run` ({holder})",
                "stop that run first, or pass --db to use another state file",
            )
        self.file = file
        try:
            with open(os.open(f"{file.path}.run-lock", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "w") as note:
                os.fchmod(note.fileno(), 0o600)  # a note left by an older forgeq
                note.write(f"pid {os.getpid()}")
        except OSError:
            pass  # the note only names the holder; the lock is on the state file itself

    def is_held_elsewhere(self) -> bool:
        """Whether a `forgeq run` holds the state file now (never creates it)."""
        file = identity.open_file(self.db_path, create=False)
        if file is None:
            return False
        try:
            return identity.locked_elsewhere(file)
        finally:
            identity.release(file)

    def release(self) -> None:
        if self.file is not None:
            file, self.file = self.file, None
            identity.unlock(file)
            identity.release(file)


def _holder(note: str) -> str:
    try:
        with open(note, encoding="utf-8", errors="replace") as handle:
            text = handle.read(100).strip()
    except OSError:
        text = ""
    return text if text.startswith("pid ") else "another process"
