"""Test a Forge app in-process: the engine `forgeq run` drives, on virtual time, over a state of its own.

    from forgeq.testing import ForgeApp

    app = ForgeApp("manifest.yml", seed=7)          # in-memory state, virtual clock
    app.push_product_event("issue-created", count=5000)
    app.run_until_idle()
    assert app.dropped() == []
    assert len(app.kvs.query_all(prefix="issue-")) == 5000

With pytest, the `forge_app` fixture (forgeq.pytest_plugin) gives each test a fresh app.
docs/testing.md is the guide; every name documented there is public API.
"""

from __future__ import annotations

import json
import os
import sys
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgeq.emulator.app.handlers import PACKAGE
from forgeq.emulator.app.manifest import Manifest, load_manifest
from forgeq.emulator.errors import InputError
from forgeq.emulator.loop.clock import Clock, RealClock, VirtualClock
from forgeq.emulator.loop.engine import Emulator
from forgeq.emulator.loop.timeline import AttemptReport, Notice
from forgeq.emulator.products.firing import FiredProducts
from forgeq.emulator.settings import Settings
from forgeq.emulator.store import StateLock, Store, schema
from forgeq.emulator.tools import golden as golden_files
from forgeq.emulator.tools.faults import Faults, KvChange, Redelivery, load_scenario
from forgeq.emulator.tools.site_view import SiteHandle
from forgeq.emulator.wording import plural

__all__ = [
    "Attempt",
    "ConditionNotMet",
    "Dropped",
    "Event",
    "FiredProducts",
    "ForgeApp",
    "InvokeError",
    "Job",
    "KvChange",
    "KvsView",
    "Redelivery",
    "SiteHandle",
    "WebTriggerResponse",
]

_STATES_BY_NAME = {name: number for number, name in schema.STATE_NAMES.items()}
_NO_LIMIT = 1 << 62
RECENT_ATTEMPTS_KEPT = 200

# Apps created since the pytest plugin last looked: it shows their timelines when a test fails.
_created: list[weakref.ref[ForgeApp]] = []


class ConditionNotMet(AssertionError):
    """`run_until` stopped (idle, out of time or attempts) before its condition held."""


# ------------------------------------------------------------------------------- read models


@dataclass(frozen=True)
class Event:
    """An event row: a queue event, a trigger or scheduled invocation, or a product event."""

    seq: int
    event_id: str
    installation: str
    kind: str  # queue | trigger | scheduled | product | webtrigger | resolver (a call: webtrigger(), invoke())
    target: str  # the queue, trigger module key, scheduledTrigger key, or product event type
    job_id: str | None
    body: Any
    state: str  # pending | running | succeeded | dropped | cancelled | delivered | blocked | answered
    attempts: int
    retry_count: int
    retry_reason: str | None
    retry_data: Any
    available_at: float
    enqueued_at: float
    finished_at: float | None
    last_error: str | None


@dataclass(frozen=True)
class Attempt:
    """One attempt of one event, as the timeline records it (times are the emulator's clock)."""

    event: int
    event_id: str
    installation: str
    kind: str
    target: str
    job_id: str | None
    attempt: int
    retry_count: int
    started_at: float
    ended_at: float
    outcome: str  # succeeded | retry | error | timeout | dropped | lost
    reason: str | None
    error: str | None
    retry_after_asked: float | None
    retry_after_applied: float | None
    next_at: float | None
    retry_context: Any
    quota_refusals: int
    storage_calls: int
    notes: tuple[str, ...]
    logs: str
    wall_ms: float | None


@dataclass(frozen=True)
class Dropped:
    """A ledger row: an event forgeq gave up on, and why."""

    event: int
    event_id: str
    installation: str
    kind: str
    target: str
    job_id: str | None
    body: Any
    dropped_at: float
    drop_reason: str
    last_error: str | None
    retry_context: Any
    attempts: int
    retry_count: int


@dataclass(frozen=True)
class Job:
    """A push's job: Forge's counts (`success`, `in_progress`, `failed`) and forgeq's `cancelled`."""

    job_id: str
    installation: str
    queue: str
    created_at: float
    cancelled_at: float | None
    origin: str
    success: int
    in_progress: int
    failed: int
    cancelled: int
    events: int

    def stats(self) -> dict[str, int]:
        """As `getStats()` answers: {"success", "inProgress", "failed"}."""
        return {"success": self.success, "inProgress": self.in_progress, "failed": self.failed}


@dataclass(frozen=True)
class WebTriggerResponse:
    """What a web trigger call answered (`ForgeApp.webtrigger`): the HTTP response, and the call.

    `call` is the call's row (`timeline(call)`); `ok` is False when Forge would have answered the 500
    itself (the function threw, timed out, or returned something that is not a response).
    """

    status_code: int
    status_text: str
    headers: dict[str, list[str]]
    body: str
    call: int
    ok: bool
    error: str | None
    notes: tuple[str, ...]
    logs: str
    pushed: tuple[dict[str, Any], ...]

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """The first value of a response header, its name matched without regard to case."""
        for key, values in self.headers.items():
            if key.lower() == name.lower() and values:
                return values[0]
        return None


