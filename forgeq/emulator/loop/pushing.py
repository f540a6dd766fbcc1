"""Turning validated push events into rows: shared by handler pushes, the testing API and the CLI.

`forgeq push` imports only this, the store and `forgeq.events` (never the loop, never user code).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from forgeq.emulator.store.batch import NewEvent
from forgeq.events import to_json

_EXTRA_FIELDS = ("delayInSeconds", "concurrency")
_BODY_AT = len('{"body":')


def applied_delay(event: dict[str, Any]) -> float:
    """The delay the queue applies: fractions kept, NaN and missing as 0 (docs/fidelity.md)."""
    delay = event.get("delayInSeconds")
    if isinstance(delay, bool) or not isinstance(delay, int | float) or math.isnan(delay):
        return 0.0
    return float(delay)


def new_events(
    queue: str,
    events: Iterable[dict[str, Any]],
    *,
    installation: str,
    now: float,
    job_id: str | None,
    kind: str = "queue",
    root_id: int | None = None,
    parent_id: int | None = None,
    replay_of: int | None = None,
    texts: list[str] | None = None,
) -> Iterator[NewEvent]:
    """The rows of `events`; `texts`: each event's JSON text, when the platform's checks wrote it
    (queues.published): an event that is only a body holds that body's text as `{"body":TEXT}`."""
    if texts is not None:
        for event, text in zip(events, texts, strict=True):
            if len(event) == 1:
                yield NewEvent(installation, kind, queue, job_id, text[_BODY_AT:-1], None, now, now, root_id, parent_id, replay_of)
            else:
                yield from new_events(queue, [event], installation=installation, now=now, job_id=job_id, kind=kind, root_id=root_id, parent_id=parent_id, replay_of=replay_of)
        return
    for event in events:
        if "delayInSeconds" in event or "concurrency" in event:  # _EXTRA_FIELDS
            extra = {name: event[name] for name in _EXTRA_FIELDS if name in event}
            yield NewEvent(
                installation, kind, queue, job_id, to_json(event["body"]), to_json(extra), now + applied_delay(event), now,
                root_id, parent_id, replay_of,
            )  # fmt: skip
        else:
            yield NewEvent(installation, kind, queue, job_id, to_json(event["body"]), None, now, now, root_id, parent_id, replay_of)
