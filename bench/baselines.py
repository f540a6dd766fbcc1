"""Baselines that forgeq's own measurements are compared against.

Each baseline takes `n` and a fresh DB path and returns one figure (events/s, seconds or MB).
Run this file directly for a one-shot smoke run: `python bench/baselines.py [n]`.
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import median_startup, run_python

REPO_ROOT = Path(__file__).resolve().parent.parent

# Push and claim batch sizes: Forge accepts at most 50 events per push (Atlassian's "Async events API" limits; docs/fidelity.md, platform limits), and forgeq acks in
# batches of 50 (forgeq/emulator/limits.py ACK_BATCH_EVENTS).
EVENTS_PER_PUSH_TXN = 50
QUEUE_NAME = "storage-async-queue"

# The quota model. Forge's KVS admits 4000 write units per minute per installation (Atlassian's "Key-Value Store" pages, from
# Nov 2025). Events are spread over one installation per 10k events, so each installation's quota
# admits 40% of its events per window: 2.4 deliveries per event and none dead at every n >= 10k,
# matching shared/reference/performance.md §2 (e, f). Below 10k the quota shrinks to keep 40%, so a
# --quick run still exercises retries instead of draining with none.
KVS_WRITES_PER_WINDOW = 4000
QUOTA_WINDOW_SECONDS = 60.0
EVENTS_PER_INSTALLATION = 10_000

# Backoff from Forge's "queue app interactions with storage" guide: 20 * 2^retryCount + rand(0..100) s.
BACKOFF_BASE_SECONDS = 20.0
BACKOFF_JITTER_SECONDS = 100.0
# v1 semantics: four retries, then the event is dead (Atlassian's "Async events API": retries; docs/fidelity.md).
MAX_RETRIES = 4
JITTER_SEED = 20251117

PENDING, CLAIMED, DONE, DEAD = 0, 1, 2, 3

SCHEMA = f"""
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    queue TEXT NOT NULL,
    installation INTEGER NOT NULL,
    body TEXT NOT NULL,
    state INTEGER NOT NULL DEFAULT {PENDING},
    available_at REAL NOT NULL,
    retry_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_due ON events (available_at, id) WHERE state = {PENDING};
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    at REAL NOT NULL,
    outcome TEXT NOT NULL
);
"""

KVS_SCHEMA = """
CREATE TABLE IF NOT EXISTS kvs (
    installation INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (installation, key)
);
"""

INSERT_EVENT = "INSERT INTO events (job_id, queue, installation, body, available_at) VALUES (?, ?, ?, ?, ?)"
# Single claims use `id = (SELECT ...)`: the `IN` form makes glibc grow and trim the heap on every
# claim in a fresh process, 2.4x slower (performance.md §2, note 1).
CLAIM_ONE = f"""
UPDATE events SET state = {CLAIMED}
WHERE id = (SELECT id FROM events WHERE state = {PENDING} AND available_at <= ? ORDER BY available_at, id LIMIT 1)
RETURNING id, installation, body, retry_count
"""
CLAIM_MANY = f"""
UPDATE events SET state = {CLAIMED}
WHERE id IN (SELECT id FROM events WHERE state = {PENDING} AND available_at <= ? ORDER BY available_at, id LIMIT ?)
RETURNING id, installation, body, retry_count
"""
NEXT_DUE = f"SELECT min(available_at) FROM events WHERE state = {PENDING}"
UPSERT_KVS = """
INSERT INTO kvs (installation, key, value) VALUES (?, ?, ?)
ON CONFLICT (installation, key) DO UPDATE SET value = excluded.value
"""
INSERT_ATTEMPT = "INSERT INTO attempts (event_id, attempt, at, outcome) VALUES (?, ?, ?, ?)"
ACK = f"UPDATE events SET state = {DONE} WHERE id = ?"
RESCHEDULE = f"UPDATE events SET state = {PENDING}, available_at = ?, retry_count = ? WHERE id = ?"
BURY = f"UPDATE events SET state = {DEAD}, retry_count = ? WHERE id = ?"


def connect(db_path: Path) -> sqlite3.Connection:
    """The durability every baseline runs at: WAL, synchronous=NORMAL, busy_timeout=5000."""
    # Autocommit mode, so BEGIN/COMMIT below are the only transaction boundaries.
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA + KVS_SCHEMA)


def make_body(index: int) -> str:
    """A ~90-byte JSON body, like the seed guide's issue-created event."""
    return json.dumps(
        {"issueKey": f"PROJ-{index}", "event": "avi:jira:created:issue", "actorId": "557058:f5c7e1d2"}
    )