class InvokeError(Exception):
    """What `invoke()` of @forge/bridge rejects with when the resolver failed (`ForgeApp.invoke`):
    `message` is the bridge's ("There was an error invoking the function - ..."), `error` forgeq's
    description with the file and line, `call` the call's row."""

    def __init__(self, message: str, *, error: str | None, call: int, error_type: str, status_code: int, logs: str) -> None:
        super().__init__(message)
        self.message = message
        self.error = error
        self.call = call
        self.error_type = error_type
        self.status_code = status_code
        self.logs = logs


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def _pairs(values: Mapping[str, str | list[str]] | None) -> list[tuple[str, str]]:
    return [(name, item) for name, value in (values or {}).items() for item in ([value] if isinstance(value, str) else value)]


# -------------------------------------------------------------------------------------- app


class ForgeApp:
    """A Forge app loaded from its manifest, with its own state, clock and seed.

    Every keyword that `Settings` has can be given (storage_limits, platform_limits,
    installations, invocation_seconds, ...); `store` is ":memory:" (default), a file path, or a
    Store; `clock` is "virtual" (default), "real" or a Clock.
    """

    def __init__(
        self,
        manifest: str | Path | Manifest = "manifest.yml",
        *,
        seed: int = 0,
        clock: str | Clock = "virtual",
        store: str | Path | Store = ":memory:",
        faults: str | Path | None = None,
        strict: bool = True,
        settings: Settings | None = None,
        **options: Any,
    ) -> None:
        self.manifest = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
        self.settings = _settings(settings, seed, clock, faults, options)
        self._owns_store = not isinstance(store, Store)
        self._lock: StateLock | None = None
        if isinstance(store, Store):
            self.store = store
        else:
            self.store = Store(store)
            if not self.store.in_memory:
                self._lock = StateLock(self.store.path)
                try:
                    self._lock.acquire()
                except BaseException:
                    self.store.close()
                    raise
        self.recent: deque[AttemptReport] = deque(maxlen=RECENT_ATTEMPTS_KEPT)
        self.notices: list[Notice] = []
        self.closed = False
        try:
            self.emulator = Emulator(
                self.manifest,
                self.store,
                self.settings,
                clock=clock if not isinstance(clock, str) else None,
                observers=[_Recorder(self)],
            )
        except BaseException:
            self._release()
            raise
        self.clock: Clock = self.emulator.clock
        if not self.store.in_memory:
            self.store.set_meta("clock", self.settings.clock)  # as `forgeq run` does, for `forgeq inspect`
        self.origin = self.clock.now()
        self._first_attempt_id = self.store.last_attempt_id()
        self._kvs_baseline: dict[str, dict[str, Any]] | None = None
        self.update_golden = os.environ.get("FORGEQ_UPDATE_GOLDEN", "") not in ("", "0")
        self.golden_dir: Path | None = None
        self.faults = Faults(self.emulator, origin=self.origin)
        _created[:] = [ref for ref in _created if ref() is not None]
        _created.append(weakref.ref(self))
        try:
            self.emulator.start()
            if strict and self.emulator.handlers.errors:
                raise next(iter(self.emulator.handlers.errors.values()))
            if self.settings.faults:
                self.faults.apply(load_scenario(self.settings.faults))
        except BaseException:
            self.close()
            raise

    # -- the clock ------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The emulator's clock (epoch seconds; virtual unless clock="real")."""
        return self.clock.now()

    @property
    def elapsed(self) -> float:
        """Seconds on the emulator's clock since this app was created (fault windows count from here)."""
        return self.clock.now() - self.origin

    @property
    def installation(self) -> str:
        """The default installation (the first of `installations`)."""
        return self.settings.installations[0]

    # -- pushing ----------------------------------------------------------------------------------

    def push(self, queue: str, events: Any, *, installation: str | None = None) -> str:
        """Push as `Queue(key=queue).push(events)` does (Forge's validation: 1-50 events, 200 KB); return the job id."""
        return self.emulator.push(
            queue, events, installation=installation or self.installation, origin="test"
        )

    def push_many(
        self,
        queue: str,
        bodies: Iterable[Mapping[str, Any]],
        *,
        delay: float | None = None,
        installation: str | None = None,
    ) -> list[str]:
        """Push each body as one event, 50 to a push (Forge's maximum); return the job ids."""
        jobs: list[str] = []
        chunk: list[dict[str, Any]] = []
        for body in bodies:
            event: dict[str, Any] = {"body": dict(body)}
            if delay is not None:
                event["delayInSeconds"] = delay
            chunk.append(event)
            if len(chunk) == 50:
                jobs.append(self.push(queue, chunk, installation=installation))
                chunk = []
        if chunk:
            jobs.append(self.push(queue, chunk, installation=installation))
        return jobs

    def push_product_event(
        self,
        name: str,
        count: int = 1,
        *,
        installation: str | None = None,
        project: str | None = None,
        payload: dict[str, Any] | None = None,
        rate: float | None = None,
        **overrides: Any,
    ) -> FiredProducts:
        """Fire `count` product events (an alias such as "issue-created", or a full `avi:` type), as
        `forgeq push EVENT` does: each reaches every trigger subscribed to its type.

        Payloads come from forgeq's templates (docs/product-events.md), or `payload`; keyword
        overrides set payload fields by path, `__` separating the parts:
        `push_product_event("issue-updated", issue__fields__summary="Checkout fails")`.
        `rate` spreads them at that many events per second of virtual time (default: all at once).
        Returns what was fired (`count`, `first_event`, `last_event`, `triggers`, `warnings`).
        """
        from forgeq.emulator.products.firing import fire_product_events

        sets = [f"{path.replace('__', '.')}={json.dumps(value)}" for path, value in overrides.items()]
        self.emulator.flush()
        return fire_product_events(
            self.store, name, count=count, now=self.clock.now(), installation=installation or self.installation,
            project_key=project, sets=sets, base_payload=payload, rate=rate, manifest=self.manifest,
        )  # fmt: skip

    # -- running ----------------------------------------------------------------------------------

    def run_until_idle(self, *, max_attempts: int | None = None) -> int:
        """Deliver everything, retries included, jumping the virtual clock; return how many attempts ran."""
        return self._run(stop_at=None, max_attempts=max_attempts)

    def advance(self, seconds: float) -> int:
        """Let `seconds` pass on the clock, delivering what falls due meanwhile; return the attempts run."""
        if seconds < 0:
            raise InputError(f"advance({seconds}): time only moves forward")
        target = self.clock.now() + seconds
        ran = self._run(stop_at=target, max_attempts=None)
        self.clock.advance_to(target)
        self.emulator.flush()
        return ran

    def run_until(
        self,
        predicate: Callable[[ForgeApp], Any],
        *,
        within: float | None = None,
        max_attempts: int | None = None,
    ) -> int:
        """Deliver until `predicate(app)` is true; checked before each step of the loop (the events due
        at one instant, at most 50 at a time). Raises ConditionNotMet if the app goes idle, `within`
        seconds pass, or `max_attempts` attempts run first. Returns the attempts run."""
        self._baseline()
        engine = self.emulator
        started = engine.attempts_run
        deadline = None if within is None else self.clock.now() + within
        while True:
            engine.flush()
            if predicate(self):
                return engine.attempts_run - started
            ran = engine.attempts_run - started
            if max_attempts is not None and ran >= max_attempts:
                raise ConditionNotMet(
                    f"run_until: the condition did not hold after {plural(ran, 'attempt')} (max_attempts={max_attempts})"
                )
            if engine.step():
                continue
            engine.flush()
            next_due = engine.next_due_at()
            # Only scheduled runs left and no deadline: idle, as run_until_idle sees it (else endless).
            if next_due is None or (deadline is None and engine.store.next_due_at() is None):
                raise ConditionNotMet(
                    f"run_until: the app went idle at t+{self.elapsed:.3f}s after {ran} attempt(s), and the condition never held"
                    + ("; scheduled triggers would still fire: pass within=SECONDS to run through them" if next_due is not None else "")
                )
            if deadline is not None and next_due > deadline:
                self.clock.advance_to(deadline)
                engine.flush()
                if predicate(self):
                    return engine.attempts_run - started
                raise ConditionNotMet(
                    f"run_until: the condition did not hold within {within:g} s ({ran} attempt(s))"
                )
            if self.clock.virtual:
                self.clock.advance_to(next_due)
            else:
                self.clock.advance_to(min(next_due, self.clock.now() + 0.2))

    def step(self) -> int:
        """Run the events due now (at most 50); when none is due, jump to the next due time first."""
        self._baseline()
        engine = self.emulator
        ran = engine.step()
        if not ran:
            engine.flush()
            next_due = engine.next_due_at()
            if next_due is not None:
                self.clock.advance_to(next_due)
                ran = engine.step()
        engine.flush()
        return ran

    def _run(self, *, stop_at: float | None, max_attempts: int | None) -> int:
        self._baseline()
        engine = self.emulator
        started = engine.attempts_run
        limit = None if max_attempts is None else started + max_attempts
        engine.run(until_idle=True, stop_at=stop_at, max_attempts=limit)
        if limit is not None and engine.attempts_run >= limit:
            engine.flush()
            waiting = self.store.waiting_count()
            if waiting:
                _warn(f"run stopped at max_attempts={max_attempts} with {plural(waiting, 'event')} still waiting: the app is not idle", 4)
        return engine.attempts_run - started

    def _baseline(self) -> None:
        if self._kvs_baseline is None:
            self._kvs_baseline = self._kvs_snapshot()

    # -- the app's own pushers ---------------------------------------------------------------------

    def webtrigger(
        self,
        key: str,
        *,
        method: str | None = None,
        body: str | bytes | Mapping[str, Any] | list[Any] | None = None,
        headers: Mapping[str, str | list[str]] | None = None,
        query: Mapping[str, str | list[str]] | None = None,
        path: str = "",
        installation: str | None = None,
    ) -> WebTriggerResponse:
        """Call the webtrigger module `key` as an HTTPS request would (`forgeq webtrigger`).

        `body` is the request body: text, or a dict or list sent as JSON; `method` defaults to GET,
        or POST with a body. What the function stores is stored and what it pushes is queued: run
        the app to deliver it. The call is an attempt of its own on the timeline.
        """
        from forgeq.emulator.loop.calls import call_webtrigger

        text = body.decode() if isinstance(body, bytes) else json.dumps(body) if isinstance(body, Mapping | list) else body
        result = call_webtrigger(
            self.emulator, key, method=(method or ("POST" if text is not None else "GET")).upper(), body=text,
            headers=_pairs(headers), query=_pairs(query), user_path=path, installation=installation,
        )  # fmt: skip
        response = result.answer
        return WebTriggerResponse(
            response["statusCode"], response["statusText"], response["headers"], response["body"], result.seq, result.ok,
            result.error, tuple(result.notes), result.logs, tuple(result.pushed),
        )  # fmt: skip

    def invoke(
        self,
        key: str,
        payload: Any = None,
        *,
        function: str | None = None,
        module: str | None = None,
        installation: str | None = None,
        account_id: str | None = None,
        extension: dict[str, Any] | None = None,
    ) -> Any:
        """Call a UI resolver's definition `key` as `invoke(key, payload)` of @forge/bridge does from the
        UI module (`forgeq invoke`); return what it returns, or raise InvokeError as the bridge rejects.

        When the UI modules use several resolver functions, the one whose handler defines `key` is
        called; `function` or `module` pick it when more than one (or none) does. `extension` is laid
        over `context.extension` (the issue, project, ... the UI was opened on).
        """
        from forgeq.emulator.loop.calls import call_resolver
        from forgeq.emulator.tools.resolver_keys import resolver_function

        function = resolver_function(self.manifest, key, function, module)
        result = call_resolver(
            self.emulator, key, payload, function=function, module=module, installation=installation,
            account_id=account_id, extension=extension,
        )  # fmt: skip
        if not result.ok:
            error = result.answer
            raise InvokeError(
                error["message"], error=result.error, call=result.seq, error_type=error["errorType"],
                status_code=error["statusCode"], logs=result.logs,
            )  # fmt: skip
        return result.answer

    # -- reading ----------------------------------------------------------------------------------

    def events(
        self,
        queue: str | None = None,
        *,
        kind: str | None = None,
        target: str | None = None,
        state: str | None = None,
        job: str | None = None,
        installation: str | None = None,
    ) -> list[Event]:
        """Events in push order; `queue` is shorthand for kind="queue", target=queue."""
        if queue is not None:
            kind, target = kind or "queue", queue
        state_number = None
        if state is not None:
            if state not in _STATES_BY_NAME:
                raise InputError(f"unknown state '{state}'", f"use one of {', '.join(_STATES_BY_NAME)}")
            state_number = _STATES_BY_NAME[state]
        self.emulator.flush()
        records = self.store.events(
            kind=kind,
            target=target,
            state=state_number,
            job_id=job,
            installation=installation,
            limit=_NO_LIMIT,
        )
        return [_event(record) for record in records]

    def event(self, ref: int | str) -> Event:
        """One event by number or event id."""
        self.emulator.flush()
        record = self.store.event(ref)
        if record is None:
            raise InputError(f"no event {ref!r}")
        return _event(record)

    def timeline(
        self,
        event: int | None = None,
        *,
        job: str | None = None,
        queue: str | None = None,
        kind: str | None = None,
        installation: str | None = None,
    ) -> list[Attempt]:
        """Attempts in the order they ran (all of them, or of one event, job, queue, kind or installation)."""
        self.emulator.flush()
        if queue is not None:
            kind = kind or "queue"
        rows = self.store.timeline_rows(
            event=event, job_id=job, target=queue, kind=kind, installation=installation
        )
        return [_attempt(row) for row in rows]

    @property
    def attempts(self) -> list[Attempt]:
        """Every attempt so far (`timeline()`)."""
        return self.timeline()

    def dropped(self) -> list[Dropped]:
        """The dropped-event ledger: retries exhausted, retention over, lost by a trigger, quarantined."""
        self.emulator.flush()
        return [_dropped(row) for row in self.store.ledger(limit=_NO_LIMIT)]

    def jobs(self) -> list[Job]:
        self.emulator.flush()
        return [_job(row) for row in self.store.all_jobs()]

    def job(self, job_id: str) -> Job:
        for job in self.jobs():
            if job.job_id == job_id:
                return job
        raise InputError(f"no job {job_id}")

    def queues(self) -> dict[str, dict[str, int]]:
        """Per queue: pending, delayed, running, retrying, succeeded, dropped, cancelled, blocked (as `inspect queue`)."""
        self.emulator.flush()
        return self.store.queue_counts(self.clock.now())

    def quota(self, installation: str | None = None) -> list[dict[str, Any]]:
        """Storage quota use per window (installation, metric, window_start, used, refused, quota, ...)."""
        self.emulator.flush()
        return self.store.quota_rows(installation)

    @property
    def site(self) -> SiteHandle:
        """The fake product site of the default installation: stubs, issues, pages, requests."""
        return SiteHandle(self.emulator, self.installation)

    def site_for(self, installation: str) -> SiteHandle:
        return SiteHandle(self.emulator, installation)

    @property
    def kvs(self) -> KvsView:
        """The key-value store of the default installation."""
        return KvsView(self, self.installation)

    def kvs_for(self, installation: str) -> KvsView:
        """The key-value store of another installation."""
        return KvsView(self, installation)

    # -- faults -----------------------------------------------------------------------------------

    def redeliver(self, event: int, *, run: bool = True) -> Redelivery:
        """Deliver a succeeded event again (Forge delivers at least once) and, with run=True, run until idle.

        The result says what the duplicate did: `kvs_changes`, `pushed`, `outcome`, `idempotent`.
        """
        redelivery = self.faults.redeliver(event)
        if run:
            self.run_until_idle()
        return redelivery

    # -- golden timelines ---------------------------------------------------------------------------

    def golden(self) -> dict[str, Any]:
        """This run as a golden document: attempts (no wall-clock fields), key-value changes, the ledger."""
        self.emulator.flush()
        rows = self.store.timeline_rows(after_attempt_id=self._first_attempt_id)
        baseline = self._kvs_baseline if self._kvs_baseline is not None else self._kvs_snapshot()
        return golden_files.document(
            seed=self.settings.seed,
            origin=self.origin,
            attempts=rows,
            kvs_before=baseline,
            kvs_after=self._kvs_snapshot(),
            dropped=self.store.ledger(limit=_NO_LIMIT),
        )

    def assert_matches_golden(self, path: str | Path, *, update: bool | None = None) -> None:
        """Compare this run with the golden file; write it when missing or when updating.

        Updating: `update=True`, pytest's --forge-update-golden, or FORGEQ_UPDATE_GOLDEN=1. A
        relative path is taken from the test file's folder (forge_app fixture) or the working folder.
        """
        __tracebackhide__ = True  # pytest: show the test's line, not this one
        target = Path(path)
        if not target.is_absolute() and self.golden_dir is not None:
            target = self.golden_dir / target
        golden_files.assert_matches(
            self.golden(), target, update=self.update_golden if update is None else update
        )

    # -- reporting ------------------------------------------------------------------------------------

    def describe(self, last: int = 20) -> str:
        """The last attempts, notices, ledger and queues as plain text (what a failing test prints)."""
        import io

        from forgeq.cli.render import TimelinePrinter

        out = io.StringIO()
        printer = TimelinePrinter(out)
        printer.colour = False
        recent = list(self.recent)[-last:] if self.closed else self._recent_reports(last)
        total = self.emulator.attempts_run
        out.write(f"{self!r}: {plural(total, 'attempt')} run")
        out.write(f"; the last {len(recent)}:\n" if recent else "\n")
        for report in recent:
            printer.attempt(report)
        for notice in self.notices[-10:]:
            printer.notice(notice)
        if not self.closed:
            dropped = self.dropped()
            if dropped:
                out.write(f"dropped: {plural(len(dropped), 'event')}\n")
                for item in dropped[:10]:
                    out.write(f"  #{item.event} {item.target}: {item.drop_reason}: {item.last_error}\n")
            for queue, counts in sorted(self.queues().items()):
                shown = ", ".join(f"{name} {n}" for name, n in counts.items() if n)
                out.write(f"queue {queue}: {shown or 'empty'}\n")
        return out.getvalue()

    # -- lifecycle ----------------------------------------------------------------------------------

    def _recent_reports(self, last: int) -> list[AttemptReport]:
        """This app's last attempts, read back from the state as the timeline printer takes them."""
        self.emulator.flush()
        after = max(self._first_attempt_id, self.store.last_attempt_id() - last)
        rows = self.store.timeline_rows(after_attempt_id=after)
        drops = self.store.drop_reasons([row["event"] for row in rows if row["outcome"] in ("dropped", "lost")])
        return [_report(row, drops.get(row["event"])) for row in rows]

    def close(self) -> None:
        """Commit, close the state (if this app opened it) and forget the app's handler modules."""
        if self.closed:
            return
        try:
            # for a failure report after the close; what calls reported while open is among these rows
            self.recent.clear()
            self.recent.extend(self._recent_reports(RECENT_ATTEMPTS_KEPT))
            faults = self.__dict__.get("faults")
            for rule in faults.unmatched() if faults is not None and self.emulator.attempts_run else []:
                _warn(f"faults: {rule} matched nothing in this app's run")
        finally:
            self.closed = True
            self._release()

    def _release(self) -> None:
        self.closed = True
        emulator = getattr(self, "emulator", None)
        if emulator is not None:
            emulator.handlers.close()  # stops the Node.js worker of JavaScript handlers, if one started
        emulator = getattr(self, "emulator", None)
        if emulator is not None:
            emulator.handlers.close()  # a JavaScript app's Node.js worker
        if self._owns_store:
            self.store.close()
        if self._lock is not None:
            self._lock.release()
        _forget_modules(self.manifest.app_dir)

    def __enter__(self) -> ForgeApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "memory" if self.store.in_memory else self.store.path
        return (
            f"<ForgeApp {self.manifest.path} seed={self.settings.seed} state={where} t+{self.elapsed:.3f}s>"
        )

    def _kvs_snapshot(self) -> dict[str, dict[str, Any]]:
        self.emulator.flush()
        now = self.clock.now()
        snapshot: dict[str, dict[str, Any]] = {}
        for installation in sorted(set(self.store.known_installations()) | set(self.settings.installations)):
            for space, label in ((0, ""), (1, "secret/")):  # "/" cannot appear in a key
                for key, row in self.store.kv_scan(installation, space, "", None, _NO_LIMIT, now):
                    snapshot.setdefault(installation, {})[label + key] = json.loads(row.value)
        return snapshot


