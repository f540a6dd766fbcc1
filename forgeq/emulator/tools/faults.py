"""Fault injection: failed attempts, storage 429s, storage latency and duplicate deliveries.

forgeq goes beyond Forge here: the cloud gives no way to make these happen on purpose. Every
fault is decided from the seed, the event number, the attempt and the rule, never from the order
in which things run, so one seed gives one timeline. Each injected fault is written on its
attempt's timeline as a note starting with "faults:".

Used by the testing API (`app.faults`, docs/testing.md) and by `forgeq run --faults FILE` (a YAML
scenario, `load_scenario`). Times are seconds on the emulator's clock counted from the origin:
the creation of the test app, or the start of the run.
"""

from __future__ import annotations

import builtins
import inspect
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from forgeq.emulator import limits
from forgeq.emulator.errors import InputError
from forgeq.emulator.jsoninput import bounded_text
from forgeq.emulator.loop.timeline import AttemptReport, Notice
from forgeq.emulator.store.batch import KvRow
from forgeq.emulator.wording import plural
from forgeq.runtime import SECRET, Space

if TYPE_CHECKING:
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.loop.invocation import Invocation
    from forgeq.emulator.store.sqlite import EventRecord

PHASES = ("before", "after")
STORAGE_OPERATIONS = ("read", "write", "delete", "query", "secret", "batch", "transaction")


class FaultError(InputError):
    """A fault cannot be set up as asked (unknown error kind, event not finished, bad scenario)."""


class InjectedFault(Exception):
    """The default error of `fail`: raised in place of (or after) the handler."""


# ------------------------------------------------------------------------------------ rules


