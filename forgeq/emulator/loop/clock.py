"""Clocks. Only RealClock reads the system time; everything else takes a clock.

Times are epoch seconds. A VirtualClock starts at limits.VIRTUAL_EPOCH (or where the state file
left it) and moves only when told: the loop jumps it to the next due event.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    virtual: bool

    def now(self) -> float: ...

    def advance_to(self, when: float) -> None:
        """Let time reach `when`: a virtual clock jumps, a real one sleeps until then."""

    def wait(self, seconds: float) -> None:
        """Pause the loop for up to `seconds` of wall time while idle (real sleep in both kinds)."""


class VirtualClock:
    virtual = True

    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance_to(self, when: float) -> None:
        if when > self._now:
            self._now = when

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)


class RealClock:
    """Wall-clock epoch for due times; monotonic for waiting, so a stepped clock cannot stall a wait."""

    virtual = False

    def now(self) -> float:
        return time.time()

    def advance_to(self, when: float) -> None:
        remaining = when - time.time()
        if remaining > 0:
            deadline = time.monotonic() + remaining
            time.sleep(max(0.0, min(remaining, deadline - time.monotonic())))

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)


def resumed_virtual_time(saved: str | None) -> float:
    """Where a virtual clock resumes: where the state file's last run left it, never before the epoch."""
    from forgeq.emulator.limits import VIRTUAL_EPOCH

    return max(float(saved), VIRTUAL_EPOCH) if saved else VIRTUAL_EPOCH


# Wall time for measuring how long forgeq itself took, and for the timeout watchdog's deadlines
# (never for scheduling). The clock function itself, not a wrapper: it is read four times per attempt.
wall_time = time.perf_counter