class KvsView:
    """One installation's key-value store, read and written from outside any invocation.

    Reads see every write so far (the loop's unacknowledged ones too). Writes are validated as
    Forge validates them but charge no quota: they are the test's setup, not the app's traffic.
    """

    def __init__(self, app: ForgeApp, installation: str) -> None:
        self.app = app
        self.installation = installation

    def _now(self) -> float:
        self.app.emulator.flush()
        return self.app.clock.now()

    def get(self, key: str) -> Any:
        """The value, or None when the key is missing or expired."""
        return self._get(key, 0)

    def get_secret(self, key: str) -> Any:
        return self._get(key, 1)

    def _get(self, key: str, space: int) -> Any:
        now = self._now()
        row = self.app.store.kv_get(self.installation, space, key)
        if row is None or (row.expire_at is not None and row.expire_at <= now):
            return None
        return json.loads(row.value)

    def set(self, key: str, value: Any, *, ttl: float | None = None) -> None:
        """Write a key (validated like kvs.set; `ttl` in seconds)."""
        self._write(key, value, 0, ttl)

    def set_secret(self, key: str, value: Any) -> None:
        self._write(key, value, 1, None)

    def delete(self, key: str) -> None:
        self._write(key, None, 0, None, delete=True)

    def delete_secret(self, key: str) -> None:
        self._write(key, None, 1, None, delete=True)

    def seed(self, values: Mapping[str, Any], *, secrets: Mapping[str, Any] | None = None) -> None:
        """Write many keys at once, e.g. before the app runs."""
        for key, value in values.items():
            self._buffer(key, value, 0, None)
        for key, value in (secrets or {}).items():
            self._buffer(key, value, 1, None)
        self.app.emulator.flush()

    def _write(self, key: str, value: Any, space: int, ttl: float | None, delete: bool = False) -> None:
        self._buffer(key, value, space, ttl, delete)
        self.app.emulator.flush()

    def _buffer(self, key: str, value: Any, space: int, ttl: float | None, delete: bool = False) -> None:
        from forgeq.emulator.platform.storage import encode_value, validate_key

        validate_key(key)
        now = self.app.clock.now()
        text = None if delete else encode_value(value)
        expire_at = None if ttl is None else now + ttl
        self.app.emulator.storage.write(self.installation, space, key, text, now, expire_at)

    def query_all(self, prefix: str = "") -> list[dict[str, Any]]:
        """Every unexpired key starting with `prefix`, in key order, as Forge's query results: [{"key", "value"}]."""
        now = self._now()
        rows = self.app.store.kv_scan(self.installation, 0, prefix, None, _NO_LIMIT, now)
        return [{"key": key, "value": json.loads(row.value)} for key, row in rows]

    def keys(self, prefix: str = "") -> list[str]:
        return [item["key"] for item in self.query_all(prefix)]

    def as_dict(self, prefix: str = "") -> dict[str, Any]:
        return {item["key"]: item["value"] for item in self.query_all(prefix)}

    def entity(self, name: str) -> EntityView:
        """A custom entity's items in this installation (`app.kvs.entity("import-record")`)."""
        return EntityView(self.app, self.installation, name)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __len__(self) -> int:
        return len(self.query_all())

    def __repr__(self) -> str:
        return f"<KvsView {self.installation}: {len(self)} key(s)>"


