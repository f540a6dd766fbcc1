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
    for index, event in enumerate(events):
        body = texts[index][_BODY_AT:-1] if texts is not None and len(event) == 1 else to_json(event["body"])
        if "delayInSeconds" in event or "concurrency" in event:  # _EXTRA_FIELDS
            extra = {name: event[name] for name in _EXTRA_FIELDS if name in event}
            yield NewEvent(
                installation, kind, queue, job_id, body, to_json(extra), now + applied_delay(event), now, root_id, parent_id, replay_of
            )  # fmt: skip
        else:
            yield NewEvent(installation, kind, queue, job_id, body, None, now, now, root_id, parent_id, replay_of)
