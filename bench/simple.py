"""The simplest job, measured next to what the same work costs without forgeq (issue 21).

A v2 consumer whose handler does one `kvs.set(event["eventId"], event["body"])`. Four
measurements, each returning two figures (rows of bench/forgeq_benches.py pick one with `figure`):

- `raw_simple_loop`: raw `sqlite3` doing that work at forgeq's durability (WAL, synchronous=NORMAL):
  push n copies of one JSON body in transactions of 50 (a uuid4 job id each); then, until none is
  left, one `BEGIN IMMEDIATE` claims the 50 earliest due rows, and per event one `json.loads`, one
  KVS upsert and one attempt-row insert; the 50 are marked done in the same transaction.
- `pure_simple_loop`: the same work in memory, in plain Python: a heap of due events, a dict as the
  KVS, a list of attempt tuples (push: one `json.dumps` of the body per event,
  as `ForgeApp.push_many` gets it).
- `forgeq_simple_cli`: `forgeq push --queue simple --count n`, then `forgeq run --until-idle
  --quiet --storage-limits none`, each the whole command's wall time (start-up included).
- `forgeq_simple_memory`: `forgeq.testing.ForgeApp` with its in-memory store: `push_many` of n
  bodies, then `run_until_idle()`.

Figures: "drain" is n / the drain's wall time (for forgeq's CLI: the `forgeq run` command), "total"
is n / (push + drain). Run this file for one quick pass: `python bench/simple.py [n]`.
"""

from __future__ import annotations

import heapq
import itertools
import json
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.baselines import KVS_SCHEMA, SCHEMA, connect, make_body
from bench.common import ensure_bytecode, run_command

if TYPE_CHECKING:
    from forgeq.emulator.store import Store

QUEUE = "simple"
BATCH = 50  # events per push transaction and per claim, as Forge's push and forgeq's claim

MANIFEST = f"""app:
  id: ari:cloud:ecosystem::app/bench-simple
modules:
  consumer:
    - key: simple-consumer
      queue: {QUEUE}
      function: write
  function:
    - key: write
      handler: index.handler
"""
SOURCE = """from forgeq.kvs import kvs


def handler(event, context):
    kvs.set(event["eventId"], event["body"])
"""

_CLAIM = (
    "UPDATE events SET state = 1 WHERE id IN (SELECT id FROM events WHERE state = 0 AND available_at <= ? "
    "ORDER BY available_at, id LIMIT ?) RETURNING id, installation, body, retry_count"
)
_UPSERT = (
    "INSERT INTO kvs (installation, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (installation, key) DO UPDATE SET value = excluded.value"
)
_ATTEMPT = "INSERT INTO attempts (event_id, attempt, at, outcome) VALUES (?, ?, ?, ?)"
_DONE = "UPDATE events SET state = 2 WHERE id = ?"
BODY = json.loads(make_body(0))  # the seed guide's ~90 B issue-created body, the same for every event
_PUSH = "INSERT INTO events (job_id, queue, installation, body, available_at) VALUES (?, ?, ?, ?, ?)"


def write_app(folder: Path) -> Path:
    """The simple app (manifest.yml and src/index.py) in `folder`; returns the manifest's path."""
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "manifest.yml").write_text(MANIFEST)
    (folder / "src" / "index.py").write_text(SOURCE)
    return folder / "manifest.yml"


def _figures(n: int, push_seconds: float, drain_seconds: float) -> dict[str, float]:
    return {"drain": n / drain_seconds, "total": n / (push_seconds + drain_seconds)}


def raw_push(conn: sqlite3.Connection, n: int) -> None:
    """raw_simple_loop's push: n copies of the body in transactions of 50, a uuid4 job id each."""
    text = make_body(0)
    for start in range(0, n, BATCH):
        rows = [(str(uuid.uuid4()), QUEUE, 0, text, 0.0)] * min(BATCH, n - start)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_PUSH, rows)
        conn.execute("COMMIT")


def raw_simple_loop(n: int, db_path: Path) -> dict[str, float]:
    """Raw sqlite3 pushing then draining n events as described above; schema setup not timed."""
    conn = connect(db_path)
    conn.executescript(SCHEMA + KVS_SCHEMA)
    try:
        started = time.perf_counter()
        raw_push(conn, n)
        pushed = time.perf_counter()
        now = 0.0
        while True:
            conn.execute("BEGIN IMMEDIATE")
            claimed = conn.execute(_CLAIM, (now, BATCH)).fetchall()
            for event, installation, body, retry_count in claimed:
                json.loads(body)
                conn.execute(_UPSERT, (installation, f"{event:012x}", body))
                conn.execute(_ATTEMPT, (event, retry_count + 1, now, "succeeded"))
            conn.executemany(_DONE, [(row[0],) for row in claimed])
            conn.execute("COMMIT")
            if len(claimed) < BATCH:
                break
        drained = time.perf_counter()
        done = conn.execute("SELECT count(*) FROM kvs").fetchone()[0]
    finally:
        conn.close()
    if done != n:
        raise RuntimeError(f"raw_simple_loop wrote {done} keys, expected {n}")
    return _figures(n, pushed - started, drained - pushed)