class EntityView:
    """One custom entity's items in one installation, read and written from outside any invocation.

    Reads see every write so far. Writes are validated as `kvs.entity(name).set` validates them
    (the attributes the manifest declares) and charge no quota; `query` reads every page of a
    query by index, as the app would, without charging it either.
    """

    def __init__(self, app: ForgeApp, installation: str, name: str) -> None:
        from forgeq.emulator.platform.storage import KvsFailure, kvs_error

        self.app = app
        self.installation = installation
        try:
            self.name = app.emulator.entities.declared(name).name
        except KvsFailure as failure:
            raise kvs_error(failure.code, failure.message, failure.status) from None

    def _now(self) -> float:
        self.app.emulator.flush()
        return self.app.clock.now()

    def get(self, key: str) -> Any:
        """The item's value, or None when it is missing or expired."""
        now = self._now()
        row = self.app.store.entity_get(self.installation, self.name, key)
        if row is None or (row.expire_at is not None and row.expire_at <= now):
            return None
        return json.loads(row.value)

    def set(self, key: str, value: Mapping[str, Any], *, ttl: float | None = None) -> None:
        """Write an item (validated like kvs.entity(name).set; `ttl` in seconds)."""
        self._buffer(key, value, ttl)
        self.app.emulator.flush()

    def delete(self, key: str) -> None:
        self._buffer(key, None, None)
        self.app.emulator.flush()

    def seed(self, items: Mapping[str, Mapping[str, Any]]) -> None:
        """Write many items at once, e.g. before the app runs."""
        for key, value in items.items():
            self._buffer(key, value, None)
        self.app.emulator.flush()

    def _buffer(self, key: str, value: Mapping[str, Any] | None, ttl: float | None) -> None:
        from forgeq.emulator.platform.storage import KvsFailure, kvs_error

        entities = self.app.emulator.entities
        try:
            entities.check_key(self.name, key)
            text = None if value is None else entities.check_item(self.name, dict(value))
        except KvsFailure as failure:
            raise kvs_error(failure.code, failure.message, failure.status) from None
        now = self.app.clock.now()
        self.app.emulator.storage.write(self.installation, self.name, key, text, now, None if ttl is None else now + ttl)

    def query(
        self,
        index: str = "by-key",
        *,
        partition: list[Any] | None = None,
        where: Mapping[str, Any] | None = None,
        filters: Any = None,
        sort: str = "ASC",
    ) -> list[dict[str, Any]]:
        """Every item a query by `index` answers, over all its pages: [{"key", "value"}] in index order.

        `where` and `filters` as the SDK builds them: `WhereConditions.greater_than(2)`,
        `Filter().and_(...)` (or Forge's `{"and": [...]}`).
        """
        from forgeq.emulator.platform.storage import KvsFailure, kvs_error
        from forgeq.kvs.conditions import conditions_request

        request: dict[str, Any] = {"entityName": self.name, "indexName": index, "sort": str(sort), "limit": 100}
        if partition is not None:
            request["partition"] = list(partition)
        if where is not None:
            request["range"] = dict(where)
        if filters is not None:
            request["filters"] = conditions_request(filters)
        found: list[dict[str, Any]] = []
        try:
            while True:
                page, _ = self.app.emulator.entities.read_page(self.installation, request, self._now())
                found += [{"key": item["key"], "value": item["value"]} for item in page["results"]]
                if page.get("nextCursor") is None:
                    return found
                request["cursor"] = page["nextCursor"]
        except KvsFailure as failure:
            raise kvs_error(failure.code, failure.message, failure.status) from None

    def keys(self, prefix: str = "") -> list[str]:
        return [key for key, _ in self._items(prefix)]

    def as_dict(self, prefix: str = "") -> dict[str, Any]:
        return {key: json.loads(row.value) for key, row in self._items(prefix)}

    def _items(self, prefix: str) -> list[tuple[str, Any]]:
        return self.app.store.kv_scan(self.installation, self.name, prefix, None, _NO_LIMIT, self._now())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __len__(self) -> int:
        return len(self._items(""))

    def __repr__(self) -> str:
        return f"<EntityView {self.name} of {self.installation}: {len(self)} item(s)>"


