"""Deterministic crash points for the crash harness (tests/crashkit.py): die at the Nth X.

`FORGEQ_CRASH_AT=commit:37` makes the process `os._exit(CRASH_EXIT_CODE)` at its 37th commit of
a WriteBatch, with the transaction open (so SQLite rolls it back, as after a kill -9 at that
instant). The points:

- `claim:N`     just after the Nth claim committed (events leased, none run yet)
- `commit:N`    inside the Nth acknowledgement transaction, before COMMIT (it is rolled back)
- `committed:N` just after the Nth acknowledgement committed
- `attempt:N`   inside the Nth handler call, after the handler returned (its result unacknowledged)

Several points may be given, comma-separated; the first one reached ends the process. The
variable is read once, when the first Store opens; unset, the hot path pays one `is None` test
per commit or claim.
"""

from __future__ import annotations

import os
import sys

from forgeq.emulator.errors import InputError

ENV = "FORGEQ_CRASH_AT"
POINTS = ("claim", "commit", "committed", "attempt")
CRASH_EXIT_CODE = 99


class CrashPoints:
    def __init__(self, targets: dict[str, int]) -> None:
        self.targets = targets
        self.counts = dict.fromkeys(targets, 0)

    def hit(self, point: str) -> None:
        target = self.targets.get(point)
        if target is None:
            return
        self.counts[point] += 1
        if self.counts[point] >= target:
            sys.stderr.write(f"forgeq: {ENV}={point}:{target} reached; exiting as a crash would\n")
            sys.stderr.flush()
            os._exit(CRASH_EXIT_CODE)


def parse(spec: str) -> dict[str, int]:
    targets: dict[str, int] = {}
    for part in spec.split(","):
        point, _, number = part.strip().partition(":")
        if point not in POINTS or not number.isdigit() or int(number) < 1:
            raise InputError(
                f"{ENV}='{spec}': expected POINT:N with POINT one of {', '.join(POINTS)} and N >= 1"
            )
        targets[point] = int(number)
    return targets


_loaded = False
_active: CrashPoints | None = None


def from_env() -> CrashPoints | None:
    """The process's crash points (one shared counter per point), or None when the variable is unset."""
    global _loaded, _active
    if not _loaded:
        spec = os.environ.get(ENV, "").strip()
        _active = CrashPoints(parse(spec)) if spec else None
        _loaded = True
    return _active