class Delivery(Protocol):
    """What a rule looks at: an EventRecord, or the AttemptReport of a finished attempt."""

    @property
    def id(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def target(self) -> str: ...

    @property
    def installation(self) -> str: ...


@dataclass
class Target:
    """Which deliveries a rule applies to; every field given must match."""

    function: str | None = None
    queue: str | None = None
    trigger: str | None = None  # a trigger or scheduledTrigger module key
    installation: str | None = None
    events: frozenset[int] | None = None

    def matches(self, route: Route, record: Delivery) -> bool:
        return (
            (self.function is None or self.function == route.function)
            and (self.queue is None or (record.kind == "queue" and self.queue == record.target))
            and (
                self.trigger is None
                or (record.kind in ("trigger", "scheduled") and self.trigger == record.target)
            )
            and (self.installation is None or self.installation == record.installation)
            and (self.events is None or record.id in self.events)
        )

    def describe(self) -> str:
        parts = [
            f"{name} {value}"
            for name, value in (("function", self.function), ("queue", self.queue), ("trigger", self.trigger))
            if value
        ]
        if self.installation:
            parts.append(f"installation {self.installation}")
        if self.events is not None:
            parts.append("events " + ", ".join(f"#{n}" for n in sorted(self.events)))
        return ", ".join(parts) or "every handler"


@dataclass
class FailRule:
    target: Target
    action: Action
    attempts: frozenset[int] | None = None
    phase: str = "before"
    probability: float = 1.0
    times: int | None = None
    fired: int = 0


@dataclass
class StorageRule:
    """A window of storage 429s (refuse) or of added latency (seconds > 0)."""

    start: float
    end: float | None
    refuse: bool
    seconds: float = 0.0
    operations: frozenset[str] | None = None
    installation: str | None = None
    probability: float = 1.0
    fired: int = 0

    def covers(self, elapsed: float, operation: str, installation: str) -> bool:
        return (
            elapsed >= self.start
            and (self.end is None or elapsed < self.end)
            and (self.operations is None or operation in self.operations)
            and (self.installation is None or installation == self.installation)
        )


@dataclass
class DuplicateRule:
    target: Target
    probability: float = 1.0
    delay: float = 0.0
    times: int | None = None
    fired: int = 0


@dataclass(frozen=True)
class KvChange:
    """One key the duplicate delivery changed: before and after are decoded values (None: absent)."""

    installation: str
    key: str
    before: Any
    after: Any
    secret: bool = False
    entity: str | None = None  # the custom entity of an item (kvs.entity(name))

    def __str__(self) -> str:
        what = "secret " if self.secret else f"{self.entity} item " if self.entity else ""
        return f"{what}{self.key}: {json.dumps(self.before)} -> {json.dumps(self.after)}"


@dataclass
class Redelivery:
    """A finished event delivered again (Forge delivers at least once, Atlassian's "Async events API": at-least-once delivery), and what it did.

    The duplicate is followed through the retries it asks for or earns (a 429 answered with an
    InvocationError, a thrown error): `outcome` is its last attempt's, `kvs_changes` and `pushed`
    sum what all of its attempts did, and `delivered` turns true when no retry follows.
    """

    event: int
    due_at: float
    delivered: bool = False
    attempt: int | None = None  # the duplicate's first attempt
    outcome: str | None = None
    error: str | None = None
    kvs_changes: list[KvChange] = field(default_factory=list)
    pushed: int = 0
    attempts: int = 0

    @property
    def idempotent(self) -> bool:
        """True when the duplicate ended succeeded, left the key-value store as it was and pushed nothing."""
        if not self.delivered:
            raise FaultError(
                f"the redelivery of event #{self.event} has not run yet",
                "run the app first (app.run_until_idle())",
            )
        return self.outcome == "succeeded" and not self.kvs_changes and self.pushed == 0


@dataclass
class Route:
    function: str | None


# ----------------------------------------------------------------------------------- actions


@dataclass
class Action:
    """What a failing attempt does: raise an error, time out, or return a retry request."""

    kind: str  # "raise" | "timeout" | "retry"
    error: BaseException | None = None
    retry_options: dict[str, Any] | None = None

    def describe(self) -> str:
        if self.kind == "timeout":
            return "a timeout"
        if self.kind == "retry":
            return f"a returned InvocationError {self.retry_options or {}}"
        assert self.error is not None
        return f"{type(self.error).__name__}: {self.error}" if str(self.error) else type(self.error).__name__

    def perform(self) -> Any:
        if self.kind == "timeout":
            from forgeq.emulator.loop.watchdog import HandlerTimeout

            raise HandlerTimeout()
        if self.kind == "retry":
            from forgeq.events import InvocationError

            return InvocationError(dict(self.retry_options)) if self.retry_options else InvocationError()
        assert self.error is not None
        raise self.error.with_traceback(None)


def make_action(error: Any) -> Action:
    """An Action from what a test or a scenario names.

    None (InjectedFault), an exception instance or class, "timeout", "retry", a dict
    `{retry_after, retry_reason, retry_data}` (a returned InvocationError), a dict
    `{kvs: CODE, status: N, message: ...}` (ForgeKvsAPIError), or a string "Name: message" (a
    builtin or forgeq.events exception by that name; any other name becomes an exception class so
    named, which is what the timeline shows).
    """
    if error is None:
        return Action("raise", InjectedFault("injected by forgeq faults"))
    if isinstance(error, BaseException):
        return Action("raise", error)
    if isinstance(error, type) and issubclass(error, BaseException):
        try:
            return Action("raise", error("injected by forgeq faults"))
        except TypeError:
            return Action("raise", error())
    if isinstance(error, dict):
        return _dict_action(error)
    if isinstance(error, str):
        text = error.strip()
        if text.lower() == "timeout":
            return Action("timeout")
        if text.lower() == "retry":
            return Action("retry")
        name, _, message = text.partition(":")
        return Action("raise", _named_exception(name.strip(), message.strip() or "injected by forgeq faults"))
    raise FaultError(
        f"cannot make an error out of {error!r}",
        "pass an exception, a string 'Name: message', 'timeout' or 'retry'",
    )


def _dict_action(spec: dict[str, Any]) -> Action:
    retry_keys = {"retry_after", "retry_reason", "retry_data", "retryAfter", "retryReason", "retryData"}
    if "kvs" in spec:
        from forgeq.kvs import ForgeKvsAPIError

        unknown = set(spec) - {"kvs", "status", "message"}
        if unknown:
            raise FaultError(
                f"unknown key(s) {', '.join(sorted(unknown))} in a kvs error", "use kvs, status and message"
            )
        status = spec.get("status", 500)
        if not isinstance(status, int):
            raise FaultError(f"status must be a number, not {status!r}")
        return Action(
            "raise",
            ForgeKvsAPIError(str(spec["kvs"]), str(spec.get("message", "injected by forgeq faults")), status),
        )
    if spec and set(spec) <= retry_keys:
        options = {}
        for key, value in spec.items():
            camel = {
                "retry_after": "retryAfter",
                "retry_reason": "retryReason",
                "retry_data": "retryData",
            }.get(key, key)
            options[camel] = value
        return Action("retry", retry_options=options)
    raise FaultError(
        f"cannot make an error out of {spec!r}",
        "a dict is either {retry_after, retry_reason, retry_data} (a retry request) or {kvs: CODE, status, message}",
    )


def _named_exception(name: str, message: str) -> BaseException:
    if not name.isidentifier():
        raise FaultError(
            f"{name!r} is not an exception name",
            "write 'Name: message', e.g. 'TimeoutError: upstream took too long'",
        )
    import forgeq.events as events_module

    known = getattr(events_module, name, None) or getattr(builtins, name, None)
    if isinstance(known, type) and issubclass(known, Exception):
        try:
            made: BaseException = known(message)
            return made
        except TypeError:
            pass
    named: type[InjectedFault] = type(name, (InjectedFault,), {"__module__": "forgeq.faults"})
    return named(message)


def _fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise FaultError(f"{name} must be a number from 0 to 1, not {value!r}")
    return float(value)


def _seconds(value: Any, name: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != value:
        raise FaultError(f"{name} must be a number of seconds, 0 or more, not {value!r}")
    return float(value)


def _numbers(value: Any, name: str) -> frozenset[int] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, int) else value
    if isinstance(items, Iterable) and not isinstance(items, str | bytes | dict):
        items = list(items)
        if all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in items):
            return frozenset(items)
    raise FaultError(f"{name} must be a number or a list of numbers from 1 up, not {value!r}")


