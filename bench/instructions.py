"""Instructions per delivery, counted by valgrind: a figure the machine's load does not move.

    .venv/bin/python bench/instructions.py            # the simple workload (bench/simple.py), about 2 min
    .venv/bin/python bench/instructions.py --small 1000 --large 4000

On a shared 2-core machine a wall-clock ratio moves by 10-20% from one run to the next, more than
most changes of the hot path. valgrind's callgrind counts the instructions a process executes,
the same every time for the same work (hash seed fixed, no wall-clock flush). Three drains, each
counted at two sizes so that start-up cancels out (per event = (large - small) / (large - small n)):

- `raw`: `simple.raw_simple_loop`'s drain (its push is counted separately and taken off);
- `forgeq`: `Emulator.run(until_idle=True)` over the events `forgeq push --count` writes (pushed
  before the count starts), the engine in process as `forgeq run` runs it;
- `forgeq_run`: the whole `forgeq run --until-idle --quiet --storage-limits none` command at the
  large size, start-up, summary and closing checkpoint included, as a total.

The count moves by up to 3% with the code's path on disk and with unrelated imports (the
interpreter's memory layout): compare counts made from the same folder, and read a difference
under 3% as none. Instructions are not time: SQLite's page writes cost system calls that callgrind does not count,
and Python's instructions retire faster than SQLite's. Read the ratio of instructions next to the
wall-clock ratios of `bench/run.py --only forgeq_simple`, as the figure that says whether a change
made the work smaller. Needs valgrind (`apt-get install valgrind`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import simple
from bench.common import ensure_bytecode

ROOT = Path(__file__).resolve().parent.parent
_COLLECTED = re.compile(r"Collected : (\d+)")


def _push(folder: Path, n: int) -> Path:
    """A state file holding n events of the simple workload, pushed as `forgeq push --count n` does."""
    from forgeq.emulator.store import Store

    simple.write_app(folder / "app")
    store = Store(folder / "state.db")
    try:
        simple.push_rows(store, n)
    finally:
        store.close()
    return folder / "state.db"


def _drain(folder: Path) -> None:
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.settings import Settings
    from forgeq.emulator.store import Store

    store = Store(folder / "state.db")
    try:
        # No commit on the wall clock's 50 ms: under valgrind every attempt takes fifty times longer.
        Emulator(load_manifest(folder / "app" / "manifest.yml"), store, Settings(storage_limits="none", ack_batch_seconds=1e9)).run(until_idle=True)
    finally:
        store.close()


def _raw(folder: Path, n: int, push_only: bool) -> None:
    if push_only:  # raw_simple_loop's push alone, to take off its count
        conn = simple.connect(folder / "raw.db")
        conn.executescript(simple.SCHEMA + simple.KVS_SCHEMA)
        simple.raw_push(conn, n)
        conn.close()
    else:
        simple.raw_simple_loop(n, folder / "raw.db")


def _count(argv: list[str]) -> int:
    """Instructions callgrind counts for `argv` (a Python command line)."""
    with tempfile.NamedTemporaryFile(prefix="forgeq-callgrind-") as out:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}", *argv],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)},  # this tree's forgeq, whatever is installed
            cwd=ROOT,
            check=False,
        )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind {' '.join(argv)} failed: {done.stderr[-500:]}")
    return int(found.group(1))


def _self(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", *args]


def per_event(scratch: Path, small: int, large: int) -> dict[str, float]:
    counts: dict[str, dict[int, int]] = {"raw": {}, "raw_push": {}, "forgeq": {}}
    for n in (small, large):
        folder = scratch / f"n{n}"
        folder.mkdir()
        counts["raw"][n] = _count(_self("raw", str(folder), str(n)))
        shutil.rmtree(folder)
        folder.mkdir()
        counts["raw_push"][n] = _count(_self("raw-push", str(folder), str(n)))
        shutil.rmtree(folder)
        folder.mkdir()
        _push(folder, n)
        counts["forgeq"][n] = _count(_self("drain", str(folder)))
    span = large - small
    rates = {name: (values[large] - values[small]) / span for name, values in counts.items()}
    return {"raw": rates["raw"] - rates["raw_push"], "forgeq": rates["forgeq"]}


def whole_run(scratch: Path, n: int) -> int:
    folder = scratch / f"cli{n}"
    folder.mkdir()
    _push(folder, n)
    return _count(
        [sys.executable, "-c", _CLI, "run", str(folder / "app" / "manifest.yml"), "--until-idle", "--quiet",
         "--storage-limits", "none", "--db", str(folder / "state.db")]
    )  # fmt: skip


# `forgeq run` as the console script runs it, without the 50 ms wall-clock commits (see _drain).
_CLI = (
    "import sys; import forgeq.emulator.limits as limits; limits.ACK_BATCH_SECONDS = 1e9; "
    "from forgeq.launcher import main; sys.argv = ['forgeq', *sys.argv[1:]]; main()"
)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        what, folder = args[1], Path(args[2])
        if what == "drain":
            _drain(folder)
        else:
            _raw(folder, int(args[3]), push_only=what == "raw-push")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=2000, help="events at the small size")
    parser.add_argument("--large", type=int, default=8000, help="events at the large size")
    options = parser.parse_args(args)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    ensure_bytecode()  # or, with PYTHONDONTWRITEBYTECODE set, every count includes compiling forgeq
    with tempfile.TemporaryDirectory(prefix="forgeq-instructions-") as scratch:
        rates = per_event(Path(scratch), options.small, options.large)
        total = whole_run(Path(scratch), options.large)
    print(f"instructions per delivered event, simple workload ({options.small:,} and {options.large:,} events):")
    print(f"  raw sqlite3 loop  {rates['raw']:>10,.0f}")
    print(f"  forgeq (engine)   {rates['forgeq']:>10,.0f}   {rates['raw'] / rates['forgeq']:.3f}x the raw loop's count")
    print(f"whole `forgeq run` over {options.large:,} events: {total / 1e6:,.0f} M instructions ({total / options.large:,.0f} an event)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