class _Recorder:
    """Keeps every notice, for failure reports. Attempts it reads from the state when a report is
    made (`ForgeApp.describe`), so the loop makes no AttemptReport per attempt for it."""

    wants_attempts = False

    def __init__(self, app: ForgeApp) -> None:
        self.app = weakref.proxy(app)

    def attempt(self, report: AttemptReport) -> None:
        self.app.recent.append(report)

    def notice(self, notice: Notice) -> None:
        self.app.notices.append(notice)


def _settings(
    settings: Settings | None,
    seed: int,
    clock: str | Clock,
    faults: str | Path | None,
    options: dict[str, Any],
) -> Settings:
    fields = set(Settings.__slots__)
    unknown = sorted(set(options) - fields)
    if unknown:
        raise InputError(
            f"ForgeApp has no option {', '.join(unknown)}",
            f"the options are {', '.join(sorted(fields - {'clock'}))}",
        )
    base = settings if settings is not None else Settings()
    changes: dict[str, Any] = {"seed": seed, **{k: v for k, v in options.items() if v is not None}}
    for name in ("storage_limits", "product_limits"):
        if isinstance(changes.get(name), Mapping):
            changes[name] = _limits_spec(changes[name], "2025" if name == "storage_limits" else "2026")
        elif isinstance(changes.get(name), Path):
            changes[name] = str(changes[name])
    if isinstance(clock, str):
        if clock not in ("virtual", "real"):
            raise InputError(f"clock must be 'virtual', 'real' or a Clock, not {clock!r}")
        changes["clock"] = clock
    elif isinstance(clock, VirtualClock | RealClock) or hasattr(clock, "now"):
        changes["clock"] = "virtual" if clock.virtual else "real"
    if faults is not None:
        changes["faults"] = str(faults)
    return base.replace(**changes)