def _operations(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set | frozenset) or not all(isinstance(o, str) for o in items):
        raise FaultError(f"operations must be a list of names, not {value!r}")
    unknown = sorted(set(items) - set(STORAGE_OPERATIONS))
    if unknown:
        raise FaultError(
            f"unknown storage operation(s) {', '.join(unknown)}", f"use {', '.join(STORAGE_OPERATIONS)}"
        )
    return frozenset(items)


# ------------------------------------------------------------------------------------ faults


class Faults:
    """The fault rules of one emulator, and the hooks through which it applies them.

    Hooks are installed on the emulator with the first rule, so an emulator without faults runs
    exactly as before.
    """

    def __init__(self, engine: Emulator, *, origin: float | None = None, seed: int | None = None) -> None:
        self.engine = engine
        self.origin = engine.clock.now() if origin is None else origin
        self.seed = engine.settings.seed if seed is None else seed
        self.fail_rules: list[FailRule] = []
        self.storage_rules: list[StorageRule] = []
        self.duplicate_rules: list[DuplicateRule] = []
        self.redeliveries: list[Redelivery] = []
        self.counts = {
            "failed": 0,
            "storage_429": 0,
            "slowed_calls": 0,
            "redelivered": 0,
            "redeliveries_not_idempotent": 0,
        }
        self._waiting: dict[int, Redelivery] = {}  # reset in the store, not yet delivered
        self._running: dict[tuple[int, int], Redelivery] = {}  # (event, attempt) being delivered
        self._to_reset: list[Redelivery] = []
        self._duplicated: set[int] = set()
        self._installed = False

    def unmatched(self) -> list[str]:
        """The rules that never fired, described: a filter that names nothing, a window no call fell in."""
        found = [f"fail rule {i} ({rule.target.describe()})" for i, rule in enumerate(self.fail_rules, 1) if not rule.fired]
        for i, rule in enumerate(self.storage_rules, 1):
            if not rule.fired:
                window = f"{rule.start:g}-{'' if rule.end is None else f'{rule.end:g}'} s"
                found.append(f"{'storage_429' if rule.refuse else 'storage_latency'} rule {i} (from {window}; no storage call fell in it)")
        found += [f"duplicates rule {i} ({rule.target.describe()})" for i, rule in enumerate(self.duplicate_rules, 1) if not rule.fired]
        return found

    # -- adding rules --------------------------------------------------------------------------

    def fail(
        self,
        function: str | None = None,
        *,
        queue: str | None = None,
        trigger: str | None = None,
        installation: str | None = None,
        events: int | Iterable[int] | None = None,
        attempts: int | Iterable[int] | None = None,
        error: Any = None,
        phase: str = "before",
        probability: float = 1.0,
        times: int | None = None,
    ) -> FailRule:
        """Make matching attempts fail with `error` (see make_action); attempt 1 is the first delivery.

        phase "before": the handler does not run. "after": it runs (its writes and pushes stand),
        then the attempt fails anyway, as when a function dies after its side effects.
        """
        if phase not in PHASES:
            raise FaultError(f"phase must be 'before' or 'after', not {phase!r}")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise FaultError(f"times must be a number from 1 up, not {times!r}")
        self._check_function(function)
        action = make_action(error)
        if action.kind == "timeout" and not self.engine.settings.enforce_timeouts:
            raise FaultError(
                "an injected timeout needs timeouts enforced",
                "leave out --no-timeouts / enforce_timeouts=False",
            )
        rule = FailRule(
            Target(function, queue, trigger, installation, _numbers(events, "events")),
            action,
            _numbers(attempts, "attempts"),
            phase,
            _fraction(probability, "probability"),
            times,
        )
        self.fail_rules.append(rule)
        self._install()
        return rule

    def storage_429(
        self,
        start: float = 0.0,
        end: float | None = None,
        *,
        operations: str | Iterable[str] | None = None,
        installation: str | None = None,
        probability: float = 1.0,
    ) -> StorageRule:
        """Refuse storage calls made from `start` to `end` seconds after the origin with a 429
        RATE_LIMIT_EXCEEDED, as an exhausted quota would (end None: until further notice)."""
        rule = StorageRule(
            _seconds(start, "start") or 0.0, _window_end(start, end), True, 0.0,
            _operations(list(operations) if operations is not None and not isinstance(operations, str) else operations),
            installation, _fraction(probability, "probability"),
        )  # fmt: skip
        self.storage_rules.append(rule)
        self._install()
        return rule

    def storage_latency(
        self,
        seconds: float,
        *,
        start: float = 0.0,
        end: float | None = None,
        operations: str | Iterable[str] | None = None,
        installation: str | None = None,
        probability: float = 1.0,
    ) -> StorageRule:
        """Make each matching storage call take `seconds` longer (virtual time on the virtual clock)."""
        rule = StorageRule(
            _seconds(start, "start") or 0.0, _window_end(start, end), False, _seconds(seconds, "seconds") or 0.0,
            _operations(list(operations) if operations is not None and not isinstance(operations, str) else operations),
            installation, _fraction(probability, "probability"),
        )  # fmt: skip
        self.storage_rules.append(rule)
        self._install()
        return rule

    def duplicates(
        self,
        function: str | None = None,
        *,
        queue: str | None = None,
        trigger: str | None = None,
        installation: str | None = None,
        events: int | Iterable[int] | None = None,
        probability: float = 1.0,
        delay: float = 0.0,
        times: int | None = None,
    ) -> DuplicateRule:
        """Deliver matching events a second time, `delay` seconds after they succeed (at most once each)."""
        self._check_function(function)
        rule = DuplicateRule(
            Target(function, queue, trigger, installation, _numbers(events, "events")),
            _fraction(probability, "probability"),
            _seconds(delay, "delay") or 0.0,
            times,
        )
        self.duplicate_rules.append(rule)
        self._install()
        return rule

    def redeliver(self, event: int, *, delay: float = 0.0) -> Redelivery:
        """Deliver a succeeded event again, `delay` seconds from now; the next run delivers it."""
        self._install()
        engine = self.engine
        engine.flush()
        due = engine.clock.now() + (_seconds(delay, "delay") or 0.0)
        if not engine.redeliver_finished(event, due):
            record = engine.store.event(event)
            if record is None:
                raise FaultError(f"there is no event #{event}")
            from forgeq.emulator.store import schema

            state = schema.STATE_NAMES.get(record.state, str(record.state))
            raise FaultError(
                f"event #{event} ({record.kind} {record.target}) is {state}; only a succeeded queue, trigger or scheduled event can be redelivered",
                "run the app until it succeeds first",
            )
        redelivery = Redelivery(event, due)
        self.redeliveries.append(redelivery)
        self._waiting[event] = redelivery
        return redelivery

    def clear(self) -> None:
        """Remove every rule (redeliveries already requested still happen)."""
        self.fail_rules.clear()
        self.storage_rules.clear()
        self.duplicate_rules.clear()

    def apply(self, scenario: Scenario) -> None:
        """Add the rules of a scenario loaded from YAML."""
        if scenario.seed is not None:
            self.seed = scenario.seed
        for kind, options in scenario.rules:
            method: Callable[..., Any] = getattr(self, kind)
            method(**options)

    def _check_function(self, function: str | None) -> None:
        if function is not None and function not in self.engine.manifest.functions:
            known = ", ".join(sorted(self.engine.manifest.functions)) or "none"
            raise FaultError(f"no function '{function}' in the manifest", f"its functions: {known}")

    # -- hooks -----------------------------------------------------------------------------------

    def _install(self) -> None:
        if self._installed:
            return
        self._installed = True
        self.engine.before_attempt.append(self._before_attempt)
        self.engine.storage.before_call.append(self._before_storage_call)
        self.engine.after_flush.append(self._after_flush)
        self.engine.observers.append(self)

    def _chance(self, *parts: object) -> float:
        return random.Random(":".join(str(p) for p in (self.seed, *parts))).random()

    def _route(self, record: Delivery) -> Route:
        manifest = self.engine.manifest
        if record.kind == "queue":
            consumer = manifest.consumer_for(record.target)
            return Route(consumer.function if consumer else None)
        if record.kind == "trigger":
            trigger = next((t for t in manifest.triggers if t.key == record.target), None)
            return Route(trigger.function if trigger else None)
        scheduled = next((s for s in manifest.scheduled_triggers if s.key == record.target), None)
        return Route(scheduled.function if scheduled else None)

    def _before_attempt(self, record: EventRecord, invocation: Invocation) -> Callable[..., Any] | None:
        redelivery = self._waiting.pop(record.id, None)
        route = self._route(record) if self.fail_rules else Route(None)
        failing: FailRule | None = None
        for index, rule in enumerate(self.fail_rules):
            if rule.times is not None and rule.fired >= rule.times:
                continue
            if rule.attempts is not None and invocation.attempt not in rule.attempts:
                continue
            if not rule.target.matches(route, record):
                continue
            if (
                rule.probability < 1
                and self._chance("fail", index, record.id, invocation.attempt) >= rule.probability
            ):
                continue
            failing = rule
            break
        if redelivery is None and failing is None:
            return None
        if failing is not None:
            failing.fired += 1
            self.counts["failed"] += 1
            when = "before the handler ran" if failing.phase == "before" else "after the handler ran"
            invocation.notes.append(
                f"faults: attempt {invocation.attempt} failed on purpose with {failing.action.describe()} ({when})"
            )
        if redelivery is not None:
            self._running[(record.id, invocation.attempt)] = redelivery
            if redelivery.attempt is None:
                redelivery.attempt = invocation.attempt
                self.counts["redelivered"] += 1
                invocation.notes.append(
                    "faults: a duplicate delivery of an event that already succeeded (Forge delivers at least once)"
                )
            else:
                invocation.notes.append(f"faults: a retry of the duplicate delivery of attempt {redelivery.attempt}")
        return self._wrapper(invocation, failing, redelivery)

    def _wrapper(
        self, invocation: Invocation, failing: FailRule | None, redelivery: Redelivery | None
    ) -> Callable[..., Any]:
        def wrapper(handler: Callable[..., Any], *args: Any) -> Any:
            if failing is not None and failing.phase == "before":
                return failing.action.perform()
            watch = _WriteWatch(self.engine) if redelivery is not None else None

            def record() -> None:
                if watch is not None and redelivery is not None:
                    changes = watch.stop()
                    invocation.notes.append(_describe_changes(changes, invocation.pushes))
                    redelivery.kvs_changes = _combined(redelivery.kvs_changes, changes)
                    redelivery.pushed += invocation.pushes

            def finish(value: Any) -> Any:
                record()
                return failing.action.perform() if failing is not None else value

            try:
                value = handler(*args)
            except BaseException:
                record()
                raise
            if inspect.isawaitable(value):
                return _then(value, finish, record)
            return finish(value)

        return wrapper

    def _before_storage_call(self, invocation: Invocation, operation: str) -> str | None:
        elapsed = invocation.now() - self.origin
        installation = invocation.installation
        for index, rule in enumerate(self.storage_rules):
            if rule.refuse or not rule.covers(elapsed, operation, installation):
                continue
            if (
                rule.probability < 1
                and self._chance(
                    "latency", index, invocation.event, invocation.attempt, invocation.storage_calls
                )
                >= rule.probability
            ):
                continue
            rule.fired += 1
            self.counts["slowed_calls"] += 1
            if self.engine.clock.virtual:
                invocation.spend(rule.seconds, "injected storage latency")
            else:
                self.engine.clock.wait(rule.seconds)
            note = f"faults: storage calls slowed by {rule.seconds:g} s"
            if note not in invocation.notes:
                invocation.notes.append(note)
        for index, rule in enumerate(self.storage_rules):
            if not rule.refuse or not rule.covers(elapsed, operation, installation):
                continue
            if (
                rule.probability < 1
                and self._chance("429", index, invocation.event, invocation.attempt, invocation.storage_calls)
                >= rule.probability
            ):
                continue
            rule.fired += 1
            self.counts["storage_429"] += 1
            note = "faults: storage 429 injected"
            if note not in invocation.notes:
                invocation.notes.append(note)
            return f"Rate limit exceeded for {operation} requests (injected by forgeq faults)"
        return None

    # -- observer: outcomes of redeliveries, and which successes to duplicate ---------------------------

    def attempt(self, report: AttemptReport) -> None:
        redelivery = self._running.pop((report.seq, report.attempt), None)
        if redelivery is not None:
            redelivery.attempts += 1
            redelivery.outcome = report.outcome
            redelivery.error = report.error
            if report.next_at is not None:  # retried: its next attempt is still the duplicate
                self._waiting[report.seq] = redelivery
                return
            redelivery.delivered = True
            if not redelivery.idempotent:
                self.counts["redeliveries_not_idempotent"] += 1
            return
        if report.outcome != "succeeded" or not self.duplicate_rules or report.seq in self._duplicated:
            return
        record = _ReportRecord(report)
        route = self._route(record)
        for index, rule in enumerate(self.duplicate_rules):
            if rule.times is not None and rule.fired >= rule.times:
                continue
            if not rule.target.matches(route, record):
                continue
            if rule.probability < 1 and self._chance("duplicate", index, report.seq) >= rule.probability:
                continue
            rule.fired += 1
            self._duplicated.add(report.seq)
            self._to_reset.append(Redelivery(report.seq, report.ended_at + rule.delay))
            return

    def notice(self, notice: Notice) -> None:
        return None

    def _after_flush(self) -> None:
        if not self._to_reset:
            return
        pending, self._to_reset = self._to_reset, []
        for redelivery in pending:
            if self.engine.redeliver_finished(redelivery.event, redelivery.due_at):
                self.redeliveries.append(redelivery)
                self._waiting[redelivery.event] = redelivery


