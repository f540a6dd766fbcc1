"""Forge's retry rules: from what a handler did to what happens to its event next.

Pure functions of their arguments; the loop supplies times and the event's history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from forgeq.emulator import limits, safetext
from forgeq.emulator.safetext import safe_text
from forgeq.jsontext import stringify
from forgeq.jsvalues import shown, to_string

SUCCEEDED = "succeeded"
RETRY = "retry"
DROPPED = "dropped"
LOST = "lost"

# The kinds of delivery, each with its own rules.
CONSUMER_V1 = "consumer-v1"
CONSUMER_V2 = "consumer-v2"
TRIGGER = "trigger"
SCHEDULED = "scheduled"


UNKNOWN_ERROR = "FUNCTION_PLATFORM_UNKNOWN_ERROR"
# The retryReason of an app-level error the platform names (Atlassian's "Async events API": InvocationErrorCode; docs/fidelity.md): a timeout, running out of memory.
_APP_ERROR_REASONS = {"timeout": "FUNCTION_TIME_OUT", "out-of-memory": "FUNCTION_OUT_OF_MEMORY"}


@dataclass(frozen=True)
class Result:
    """What a handler did: returned a retry request, returned something else, raised, or timed out."""

    kind: str  # "returned" | "retry-request" | "raised" | "timeout" | "out-of-memory"
    retry_options: dict[str, Any] | None = None
    retry_options_given: bool = True
    error: str | None = None
    raised_invocation_error: bool = False


class Decision:
    """What becomes of an attempt. Plain classes here and in RetryRules, not dataclasses: every run
    imports this module, and a dataclass costs the import a generated __init__, __eq__ and __repr__
    (bench/README.md, Round 4)."""

    __slots__ = (
        "outcome", "reason", "retry_after_asked", "retry_after_applied", "retry_data", "next_at", "retry_data_json",
        "drop_reason", "notes",
    )  # fmt: skip

    def __init__(
        self,
        outcome: str,  # SUCCEEDED | RETRY | DROPPED | LOST
        reason: str | None = None,
        retry_after_asked: float | None = None,
        retry_after_applied: float | None = None,
        retry_data: Any = None,
        next_at: float | None = None,
        retry_data_json: str | None = None,  # retry_data as stored and sent back (compact JSON), once
        drop_reason: str | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.outcome = outcome
        self.reason = reason
        self.retry_after_asked = retry_after_asked
        self.retry_after_applied = retry_after_applied
        self.retry_data = retry_data
        self.next_at = next_at
        self.retry_data_json = retry_data_json
        self.drop_reason = drop_reason
        self.notes: list[str] = [] if notes is None else notes


class RetryRules:
    __slots__ = ("platform_limits", "emulate_eco759", "retention_seconds")

    def __init__(
        self, platform_limits: bool = True, emulate_eco759: bool = True, retention_seconds: float = limits.RETENTION_SECONDS
    ) -> None:
        self.platform_limits = platform_limits
        self.emulate_eco759 = emulate_eco759
        self.retention_seconds = retention_seconds


def clamp_retry_after(value: Any, notes: list[str]) -> tuple[float | None, float]:
    """(asked, applied): <= 0 becomes 1, over 900 becomes 900, fractions kept.

    forgeq's choices where Forge is silent (docs/fidelity.md): missing, NaN or non-numbers become 1;
    a number past a double (10**400, infinity) is clamped like any number over 900, and recorded as
    asked None (no JSON number holds it).
    """
    if value is None:
        notes.append("retryAfter missing: Forge's SDK sends none; forgeq applies 1 s")
        return None, limits.MIN_RETRY_AFTER
    if isinstance(value, bool) or not isinstance(value, int | float):
        notes.append(f"retryAfter {shown(value)} is not a number; forgeq applies 1 s")
        return None, limits.MIN_RETRY_AFTER
    try:
        asked = float(value)
    except OverflowError:  # an integer past a double: as far beyond 900 (or below 0) as a number goes
        asked = math.inf if value > 0 else -math.inf
    if math.isnan(asked):
        notes.append("retryAfter is NaN; forgeq applies 1 s")
        return None, limits.MIN_RETRY_AFTER
    recorded = asked if math.isfinite(asked) else None
    if asked <= 0:
        return recorded, limits.MIN_RETRY_AFTER
    if asked > limits.MAX_RETRY_AFTER:
        what = f"{asked:g}" if recorded is not None else safetext.shown(value, limits.MAX_QUOTED_CHARS)
        notes.append(f"retryAfter {what} s clamped to {limits.MAX_RETRY_AFTER:g} s")
        return recorded, limits.MAX_RETRY_AFTER
    return asked, asked


def automatic_backoff(retry_count: int) -> float:
    """forgeq's delay before retry number `retry_count` (1-based) after an app-level error."""
    return float(min(limits.AUTO_RETRY_MAX_DELAY, limits.AUTO_RETRY_FIRST_DELAY * 2 ** max(0, retry_count - 1)))


