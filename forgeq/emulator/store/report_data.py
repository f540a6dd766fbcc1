"""The HTML report's figures, as ReportQueries (store/report_queries.py) reads them for
tools/report.py. A module of its own so that the Store, which ReportQueries is a part of, does not
build these classes in every command's start-up (bench/README.md, Round 4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Lane:
    """One queue (or trigger) of the timeline: attempts per bin and outcome, backlog per bin."""

    kind: str
    target: str
    label: str
    attempts: int = 0
    events: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    # bin -> outcome -> attempts started in that bin
    bins: dict[int, dict[str, int]] = field(default_factory=dict)
    # events enqueued and not yet finished, at the end of each bin
    depth: list[int] = field(default_factory=list)
    # of those, events waiting out a retry delay at the end of each bin
    backing_off: list[int] = field(default_factory=list)
    merged: int = 1  # how many queues this lane stands for ("other queues" merges several)


@dataclass
class QuotaSeries:
    """One (installation, metric) of the quota_windows table, binned: peak window use per bin."""

    installation: str
    metric: str
    window_seconds: float
    quota: int | None
    windows: int
    peak_used: int
    refused: int
    windows_at_limit: int
    # bin -> (first window start, peak used in one window, refused calls)
    bins: dict[int, tuple[float, int, int]] = field(default_factory=dict)


@dataclass
class ReportData:
    start: float
    end: float
    bins: int
    bin_seconds: float
    clock: str
    now: float | None
    totals: dict[str, int]
    outcomes: dict[str, int]
    lanes: list[Lane]
    hidden_lanes: int
    histogram: list[tuple[int, int, int]]  # (attempts, succeeded, dropped); the last may be "cap or more"
    histogram_capped: bool
    top_errors: list[tuple[str, int]]
    quota: list[QuotaSeries]
    quota_series_total: int
    quota_windows_total: int
    dropped: list[dict[str, Any]]
    dropped_total: int
    drop_reasons: list[tuple[str, int]]
    drain_seconds: float | None  # first push to last finish; None while events still wait
