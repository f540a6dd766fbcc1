"""What handler code imports: a Python mirror of `@forge/events` 2.x/3.x.

    from forgeq.events import Queue, InvocationError, InvocationErrorCode

    queue = Queue(key="storage-async-queue")
    result = queue.push({"body": {"issueKey": "DEMO-1"}, "delayInSeconds": 5})
    queue.get_job(result.job_id).get_stats()   # JobStats(success=0, in_progress=1, failed=0)

Push validation runs here, on the client side, as the package's validators.js runs it: in its
order, with its messages and with JavaScript's loose rules (truthiness, `Number()`, `String()`;
forgeq/jsvalues.py), on the text JSON.stringify writes (forgeq/jsontext.py). The platform's answers
(its own checks, events per minute, cyclic invocations, job stats) come from the emulator and are
turned into the errors the package raises for them (`refused`). In `async def` code every call
returns an awaitable, as the JavaScript SDK returns Promises.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

from forgeq.emulator import limits
from forgeq.jsontext import CircularJsonError, parse, stringify, through_json
from forgeq.jsvalues import to_number, to_string, truthy
from forgeq.runtime import PlatformRefusal, current, sdk_call

QUEUE_KEY_PATTERN = re.compile(r"[a-zA-Z0-9-_]+")  # with fullmatch: JavaScript's `$` ends the input
QUEUE_NAME_MESSAGE = "Queue names can only contain alphanumeric characters, dashes and underscores."


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


class QueueResponse:
    """The package's legacy retry request (0.3.x style): `response = QueueResponse(); response.retry(); return response`."""

    def __init__(self) -> None:
        self._retry = False

    def retry(self, *_: Any) -> None:
        self._retry = True

    def to_json(self) -> dict[str, Any]:
        return {"_retry": self._retry}

    toJSON = to_json  # noqa: N815 - JSON.stringify's name


class InvocationError(Exception):
    """Return one from a consumer to ask Forge for a retry: `return InvocationError(retry_after=30)`.

    Forge honours only a *returned* InvocationError (its JS constructor returns a plain
    `{_retry: true, retryOptions}` object). forgeq makes it an Exception so that a raised one can be
    recognised and reported; raising it is still an app-level error, as on Forge.
    Accepts Python keywords or Forge's options dict: `InvocationError({"retryAfter": 30})`.

    As the package's constructor does: no options at all is `{retryAfter: 1, retryReason:
    FUNCTION_RETRY_REQUEST}`; a `retryAfter` that JavaScript finds `<= 0` (0, -5, None, False, "0",
    "", []) becomes 1, in the options dict given (the package edits the caller's object too); options
    that are not a dict are kept as they are (the platform then applies its defaults).
    """

    _retry = True

    def __init__(
        self,
        retry_options: Any = _MISSING,
        *_ignored: Any,  # JavaScript ignores arguments past the first
        retry_after: Any = _MISSING,
        retry_reason: Any = _MISSING,
        retry_data: Any = _MISSING,
    ) -> None:
        keywords = {
            name: value
            for name, value in (("retryAfter", retry_after), ("retryReason", retry_reason), ("retryData", retry_data))
            if value is not _MISSING
        }
        options: Any
        if retry_options is _MISSING:
            options = dict(keywords) if keywords else {
                "retryAfter": int(limits.MIN_RETRY_AFTER),
                "retryReason": InvocationErrorCode.FUNCTION_RETRY_REQUEST.value,
            }
        elif retry_options is None:  # JavaScript's null: `null.retryAfter` throws
            raise TypeError("Cannot read properties of null (reading 'retryAfter')")
        elif keywords:
            options = {**retry_options, **keywords} if isinstance(retry_options, dict) else keywords
        else:
            options = retry_options
        if isinstance(options, dict) and "retryAfter" in options and to_number(options["retryAfter"]) <= 0:
            options["retryAfter"] = int(limits.MIN_RETRY_AFTER)
        self.retry_options = options
        super().__init__()

    def __str__(self) -> str:
        """The JSON the package's constructor returns, as JavaScript shows a thrown one."""
        try:
            return stringify(self.to_json(), default=repr)
        except (TypeError, ValueError):
            return "InvocationError (its retryOptions hold a cycle)"

    @property
    def retry_after(self) -> Any:
        return self.retry_options.get("retryAfter") if isinstance(self.retry_options, dict) else None

    @property
    def retry_reason(self) -> Any:
        return self.retry_options.get("retryReason") if isinstance(self.retry_options, dict) else None

    @property
    def retry_data(self) -> Any:
        return self.retry_options.get("retryData") if isinstance(self.retry_options, dict) else None

    def to_json(self) -> dict[str, Any]:
        """What the package's constructor returns: `{_retry: true, retryOptions}`, the options themselves."""
        return {"_retry": True, "retryOptions": self.retry_options}

    toJSON = to_json  # noqa: N815 - JSON.stringify's name: an InvocationError inside a value is written as this


