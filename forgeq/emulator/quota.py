"""Storage quotas and the async-events platform limits, on the emulator's clock.

The loop asks `charge(...)` before serving a storage call and `check_push(...)` before accepting
a push; each answers None (allowed) or the refusal message. Windows are fixed and aligned to the
virtual epoch (docs/fidelity.md says why). This module never reads the clock: times come in.
"""

from __future__ import annotations

from typing import Protocol


class Quota(Protocol):
    def charge(self, installation: str, operation: str, units: int, at: float) -> str | None: ...


class NoQuota:
    def charge(self, installation: str, operation: str, units: int, at: float) -> str | None:
        return None
