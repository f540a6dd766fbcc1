"""PLUG-IN POINT: forgeq's own measurements.

Nothing is registered yet, on purpose: forgeq's engine is not ready, and the harness must never
print a number for forgeq that forgeq did not produce. To add one, append a `Bench` to
FORGEQ_BENCHES below. Each needs:

- `measure(n, db_path) -> float`: run forgeq on a fresh DB at `db_path` (its directory is empty and
  private to this call) and return a figure in the bench's unit. Measure the same span as the
  baseline you compare with (see bench/README.md, "What each row measures").
- `sizes`: reuse the baseline's Sizes (DRAIN_N, PUSH_N, ...) so ratios compare equal workloads.
- `compare`: the baselines (or other forgeq benches) to print a ratio against, each with its target
  from the performance issue. The ratio is always `this / baseline`.
- `unavailable`: return a reason string while forgeq lacks what the bench needs; the harness then
  prints "skipped: <reason>" instead of a number.

The five targets, as they would be registered (names are suggestions; the APIs are assumptions to
check against forgeq when it lands):

    Bench("forgeq_drain", forgeq_drain, "events/s", DRAIN_N, "...",
          compare=(Compare("raw_drain_50", Target(">=", 0.5)), Compare("huey_drain", Target(">=", 1.5))),
          unavailable=needs_library("forgeq.emulator"))
    Bench("forgeq_push_cli", forgeq_push_cli, "events/s", PUSH_N, "...",
          compare=(Compare("raw_push", Target(">=", 0.5)),), unavailable=needs_cli("push", "--help"))
    Bench("forgeq_rss_small", partial(forgeq_rss, ...), "MB", RSS_SMALL_N, "...")
    Bench("forgeq_rss_large", partial(forgeq_rss, ...), "MB", RSS_LARGE_N, "...",
          compare=(Compare("forgeq_rss_small", Target("<=", 1.5)),), max_reps=3)
    Bench("forgeq_startup_inspect", forgeq_startup_inspect, "s", STARTUP_N, "...",
          compare=(Compare("startup_typer", Target("<=", 1.5)),), unavailable=needs_cli("inspect", "queue", "--help"))
    Bench("forgeq_drain_logged", ..., "events/s", DRAIN_N, "...",
          compare=(Compare("forgeq_drain", Target(">=", 0.75)),))

where, for example, a CLI-driven startup bench is

    def forgeq_startup_inspect(n: int, db_path: Path) -> float:
        seed = run_command(forgeq_argv("push", ...))            # set up outside the timed span
        return median_startup(forgeq_argv("inspect", "queue", "--db", str(db_path)))

and a child-process RSS bench is `run_command(forgeq_argv(...)).peak_rss_mb` (bench/common.py).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import run_command
from bench.registry import Bench

FORGEQ_BENCHES: list[Bench] = [
    # forgeq entries go here; see the module docstring. Keep this list empty until forgeq can run them.
]


def forgeq_argv(*args: str) -> list[str]:
    """argv for the installed `forgeq` console script, preferring the one next to this interpreter."""
    script = Path(sys.executable).parent / "forgeq"
    if script.exists():
        return [str(script), *args]
    found = shutil.which("forgeq")
    if found is None:
        raise FileNotFoundError("no `forgeq` script: run `uv sync` in the repo first")
    return [found, *args]


def needs_library(module: str) -> Callable[[], str | None]:
    """An `unavailable` check: skip the bench until `module` can be imported."""

    def check() -> str | None:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        return None if found else f"{module} is not importable yet"

    return check


def needs_cli(*args: str) -> Callable[[], str | None]:
    """An `unavailable` check: skip the bench until `forgeq <args>` exits 0 (e.g. `push --help`)."""

    def check() -> str | None:
        try:
            result = run_command(forgeq_argv(*args), check=False)
        except FileNotFoundError as error:
            return str(error)
        return None if result.returncode == 0 else f"`forgeq {' '.join(args)}` exits {result.returncode}"

    return check
