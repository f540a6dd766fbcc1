"""What handler code imports: a Python mirror of `@forge/events` 2.x/3.x.

    from forgeq.events import Queue, InvocationError, InvocationErrorCode

    queue = Queue(key="storage-async-queue")
    result = queue.push({"body": {"issueKey": "DEMO-1"}, "delayInSeconds": 5})
    queue.get_job(result.job_id).get_stats()   # JobStats(success=0, in_progress=1, failed=0)

Push validation runs here, on the client side, in the SDK's order and with its messages
(FS §1.2); the platform's limits (events per minute, cyclic invocations) answer from the emulator.
In `async def` code every call returns an awaitable, as the JavaScript SDK returns Promises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from forgeq.emulator import limits
from forgeq.jsontext import CircularJsonError, stringify
from forgeq.runtime import current, sdk_call

QUEUE_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9-_]+$")


class EventsError(Exception):
    """Base of every `@forge/events` error (2.x+; in the JS SDK it is not exported)."""


class InvalidQueueNameError(EventsError):
    pass


class NoEventsToPushError(EventsError):
    pass


class TooManyEventsError(EventsError):
    pass


class InvalidPayloadError(EventsError):
    pass


class InvalidPushSettingsError(EventsError):
    pass


class PayloadTooBigError(EventsError):
    pass


class RateLimitError(EventsError):
    pass


class InvocationLimitReachedError(EventsError):
    pass


class JobDoesNotExistError(EventsError):
    pass


class InternalServerError(EventsError):
    def __init__(self, message: str, error_code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.details = details


class PartialSuccessError(EventsError):
    """Some events of a push were refused; `failed_events[i] = {"errorMessage", "payload"}` as the SDK writes it."""

    def __init__(self, message: str, result: PushResult, failed_events: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.result = result
        self.failed_events = failed_events


class InvocationErrorCode(StrEnum):
    FUNCTION_RETRY_REQUEST = "FUNCTION_RETRY_REQUEST"
    FUNCTION_UPSTREAM_RATE_LIMITED = "FUNCTION_UPSTREAM_RATE_LIMITED"
    FUNCTION_OUT_OF_MEMORY = "FUNCTION_OUT_OF_MEMORY"
    FUNCTION_TIME_OUT = "FUNCTION_TIME_OUT"
    FUNCTION_PLATFORM_UNKNOWN_ERROR = "FUNCTION_PLATFORM_UNKNOWN_ERROR"
    FUNCTION_PLATFORM_RATE_LIMITED = "FUNCTION_PLATFORM_RATE_LIMITED"

    def __str__(self) -> str:
        return self.value


_MISSING: Any = object()


class InvocationError(Exception):
    """Return one from a consumer to ask Forge for a retry: `return InvocationError(retry_after=30)`.

    Forge honours only a *returned* InvocationError (its JS constructor returns a plain
    `{_retry: true, retryOptions}` object). forgeq makes it an Exception so that a raised one can be
    recognised and reported; raising it is still an app-level error, as on Forge.
    Accepts Python keywords or Forge's options dict: `InvocationError({"retryAfter": 30})`.
    """

    _retry = True

    def __init__(
        self,
        retry_options: dict[str, Any] | None = None,
        *,
        retry_after: Any = _MISSING,
        retry_reason: Any = _MISSING,
        retry_data: Any = _MISSING,
    ) -> None:
        options: dict[str, Any] = dict(retry_options or {})
        given_keywords = {
            "retryAfter": retry_after,
            "retryReason": retry_reason,
            "retryData": retry_data,
        }
        options.update({k: v for k, v in given_keywords.items() if v is not _MISSING})
        self.options_given = retry_options is not None or any(v is not _MISSING for v in given_keywords.values())
        if not self.options_given:
            options = {"retryAfter": limits.MIN_RETRY_AFTER, "retryReason": InvocationErrorCode.FUNCTION_RETRY_REQUEST.value}
        self.retry_options = options
        super().__init__(f"InvocationError(retryAfter={options.get('retryAfter')!r}, retryReason={options.get('retryReason')!r})")

    @property
    def retry_after(self) -> Any:
        return self.retry_options.get("retryAfter")

    @property
    def retry_reason(self) -> Any:
        return self.retry_options.get("retryReason")

    @property
    def retry_data(self) -> Any:
        return self.retry_options.get("retryData")

    def to_json(self) -> dict[str, Any]:
        return {"_retry": True, "retryOptions": dict(self.retry_options)}


@dataclass(frozen=True)
class PushResult:
    job_id: str

    @property
    def jobId(self) -> str:  # noqa: N802 - Forge's own name
        return self.job_id

    def __getitem__(self, name: str) -> str:
        if name in ("jobId", "job_id"):
            return self.job_id
        raise KeyError(name)


@dataclass(frozen=True)
class JobStats:
    success: int
    in_progress: int
    failed: int

    @property
    def inProgress(self) -> int:  # noqa: N802 - Forge's own name
        return self.in_progress

    def __getitem__(self, name: str) -> int:
        return self.as_dict()[name]

    def as_dict(self) -> dict[str, int]:
        return {"success": self.success, "inProgress": self.in_progress, "failed": self.failed}


class JobProgress:
    def __init__(self, queue: Queue, job_id: str) -> None:
        self.queue = queue
        self.job_id = job_id

    @sdk_call
    def get_stats(self) -> JobStats:
        return _stats(self.queue.key, self.job_id)

    @sdk_call
    def cancel(self) -> None:
        _cancel(self.queue.key, self.job_id)

    getStats = get_stats  # noqa: N815 - Forge's own name


class Queue:
    def __init__(self, key: str | None = None, **kwargs: Any) -> None:
        if key is None and isinstance(kwargs.get("key"), str):
            key = kwargs["key"]
        if not isinstance(key, str) or not QUEUE_KEY_PATTERN.match(key):
            raise InvalidQueueNameError("Queue names can only contain alphanumeric characters, dashes and underscores.")
        self.key = key

    @sdk_call
    def push(self, events: Any) -> PushResult:
        batch = validate_push(events)
        return PushResult(current().push(self.key, batch))

    def get_job(self, job_id: str) -> JobProgress:
        if not job_id:
            raise JobDoesNotExistError("jobId cannot be empty.")
        return JobProgress(self, job_id)

    @sdk_call
    def get_stats(self, job_id: str) -> JobStats:
        return _stats(self.key, job_id)

    @sdk_call
    def cancel(self, job_id: str) -> None:
        _cancel(self.key, job_id)

    getJob = get_job  # noqa: N815 - Forge's own name
    getStats = get_stats  # noqa: N815


def _stats(queue: str, job_id: str) -> JobStats:
    if not job_id:
        raise JobDoesNotExistError("jobId cannot be empty.")
    counts = current().job_stats(queue, job_id)
    return JobStats(counts["success"], counts["inProgress"], counts["failed"])


def _cancel(queue: str, job_id: str) -> None:
    if not job_id:
        raise JobDoesNotExistError("jobId cannot be empty.")
    current().cancel_job(queue, job_id)


def validate_push(events: Any) -> list[dict[str, Any]]:
    """`@forge/events` validators.js, in its order: count, shape, delay, then total size."""
    batch = events if isinstance(events, list | tuple) else [events]
    if len(batch) == 0:
        raise NoEventsToPushError("No events pushed.")
    if len(batch) > limits.MAX_EVENTS_PER_PUSH:
        raise TooManyEventsError(f"This push contains more than the {limits.MAX_EVENTS_PER_PUSH} events allowed.")
    for event in batch:
        if not isinstance(event, dict):
            raise InvalidPayloadError("Event must be an object.")
        if not isinstance(event.get("body"), dict):
            raise InvalidPayloadError("Event body must be an object.")
        delay = event.get("delayInSeconds")
        if delay and not _delay_in_range(delay):
            raise InvalidPushSettingsError(f"The delayInSeconds setting must be between 0 and {limits.MAX_DELAY_SECONDS}.")
    if len(to_json(list(batch)).encode("utf-8")) / 1024 > limits.MAX_PUSH_BYTES / 1024:
        raise PayloadTooBigError(f"The maximum payload size is {limits.MAX_PUSH_BYTES // 1024}KB.")
    return list(batch)


def _delay_in_range(delay: Any) -> bool:
    # JS compares with > and <; a non-number is refused here rather than guessed (docs/fidelity.md).
    if isinstance(delay, bool) or not isinstance(delay, int | float):
        return False
    return not (delay > limits.MAX_DELAY_SECONDS or delay < 0)


def to_json(value: Any) -> str:
    """`JSON.stringify(value)` (forgeq.jsontext): NaN and Infinity as null, JavaScript's numbers, lone
    surrogates escaped; a cycle is its TypeError; a value JSON has no type for is InvalidPayloadError."""
    try:
        return stringify(value)
    except CircularJsonError:
        raise
    except (TypeError, ValueError) as error:
        raise InvalidPayloadError(f"Event must be JSON: {error}") from None


__all__ = [
    "EventsError",
    "InternalServerError",
    "InvalidPayloadError",
    "InvalidPushSettingsError",
    "InvalidQueueNameError",
    "InvocationError",
    "InvocationErrorCode",
    "InvocationLimitReachedError",
    "JobDoesNotExistError",
    "JobProgress",
    "JobStats",
    "NoEventsToPushError",
    "PartialSuccessError",
    "PayloadTooBigError",
    "PushResult",
    "Queue",
    "RateLimitError",
    "TooManyEventsError",
    "validate_push",
]