@dataclass
class _ReportRecord:
    """The fields of an AttemptReport that Target.matches reads, named as on an EventRecord."""

    report: AttemptReport

    @property
    def id(self) -> int:
        return self.report.seq

    @property
    def kind(self) -> str:
        return self.report.kind

    @property
    def target(self) -> str:
        return self.report.target

    @property
    def installation(self) -> str:
        return self.report.installation


def _window_end(start: Any, end: Any) -> float | None:
    value = _seconds(end, "end", allow_none=True)
    if value is not None and value <= (start or 0):
        raise FaultError(f"the window ends ({end}) before it starts ({start})")
    return value


async def _then(awaitable: Any, finish: Callable[[Any], Any], record: Callable[[], None]) -> Any:
    try:
        value = await awaitable
    except BaseException:
        record()
        raise
    return finish(value)


class _WriteWatch:
    """Records the key-value writes of one attempt: the first previous value and the last new one."""

    def __init__(self, engine: Emulator) -> None:
        self.storage = engine.storage
        self.first: dict[tuple[str, Space, str], KvRow | None] = {}
        self.last: dict[tuple[str, Space, str], str | None] = {}
        self.storage.watch = self._written

    def _written(self, slot: tuple[str, Space, str], before: KvRow | None, text: str | None) -> None:
        if slot not in self.first:
            self.first[slot] = before
        self.last[slot] = text

    def stop(self) -> list[KvChange]:
        if self.storage.watch == self._written:
            self.storage.watch = None
        changes = []
        for slot, text in self.last.items():
            previous = self.first[slot]
            before = json.loads(previous.value) if previous is not None else None
            after = json.loads(text) if text is not None else None
            if before != after or (previous is None) != (text is None):
                installation, space, key = slot
                entity = space if type(space) is str else None
                changes.append(KvChange(installation, key, before, after, secret=space == SECRET, entity=entity))
        return sorted(changes, key=lambda change: (change.installation, change.secret, change.entity or "", change.key))


