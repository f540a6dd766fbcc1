"""One attempt: the platform API its handler code sees, and running the handler safely.

A handler may raise anything, hang, call sys.exit, print megabytes or return junk; the loop and
the other queues keep going. A hang ends at the function's `timeoutSeconds` of wall time, also
under the virtual clock (the loop's one watchdog, watchdog.py; a handler that swallows the
timeout is hit again every second), and is charged `timeoutSeconds` of virtual time.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import sys
import traceback
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from forgeq import runtime
from forgeq.emulator import limits
from forgeq.emulator.app import sandbox
from forgeq.emulator.app.handlers import describe_exception
from forgeq.emulator.app.replies import respond
from forgeq.emulator.ids import app_uuid, derived_uuid, environment_id
from forgeq.emulator.loop.clock import wall_time
from forgeq.emulator.loop.retry import Result
from forgeq.emulator.loop.watchdog import WATCHDOG, HandlerTimeout
from forgeq.emulator.platform import api
from forgeq.emulator.platform.storage import get_plain, set_plain
from forgeq.emulator.safetext import safe_text
from forgeq.events import InvocationError
from forgeq.jsontext import escape_surrogates, through_json

if TYPE_CHECKING:
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.platform.legacy_storage import LegacyStorage
    from forgeq.emulator.platform.storage import StorageSession




class Invocation:
    """The invocation in progress, as handler code reaches it through forgeq.events / forgeq.kvs."""

    __slots__ = (
        "engine", "installation", "event", "root", "started_at", "attempt", "storage_calls", "quota_refusals",
        "pushes", "extra_seconds", "deadline", "overran", "notes", "requests", "unawaited", "call", "module", "_storage",
    )  # fmt: skip

    def __init__(
        self,
        engine: Emulator,
        installation: str,
        event: int | None,
        root: int | None,
        started_at: float,
        attempt: int = 1,
        call: str | None = None,
        module: str | None = None,
    ) -> None:
        self.engine = engine
        self.installation = installation
        self.event = event
        self.root = root
        self.started_at = started_at
        self.attempt = attempt
        self.storage_calls = 0
        self.quota_refusals = 0
        self.pushes = 0
        self.extra_seconds = 0.0  # virtual time added by product calls and injected storage latency (faults.py)
        self.deadline: float | None = None  # the virtual time its timeoutSeconds ends (execute() sets it)
        self.overran = False  # what it spent went past the deadline (spend())
        self.notes: list[str] = []
        self.requests: list[dict[str, Any]] = []  # product calls, as the timeline shows them
        self.unawaited: list[runtime.Completed] = []
        self.call = call  # a web trigger or UI resolver call (loop/calls.py): names it where `event` is None
        self.module = module  # the module a call came through (its key), for getAppContext().moduleKey
        self._storage: StorageSession | None = None

    def now(self) -> float:
        """Virtual time inside the attempt: its start plus the modelled cost of what it did so far."""
        settings = self.engine.settings
        if not self.engine.clock.virtual:
            return self.engine.clock.now()
        return self.started_at + settings.invocation_seconds * 0.5 + self.storage_calls * settings.storage_call_seconds + self.extra_seconds

    def spend(self, seconds: float, what: str) -> None:
        """Charge `seconds` of modelled virtual time (a product call, injected latency). Forge stops a
        function whose calls outlast its timeoutSeconds, however fast they run here: past the
        deadline the attempt times out at this call, whatever the wall clock says."""
        self.extra_seconds += seconds
        if self.deadline is not None and self.now() > self.deadline:
            if not self.overran:
                self.overran = True
                self.notes.append(
                    f"timed out on the emulator's clock: {what} took the attempt past its "
                    f"timeoutSeconds ({self.deadline - self.started_at:g} s) at request {len(self.requests) + 1}"
                )
            raise HandlerTimeout()

    def push(self, queue: Any, events: Any, job_id: str | None = None, *, v1: bool = False, texts: list[str] | None = None) -> str:
        """Push from the handler; `job_id`: the one a JavaScript @forge/events minted (it mints its own);
        `v1`: a @forge/events 0.x-1.x push, whose bodies may be any JSON; `texts`: the events' JSON
        text, when forgeq.events wrote it."""
        return self.engine.push_from_handler(self, queue, events, job_id, v1=v1, texts=texts)

    def job_stats(self, queue: Any, job_id: Any) -> dict[str, int]:
        return self.engine.job_stats(queue, job_id, self.installation)

    def cancel_job(self, queue: Any, job_id: Any) -> None:
        self.engine.cancel_job(queue, job_id, self.installation)

    @property
    def storage(self) -> StorageSession:
        session = self._storage
        if session is None:
            session = self._storage = self.engine.storage.session(self)
        return session

    get_plain = get_plain  # `kvs.get(key)` with no options (the SDK's KVS.get calls it)
    set_plain = set_plain  # `kvs.set(key, value)` with no options (the SDK's KVS.set calls it)

    @property
    def legacy_storage(self) -> LegacyStorage:
        from forgeq.emulator.platform.legacy_storage import LegacyStorage

        return LegacyStorage(self.storage)

    def seed(self) -> str:
        """The string the engine seeds Python's `random` with for this attempt (engine._deliver)."""
        return f"{self.engine.settings.seed}:{self.event if self.call is None else self.call}:{self.attempt}"

    def app_context(self, module_key: str) -> dict[str, Any]:
        """What `getAppContext()` of @forge/api reads from `__forge_runtime__.appContext`."""
        engine = self.engine
        return {
            **_installation_context(engine.manifest.app_id, self.installation),
            "invocationId": derived_uuid("invocation", engine.settings.seed, self.call or self.event, self.attempt),
            "moduleKey": self.module or module_key,
        }

    def late(self, text: str) -> None:
        self.engine.late_output(self, text)

    def platform_request(self, call: dict[str, Any]) -> dict[str, Any]:
        """A request of Forge's JavaScript packages (through the Node.js worker), answered as the cloud does."""
        try:
            return api.answer(self, call)
        except Exception as error:  # noqa: BLE001 - a bug in forgeq: the JavaScript code sees a 500
            return _internal_error(error)

    def product_request(self, target: dict[str, Any], path: str, method: str, body: str | None) -> dict[str, Any]:
        """A product request of the Python port (forgeq.api), served by the site without the
        worker's request shape; the answer's body may be the JSON value itself (`value`)."""
        try:
            return self.engine.site.serve(self, target, path, method, body, value=True)
        except Exception as error:  # noqa: BLE001 - a bug in forgeq: the handler sees a 500, as through platform_request
            return _internal_error(error)