class PushResult(dict[str, Any]):
    """What `push` answers, the package's `{jobId}`: `result["jobId"]`, `result.job_id` or `result.jobId`."""

    def __init__(self, job_id: str) -> None:
        super().__init__(jobId=job_id)

    @property
    def job_id(self) -> str:
        return str(self["jobId"])

    @property
    def jobId(self) -> str:  # noqa: N802 - Forge's own name
        return self.job_id

    def __getitem__(self, name: str) -> Any:
        return super().__getitem__("jobId" if name == "job_id" else name)


class JobStats(dict[str, Any]):
    """What `getStats` answers, the package's `{success, inProgress, failed}`, also as attributes
    (`stats.in_progress` or `stats.inProgress`)."""

    def __init__(self, success: int, in_progress: int, failed: int) -> None:
        super().__init__(success=success, inProgress=in_progress, failed=failed)

    @property
    def success(self) -> int:
        return int(self["success"])

    @property
    def in_progress(self) -> int:
        return int(self["inProgress"])

    @property
    def inProgress(self) -> int:  # noqa: N802 - Forge's own name
        return self.in_progress

    @property
    def failed(self) -> int:
        return int(self["failed"])

    def __getitem__(self, name: str) -> Any:
        return super().__getitem__("inProgress" if name == "in_progress" else name)

    def as_dict(self) -> dict[str, int]:
        return {"success": self.success, "inProgress": self.in_progress, "failed": self.failed}


class JobProgress:
    def __init__(self, queue: Queue, job_id: Any) -> None:
        self.queue = queue
        self.job_id = job_id
        self.id = job_id

    @sdk_call
    def get_stats(self, *_: Any) -> JobStats:
        return _stats(self.queue.key, self.job_id)

    @sdk_call
    def cancel(self, *_: Any) -> None:
        _cancel(self.queue.key, self.job_id)

    getStats = get_stats  # noqa: N815 - Forge's own name


def valid_queue_key(key: Any) -> bool:
    """validators.js `validateQueueKey`: `!key || !/^[a-zA-Z0-9-_]+$/.test(key)` refuses; test() reads
    String(key), so 123 passes (the platform refuses it later) and JavaScript's `$` ends the input
    (fullmatch: Python's `$` would let a final newline through)."""
    return truthy(key) and QUEUE_KEY_PATTERN.fullmatch(to_string(key)) is not None


class Queue:
    """`new Queue({key})`: `Queue(key="q")` or `Queue({"key": "q"})`. As the package's constructor reads
    `queueParams.key`: no argument, or None, is its TypeError; any other non-dict has no key."""

    def __init__(self, params: Any = _MISSING, /, *_: Any, key: Any = _MISSING) -> None:
        if key is _MISSING:
            if params is _MISSING or params is None:
                raise TypeError(f"Cannot read properties of {'undefined' if params is _MISSING else 'null'} (reading 'key')")
            key = params.get("key") if isinstance(params, dict) else None
        if not valid_queue_key(key):
            raise InvalidQueueNameError(QUEUE_NAME_MESSAGE)
        self.key = key

    @sdk_call
    def push(self, events: Any = None, *_: Any) -> PushResult:
        batch, texts = validated_push(events)
        try:
            return PushResult(current().push(self.key, batch, texts=texts))
        except PlatformRefusal as refusal:
            raise refused(refusal) from None

    def get_job(self, job_id: Any = None, *_: Any) -> JobProgress:
        return JobProgress(self, job_id)

    @sdk_call
    def get_stats(self, job_id: Any = None, *_: Any) -> JobStats:
        return _stats(self.key, job_id)

    @sdk_call
    def cancel(self, job_id: Any = None, *_: Any) -> None:
        _cancel(self.key, job_id)

    getJob = get_job  # noqa: N815 - Forge's own name
    getStats = get_stats  # noqa: N815