def _combined(earlier: list[KvChange], later: list[KvChange]) -> list[KvChange]:
    """The changes of two attempts of one duplicate as one: each key's first before and last after."""
    if not earlier:
        return later
    slots = {(c.installation, c.secret, c.entity or "", c.key): c for c in earlier}
    for change in later:
        slot = (change.installation, change.secret, change.entity or "", change.key)
        first = slots.get(slot)
        slots[slot] = change if first is None else replace(change, before=first.before)
    return [change for slot, change in sorted(slots.items()) if change.before != change.after]


def _describe_changes(kvs_changes: list[KvChange], pushed: int) -> str:
    parts = []
    if kvs_changes:
        keys = ", ".join(change.key for change in kvs_changes[:5])
        more = f" and {len(kvs_changes) - 5} more" if len(kvs_changes) > 5 else ""
        parts.append(f"changed {len(kvs_changes)} key(s): {keys}{more}")
    if pushed:
        parts.append(f"pushed {plural(pushed, 'time')}")
    if not parts:
        return "faults: the duplicate left the key-value store unchanged and pushed nothing"
    return "faults: the duplicate " + " and ".join(parts) + " (is the handler idempotent?)"


# ---------------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    """A YAML fault scenario: (method name, keyword arguments) pairs, and an optional seed."""

    rules: list[tuple[str, dict[str, Any]]]
    seed: int | None = None
    path: str = ""