@lru_cache(maxsize=256)
def _installation_context(manifest_app_id: str, installation: str) -> dict[str, Any]:
    """The part of an app context that is the same for every invocation of an installation (never
    changed: app_context copies it). getAppContext() builds ARIs from the ids and refuses any that
    is not a UUID: an id the manifest does not give as one, and the environment and installation
    ids, are derived."""
    app_id = app_uuid(manifest_app_id)
    return {
        "appId": app_id,
        "appVersion": "forgeq",
        "environmentId": environment_id(app_id),
        "environmentType": "DEVELOPMENT",
        "installationId": derived_uuid("installation", app_id, installation),
        "installation": {"id": installation},
        "installContext": f"ari:cloud:jira::site/{installation}",
    }


def _internal_error(error: Exception) -> dict[str, Any]:
    """The 500 a request gets when forgeq itself failed to answer it."""
    return respond(500, {"code": "INTERNAL_SERVER_ERROR", "message": f"forgeq: {type(error).__name__}: {error}"})


@dataclass(slots=True)
class Execution:
    result: Result
    value: Any
    logs: str
    wall_ms: float
    raised: BaseException | None = None  # what the handler raised (the bridge's message needs its text)


class _Capture(io.StringIO):
    """Stdout/stderr of one attempt, cut at Forge's 200 KB per-invocation log limit."""

    size = 0  # class defaults, no __init__: most attempts print nothing, and a capture is made per attempt
    truncated = False

    def write(self, text: str) -> int:
        if self.truncated:
            return len(text)
        room = limits.MAX_LOG_BYTES_PER_INVOCATION - self.size
        if len(text) > room:
            super().write(text[:room])
            super().write(f"\n[forgeq: log cut at {limits.MAX_LOG_BYTES_PER_INVOCATION // 1024} KB, Forge's per-invocation limit]\n")
            self.truncated = True
        else:
            super().write(text)
        self.size += len(text)
        return len(text)

    def close(self) -> None:
        """A handler may close sys.stdout; the capture stays readable (and writable) for forgeq."""