def decide(
    delivery: str,
    result: Result,
    *,
    retry_count: int,
    ended_at: float,
    enqueued_at: float,
    body_bytes: int,
    rules: RetryRules,
) -> Decision:
    """The next step for an event whose attempt (carrying `retry_count` retries so far) just ended."""
    if result.kind == "returned":
        return Decision(SUCCEEDED)
    notes: list[str] = []
    if result.raised_invocation_error:
        notes.append("InvocationError was raised: Forge honours only a returned one, so this is an app-level error")
    if delivery == SCHEDULED:
        if result.kind == "retry-request":
            notes.append("scheduled triggers are not retried; the InvocationError is ignored")
            return Decision(SUCCEEDED, notes=notes)
        return Decision(LOST, drop_reason="scheduled trigger failed; Forge does not retry it", notes=notes)
    if delivery == TRIGGER and result.kind == "raised":
        return Decision(LOST, drop_reason="trigger threw; Forge does not retry a thrown error, the event is lost", notes=notes)

    next_count = retry_count + 1
    if result.kind == "retry-request":
        options = result.retry_options or {}
        if not result.retry_options_given:
            options = {"retryAfter": limits.MIN_RETRY_AFTER, "retryReason": "FUNCTION_RETRY_REQUEST"}
        asked, applied = clamp_retry_after(options.get("retryAfter"), notes)
        reason = options.get("retryReason")
        if reason is None:
            notes.append("retryReason missing: Forge's SDK sends none; forgeq reports FUNCTION_RETRY_REQUEST")
            reason = "FUNCTION_RETRY_REQUEST"
        reason = _reason_text(reason)
        retry_data = options.get("retryData")
        data_json = _retry_data_json(retry_data, notes) if retry_data is not None else None
        decision = Decision(RETRY, reason, asked, applied, retry_data, notes=notes, retry_data_json=data_json)
        if rules.platform_limits:
            data_bytes = len(data_json.encode()) if data_json is not None else 0
            if data_bytes > limits.MAX_RETRY_DATA_BYTES:
                notes.append(f"retryData is {data_bytes} bytes, over Forge's {limits.MAX_RETRY_DATA_BYTES // 1024} KB limit: refused")
                return _app_error(delivery, next_count, ended_at, enqueued_at, rules, "retryData over 4 KB", notes)
            if rules.emulate_eco759 and body_bytes + data_bytes > limits.RETRY_PAYLOAD_BYTES:
                decision.outcome = DROPPED
                decision.drop_reason = (
                    f"ECO-759: body plus retryData is {body_bytes + data_bytes} bytes, over 200 KB; Forge silently skips the retry"
                )
                return decision
    else:
        error = result.error or result.kind
        return _app_error(delivery, next_count, ended_at, enqueued_at, rules, error, notes, _APP_ERROR_REASONS.get(result.kind, UNKNOWN_ERROR))
    return _budget(decision, delivery, next_count, ended_at, enqueued_at, rules)


def _app_error(
    delivery: str,
    next_count: int,
    ended_at: float,
    enqueued_at: float,
    rules: RetryRules,
    error: str,
    notes: list[str],
    reason: str = UNKNOWN_ERROR,
) -> Decision:
    delay = automatic_backoff(next_count)
    decision = Decision(RETRY, reason, None, delay, None, notes=notes)
    return _budget(decision, delivery, next_count, ended_at, enqueued_at, rules)


def _budget(decision: Decision, delivery: str, next_count: int, ended_at: float, enqueued_at: float, rules: RetryRules) -> Decision:
    assert decision.retry_after_applied is not None
    decision.next_at = ended_at + decision.retry_after_applied
    if delivery in (CONSUMER_V1, TRIGGER):
        cap = limits.V1_MAX_RETRIES if delivery == CONSUMER_V1 else limits.TRIGGER_MAX_RETRIES
        if next_count > cap:
            decision.outcome = DROPPED if delivery == CONSUMER_V1 else LOST
            decision.drop_reason = f"retries exhausted: {cap} retries used ({'v1 resolver consumer' if delivery == CONSUMER_V1 else 'product trigger'})"
            decision.next_at = None
    elif decision.next_at > enqueued_at + rules.retention_seconds:
        decision.outcome = DROPPED
        hours = rules.retention_seconds / 3600
        decision.drop_reason = f"retention window over: the retry would fall {hours:g} h after the event was pushed"
        decision.next_at = None
    return decision


def _reason_text(reason: Any) -> str:
    """retryReason as the timeline keeps it: a code, or the handler's own text, bounded and well formed."""
    try:
        text = to_string(reason)  # String(reason), as the SDK sends it
    except Exception:  # noqa: BLE001 - a __str__ that raises, an integer past Python's digit limit, a nesting too deep
        text = safetext.shown(reason, limits.MAX_QUOTED_CHARS)
    return safe_text(text, limits.MAX_REASON_CHARS)


def _retry_data_json(value: Any, notes: list[str]) -> str:
    """retryData as stored and sent back (JSON.stringify's text). What JSON cannot hold goes as text, noted."""
    try:
        return stringify(value)
    except (TypeError, ValueError) as error:
        notes.append(f"retryData is not JSON ({safe_text(str(error), limits.MAX_QUOTED_CHARS)}): the next attempt gets what JSON cannot hold as text (str)")
    try:
        return stringify(value, default=str)
    except Exception:  # noqa: BLE001 - a circular structure, a __str__ that raises or returns junk
        return stringify(safetext.shown(value, limits.MAX_RETRY_DATA_BYTES))
