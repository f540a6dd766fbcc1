"""Concurrency keys (Atlassian's "Concurrency" page for async events; docs/fidelity.md): the events waiting for a key whose `limit` events are all running.

Forge does not start such an event: it retries it internally with exponential backoff, with gaps up
to 15 minutes and no order kept (Atlassian staff, community thread 93837), and a backlog that waits
long enough runs out of the 24 h retention window. forgeq's model (docs/fidelity.md):

- the n-th wait of an event lasts min(2 * 2^(n-1), 900) seconds times a jitter in [0.5, 1), drawn
  from (seed, event, n), so a run repeats under one `--seed` whatever else ran;
- a wait uses no retry and makes no attempt; the attempt that finally starts says how long the
  event waited and how often;
- a wait that would end after the retention window drops the event into the ledger.

The waits are counted in memory: after a restart, an event's backoff starts again from 2 s.
"""

from __future__ import annotations

import random

from forgeq.emulator import limits


# Plain classes, not dataclasses: every run imports this module, and a dataclass costs the import
# a generated __init__, __eq__ and __repr__ (bench/README.md, Round 4).
class _Wait:
    __slots__ = ("count", "since")

    def __init__(self, count: int, since: float) -> None:
        self.count = count
        self.since = since


class Deferral:
    __slots__ = ("next_at", "drop_reason", "waited")

    def __init__(self, next_at: float, drop_reason: str | None, waited: str = "") -> None:
        self.next_at = next_at  # when the event tries for a slot again
        self.drop_reason = drop_reason  # set when next_at falls after the retention window: the event is dropped
        self.waited = waited  # with drop_reason: how often and how long the event waited


class KeyWaits:
    def __init__(self, seed: int, retention_seconds: float) -> None:
        self.seed = seed
        self.retention_seconds = retention_seconds
        self.waiting: dict[int, _Wait] = {}  # by event; the loop asks started() only while it holds some

    def defer(self, event: int, key: str, limit: int, at: float, enqueued_at: float) -> Deferral:
        """The event found `key` full at `at`: when it tries again, or why it is dropped."""
        wait = self.waiting.setdefault(event, _Wait(0, at))
        wait.count += 1
        backoff = min(
            limits.CONCURRENCY_WAIT_FIRST_SECONDS * 2 ** min(wait.count - 1, 30),
            limits.CONCURRENCY_WAIT_MAX_SECONDS,
        )
        next_at = at + backoff * random.Random(f"{self.seed}:{event}:wait:{wait.count}").uniform(0.5, 1.0)
        if next_at <= enqueued_at + self.retention_seconds:
            return Deferral(next_at, None)
        del self.waiting[event]
        hours = self.retention_seconds / 3600
        return Deferral(
            next_at,
            f"retention window over while waiting for concurrency key '{key}' (limit {limit}): "
            f"the next try would fall {hours:g} h after the event was pushed",
            f"waited {wait.count} time(s), {at - wait.since:.0f} s in all",
        )

    def started(self, event: int, at: float) -> str | None:
        """The event got its slots: a timeline note when it had to wait for them."""
        wait = self.waiting.pop(event, None)
        if wait is None:
            return None
        return f"waited {wait.count} time(s), {at - wait.since:.3f} s in all, for its concurrency key (Forge's internal backoff; no retry used)"