_loop: Any = None  # the asyncio event loop coroutine handlers run on, made at the first one


def _event_loop() -> Any:
    import asyncio  # only apps with async handlers pay for importing asyncio

    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
        # Its selector and self-pipe outlive the attempt: a handler closing every descriptor leaves them.
        _loop_fds.clear()
        for part in (getattr(_loop, "_selector", None), getattr(_loop, "_ssock", None), getattr(_loop, "_csock", None)):
            with contextlib.suppress(AttributeError, OSError, ValueError):
                _loop_fds.add(part.fileno())  # type: ignore[union-attr]
        sandbox.KEPT_FDS.update(_loop_fds)
    return _loop


_loop_fds: set[int] = set()
_BOUND = runtime.BOUND


def execute(call: Any, args: tuple[Any, ...], invocation: Invocation, timeout_seconds: float | None) -> Execution:
    """Run `call(*args)` bound to `invocation`; classify what it did."""
    capture = _Capture()
    if sandbox.tripped:  # what a guard saw outside any attempt (a handler's thread) is no attempt's
        sandbox.settle()
    token = _BOUND.set(invocation)  # runtime.bind, inlined (once per attempt)
    guard = None
    armed = False
    started = wall_time()
    if timeout_seconds is not None:
        armed = WATCHDOG.arm(timeout_seconds, started)
        if invocation.engine.clock.virtual:
            invocation.deadline = invocation.started_at + timeout_seconds
        if not armed and not WATCHDOG.guarding:
            guard = WATCHDOG.guard()  # an attempt outside Emulator.run and step guards itself
            guard.__enter__()
            armed = WATCHDOG.arm(timeout_seconds, started)
    fired = 0
    timed_out = False
    value: Any = None
    error: BaseException | None = None
    try:
        saved_streams = sys.stdout, sys.stderr  # contextlib.redirect_stdout/stderr, inlined
        sys.stdout = sys.stderr = capture
        try:
            value = call(*args)
            if value is not None and inspect.isawaitable(value):
                value = _await(value)
        finally:
            sys.stdout, sys.stderr = saved_streams
    except HandlerTimeout:
        timed_out = True
    except MemoryError as exhausted:
        error = _out_of_memory(exhausted)
    except BaseException as caught:  # noqa: BLE001 - user code: SystemExit, KeyboardInterrupt from it, anything
        if isinstance(caught, KeyboardInterrupt) and invocation.engine.interrupted:
            raise
        error = caught
    finally:
        if armed:
            try:
                fired = WATCHDOG.disarm()
            except HandlerTimeout:  # the deadline passed just as the handler returned
                fired = WATCHDOG.disarm() or 1
        if guard is not None:
            guard.__exit__(None, None, None)
        _BOUND.reset(token)
    wall_ms = (wall_time() - started) * 1000
    timed_out = timed_out or invocation.overran  # a handler that swallowed the virtual timeout still timed out
    refused = None
    if sandbox.tripped:  # a guard acted: os._exit or a signal refused, a fork, forgeq's descriptors spared
        sandbox.exit_if_forked()  # a forked child ends here, before any of forgeq's code runs in it
        refused, noted = sandbox.settle()
        invocation.notes.extend(noted)
    elif not (timed_out or fired or error is not None or invocation.unawaited) and (value is None or type(value) in _PLAIN):
        logs = capture.getvalue()  # _logs, inlined for the commonest attempt
        io.StringIO.close(capture)
        return Execution(RETURNED, value, escape_surrogates(logs) if logs else logs, wall_ms)
    try:
        result = _classify(value, error, timed_out or fired > 0, timeout_seconds, invocation)
    except Exception as odd:  # noqa: BLE001 - an exception whose __str__ raises, a result whose __eq__ does
        what = f"{type(error).__name__} (printing it raised {type(odd).__name__})" if error is not None else (
            f"the handler returned a {type(value).__name__} that could not be inspected ({type(odd).__name__})"
        )
        result = Result("raised", error=what)
    if refused is not None and result.kind in ("returned", "retry-request"):  # it caught ProcessExit and went on
        result = Result("raised", error=refused)
    if result.error is not None:
        result = replace(result, error=safe_text(result.error, limits.MAX_ERROR_TEXT_CHARS))
    return Execution(result, value, _logs(capture), wall_ms, error)


