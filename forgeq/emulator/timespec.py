"""Points in time as people type them for `--since` / `--until`: offsets, clock text, ISO dates.

The timeline prints virtual times as the offset from the virtual epoch (`+00:15:00.050`), so
that is what a filter accepts first: `15m`, `1h30m`, `+00:15:00`, `+1d 02:00:00`. A leading `-`
counts back from the state's clock (`-15m`: the last 15 minutes), `now` is the state's clock, and
an ISO 8601 date (`2025-11-17T09:15:00Z`; no zone means UTC) is absolute. Nothing here reads the
clock: `now` comes in.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from forgeq.emulator import limits
from forgeq.emulator.errors import InputError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
# The timeline's own format: [Nd ]HH:MM:SS[.fff] (render.clock_text).
_CLOCK = re.compile(r"(?:(\d+)d\s*)?(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?")

HINT = "write an offset from the start of virtual time (15m, 1h30m, +00:15:00), -15m for the last 15 minutes, now, or an ISO date"


def duration_seconds(text: str) -> float | None:
    """`15m`, `1h30m`, `500ms`, `90` (seconds), `00:15:00`, `1d 02:00:00`; None if it is none of these."""
    cleaned = text.strip().lower()
    clock = _CLOCK.fullmatch(cleaned)
    if clock is not None:
        days, hours, minutes, seconds = clock.groups()
        return int(days or 0) * 86400.0 + int(hours) * 3600.0 + int(minutes) * 60.0 + float(seconds or 0)
    cleaned = cleaned.replace(" ", "")
    try:
        value = float(cleaned)
    except ValueError:
        parts = _PART.findall(cleaned)
        if not parts or "".join(number + unit for number, unit in parts) != cleaned:
            return None
        return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    return value if math.isfinite(value) else None


def parse_point(text: str, now: float, option: str = "--since", epoch: float = limits.VIRTUAL_EPOCH) -> float:
    """The epoch seconds `text` names; raise InputError naming the option otherwise."""
    cleaned = text.strip()
    if cleaned.lower() == "now":
        return now
    if cleaned.startswith("-"):
        back = duration_seconds(cleaned[1:])
        if back is None:
            raise InputError(f"{option} {text!r} is not a time", HINT)
        return now - back
    offset = duration_seconds(cleaned.removeprefix("+"))
    if offset is not None:
        return epoch + offset
    try:
        moment = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        raise InputError(f"{option} {text!r} is not a time", HINT) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def parse_window(since: str | None, until: str | None, now: float) -> tuple[float | None, float | None]:
    """Both ends of a `--since` / `--until` filter; refuse an empty window."""
    start = parse_point(since, now, "--since") if since is not None else None
    end = parse_point(until, now, "--until") if until is not None else None
    if start is not None and end is not None and end < start:
        raise InputError(f"--until {until!r} is before --since {since!r}")
    return start, end