_RULE_KEYS: dict[str, set[str]] = {
    "fail": {
        "function",
        "queue",
        "trigger",
        "installation",
        "events",
        "attempts",
        "error",
        "phase",
        "probability",
        "times",
    },
    "storage_429": {"start", "end", "operations", "installation", "probability"},
    "storage_latency": {"seconds", "start", "end", "operations", "installation", "probability"},
    "duplicates": {"function", "queue", "trigger", "installation", "events", "probability", "delay", "times"},
}


def load_scenario(path: str) -> Scenario:
    """Read a fault scenario; every problem is reported with its file and line (FaultError, exit 2)."""

    from forgeq.emulator.app.yamlload import YamlProblem, load_with_lines

    try:
        text = bounded_text(path, limits.MAX_YAML_INPUT_BYTES)
    except FileNotFoundError:
        raise FaultError(f"{path}: no such fault scenario file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise FaultError(f"{path}: cannot be read: {error}") from None
    try:
        data, lines, problems = load_with_lines(text, path)
    except YamlProblem as error:
        raise FaultError(str(error.problem)) from None
    if problems:
        raise FaultError(str(problems[0]))
    return parse_scenario(data, path, lines)


def parse_scenario(data: Any, path: str = "<scenario>", lines: dict[str, int] | None = None) -> Scenario:
    lines = lines or {}

    def where(key: str) -> str:
        line = lines.get(key)
        return f"{path}:{line}: {key}" if line else f"{path}: {key}" if key else path

    if not isinstance(data, dict):
        raise FaultError(
            f"{where('')}: a fault scenario is a mapping with a `faults:` list", "see docs/testing.md"
        )
    unknown = sorted(set(data) - {"seed", "faults"})
    if unknown:
        raise FaultError(f"{where(str(unknown[0]))}: unknown key; a scenario has `seed` and `faults`")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FaultError(f"{where('seed')}: must be a whole number, not {seed!r}")
    entries = data.get("faults") or []
    if not isinstance(entries, list):
        raise FaultError(f"{where('faults')}: must be a list of faults")
    rules: list[tuple[str, dict[str, Any]]] = []
    for index, entry in enumerate(entries):
        key = f"faults[{index}]"
        if not isinstance(entry, dict) or len(entry) != 1:
            raise FaultError(f"{where(key)}: each fault is one of {', '.join(_RULE_KEYS)} with its options")
        ((kind, options),) = entry.items()
        if kind not in _RULE_KEYS:
            raise FaultError(f"{where(key)}: unknown fault '{kind}'", f"use one of {', '.join(_RULE_KEYS)}")
        options = options or {}
        if not isinstance(options, dict):
            raise FaultError(f"{where(f'{key}.{kind}')}: the options of {kind} are a mapping")
        bad = sorted(set(options) - _RULE_KEYS[kind])
        if bad:
            raise FaultError(
                f"{where(f'{key}.{kind}.{bad[0]}')}: unknown option of {kind}",
                f"its options: {', '.join(sorted(_RULE_KEYS[kind]))}",
            )
        if kind == "storage_latency" and "seconds" not in options:
            raise FaultError(f"{where(f'{key}.{kind}')}: storage_latency needs `seconds`")
        rules.append((kind, dict(options)))
    return Scenario(rules, seed, path)


def apply_scenario(faults: Faults, scenario: Scenario) -> None:
    """Add a scenario's rules; an invalid option is reported with the scenario file's name."""
    try:
        faults.apply(scenario)
    except FaultError as error:
        raise FaultError(f"{scenario.path}: {error.message}", error.hint) from None