class OutOfMemory(MemoryError):
    """A handler's MemoryError, its frames let go: what it held is free for forgeq to carry on."""


def _out_of_memory(exhausted: MemoryError) -> OutOfMemory:
    # The traceback holds the handler's frames and so what they allocated: describe where it
    # happened, then clear the frames before forgeq allocates anything more.
    where = ""
    try:
        frames = traceback.extract_tb(exhausted.__traceback__)
        if frames:
            where = f" ({os.path.basename(frames[-1].filename)}:{frames[-1].lineno})"
    except MemoryError:
        pass
    traceback.clear_frames(exhausted.__traceback__)
    exhausted.__traceback__ = None
    return OutOfMemory(f"the handler ran out of memory{where}")


def _logs(capture: _Capture) -> str:
    """What the attempt printed. The capture is closed by StringIO's own close: otherwise its
    finalizer would call the Python-level close() above, once per attempt. A lone surrogate in it
    is escaped: it would not encode to the state file."""
    text = capture.getvalue()
    io.StringIO.close(capture)
    return escape_surrogates(text) if text else text


# What a handler returns that can only mean success, and that JSON reads back without a note (a
# dict may be a retry request, a list hold what JSON has no type for, an object be an InvocationError).
_PLAIN = frozenset({bool, int, float, str})
RETURNED = Result("returned")


def _await(awaitable: Any) -> Any:
    loop = _event_loop()
    try:
        return loop.run_until_complete(awaitable)
    except HandlerTimeout:
        import asyncio

        # The coroutine may be stuck mid-await: throw the loop away rather than drive it further.
        global _loop
        _loop = None
        sandbox.KEPT_FDS.difference_update(_loop_fds)
        with contextlib.suppress(Exception):
            loop.close()
        if asyncio._get_running_loop() is not None:  # an interrupted run_forever left it marked running
            asyncio.events._set_running_loop(None)
        raise


WATCHDOG.boundaries = frozenset({execute.__code__, _await.__code__})


def _classify(value: Any, error: BaseException | None, timed_out: bool, timeout: float | None, invocation: Invocation) -> Result:
    if timed_out:
        return Result("timeout", error=f"Function timed out. Limit of {timeout:g} seconds")
    if isinstance(error, OutOfMemory):
        return Result("out-of-memory", error=f"MemoryError: {error}")
    if error is not None:
        if isinstance(error, InvocationError) or getattr(error, "js_type", None) == "InvocationError":  # raised in Python or thrown in JavaScript
            return Result("raised", error=describe_exception(error), raised_invocation_error=True)
        if isinstance(error, SystemExit):
            return Result("raised", error=f"SystemExit({error.code!r}): the handler called sys.exit; forgeq kept running")
        return Result("raised", error=describe_exception(error))
    for pending in invocation.unawaited:
        if not pending.awaited and pending._error is not None:
            return Result("raised", error=f"unhandled rejection of an SDK call never awaited: {describe_exception(pending._error)}")
    if inspect.iscoroutine(value):
        invocation.notes.append("the handler returned a coroutine: did you forget `await`?")
        value.close()
        return RETURNED
    if value is not None:
        # The platform reads the return value as JSON, as forgeq's Node.js worker reads a JavaScript
        # handler's (JSON.parse(JSON.stringify(value))): NaN is null, a cycle is no value at all.
        # What JSON has no type for (a set, a datetime) is read as its text, as a Date is; an
        # InvocationError as the plain object its JavaScript constructor returns (its toJSON).
        unsendable: list[str] = []

        def as_text(item: Any) -> str:
            unsendable.append(f"Object of type {type(item).__name__} is not JSON serializable")
            return str(item)

        try:
            value = through_json(value, default=as_text)
        except (TypeError, ValueError) as error:
            invocation.notes.append(f"the handler's return value is not JSON ({error}); forgeq treats it as no value")
            return RETURNED
        if unsendable and isinstance(value, dict) and value.get("_retry") is True:
            invocation.notes.append(f"retryData is not JSON ({unsendable[0]}): the next attempt gets what JSON cannot hold as text (str)")
    if isinstance(value, dict) and value.get("_retry") is True:
        options = value.get("retryOptions")
        return Result("retry-request", retry_options=options if isinstance(options, dict) else None, retry_options_given=isinstance(options, dict))
    return RETURNED