def pure_simple_loop(n: int, db_path: Path) -> dict[str, float]:
    """The same work in memory: a heap of due events, a dict as KVS, a list of attempt tuples."""
    body = BODY
    started = time.perf_counter()
    due: list[tuple[float, int, str, str]] = []
    for seq in range(1, n + 1):
        heapq.heappush(due, (0.0, seq, f"{seq:012x}", json.dumps(body)))
    pushed = time.perf_counter()
    kvs: dict[str, str] = {}
    attempts: list[tuple[int, int, float, str]] = []
    now = 0.0
    while due:
        now, seq, event_id, text = heapq.heappop(due)
        json.loads(text)
        kvs[event_id] = text
        attempts.append((seq, 1, now, "succeeded"))
    drained = time.perf_counter()
    if len(kvs) != n:
        raise RuntimeError(f"pure_simple_loop wrote {len(kvs)} keys, expected {n}")
    return _figures(n, pushed - started, drained - pushed)


def forgeq_argv(*args: str) -> list[str]:
    from bench.forgeq_benches import forgeq_argv as argv

    return argv(*args)


def forgeq_simple_cli(n: int, db_path: Path) -> dict[str, float]:
    """`forgeq push --count n` then `forgeq run --until-idle --quiet --storage-limits none`."""
    ensure_bytecode()
    manifest = str(write_app(db_path.parent / "app"))
    pushed = run_command(
        forgeq_argv(
            "push", "--queue", QUEUE, "--body", make_body(0), "--count", str(n),
            "--manifest", manifest, "--db", str(db_path), "--json",
        )
    )  # fmt: skip
    if json.loads(pushed.stdout)["count"] != n:
        raise RuntimeError(f"forgeq push reported {pushed.stdout[:200]}")
    ran = run_command(
        forgeq_argv("run", manifest, "--until-idle", "--quiet", "--storage-limits", "none", "--db", str(db_path))
    )
    conn = sqlite3.connect(db_path)
    try:
        done = conn.execute("SELECT count(*) FROM kvs").fetchone()[0]
    finally:
        conn.close()
    if done != n:
        raise RuntimeError(f"forgeq run wrote {done} keys, expected {n}: {ran.stdout[-500:]}")
    return _figures(n, pushed.wall_seconds, ran.wall_seconds)


def forgeq_simple_memory(n: int, db_path: Path) -> dict[str, float]:
    """ForgeApp on its in-memory store: push_many of n bodies, then run_until_idle()."""
    from forgeq.testing import ForgeApp

    app = ForgeApp(write_app(db_path.parent / "app"), storage_limits="none")
    try:
        started = time.perf_counter()
        app.push_many(QUEUE, itertools.repeat(BODY, n))
        pushed = time.perf_counter()
        app.run_until_idle()
        drained = time.perf_counter()
        done = len(app.kvs)
    finally:
        app.close()
    if done != n:
        raise RuntimeError(f"ForgeApp wrote {done} keys, expected {n}")
    return _figures(n, pushed - started, drained - pushed)


def push_rows(store: Store, n: int) -> None:
    """n events of the simple workload into `store`, as `forgeq push --count n` writes them."""
    from forgeq.emulator import limits
    from forgeq.emulator.loop.pushing import new_events

    row = next(new_events(QUEUE, [{"body": BODY}], installation="site-1", now=limits.VIRTUAL_EPOCH, job_id=None))
    store.push_job(QUEUE, "site-1", limits.VIRTUAL_EPOCH, "cli", itertools.repeat(row, n))


def drain_in_process(n: int, db_path: Path) -> dict[str, float]:
    """`forgeq run --until-idle --quiet --storage-limits none` over n events pushed as `forgeq push
    --count n` pushes them, in this process (for bench/profile_drain.py --workload simple)."""
    from forgeq.cli.render import StatusPrinter
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.settings import Settings
    from forgeq.emulator.store import Store

    manifest = load_manifest(write_app(db_path.parent / "app"))
    store = Store(db_path)
    try:
        started = time.perf_counter()
        push_rows(store, n)
        pushed = time.perf_counter()
        with (db_path.parent / "progress.txt").open("w") as sink:
            engine = Emulator(manifest, store, Settings(storage_limits="none"), observers=[StatusPrinter(sink, store.waiting_count, live=False)])
            engine.run(until_idle=True)
        drained = time.perf_counter()
        windows = engine.lookahead.claims
    finally:
        store.close()
    figures = _figures(n, pushed - started, drained - pushed)
    return {
        "events_per_second": figures["drain"],
        "push_seconds": pushed - started,
        "drain_seconds": drained - pushed,
        "attempts_per_event": 1.0,
        "windows": windows,
    }


def main(argv: list[str]) -> None:
    """One pass of each measurement (a smoke run, not a benchmark: bench/run.py pairs the reps)."""
    import tempfile

    n = int(argv[0]) if argv else 20_000
    for measure in (raw_simple_loop, pure_simple_loop, forgeq_simple_cli, forgeq_simple_memory):
        with tempfile.TemporaryDirectory(prefix="forgeq-bench-") as scratch:
            figures = measure(n, Path(scratch) / "state.db")
        print(f"{measure.__name__}: " + ", ".join(f"{name} {value:,.0f} events/s" for name, value in figures.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