def _stats(queue: Any, job_id: Any) -> JobStats:
    sent = _check_job_request(queue, job_id)
    try:
        counts = current().job_stats(queue, sent)
    except PlatformRefusal as refusal:
        raise refused(refusal, queue=queue, job_id=job_id) from None
    return JobStats(counts["success"], counts["inProgress"], counts["failed"])


def _cancel(queue: Any, job_id: Any) -> None:
    sent = _check_job_request(queue, job_id)
    try:
        current().cancel_job(queue, sent)
    except PlatformRefusal as refusal:
        raise refused(refusal, queue=queue, job_id=job_id) from None


def _check_job_request(queue: Any, job_id: Any) -> Any:
    """validators.js `validateGetStatsPayload` / `validateCancelJobRequest`; the job id as the request
    sends it, through JSON.stringify (a cycle is its TypeError, before any request)."""
    if not truthy(job_id):
        raise JobDoesNotExistError("jobId cannot be empty.")
    if not valid_queue_key(queue):
        raise InvalidQueueNameError(QUEUE_NAME_MESSAGE)
    return job_id if type(job_id) is str else through_json(job_id)


def refused(refusal: PlatformRefusal, *, queue: Any = None, job_id: Any = None) -> EventsError:
    """The error @forge/events raises for the platform's answer (validators.js): 413 and 404 (of
    stats and cancel) by name, 429 and 405 with fixed texts, anything else InternalServerError."""
    body = refusal.body
    if refusal.status == 413 and job_id is None:
        return PayloadTooBigError(body.get("errorMessage"))
    if refusal.status == 404 and job_id is not None:
        return JobDoesNotExistError(f"The job {to_string(job_id)} was not found for the queue {to_string(queue)}.")
    if refusal.status == 429:
        return RateLimitError("Too many requests.")
    if refusal.status == 405:
        return InvocationLimitReachedError("The limit on cyclic invocation has been reached.")
    message = f"{refusal.status} {refusal.status_text}"
    if truthy(body.get("message")):
        message += f": {to_string(body['message'])}"
    if truthy(body.get("errors")):
        message += f": {', '.join(map(to_string, body['errors']))}"
    return InternalServerError(message, body.get("code"), body.get("details"))


_APP_EVENT_ERRORS = {400: "VALIDATION_ERROR", 401: "AUTHENTICATION_ERROR", 403: "AUTHORIZATION_ERROR", 429: "RATE_LIMIT",
                     500: "SERVICE_ERROR", 503: "SERVICE_UNAVAILABLE"}  # fmt: skip


class AppEvents:
    """`appEvents` of @forge/events 3.x: `app_events.publish({"key": "my-event"})` sends what the package
    sends and answers as it does: `{"type": "success", "failedEvents": [...]}` or `{"type": "error",
    "errorType", "errorMessage"}`. forgeq does not emulate Forge's app events: the platform answers 501
    (errorType OTHER) with a note on the attempt, to both languages."""

    @sdk_call
    def publish(self, events: Any = None, *_: Any) -> dict[str, Any]:
        batch = list(events) if isinstance(events, list | tuple) else [events]
        keys = []
        for event in batch:
            if event is None:  # `e.key` of null
                raise TypeError("Cannot read properties of null (reading 'key')")
            keys.append({"key": event.get("key")} if isinstance(event, dict) and event.get("key") is not None else {})
        answer = current().platform_request(
            {
                "target": {"type": "fpp", "provider": "app", "remote": "stargate"},
                "method": "POST",
                "path": "/forge/events/v1/app-events",
                "body": stringify({"events": keys}),
            }
        )
        status = int(answer.get("status") or 0)
        body = json.loads(answer.get("body") or "null")
        if not 200 <= status < 300:
            return {"type": "error", "errorType": _APP_EVENT_ERRORS.get(status, "OTHER"), "errorMessage": _app_event_error(body)}
        failed = body.get("failedEvents") if isinstance(body, dict) else None
        return {"type": "success", "failedEvents": failed if failed is not None else []}


