"""scheduledTrigger modules on the emulator's clock (Atlassian's manifest reference), and the durations `run --for` takes.

Forge runs each scheduledTrigger about 5 minutes after a deploy, then every `interval`, for every
installation; any change to a scheduledTrigger module resets every start time. forgeq starts the
schedule at the first `run` of a state (its "deploy"), keeps the next fire times in the state's
meta table, and writes them in the same transaction as the `scheduled` rows a fire inserts, so a
restart neither repeats nor skips a run. On the virtual clock the loop jumps to each fire time
while it has work or a stop time (`run --for`), so a virtual week of runs takes seconds.

Runs missed while forgeq was stopped (real clock) or skipped by a manual clock jump are coalesced
into one run at the latest missed time, with a notice (forgeq's choice, docs/fidelity.md).
The scheduler never reads the clock: `now` comes in.
"""

from __future__ import annotations

import json
import math
from typing import Any

from forgeq.emulator import limits
from forgeq.emulator.app.manifest import Manifest, ScheduledTrigger
from forgeq.emulator.errors import InputError
from forgeq.emulator.ids import derived_uuid
from forgeq.emulator.store.batch import NewEvent, WriteBatch

META_KEY = "schedule"


class Fired:
    """One fire of one scheduledTrigger: at `at`, for every installation; `skipped` runs coalesced.
    A plain class, not a dataclass: every run imports this module, and a dataclass costs the import
    a generated __init__, __eq__ and __repr__ (bench/README.md, Round 4)."""

    __slots__ = ("key", "at", "installations", "skipped")

    def __init__(self, key: str, at: float, installations: int, skipped: int) -> None:
        self.key = key
        self.at = at
        self.installations = installations
        self.skipped = skipped


class Scheduler:
    """The next fire time of each scheduledTrigger; `fire(now, batch)` adds the due runs to a batch."""

    def __init__(self) -> None:
        self.installations: list[str] = []
        self.triggers: dict[str, ScheduledTrigger] = {}
        self.next_fire: dict[str, float] = {}
        self.fingerprint: list[list[str]] = []
        self.clock_kind = "virtual"

    def load(
        self, manifest: Manifest, installations: list[str], saved: str | None, now: float, clock_kind: str
    ) -> str | None:
        """Take the manifest's scheduled triggers and the saved schedule.

        Returns None when the saved schedule goes on, "first" when the schedule starts, "changed"
        when a changed scheduledTrigger module (or clock kind) reset every start time.
        """
        self.installations = list(dict.fromkeys(installations))
        self.triggers = {s.key: s for s in manifest.scheduled_triggers}
        self.fingerprint = sorted([s.key, s.function, s.interval] for s in manifest.scheduled_triggers)
        self.clock_kind = clock_kind
        state = _parse(saved)
        if (
            state is not None
            and state.get("fingerprint") == self.fingerprint
            and state.get("clock") == clock_kind
            and isinstance(state.get("next"), dict)
            and set(state["next"]) == set(self.triggers)
            and all(isinstance(v, int | float) and math.isfinite(v) for v in state["next"].values())
        ):
            self.next_fire = {key: float(value) for key, value in state["next"].items()}
            return None
        # A first run, or a changed scheduledTrigger module: every start time resets (Atlassian's manifest reference).
        self.next_fire = {key: now + limits.SCHEDULED_FIRST_RUN_SECONDS for key in self.triggers}
        if not self.triggers:
            return None
        return "changed" if state is not None and state.get("fingerprint") else "first"

    def dumps(self) -> str:
        return json.dumps(
            {"fingerprint": self.fingerprint, "clock": self.clock_kind, "next": self.next_fire},
            separators=(",", ":"),
        )

    def next_at(self) -> float | None:
        """The earliest next fire time, or None when the app has no scheduled trigger."""
        return min(self.next_fire.values()) if self.next_fire else None

    def fire(self, now: float, batch: WriteBatch) -> list[Fired]:
        """Add a `scheduled` row per installation for each trigger due at `now`; save the schedule in `batch`."""
        fired: list[Fired] = []
        for key in sorted(self.next_fire):
            due = self.next_fire[key]
            if due > now:
                continue
            interval = limits.SCHEDULE_INTERVAL_SECONDS[self.triggers[key].interval]
            missed = int((now - due) // interval)  # further due times up to now, coalesced into the last
            at = due + missed * interval
            for installation in self.installations:
                batch.new_events.append(
                    NewEvent(installation, "scheduled", key, None, _body(key, installation, at), None, at, at)
                )
            self.next_fire[key] = at + interval
            fired.append(Fired(key, at, len(self.installations), missed))
        if fired:
            batch.meta[META_KEY] = self.dumps()
        return fired


def scheduled_payload(key: str, installation: str, at: float) -> dict[str, Any]:
    """The request a scheduledTrigger function receives (Forge's events reference, scheduled trigger).

    `cloudId` is the installation (forgeq names sites by their cloud id); `contextToken` is an
    opaque stand-in for Forge's signed token, meaningless to an app as Forge's is.
    """
    return {
        "context": {"cloudId": installation, "moduleKey": key},
        "contextToken": f"forgeq-context-token.{derived_uuid('context-token', key, installation, repr(at))}",
    }


def _body(key: str, installation: str, at: float) -> str:
    return json.dumps(scheduled_payload(key, installation, at), separators=(",", ":"))


def _parse(saved: str | None) -> dict[str, Any] | None:
    if not saved:
        return None
    try:
        state = json.loads(saved)
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def parse_duration(text: str, option: str = "--for") -> float:
    """`7d`, `12h`, `30m`, `45s`, `1w`, `1d12h`, `01:30:00` or plain seconds: a duration in seconds."""
    from forgeq.emulator.timespec import duration_seconds

    seconds = duration_seconds(text)
    if seconds is None:
        raise InputError(
            f"{option} {text!r} is not a duration", "write it like 7d, 12h, 30m, 45s, 1w or 1d12h"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(f"{option} {text!r}: the duration must be more than 0")
    if seconds > limits.MAX_VIRTUAL_SPAN_SECONDS:
        raise InputError(f"{option} {text!r}: at most {limits.MAX_VIRTUAL_SPAN_SECONDS / (365 * 86400):g} years on forgeq's clock")
    return seconds
