"""What the loop reports as it goes: one AttemptReport per attempt, and notices.

Observers (the CLI's live timeline, the testing API's recorder) receive these; the loop never
formats text for a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# Attempt outcomes, as stored in attempts.outcome and shown on the timeline.
SUCCEEDED = "succeeded"
RETRY = "retry"  # the handler returned an InvocationError
ERROR = "error"  # raised; retried with forgeq's backoff
TIMEOUT = "timeout"
DROPPED = "dropped"
LOST = "lost"
OUTCOMES = (SUCCEEDED, RETRY, ERROR, TIMEOUT, DROPPED, LOST)


@dataclass
class AttemptReport:
    seq: int
    event_id: str
    installation: str
    kind: str
    target: str
    job_id: str | None
    attempt: int
    retry_count: int
    started_at: float
    ended_at: float
    outcome: str
    reason: str | None = None
    error: str | None = None
    retry_after_asked: float | None = None
    retry_after_applied: float | None = None
    next_at: float | None = None
    drop_reason: str | None = None
    quota_refusals: int = 0
    storage_calls: int = 0
    notes: list[str] = field(default_factory=list)
    logs: str = ""
    redelivered: bool = False
    wall_ms: float = 0.0
    # Product calls: {at, product, method, path, status, retry_after, reason} (platform/site/service.py)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Notice:
    at: float
    text: str
    level: str = "info"  # "info" | "warning" | "error"


class Observer(Protocol):
    """Receives every attempt and notice. One whose `wants_attempts` is False is sent no attempts,
    and the loop makes no AttemptReport for it (a ProgressObserver reads the counts instead); one
    whose `wants_successes` is False is sent no attempt that simply succeeded (returned, with no
    note and no log), the commonest, which the loop then writes without making a report."""

    def attempt(self, report: AttemptReport) -> None: ...

    def notice(self, notice: Notice) -> None: ...


@runtime_checkable
class ProgressObserver(Protocol):
    """An observer told, after each commit, the attempts so far by outcome and when the last one ended."""

    def progress(self, outcomes: dict[str, int], last_ended_at: float) -> None: ...