def _app_event_error(body: Any) -> str:
    """getErrorMessage of appEvents.js: its errorMessages, else its errors as `key: value`, else the body."""
    if isinstance(body, dict) and truthy(body.get("errorMessages")):
        return ", ".join(map(to_string, body["errorMessages"]))
    if isinstance(body, dict) and truthy(body.get("errors")) and isinstance(body["errors"], dict):
        return ", ".join(f"{key}: {to_string(value)}" for key, value in body["errors"].items())
    return stringify(body)


app_events = AppEvents()
appEvents = app_events  # noqa: N816 - Forge's own name


def validate_push(events: Any) -> list[dict[str, Any]]:
    """`@forge/events` validators.js `validatePushEvents`, in its order: count, shape, delay, then
    total size, with JavaScript's loose rules (`delayInSeconds: "1000"` is over 900, `"10"` passes)."""
    return validated_push(events)[0]


def validated_push(events: Any) -> tuple[list[dict[str, Any]], list[str] | None]:
    """validate_push's events, and each one's JSON text as the package sends it (the platform's
    checks take them instead of writing the events again); None for a push whose events are sent
    as JSON other than their own (an object with toJSON)."""
    batch = list(events) if isinstance(events, list | tuple) else [events]
    if len(batch) == 0:
        raise NoEventsToPushError("No events pushed.")
    if len(batch) > limits.MAX_EVENTS_PER_PUSH:
        raise TooManyEventsError(f"This push contains more than the {limits.MAX_EVENTS_PER_PUSH} events allowed.")
    plain = True
    for given in batch:
        event = given if type(given) is dict else _object(given)
        if event is None:
            raise InvalidPayloadError("Event must be an object.")
        body = event.get("body")
        if type(body) is not dict:
            if _object(body) is None:
                raise InvalidPayloadError("Event body must be an object.")
            plain = False
        plain = plain and event is given
        delay = event.get("delayInSeconds")
        seconds = to_number(delay)  # `d && d > 900 || d && d < 0`: NaN passes, and so does "10"
        if truthy(delay) and (seconds > limits.MAX_DELAY_SECONDS or seconds < 0):
            raise InvalidPushSettingsError(f"The delayInSeconds setting must be between 0 and {limits.MAX_DELAY_SECONDS}.")
    try:
        texts = [to_json(event) for event in batch]  # the array's text is "[" + ",".join(texts) + "]"
    except Exception:
        to_json(batch)  # what the whole array's JSON.stringify throws, as the package throws it
        raise
    size = sum(len(text) if text.isascii() else len(text.encode("utf-8")) for text in texts) + len(texts) + 1
    if size / 1024 > limits.MAX_PUSH_BYTES / 1024:
        raise PayloadTooBigError(f"The maximum payload size is {limits.MAX_PUSH_BYTES // 1024}KB.")
    if not plain:  # an object with toJSON is sent as its JSON, as the package sends it
        return parse("[" + ",".join(texts) + "]"), None
    return batch, texts


def _object(value: Any) -> dict[str, Any] | None:
    """`typeof value === 'object'`, not an array nor null: a dict, or what an object with toJSON stands
    for (an InvocationError is the plain object its constructor returns); None for anything else."""
    if isinstance(value, dict):
        return value
    method = getattr(value, "toJSON", None)
    if callable(method) and not isinstance(value, list | tuple | str | int | float):
        shown = method()
        return shown if isinstance(shown, dict) else {}
    return None


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
    "AppEvents",
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
    "QueueResponse",
    "RateLimitError",
    "TooManyEventsError",
    "app_events",
    "appEvents",
    "validate_push",
    "validated_push",
]
