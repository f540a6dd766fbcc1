"""Storage quotas by era, on the emulator's clock (Atlassian's "Storage API quotas" pages; docs/fidelity.md, storage quotas).

`StorageQuota.charge(...)` is asked before a storage call is served and answers None (allowed) or
the refusal message, served as a 429 RATE_LIMIT_EXCEEDED. Windows are fixed and aligned to the
virtual epoch (limits.VIRTUAL_EPOCH): a 60 s window starts at +00:00:00, +00:01:00, ...
(docs/fidelity.md says why fixed and not sliding). This module never reads the clock and never
touches SQLite: times come in as arguments, committed usage comes in through `load`, and usage
goes out through `record` (the engine points them at the store and the WriteBatch).

Eras:
- "2025" (from 16 Nov 2025): 1000 requests/s, 4000 read units and 4000 write units per minute,
  a unit being 10 KB of the request rounded up (at least 1).
- "2023" (about 2023 to 16 Nov 2025): per 20 s, 1000 reads, 1000 writes, 400 deletes, 200 queries.
- "none": no storage quota.
- custom: a YAML file, or "BASE,metric=LIMIT[/SECONDS],..." (see `parse_storage_limits`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from forgeq.emulator import limits
from forgeq.emulator.errors import InputError
from forgeq.emulator.jsoninput import bounded_text

# What a storage call is, for the quota.
READ = "read"
WRITE = "write"
DELETE = "delete"
QUERY = "query"
OPERATIONS = (READ, WRITE, DELETE, QUERY)

# What a limit counts per call.
REQUESTS = "requests"  # 1 per call, whatever it carries
UNITS = "units"  # 10 KB units of the request (a batch counts its whole payload)
ITEMS = "operations"  # 1 per key the call touches (a batch of 25 counts 25)
COUNTS = (REQUESTS, UNITS, ITEMS)

ERAS = ("2025", "2023", "none")

# (installation, metric, window_start, window_seconds, used, refused, limit) -> None
Recorder = Callable[[str, str, float, float, int, int, int], None]
# (installation, metric, window_start) -> units already used in that window
Loader = Callable[[str, str, float], int]


class Quota(Protocol):
    limits: tuple[Limit, ...]  # none: every call is allowed (the storage calls skip charge())

    def charge(
        self, installation: str, operation: str, units: int, at: float, items: int = 1
    ) -> str | None: ...


class NoQuota:
    """The "none" era: every call is allowed and nothing is recorded."""

    name = "none"
    limits: tuple[Limit, ...] = ()

    def charge(self, installation: str, operation: str, units: int, at: float, items: int = 1) -> str | None:
        return None


@dataclass(frozen=True)
class Limit:
    """One quota: at most `limit` of what `counts` measures, per fixed window of `seconds`."""

    metric: str
    seconds: float
    limit: int
    operations: frozenset[str]
    counts: str

    def amount(self, units: int, items: int) -> int:
        if self.counts == UNITS:
            return units
        if self.counts == ITEMS:
            return items
        return 1

    def describe(self) -> str:
        return f"{self.limit} {self.metric.replace('_', ' ')} per {_seconds(self.seconds)}"


def _limit(metric: str, seconds: float, limit: int, operations: Iterable[str], counts: str) -> Limit:
    return Limit(metric, seconds, limit, frozenset(operations), counts)


ERA_LIMITS: dict[str, tuple[Limit, ...]] = {
    "2025": (
        _limit("requests", 1, 1000, OPERATIONS, REQUESTS),
        _limit("read_units", 60, 4000, (READ, QUERY), UNITS),
        _limit("write_units", 60, 4000, (WRITE, DELETE), UNITS),
    ),
    "2023": (
        _limit("reads", 20, 1000, (READ,), ITEMS),
        _limit("writes", 20, 1000, (WRITE,), ITEMS),
        _limit("deletes", 20, 400, (DELETE,), ITEMS),
        _limit("queries", 20, 200, (QUERY,), ITEMS),
    ),
    "none": (),
}

# A window is pruned from memory once the newest window of its metric is this many windows ahead.
_KEEP_WINDOWS = 4


def window_start(at: float, seconds: float) -> float:
    """The start of the fixed window holding `at`, windows aligned to the virtual epoch."""
    return limits.VIRTUAL_EPOCH + math.floor((at - limits.VIRTUAL_EPOCH) / seconds) * seconds


class StorageQuota:
    """The quotas of one era (or custom figures), kept per installation and window."""

    def __init__(
        self,
        name: str,
        quota_limits: Iterable[Limit],
        *,
        load: Loader | None = None,
        record: Recorder | None = None,
    ) -> None:
        self.name = name
        self.limits = tuple(quota_limits)
        self.load = load
        self.record = record
        operations = {op for limit in self.limits for op in limit.operations}
        self._by_operation = {
            op: tuple(limit for limit in self.limits if op in limit.operations) for op in operations
        }
        # (installation, metric) -> {window_start: used}
        self._used: dict[tuple[str, str], dict[float, int]] = {}

    def charge(self, installation: str, operation: str, units: int, at: float, items: int = 1) -> str | None:
        """Admit the call (add it to every window it counts in) or refuse it (add nothing, count the refusal)."""
        applicable = self._by_operation.get(operation)
        if not applicable:
            return None
        # On the hot path: one small loop, no allocation beyond the plan.
        epoch = limits.VIRTUAL_EPOCH
        planned = []
        refused = None
        for limit in applicable:
            seconds = limit.seconds
            start = epoch + (at - epoch) // seconds * seconds  # window_start(at, seconds)
            windows = self._used.get((installation, limit.metric))
            used = windows.get(start) if windows is not None else None
            if used is None:
                windows = self._windows(installation, limit.metric, start)
                used = self.load(installation, limit.metric, start) if self.load is not None else 0
                windows[start] = used
            counts = limit.counts
            amount = units if counts == UNITS else items if counts == ITEMS else 1
            if used + amount > limit.limit:
                refused = refused or []
                refused.append((limit, start))
            planned.append((limit, start, used + amount, amount))
        record = self.record
        if refused:
            if record is not None:
                for limit, start in refused:
                    record(installation, limit.metric, start, limit.seconds, 0, 1, limit.limit)
            limit, start = refused[0]
            return (
                f"Rate limit exceeded: {installation} reached {limit.describe()} "
                f"(window from {_offset(start)}; forgeq's {self.name} storage limits)"
            )
        used_windows = self._used
        for limit, start, total, amount in planned:
            used_windows[(installation, limit.metric)][start] = total
            if record is not None:
                record(installation, limit.metric, start, limit.seconds, amount, 0, limit.limit)
        return None

    def _windows(self, installation: str, metric: str, start: float) -> dict[float, int]:
        windows = self._used.setdefault((installation, metric), {})
        if start not in windows and len(windows) >= _KEEP_WINDOWS:
            for old in sorted(windows)[: len(windows) - _KEEP_WINDOWS + 1]:
                del windows[old]  # reloaded through `load` if time ever comes back to it
        return windows


# -- choosing the limits ---------------------------------------------------------------------------


def parse_storage_limits(spec: str) -> tuple[str, tuple[Limit, ...]]:
    """(name, limits) for `--storage-limits`: an era, a YAML file, or an era with figures changed.

    - "2025", "2023", "none": an era's figures.
    - a path to a YAML file (see `limits_from_yaml`).
    - "2025,write_units=100,read_units=50/10": an era with some figures changed, LIMIT per SECONDS
      (the metric's own window when /SECONDS is left out); "write_units=100" alone starts from 2025.
    """
    text = spec.strip()
    if text in ERA_LIMITS:
        return text, ERA_LIMITS[text]
    if "=" not in text:
        path = Path(text)
        if path.suffix in (".yml", ".yaml") or path.exists():
            return limits_from_yaml(path)
        raise InputError(
            f"--storage-limits '{spec}' is not an era, a file or a list of figures",
            "use 2025, 2023, none, a YAML file, or e.g. 2025,write_units=100",
        )
    parts = [part.strip() for part in text.split(",") if part.strip()]
    base = "2025"
    if parts and "=" not in parts[0]:
        base = parts.pop(0)
        if base not in ERA_LIMITS:
            raise InputError(
                f"--storage-limits '{spec}': unknown era '{base}'", f"use one of {', '.join(ERAS)}"
            )
    changes: dict[str, Any] = {}
    for part in parts:
        metric, _, figure = part.partition("=")
        limit_text, _, seconds_text = figure.partition("/")
        change: dict[str, Any] = {"limit": _integer(limit_text, f"--storage-limits '{spec}': {metric}")}
        if seconds_text:
            change["seconds"] = _positive(
                seconds_text.rstrip("s"), f"--storage-limits '{spec}': {metric} window"
            )
        changes[metric.strip()] = change
    return f"{base} with " + ", ".join(parts), _apply(base, changes, f"--storage-limits '{spec}'")


def limits_from_yaml(path: Path) -> tuple[str, tuple[Limit, ...]]:
    """Custom figures from a small YAML file:

    base: 2025                  # the era to start from: 2025 (default), 2023 or none
    limits:
      write_units: 100          # a new figure, in the metric's own window
      read_units: {limit: 50, seconds: 10}
      requests: null            # no such limit
      pushes_of_big_values:     # a limit of your own: say what it counts
        {limit: 10, seconds: 60, operations: [write], counts: units}
    """
    import yaml

    where = str(path)
    try:
        data = yaml.safe_load(bounded_text(path, limits.MAX_YAML_INPUT_BYTES))
    except FileNotFoundError:
        raise InputError(f"--storage-limits {where}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"--storage-limits {where}: cannot read it: {error}") from None
    except yaml.YAMLError as error:
        raise InputError(f"--storage-limits {where}: not valid YAML: {error}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping with `base` and `limits`")
    unknown = sorted(set(data) - {"base", "limits"})
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}", "use base and limits")
    base = str(data.get("base", "2025"))
    if base not in ERA_LIMITS:
        raise InputError(f"{where}: base: unknown era '{base}'", f"use one of {', '.join(ERAS)}")
    figures = data.get("limits") or {}
    if not isinstance(figures, dict):
        raise InputError(f"{where}: limits: expected a mapping of metric to figure")
    changes: dict[str, Any] = {}
    for metric, figure in figures.items():
        label = f"{where}: limits.{metric}"
        if figure is None:
            changes[str(metric)] = None
        elif isinstance(figure, dict):
            extra = sorted(set(figure) - {"limit", "seconds", "operations", "counts"})
            if extra:
                raise InputError(
                    f"{label}: unknown key(s) {', '.join(map(str, extra))}",
                    "use limit, seconds, operations, counts",
                )
            change: dict[str, Any] = {}
            if "limit" in figure:
                change["limit"] = _integer(figure["limit"], label)
            if "seconds" in figure:
                change["seconds"] = _positive(figure["seconds"], f"{label}.seconds")
            if "operations" in figure:
                operations = figure["operations"]
                if (
                    not isinstance(operations, list)
                    or not operations
                    or any(op not in OPERATIONS for op in operations)
                ):
                    raise InputError(f"{label}.operations: expected a list of {', '.join(OPERATIONS)}")
                change["operations"] = frozenset(operations)
            if "counts" in figure:
                if figure["counts"] not in COUNTS:
                    raise InputError(f"{label}.counts: expected one of {', '.join(COUNTS)}")
                change["counts"] = figure["counts"]
            changes[str(metric)] = change
        else:
            changes[str(metric)] = {"limit": _integer(figure, label)}
    return f"{base} with {path.name}", _apply(base, changes, where)


def _apply(base: str, changes: dict[str, Any], where: str) -> tuple[Limit, ...]:
    result = {limit.metric: limit for limit in ERA_LIMITS[base]}
    for metric, change in changes.items():
        if change is None:
            result.pop(metric, None)
            continue
        if metric in result:
            result[metric] = replace(result[metric], **change)
            continue
        missing = [name for name in ("limit", "seconds", "operations", "counts") if name not in change]
        if missing:
            known = ", ".join(limit.metric for limit in ERA_LIMITS[base]) or "none"
            raise InputError(
                f"{where}: '{metric}' is not a limit of the {base} era (its limits: {known})",
                f"to add a limit of your own, give {', '.join(missing)}",
            )
        result[metric] = Limit(
            metric, change["seconds"], change["limit"], change["operations"], change["counts"]
        )
    return tuple(result.values())


def _integer(value: Any, label: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InputError(f"{label}: '{value}' is not a whole number") from None
    if number < 0:
        raise InputError(f"{label}: {number} is negative")
    return number


def _positive(value: Any, label: str) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise InputError(f"{label}: '{value}' is not a number of seconds") from None
    if not number > 0 or math.isinf(number):
        raise InputError(f"{label}: the window must be a positive number of seconds")
    return number


def _seconds(seconds: float) -> str:
    if seconds == 1:
        return "second"
    if seconds == 60:
        return "minute"
    return f"{seconds:g} s"


def _offset(start: float) -> str:
    offset = start - limits.VIRTUAL_EPOCH
    if offset < 0 or offset > 10 * 365 * 86400:
        return f"{start:.3f}"
    hours, rest = divmod(int(offset), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"+{hours:02d}:{minutes:02d}:{seconds:02d}"


def build_quota(
    spec: str, *, load: Loader | None = None, record: Recorder | None = None
) -> StorageQuota | NoQuota:
    name, chosen = parse_storage_limits(spec)
    if not chosen:
        return NoQuota()
    return StorageQuota(name, chosen, load=load, record=record)
