"""Firing product events into a state: what `forgeq push EVENT` does, without the terminal.

A product event is one row (kind 'product', target the full event type, body the payload); the
loop fans it out to the subscribed triggers when it claims it (engine.py, fanout.py). Firing
never imports user code and never needs the loop: it works before `forgeq run` starts and while
it runs in another process. Rows go in `CHUNK_EVENTS` at a time, one transaction each, so a push
killed half-way leaves whole chunks and the running loop never waits long for the write lock.

Times are the emulator's clock: all events at `now` (a bulk import, the default), or `rate`
events per second of virtual time, each payload stamped with its own due time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from forgeq.emulator import limits
from forgeq.emulator.errors import InputError
from forgeq.emulator.products import payloads, seeds
from forgeq.emulator.store.batch import NewEvent
from forgeq.jsontext import stringify

if TYPE_CHECKING:
    from forgeq.emulator.app.manifest import Manifest
    from forgeq.emulator.store import Store

CHUNK_EVENTS = 500
# Without --rate every event is due at once; payload timestamps still differ by 1 ms (payloads.py).
PAYLOAD_SPACING_SECONDS = payloads.MILLISECONDS_PER_EVENT / 1000


@dataclass
class FiredProducts:
    """What one firing did, for the CLI's summary line and `--json`."""

    event_type: str
    alias: str | None
    installation: str
    project: str
    count: int
    first_event: int
    last_event: int
    first_seq: int
    last_seq: int
    first_at: float
    last_at: float
    rate: float | None
    triggers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fire_product_events(
    store: Store,
    name: str,
    *,
    count: int,
    now: float,
    installation: str,
    project_key: str | None = None,
    sets: list[str] | None = None,
    base_payload: dict[str, Any] | None = None,
    rate: float | None = None,
    manifest: Manifest | None = None,
    progress: Callable[[int], None] | None = None,
    chunk_events: int = CHUNK_EVENTS,
) -> FiredProducts:
    """Insert `count` product events of type `name` (an alias or a full `avi:` type).

    Every argument is checked before the first row is written. `progress(n)` is called after each
    committed chunk of n events.
    """
    event_type = check_arguments(
        name,
        count=count,
        now=now,
        installation=installation,
        project_key=project_key,
        sets=sets,
        base_payload=base_payload,
        rate=rate,
    )
    project = project_key if project_key is not None else payloads.DEFAULT_PROJECT_KEY
    spacing = 1 / rate if rate is not None else PAYLOAD_SPACING_SECONDS
    arguments: dict[str, Any] = {
        "project_key": project,
        "sets": sets,
        "base_payload": base_payload,
        "spacing_seconds": spacing,
    }

    def due(index: int) -> float:
        return now + index * spacing if rate is not None else now

    first_seq = last_seq = last_event = first_event = 0
    done = 0
    while done < count:
        size = min(chunk_events, count - done)
        offset = done

        def build(seq: int, size: int = size, offset: int = offset) -> list[NewEvent]:
            made = payloads.make_payloads(
                name, size, first_seq=seq, now=now + offset * spacing, **arguments
            )
            rows = []
            for index, payload in enumerate(made, start=offset):
                at = due(index)
                rows.append(
                    NewEvent(installation, "product", event_type, None, _dumps(payload), None, at, at)
                )
            return rows

        seq, numbers = store.insert_product_chunk(size, build, seeds.site_writes)
        if done == 0:
            first_seq, first_event = seq, numbers[0]
        last_event, last_seq = numbers[-1], seq + size - 1
        done += size
        if progress is not None:
            progress(size)
    result = FiredProducts(
        event_type, payloads.alias_of(event_type), installation, project, count, first_event, last_event,
        first_seq, last_seq, due(0), due(count - 1), rate,
    )  # fmt: skip
    if manifest is not None:
        result.triggers = list(
            dict.fromkeys(trigger.key for trigger, _event in manifest.triggers_for(event_type))
        )
        if not result.triggers:
            result.warnings.append(
                f"no trigger in {manifest.path} subscribes to {event_type}; the events are recorded but reach no function"
            )
    return result


def check_arguments(
    name: str,
    *,
    count: int,
    now: float,
    installation: str,
    project_key: str | None = None,
    sets: list[str] | None = None,
    base_payload: dict[str, Any] | None = None,
    rate: float | None = None,
) -> str:
    """Check a firing without touching any state; return the full event type. Raises InputError."""
    if count < 1 or count > limits.MAX_PUSH_COUNT:
        raise InputError(f"--count must be from 1 to {limits.MAX_PUSH_COUNT}, not {count}")
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise InputError(f"--rate must be a number of events per second above 0, not {rate:g}")
    if rate is not None and (count - 1) / rate > limits.MAX_VIRTUAL_SPAN_SECONDS:
        raise InputError(
            f"--rate {rate:g} spreads {count} events over {(count - 1) / rate:.3g} s, past forgeq's clock of "
            f"{limits.MAX_VIRTUAL_SPAN_SECONDS / (365 * 86400):g} years",
            "pass a higher --rate or a lower --count",
        )
    if not installation.strip():
        raise InputError("--installation must not be empty")
    project = project_key if project_key is not None else payloads.DEFAULT_PROJECT_KEY
    payloads.make_payloads(
        name, 0, first_seq=1, now=now, project_key=project, sets=sets, base_payload=base_payload
    )  # checks, makes nothing
    return payloads.event_type_for(name, has_own_payload=base_payload is not None)


def _dumps(payload: dict[str, Any]) -> str:
    return stringify(payload)  # JSON.stringify's text, as a queue event's body is stored
