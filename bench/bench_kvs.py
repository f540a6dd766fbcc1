"""Storage calls per second through `forgeq.kvs`, as a ratio to raw `sqlite3` doing the same work.

    .venv/bin/python bench/bench_kvs.py              # n = 20,000 calls, 5 round-robin reps
    .venv/bin/python bench/bench_kvs.py --n 5000 --reps 3

The workload, on a fresh file for each measurement (WAL, synchronous=NORMAL on both sides):
n/2 `set`s of distinct keys with a ~100 B JSON value, committed 50 to a transaction (the loop's
acknowledgement batch), then n/2 `get`s of those keys. Rate = n / wall seconds of the calls.

- `kvs_none`: `kvs.set` / `kvs.get` from handler context (a bound Invocation of a real Emulator,
  `--storage-limits none`): validation, JSON, the read-your-writes overlay, the WriteBatch, commits.
- `kvs_2025`: the same under the 2025 quotas (each call charged; the virtual clock moves 1 s per
  50 calls, so nothing is refused: 3000 units per minute against 4000).
- `raw_kvs`: `sqlite3` only: `json.dumps`, an upsert into a table with the same primary key,
  `COMMIT` every 50, then `SELECT` + `json.loads` per key.

The benches run round-robin; each ratio is the median of per-rep ratios `forgeq / raw` (same rep).
The `measure(n, db_path) -> float` functions fit bench/registry.py's `Bench`, so the harness can
register them (`sizes`: use the same n for both rows).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fmt_stats, fresh_db_dir, print_table, summarize

BATCH = 50
MANIFEST = """app:
  id: ari:cloud:ecosystem::app/bench-kvs
modules:
  consumer:
    - key: c
      queue: work
      function: f
  function:
    - key: f
      handler: index.handler
"""


def _value(n: int) -> dict[str, Any]:
    return {"issueKey": f"DEMO-{n}", "status": "new", "summary": "x" * 48, "n": n}


def _forgeq_calls(n: int, db_path: Path, storage_limits: str) -> float:
    from forgeq import runtime
    from forgeq.emulator import limits
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.loop.invocation import Invocation
    from forgeq.emulator.settings import Settings
    from forgeq.emulator.store import Store
    from forgeq.kvs import kvs

    app = db_path.parent / "app"
    (app / "src").mkdir(parents=True)
    (app / "manifest.yml").write_text(MANIFEST)
    (app / "src" / "index.py").write_text("def handler(event, context):\n    return None\n")
    store = Store(db_path)
    engine = Emulator(load_manifest(app / "manifest.yml"), store, Settings(storage_limits=storage_limits))
    half = n // 2
    keys = [f"issue-DEMO-{i}" for i in range(half)]
    values = [_value(i) for i in range(half)]

    def calls(work: Callable[[int], Any]) -> None:
        for start in range(0, half, BATCH):
            invocation = Invocation(engine, "site-1", None, None, limits.VIRTUAL_EPOCH + start / BATCH)
            token = runtime.bind(invocation)
            try:
                for i in range(start, min(start + BATCH, half)):
                    work(i)
            finally:
                runtime.unbind(token)
            engine.flush()

    started = time.perf_counter()
    calls(lambda i: kvs.set(keys[i], values[i]))
    calls(lambda i: kvs.get(keys[i]))
    elapsed = time.perf_counter() - started
    assert store.kv_get("site-1", 0, keys[-1]) is not None
    store.close()
    return n / elapsed


def kvs_none(n: int, db_path: Path) -> float:
    return _forgeq_calls(n, db_path, "none")


def kvs_2025(n: int, db_path: Path) -> float:
    return _forgeq_calls(n, db_path, "2025")


def raw_kvs(n: int, db_path: Path) -> float:
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=5.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE kvs (installation TEXT NOT NULL, space INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
        "created_at REAL NOT NULL, updated_at REAL NOT NULL, expire_at REAL, PRIMARY KEY (installation, space, key)) WITHOUT ROWID"
    )
    half = n // 2
    keys = [f"issue-DEMO-{i}" for i in range(half)]
    values = [_value(i) for i in range(half)]
    upsert = (
        "INSERT INTO kvs(installation, space, key, value, created_at, updated_at, expire_at) VALUES (?, 0, ?, ?, ?, ?, NULL) "
        "ON CONFLICT(installation, space, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
    )
    select = "SELECT value FROM kvs WHERE installation = ? AND space = 0 AND key = ?"
    started = time.perf_counter()
    for start in range(0, half, BATCH):
        conn.execute("BEGIN IMMEDIATE")
        for i in range(start, min(start + BATCH, half)):
            conn.execute(
                upsert, ("site-1", keys[i], json.dumps(values[i], separators=(",", ":")), 1.0 * i, 1.0 * i)
            )
        conn.execute("COMMIT")
    for i in range(half):
        row = conn.execute(select, ("site-1", keys[i])).fetchone()
        json.loads(row[0])
    elapsed = time.perf_counter() - started
    conn.close()
    return n / elapsed


BENCHES: dict[str, Callable[[int, Path], float]] = {
    "raw_kvs": raw_kvs,
    "kvs_none": kvs_none,
    "kvs_2025": kvs_2025,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, default=20_000, help="storage calls per measurement (half sets, half gets)"
    )
    parser.add_argument("--reps", type=int, default=5, help="round-robin repetitions")
    options = parser.parse_args(argv)
    import forgeq.emulator.loop.engine  # noqa: F401 - measure in the heap state forgeq runs in

    results: dict[str, list[float]] = {name: [] for name in BENCHES}
    for rep in range(options.reps):
        for name, measure in BENCHES.items():
            with fresh_db_dir() as scratch:
                results[name].append(measure(options.n, Path(scratch) / "state.db"))
        sys.stderr.write(f"rep {rep + 1}/{options.reps} done\n")
    rows = []
    for name, values in results.items():
        stats = summarize(values)
        ratio = ""
        if name != "raw_kvs":
            ratios = summarize([mine / raw for mine, raw in zip(values, results["raw_kvs"], strict=True)])
            ratio = f"{ratios.median:.3f}x [{ratios.low:.3f}..{ratios.high:.3f}]"
        rows.append([name, f"{options.n:,}", fmt_stats(stats, " calls/s"), ratio])
    print(
        f"forgeq.kvs storage calls, {options.reps} round-robin reps; python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}"
    )
    print_table(["bench", "n", "median [min..max]", "vs raw_kvs"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
