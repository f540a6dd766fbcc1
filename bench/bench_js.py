"""The JavaScript app's drain rate, as a ratio to the Python app's: the cost of the Node.js bridge.

    .venv/bin/python bench/bench_js.py               # n = 2,000 events, 5 round-robin reps
    .venv/bin/python bench/bench_js.py --n 500 --reps 3

The same app twice, the seed guide's storage-queue app: fixtures/storage-queue (Python, handlers
in-process) and fixtures/storage-queue-js (JavaScript with Forge's own @forge/* packages, run by
forgeq's Node.js worker; its node_modules must be installed: `npm ci` in that folder, which the
test suite does). On a fresh state file, n events are pushed to `storage-async-queue` (each one
a v1 resolver consumer invocation doing one `kvs.set`), then the loop drains them:

- `py_drain`: events/s of `Emulator.run(until_idle=True)` over the Python app.
- `js_drain`: the same over the JavaScript app: per attempt, one invocation message to the worker,
  one `/api/v1/set` request back, its answer, and the attempt's answer (two pipe round trips).
  Its ratio to `py_drain` (same rep) is the figure to read.
- `js_start`: seconds to start the worker and import the app's module (Emulator.start()), paid
  once per run (and again after a timeout kills the worker); not counted in `js_drain`.

Push and start are outside the timed drain span. The measure functions fit bench/registry.py's
`Bench` (`measure(n, db_path) -> float`; `BENCHES` below), so the harness can register them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fmt_stats, fresh_db_dir, print_table, summarize

REPO = Path(__file__).resolve().parent.parent
PY_APP = REPO / "fixtures" / "storage-queue" / "manifest.yml"
JS_APP = REPO / "fixtures" / "storage-queue-js" / "manifest.yml"
QUEUE = "storage-async-queue"


def _engine(manifest: Path, db_path: Path, n: int) -> tuple[object, float]:
    """A started Emulator over a fresh state with n events queued, and how long start() took."""
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.settings import Settings
    from forgeq.emulator.store import Store

    engine = Emulator(load_manifest(manifest), Store(db_path), Settings(seed=0))
    for start in range(0, n, 50):
        engine.push(QUEUE, [{"body": {"issueKey": f"DEMO-{i}"}} for i in range(start, min(start + 50, n))])
    started = time.perf_counter()
    engine.start()
    if engine.handlers.errors:
        raise RuntimeError(next(iter(engine.handlers.errors.values())).message)
    return engine, time.perf_counter() - started


def _drain(manifest: Path, n: int, db_path: Path) -> float:
    engine, _ = _engine(manifest, db_path, n)
    try:
        started = time.perf_counter()
        engine.run(until_idle=True)  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - started
        assert engine.attempts_run == n, engine.attempts_run  # type: ignore[attr-defined]
    finally:
        engine.handlers.close()  # type: ignore[attr-defined]
        engine.store.close()  # type: ignore[attr-defined]
    return n / elapsed


def py_drain(n: int, db_path: Path) -> float:
    return _drain(PY_APP, n, db_path)


def js_drain(n: int, db_path: Path) -> float:
    return _drain(JS_APP, n, db_path)


def js_start(n: int, db_path: Path) -> float:
    engine, seconds = _engine(JS_APP, db_path, 1)
    engine.handlers.close()  # type: ignore[attr-defined]
    engine.store.close()  # type: ignore[attr-defined]
    return seconds


def unavailable() -> str | None:
    """Why the JavaScript benches cannot run here, or None."""
    if shutil.which("node") is None:
        return "Node.js is not installed"
    if not (JS_APP.parent / "node_modules" / "@forge" / "kvs").is_dir():
        return f"run `npm ci` in {JS_APP.parent} first"
    return None


BENCHES: dict[str, Callable[[int, Path], float]] = {
    "py_drain": py_drain,
    "js_drain": js_drain,
    "js_start": js_start,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2_000, help="events drained per measurement")
    parser.add_argument("--reps", type=int, default=5, help="round-robin repetitions")
    options = parser.parse_args(argv)
    why = unavailable()
    if why is not None:
        print(f"skipped: {why}")
        return 0
    import forgeq.emulator.loop.engine  # noqa: F401 - measure in the heap state forgeq runs in

    results: dict[str, list[float]] = {name: [] for name in BENCHES}
    for rep in range(options.reps):
        for name, measure in BENCHES.items():
            with fresh_db_dir() as scratch:
                results[name].append(measure(options.n, Path(scratch) / "state.db"))
        sys.stderr.write(f"rep {rep + 1}/{options.reps} done\n")
    ratios = summarize([js / py for js, py in zip(results["js_drain"], results["py_drain"], strict=True)])
    rows = [
        ["py_drain", f"{options.n:,}", fmt_stats(summarize(results["py_drain"]), " events/s"), ""],
        [
            "js_drain",
            f"{options.n:,}",
            fmt_stats(summarize(results["js_drain"]), " events/s"),
            f"{ratios.median:.3f}x [{ratios.low:.3f}..{ratios.high:.3f}]",
        ],
        ["js_start", "1", fmt_stats(summarize([s * 1000 for s in results["js_start"]]), " ms"), ""],
    ]
    from forgeq.emulator.app.node import find_node

    node = find_node()
    print(
        f"storage-queue app drained, JavaScript vs Python, {options.reps} round-robin reps; python {sys.version.split()[0]}, "
        f"node {node.text if node else '?'}"
    )
    print_table(["bench", "n", "median [min..max]", "vs py_drain"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