def _limits_spec(figures: Mapping[str, Any], base: str) -> str:
    """{"base": "2023", "writes": 10, "reads": "50/10"} -> "2023,writes=10,reads=50/10" (quota.py's syntax;
    product limits take the same, platform/site/limits.py)."""
    figures = dict(figures)
    parts = [str(figures.pop("base", base))]
    for metric, figure in figures.items():
        if isinstance(figure, tuple | list) and len(figure) == 2:
            figure = f"{figure[0]}/{figure[1]}"
        parts.append(f"{metric}={figure}")
    return ",".join(parts)


def _event(record: Any) -> Event:
    return Event(
        record.id, record.event_id, record.installation, record.kind, record.target, record.job_id, _json(record.body),
        schema.STATE_NAMES.get(record.state, str(record.state)), record.attempts, record.retry_count, record.retry_reason,
        _json(record.retry_data), record.available_at, record.enqueued_at, record.finished_at, record.last_error,
    )  # fmt: skip


def _attempt(row: dict[str, Any]) -> Attempt:
    return Attempt(
        row["event"], row["event_id"], row["installation"], row["kind"], row["target"], row["job_id"], row["attempt"],
        row["retry_count"], row["started_at"], row["ended_at"], row["outcome"], row["reason"], row["error"],
        row["retry_after_asked"], row["retry_after_applied"], row["next_at"], _json(row["retry_context"]),
        row["quota_refusals"], row["storage_calls"], tuple((row["notes"] or "").split("\n")) if row["notes"] else (),
        row["logs"] or "", row["wall_ms"],
    )  # fmt: skip


