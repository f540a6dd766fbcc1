"""The async-events endpoints as Forge's platform serves them: publish, stats and cancel.

Every pusher reaches them: `@forge/events` through the Node.js worker (api.py answers its HTTP
requests), forgeq's Python SDK through the port (the Invocation's `push`, `job_stats` and
`cancel_job`), the testing API and `forgeq push`. The checks run on the request as JSON carries it
(a NaN is the `null` JSON.stringify sends); a refusal is the platform's HTTP answer
(`PlatformRefusal`), which each client turns into its package's error: a 400 is @forge/events'
`InternalServerError("400 Bad Request: ...")`, a 413 its `PayloadTooBigError`, a 404 from stats or
cancel its `JobDoesNotExistError`.

Which checks Forge's server makes is documented only as limits; forgeq's choices (docs/fidelity.md):
- a queue name or job id that is not a string is refused (400; 404 for stats and cancel) where the
  client's loose checks let it through (`new Queue({key: 123})`);
- `delayInSeconds` must be a number from 0 to 900 or absent: `"10"`, `true` or `[5]`, which the
  client's `d && d > 900` lets through, are refused with 400 rather than guessed at;
- the 200 KB limit is measured again on the payload's JSON.stringify text (the client measured the
  same text, so only a request made without the package meets it);
- a queue whose consumer's function is long-running (timeoutSeconds over 55) takes events of at most
  100 KB each (413), checked at push against the manifest of the moment;
- an event nests at most 512 levels (400): forgeq's own limit, where Forge documents none, so that
  every JSON reader forgeq hands the event to can read it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from forgeq.emulator import limits
from forgeq.jsontext import depth, escape_surrogates, stringify
from forgeq.jsvalues import type_name
from forgeq.runtime import PlatformRefusal

if TYPE_CHECKING:
    from forgeq.emulator.app.manifest import Manifest

QUEUE_NAME_MESSAGE = "Queue names can only contain alphanumeric characters, dashes and underscores."


def check_queue(queue: Any) -> str:
    """The queue name, or a 400: a string of letters, digits, dashes and underscores (no final newline)."""
    from forgeq.events import QUEUE_KEY_PATTERN

    if not isinstance(queue, str) or QUEUE_KEY_PATTERN.fullmatch(queue) is None:
        raise PlatformRefusal(400, {"message": QUEUE_NAME_MESSAGE})
    return queue


def check_job(queue: Any, job_id: Any) -> str:
    """The job id of a stats or cancel request, or the 404 a job that cannot exist gets."""
    check_queue(queue)
    # A job id is the UUID the package mints: one holding a lone surrogate (valid JSON) names no job.
    if not isinstance(job_id, str) or not job_id or escape_surrogates(job_id) != job_id:
        raise PlatformRefusal(404, {"message": f"The job {escape_surrogates(str(job_id))} was not found for the queue {queue}."})
    return job_id


def check_publish(manifest: Manifest, queue: Any, payload: Any, *, any_body: bool = False) -> list[dict[str, Any]]:
    """The events of a publish request, checked as the platform checks them (see the module's docstring);
    `any_body`: a @forge/events 0.x-1.x push, whose bodies (its payloads) may be any JSON."""
    return published(manifest, queue, payload, any_body=any_body)[0]


def published(
    manifest: Manifest, queue: Any, payload: Any, *, any_body: bool = False, texts: list[str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """check_publish's events, and each one's JSON text (what the checks measured; new_events takes a
    body's text from it instead of writing the body again). `texts`: that text, as forgeq.events
    wrote it for the request (the Python SDK's push), so the checks need not write it again."""
    check_queue(queue)
    if not isinstance(payload, list | tuple) or not payload:
        raise PlatformRefusal(400, {"message": "No events pushed."})
    if len(payload) > limits.MAX_EVENTS_PER_PUSH:
        raise PlatformRefusal(400, {"message": f"This push contains more than the {limits.MAX_EVENTS_PER_PUSH} events allowed."})
    for event in payload:
        if not isinstance(event, dict):
            raise PlatformRefusal(400, {"message": "Event must be an object."})
        if not (isinstance(event.get("body"), dict) or (any_body and "body" in event)):
            raise PlatformRefusal(400, {"message": "Event body must be an object."})
        _check_delay(event.get("delayInSeconds"))
    try:
        if texts is None:
            texts = [stringify(event) for event in payload]
    except (TypeError, ValueError) as error:  # a request the packages cannot send; the SDK refused it already
        raise PlatformRefusal(400, {"message": f"Event must be JSON: {error}"}) from None
    for text in texts:
        if text.count("{") + text.count("[") > limits.MAX_EVENT_DEPTH and depth(text) > limits.MAX_EVENT_DEPTH:
            raise PlatformRefusal(400, {"message": too_deep(depth(text))})
    size = sum(len(text.encode("utf-8")) for text in texts) + len(texts) + 1  # the array's brackets and commas
    if size / 1024 > limits.MAX_PUSH_BYTES / 1024:
        raise PlatformRefusal(413, {"errorMessage": f"The maximum payload size is {limits.MAX_PUSH_BYTES // 1024}KB."})
    if _long_running(manifest, queue):
        for index, text in enumerate(texts):
            event_size = len(text.encode("utf-8"))
            if event_size / 1024 > limits.MAX_LONG_RUNNING_EVENT_BYTES / 1024:
                raise PlatformRefusal(
                    413,
                    {
                        "errorMessage": f"The maximum size of an event for a long-running function (timeoutSeconds over "
                        f"{limits.DEFAULT_TIMEOUT_SECONDS:g}) is {limits.MAX_LONG_RUNNING_EVENT_BYTES // 1024}KB; "
                        f"event {index} is {event_size} bytes."
                    },
                )
    return list(payload), texts


def too_deep(levels: int) -> str:
    return (
        f"An event nests {levels} levels deep; forgeq delivers events of at most {limits.MAX_EVENT_DEPTH} levels "
        "(Forge documents no limit; forgeq's JSON readers stop there)."
    )


def _check_delay(delay: Any) -> None:
    if delay is None or (isinstance(delay, float) and math.isnan(delay)):  # absent, or null on the wire
        return
    if isinstance(delay, bool) or not isinstance(delay, int | float):
        raise PlatformRefusal(
            400, {"message": f"The delayInSeconds setting must be a number between 0 and {limits.MAX_DELAY_SECONDS}, not a {type_name(delay)}."}
        )
    if delay < 0 or delay > limits.MAX_DELAY_SECONDS:
        raise PlatformRefusal(400, {"message": f"The delayInSeconds setting must be between 0 and {limits.MAX_DELAY_SECONDS}."})


def _long_running(manifest: Manifest, queue: str) -> bool:
    consumer = manifest.consumer_for(queue)
    function = manifest.functions.get(consumer.function) if consumer is not None else None
    return function is not None and function.timeout_seconds > limits.DEFAULT_TIMEOUT_SECONDS