def installations_for(n: int) -> int:
    return max(1, round(n / EVENTS_PER_INSTALLATION))


def writes_per_window_for(n: int) -> int:
    events_per_installation = n / installations_for(n)
    return min(KVS_WRITES_PER_WINDOW, max(1, int(events_per_installation * 0.4)))


@dataclass
class QuotaModel:
    """Fixed virtual windows per installation; only admitted writes count against the quota."""

    writes_per_window: int
    window_seconds: float = QUOTA_WINDOW_SECONDS
    _used: dict[int, tuple[int, int]] = field(default_factory=dict)

    def admit(self, installation: int, now: float) -> bool:
        window = int(now // self.window_seconds)
        used_window, used = self._used.get(installation, (window, 0))
        if used_window != window:
            used = 0
        if used >= self.writes_per_window:
            return False
        self._used[installation] = (window, used + 1)
        return True


@dataclass(frozen=True)
class LoopResult:
    """What one push+drain did. `deliveries` counts every handler call, retries included."""

    n: int
    push_seconds: float
    drain_seconds: float
    deliveries: int
    dead: int
    virtual_seconds: float

    @property
    def events_per_second(self) -> float:
        return self.n / (self.push_seconds + self.drain_seconds)


def push_events(conn: sqlite3.Connection, n: int, installations: int = 1, now: float = 0.0) -> None:
    """Insert n events, EVENTS_PER_PUSH_TXN per transaction. Bodies and job ids are built here, as a push must."""
    for start in range(0, n, EVENTS_PER_PUSH_TXN):
        rows = [
            (str(uuid.uuid4()), QUEUE_NAME, index % installations, make_body(index), now)
            for index in range(start, min(n, start + EVENTS_PER_PUSH_TXN))
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_EVENT, rows)
        conn.execute("COMMIT")


def backoff_seconds(retry_count: int, rng: random.Random) -> float:
    return BACKOFF_BASE_SECONDS * 2.0**retry_count + rng.uniform(0.0, BACKOFF_JITTER_SECONDS)


@dataclass
class DrainState:
    quota: QuotaModel
    rng: random.Random
    attempt_log: TextIO | None = None
    now: float = 0.0
    deliveries: int = 0
    dead: int = 0


def deliver(conn: sqlite3.Connection, state: DrainState, row: tuple[int, int, str, int]) -> None:
    """One delivery: the handler upserts a KVS key, then the event is acked, rescheduled or buried."""
    event_id, installation, body_text, retry_count = row
    body = json.loads(body_text)
    state.deliveries += 1
    if state.quota.admit(installation, state.now):
        conn.execute(UPSERT_KVS, (installation, f"issue:{body['issueKey']}", body_text))
        outcome = "ok"
        conn.execute(ACK, (event_id,))
    elif retry_count < MAX_RETRIES:
        outcome = "retry"
        available_at = state.now + backoff_seconds(retry_count, state.rng)
        conn.execute(RESCHEDULE, (available_at, retry_count + 1, event_id))
    else:
        outcome = "dead"
        state.dead += 1
        conn.execute(BURY, (retry_count, event_id))
    conn.execute(INSERT_ATTEMPT, (event_id, retry_count + 1, state.now, outcome))
    if state.attempt_log is not None:
        state.attempt_log.write(f"{state.now:.3f} event={event_id} attempt={retry_count + 1} {outcome}\n")


def claim(conn: sqlite3.Connection, now: float, batch: int) -> list[tuple[int, int, str, int]]:
    if batch == 1:
        return conn.execute(CLAIM_ONE, (now,)).fetchall()
    return conn.execute(CLAIM_MANY, (now, batch)).fetchall()


def drain(conn: sqlite3.Connection, batch: int, state: DrainState) -> None:
    """Claim and handle `batch` due events per transaction until none is pending."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        rows = claim(conn, state.now, batch)
        for row in rows:
            deliver(conn, state, row)
        conn.execute("COMMIT")
        # A full batch may leave more due events. A short one means none is left at `now`: this loop
        # is the only consumer and every reschedule lands in the future, so skip the empty claim.
        if len(rows) == batch:
            continue
        next_due = conn.execute(NEXT_DUE).fetchone()[0]
        if next_due is None:
            return
        # The virtual clock jumps straight to the next due event instead of sleeping.
        state.now = next_due


def run_raw_loop(n: int, db_path: Path, batch: int, attempt_log: Path | None = None) -> LoopResult:
    """Push n events into a fresh DB, then drain them under the quota model. Schema setup is not timed."""
    conn = connect(db_path)
    create_schema(conn)
    installations = installations_for(n)
    log_file = attempt_log.open("w") if attempt_log is not None else None
    try:
        state = DrainState(QuotaModel(writes_per_window_for(n)), random.Random(JITTER_SEED), log_file)
        pushed = time.perf_counter()
        push_events(conn, n, installations)
        drained = time.perf_counter()
        drain(conn, batch, state)
        if log_file is not None:
            log_file.flush()
        finished = time.perf_counter()
    finally:
        if log_file is not None:
            log_file.close()
        conn.close()
    return LoopResult(n, drained - pushed, finished - drained, state.deliveries, state.dead, state.now)


# --- The baselines (each: n, fresh DB path -> one figure) -------------------------------------------


def raw_sqlite_drain(n: int, db_path: Path, batch: int = 50) -> float:
    """Events/s of raw sqlite3 doing forgeq's loop: push n events, then drain them `batch` per transaction."""
    return run_raw_loop(n, db_path, batch).events_per_second


def raw_sqlite_drain_logged(n: int, db_path: Path, batch: int = 50) -> float:
    """raw_sqlite_drain, also writing one line per attempt to a file next to the DB."""
    return run_raw_loop(n, db_path, batch, attempt_log=db_path.with_suffix(".attempts.log")).events_per_second


def raw_batched_inserts(n: int, db_path: Path) -> float:
    """Events/s of pushing n events (JSON body + uuid4 job id each), 50 per transaction."""
    conn = connect(db_path)
    create_schema(conn)
    try:
        start = time.perf_counter()
        push_events(conn, n)
        return n / (time.perf_counter() - start)
    finally:
        conn.close()


def huey_drain(n: int, db_path: Path) -> float:
    """Events/s of huey's SqliteHuey: enqueue n tasks, then dequeue + execute them all.

    Each task upserts one key into a kvs table in the same file. There is no quota model and no
    retry: one delivery per event, so huey does less work per event than the raw loop.
    """
    from huey import SqliteHuey  # Imported here so the RSS child and startup rows never load it.

    huey = SqliteHuey(name="bench", filename=str(db_path), results=False)
    # SqliteStorage's fsync= only chooses FULL (2) or OFF (0); NORMAL has to be set on its connection,
    # which huey keeps open after the schema is created (huey/storage.py SqliteStorage._create_connection).
    huey.storage.conn.execute("PRAGMA synchronous=NORMAL")
    kvs = connect(db_path)
    kvs.executescript(KVS_SCHEMA)

    @huey.task()  # type: ignore[untyped-decorator]
    def handle(body_text: str, installation: int) -> None:
        body = json.loads(body_text)
        kvs.execute(UPSERT_KVS, (installation, f"issue:{body['issueKey']}", body_text))

    try:
        start = time.perf_counter()
        for index in range(n):
            handle(make_body(index), 0)
        while (task := huey.dequeue()) is not None:
            huey.execute(task)
        elapsed = time.perf_counter() - start
    finally:
        kvs.close()
        huey.storage.close()
    return n / elapsed


# huey keeps etas as datetimes and stores `eta.timestamp()`; the virtual clock counts from here.
HUEY_EPOCH = 1_000_000_000.0


def huey_drain_retrying(n: int, db_path: Path) -> float:
    """Events/s of huey doing the raw loop's workload: its quota model, backoff and four retries.

    The task asks the same QuotaModel for its KVS write; a refused write puts the task, with its
    retry count, in huey's schedule at the raw loop's backoff (`Huey.add_schedule`, the one row
    huey's own retry writes), or gives up after 4 retries. The driver is
    huey's consumer on the virtual clock: dequeue and execute at `now`, move the scheduled tasks due
    by `now` back to the queue (`Huey.read_schedule`), and when none is due jump `now` to the
    earliest eta in huey's schedule table, as the raw loop jumps to its earliest due event. No
    attempt rows (huey keeps none): huey still does less than the raw loop and forgeq per delivery.
    """
    import datetime

    from huey import SqliteHuey

    huey = SqliteHuey(name="bench", filename=str(db_path), results=False, utc=False)
    huey.storage.conn.execute("PRAGMA synchronous=NORMAL")  # as in huey_drain
    kvs = connect(db_path)
    kvs.executescript(KVS_SCHEMA)
    installations = installations_for(n)
    state = DrainState(QuotaModel(writes_per_window_for(n)), random.Random(JITTER_SEED))

    def at(seconds: float) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(HUEY_EPOCH + seconds)

    @huey.task()  # type: ignore[untyped-decorator]
    def handle(body_text: str, installation: int, retry_count: int) -> None:
        body = json.loads(body_text)
        state.deliveries += 1
        if state.quota.admit(installation, state.now):
            kvs.execute(UPSERT_KVS, (installation, f"issue:{body['issueKey']}", body_text))
        elif retry_count < MAX_RETRIES:
            retry = handle.s(body_text, installation, retry_count + 1)
            retry.eta = at(state.now + backoff_seconds(retry_count, state.rng))
            huey.add_schedule(retry)  # what huey's own retry does (Huey._requeue_task): one schedule row
        else:
            state.dead += 1

    try:
        start = time.perf_counter()
        for index in range(n):
            handle(make_body(index), index % installations, 0)
        now = at(state.now)
        while True:
            while (task := huey.dequeue()) is not None:
                huey.execute(task, now)
            due = huey.read_schedule(now)
            if due:
                for task in due:
                    huey.enqueue(task)
                continue
            ((next_eta,),) = huey.storage.sql("SELECT min(timestamp) FROM schedule WHERE queue = ?", (huey.name,), results=True)
            if next_eta is None:
                break
            now = datetime.datetime.fromtimestamp(next_eta)  # the stored eta itself: read_schedule compares <=
            state.now = next_eta - HUEY_EPOCH
        elapsed = time.perf_counter() - start
    finally:
        kvs.close()
        huey.storage.close()
    if state.dead or state.deliveries < n:
        raise RuntimeError(f"huey_drain_retrying: {state.deliveries} deliveries, {state.dead} dead: not the raw loop's profile")
    return n / elapsed


def startup_python_pass(n: int, db_path: Path) -> float:
    """Median wall seconds of `python -c pass` over 10 fresh processes (n and db_path unused)."""
    return median_startup([sys.executable, "-c", "pass"])


def startup_import_typer(n: int, db_path: Path) -> float:
    """Median wall seconds of `python -c "import typer"` over 10 fresh processes."""
    return median_startup([sys.executable, "-c", "import typer"])


RSS_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from bench.baselines import run_raw_loop
run_raw_loop(int(sys.argv[2]), Path(sys.argv[3]), batch=50)
"""


def rss_backlog(n: int, db_path: Path) -> float:
    """Peak RSS in MB of a fresh process that pushes n events, then drains them with the raw loop."""
    return run_python(RSS_CHILD, str(REPO_ROOT), str(n), str(db_path)).peak_rss_mb


def main(argv: list[str]) -> None:
    """Run each baseline once and print the raw loop's retry profile (a smoke run, not a benchmark)."""
    import tempfile

    n = int(argv[0]) if argv else 10_000
    with tempfile.TemporaryDirectory(prefix="forgeq-bench-") as tmp:
        for batch in (1, EVENTS_PER_PUSH_TXN):
            loop = run_raw_loop(n, Path(tmp) / f"drain{batch}.db", batch)
            print(
                f"raw_sqlite_drain batch={batch}: {loop.events_per_second:,.0f} events/s; "
                f"push {loop.push_seconds:.3f} s, drain {loop.drain_seconds:.3f} s; "
                f"{loop.deliveries / n:.2f} deliveries/event, {loop.dead} dead, {loop.virtual_seconds:.0f} virtual s; "
                f"{installations_for(n)} installation(s) at {writes_per_window_for(n)} writes/window"
            )
        print(f"raw_batched_inserts: {raw_batched_inserts(n, Path(tmp) / 'push.db'):,.0f} events/s")
        print(f"huey_drain: {huey_drain(n, Path(tmp) / 'huey.db'):,.0f} events/s")
        print(f"huey_drain_retrying: {huey_drain_retrying(n, Path(tmp) / 'huey-retrying.db'):,.0f} events/s")
        print(f"startup python -c pass: {startup_python_pass(n, Path(tmp)) * 1000:.1f} ms")
        print(f"startup import typer: {startup_import_typer(n, Path(tmp)) * 1000:.1f} ms")
        print(f"rss_backlog({n}): {rss_backlog(n, Path(tmp) / 'rss.db'):.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
