"""What a bench is, and the baselines registered with the harness.

forgeq's own benches are registered in bench/forgeq_benches.py, with the same `Bench` type.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import baselines

Measure = Callable[[int, Path], float | Mapping[str, float]]
"""(n, fresh DB path) -> one figure in the bench's unit, or several by name (a Bench's `figure` picks
one). The path's directory is empty and private."""


@dataclass(frozen=True)
class Target:
    """A goal for `this / baseline`, e.g. Target(">=", 0.5): at least half the baseline's figure."""

    op: Literal[">=", "<="]
    ratio: float

    def met(self, ratio: float) -> bool:
        return ratio >= self.ratio if self.op == ">=" else ratio <= self.ratio

    def __str__(self) -> str:
        return f"{self.op} {self.ratio:g}x"


@dataclass(frozen=True)
class Compare:
    """Print this bench as a ratio to `baseline` (another bench's name), measured in the same rep."""

    baseline: str
    target: Target | None = None


@dataclass(frozen=True)
class Sizes:
    quick: int
    full: int

    def pick(self, quick: bool) -> int:
        return self.quick if quick else self.full


# Shared sizes: a forgeq bench compared with a baseline should use the baseline's Sizes.
DRAIN_N = Sizes(quick=1_000, full=10_000)
PUSH_N = Sizes(quick=10_000, full=100_000)
STARTUP_N = Sizes(quick=10, full=10)  # Spawns per measurement; the measure functions fix 10.
RSS_SMALL_N = Sizes(quick=1_000, full=10_000)
RSS_MEDIUM_N = Sizes(quick=10_000, full=100_000)
RSS_LARGE_N = Sizes(quick=30_000, full=1_000_000)


@dataclass(frozen=True)
class Bench:
    """One measured row. `unit` says which way is better: events/s up, s and MB down."""

    name: str
    measure: Measure
    unit: Literal["events/s", "s", "MB"]
    sizes: Sizes
    about: str
    compare: tuple[Compare, ...] = ()
    # Long benches (the 1e6 backlog) may sit out later rounds; ratios use the rounds both sides ran.
    max_reps: int | None = None
    # Returns why the bench cannot run here (e.g. forgeq lacks the command yet), or None.
    unavailable: Callable[[], str | None] = lambda: None
    # The measure returns several figures by name; this row shows this one. Rows with the same
    # measure and n share one measurement per rep (the harness runs it once).
    figure: str | None = None


BASELINE_BENCHES: list[Bench] = [
    Bench(
        "raw_push",
        baselines.raw_batched_inserts,
        "events/s",
        PUSH_N,
        "raw sqlite3 push: json.dumps + uuid4 + INSERT, 50 events per transaction",
    ),
    Bench(
        "raw_drain_50",
        partial(baselines.raw_sqlite_drain, batch=50),
        "events/s",
        DRAIN_N,
        "raw sqlite3 forgeq-shaped loop, push then drain, claims 50 due events per transaction",
    ),
    Bench(
        "raw_drain_1",
        partial(baselines.raw_sqlite_drain, batch=1),
        "events/s",
        DRAIN_N,
        "same loop, one event per transaction",
        compare=(Compare("raw_drain_50"),),
    ),
    Bench(
        "raw_drain_50_logged",
        partial(baselines.raw_sqlite_drain_logged, batch=50),
        "events/s",
        DRAIN_N,
        "raw_drain_50 also writing one line per attempt to a file",
        compare=(Compare("raw_drain_50", Target(">=", 0.75)),),
    ),
    Bench(
        "huey_drain",
        baselines.huey_drain,
        "events/s",
        DRAIN_N,
        "huey SqliteHuey at NORMAL: enqueue n tasks (1 kvs upsert each), then dequeue + execute all",
        compare=(Compare("raw_drain_50"),),
    ),
    Bench(
        "huey_drain_retrying",
        baselines.huey_drain_retrying,
        "events/s",
        DRAIN_N,
        "huey doing the raw loop's workload: its quota model, backoff retries through huey's schedule",
        compare=(Compare("raw_drain_50"),),
    ),
    Bench(
        "startup_typer",
        baselines.startup_import_typer,
        "s",
        STARTUP_N,
        'median wall of 10 fresh `python -c "import typer"`',
    ),
    Bench(
        "startup_pass",
        baselines.startup_python_pass,
        "s",
        STARTUP_N,
        "median wall of 10 fresh `python -c pass`",
        compare=(Compare("startup_typer"),),
    ),
    Bench(
        "rss_small",
        baselines.rss_backlog,
        "MB",
        RSS_SMALL_N,
        "peak RSS of a fresh process pushing then draining n events with the raw loop (batch 50)",
    ),
    Bench(
        "rss_medium",
        baselines.rss_backlog,
        "MB",
        RSS_MEDIUM_N,
        "same, bigger backlog",
        compare=(Compare("rss_small"),),
    ),
    Bench(
        "rss_large",
        baselines.rss_backlog,
        "MB",
        RSS_LARGE_N,
        "same, biggest backlog (full mode: about 2 minutes a rep, so 3 reps at most)",
        compare=(Compare("rss_small", Target("<=", 1.5)),),
        max_reps=3,
    ),
]