def _report(row: dict[str, Any], drop_reason: str | None) -> AttemptReport:
    notes = row["notes"].split("\n") if row["notes"] else []
    return AttemptReport(
        row["event"], row["event_id"], row["installation"], row["kind"], row["target"], row["job_id"], row["attempt"],
        row["retry_count"], row["started_at"], row["ended_at"], row["outcome"], row["reason"], row["error"],
        row["retry_after_asked"], row["retry_after_applied"], row["next_at"], drop_reason, row["quota_refusals"],
        row["storage_calls"], notes, row["logs"] or "", bool(notes) and notes[0].startswith("redelivered:"), row["wall_ms"],
    )  # fmt: skip


def _dropped(row: dict[str, Any]) -> Dropped:
    return Dropped(
        row["event"], row["event_id"], row["installation"], row["kind"], row["target"], row["job_id"], _json(row["body"]),
        row["dropped_at"], row["drop_reason"], row["last_error"], _json(row["retry_context"]), row["attempts"], row["retry_count"],
    )  # fmt: skip


def _job(row: dict[str, Any]) -> Job:
    return Job(
        row["job_id"], row["installation"], row["queue"], row["created_at"], row["cancelled_at"], row["origin"],
        row["success"], row["inProgress"], row["failed"], row["cancelled"], row["events"],
    )  # fmt: skip


def _forget_modules(app_dir: Path) -> None:
    """Drop the app's modules from sys.modules, so the next app imports them afresh (no state leaks).

    Only handler modules and their siblings (under src/, or beside the manifest) go; test files and
    conftest.py stay, even when they live inside the app's folder.
    """
    src = app_dir / "src"
    for name, module in list(sys.modules.items()):
        if name.startswith(PACKAGE + "."):
            del sys.modules[name]
            continue
        file = getattr(module, "__file__", None)
        if not file or name.startswith("forgeq"):
            continue
        path = Path(file)
        if path.name == "conftest.py" or path.name.startswith("test_") or path.name.endswith("_test.py"):
            continue
        if path.parent == app_dir or src in path.parents:
            del sys.modules[name]


class ForgeqWarning(UserWarning):
    """Something in a test that runs but probably does not do what was meant (pytest lists it)."""


def _warn(text: str, stacklevel: int = 3) -> None:
    """Warn at the line of the test that called the API (stacklevel counts from here)."""
    import warnings

    warnings.warn(ForgeqWarning(text), stacklevel=stacklevel)
