"""The app's own pushers: a web trigger or a UI resolver called once, as an attempt of its own.

`forgeq webtrigger` and `forgeq invoke` (and `ForgeApp.webtrigger` / `ForgeApp.invoke`) call one
function with what the platform sends (platform/webtriggers.py, platform/ui_bridge.py), under the
same Invocation as a consumer's attempt: its KVS calls meet the same quotas, its pushes the same
platform limits, and what it did is committed with its row. A call is not an event: it is never
queued or retried; its row (kind `webtrigger` or `resolver`, state `answered`) carries its one
attempt, and the events it pushed are its children (docs/fidelity.md, "Web triggers and UI resolvers").

A call does not need the loop: it works from a process of its own beside a running `forgeq run`,
as `forgeq push` does. It then never starts the engine (no recovery, no schedule, no consumer
loaded) and commits only its own writes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from forgeq.emulator import limits
from forgeq.emulator.errors import InputError
from forgeq.emulator.loop.invocation import Invocation, execute
from forgeq.emulator.loop.timeline import AttemptReport
from forgeq.emulator.platform import ui_bridge, webtriggers
from forgeq.emulator.store import schema
from forgeq.emulator.store.batch import AttemptRow, NewEvent, WriteBatch
from forgeq.jsontext import escape_surrogates, stringify, through_json

if TYPE_CHECKING:
    from forgeq.emulator.app.manifest import UiModule
    from forgeq.emulator.loop.engine import Emulator

WEBTRIGGER, RESOLVER = schema.CALL_KINDS


# (what the function returned, or None when it failed; outcome; the error's message; notes) ->
# (what the caller receives, or why the platform failed the call although the function returned)
Answer = Callable[[Any, str, "str | None", list[str]], tuple[Any, "str | None"]]


@dataclass
class Call:
    """One call to make: the function, its arguments as the platform builds them, and where it runs."""

    kind: str  # WEBTRIGGER | RESOLVER
    target: str  # the web trigger's module key, or the resolver definition's key
    function: str
    args: tuple[Any, ...]
    installation: str
    request: Any  # what the row shows as its body: the HTTP request, or the invoke payload
    answer: Answer
    module: str | None = None  # the UI module, for a resolver call


@dataclass
class CallResult:
    seq: int  # the call's row: `forgeq inspect timeline SEQ`
    kind: str
    target: str
    function: str
    outcome: str  # succeeded | error | timeout
    answer: Any  # what the caller receives: the HTTP response, the resolver's value, or the bridge's error
    error: str | None  # forgeq's description of a failure, `KeyError: 'x' (index.py:3)`
    notes: list[str]
    logs: str
    started_at: float
    ended_at: float
    storage_calls: int
    pushed: list[dict[str, Any]] = field(default_factory=list)  # {queue, job_id, events}

    @property
    def ok(self) -> bool:
        return self.outcome == "succeeded"


def call_webtrigger(
    engine: Emulator,
    key: str,
    *,
    method: str = "GET",
    body: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    query: list[tuple[str, str]] | None = None,
    user_path: str = "",
    installation: str | None = None,
) -> CallResult:
    """Call the web trigger module `key` with the request the platform builds; `answer` is its HTTP response."""
    trigger = engine.manifest.webtrigger(key)
    if trigger is None:
        keys = ", ".join(w.key for w in engine.manifest.webtriggers) or "none in the manifest"
        raise InputError(f"no webtrigger module '{key}'", f"web triggers: {keys}")
    site = installation or engine.settings.installations[0]
    request = webtriggers.build_request(
        trigger, app_id=engine.manifest.app_id, installation=site, method=method, body=body,
        headers=headers or [], query=query or [], user_path=user_path,
    )  # fmt: skip
    context = {"installContext": ui_bridge.install_context(site), "installation": {"id": site}, "environmentType": "DEVELOPMENT"}

    def answer(value: Any, outcome: str, message: str | None, notes: list[str]) -> tuple[Any, str | None]:
        if outcome == "succeeded":
            response, failure = webtriggers.response_of(trigger, value, notes)
            return response.as_dict(), failure
        what = f"timed out after {limits.WEBTRIGGER_TIMEOUT_SECONDS:g} s" if outcome == "timeout" else "threw"
        response, failure = webtriggers.failed(f"the web trigger {what}")
        notes.append(failure)  # the attempt's error is the exception; this says what the caller got
        return response.as_dict(), None

    call = Call(WEBTRIGGER, key, trigger.function, (request, context), site, request, answer)
    return run_call(engine, call, limits.WEBTRIGGER_TIMEOUT_SECONDS)


def call_resolver(
    engine: Emulator,
    key: str,
    payload: Any = None,
    *,
    function: str | None = None,
    module: str | None = None,
    installation: str | None = None,
    account_id: str | None = None,
    extension: dict[str, Any] | None = None,
) -> CallResult:
    """Call resolver definition `key` as `invoke(key, payload)` from a UI module does; `answer` is what
    the resolver returned, or, when it failed, the error the bridge rejects with ({message, ...})."""
    ui = _ui_module(engine, function, module)
    site = installation or engine.settings.installations[0]
    options = {"account_id": account_id} if account_id else {}
    event, runtime_payload = ui_bridge.call_event(
        engine.manifest, ui, key, payload, installation=site, extension_overrides=extension, **options
    )

    def answer(value: Any, outcome: str, message: str | None, notes: list[str]) -> tuple[Any, str | None]:
        if outcome == "succeeded":
            return value, None
        if outcome == "timeout":
            message = f"Function timed out. Limit of {limits.UI_RESOLVER_TIMEOUT_SECONDS:g} seconds"
        return ui_bridge.bridge_error(message or "Internal error"), None

    request = {"functionKey": key, "payload": payload, "module": ui.key}
    call = Call(RESOLVER, key, ui.function, (event, runtime_payload), site, request, answer, ui.key)
    return run_call(engine, call, limits.UI_RESOLVER_TIMEOUT_SECONDS)


def _ui_module(engine: Emulator, function: str | None, module: str | None) -> UiModule:
    modules = engine.manifest.ui_modules
    if not modules:
        raise InputError(
            "no UI module in the manifest has a resolver function",
            "`forgeq invoke` calls the `resolver.function` of a UI module (jira:issuePanel, jira:globalPage, ...)",
        )
    chosen = modules
    if module is not None:
        chosen = [m for m in modules if m.key == module]
        if not chosen:
            raise InputError(f"module '{module}': no UI module with that key has a resolver function", f"UI modules: {', '.join(m.key for m in modules)}")
    if function is not None:
        chosen = [m for m in chosen if m.function == function]
        if not chosen:
            known = ", ".join(dict.fromkeys(m.function for m in modules))
            raise InputError(f"function '{function}': no UI module's resolver is that function", f"UI resolver functions: {known}")
    functions = list(dict.fromkeys(m.function for m in chosen))
    if len(functions) > 1:
        raise InputError(
            f"the UI modules' resolvers are {len(functions)} functions: {', '.join(functions)}",
            "say which function (or module) to call",
        )
    return chosen[0]


def run_call(engine: Emulator, call: Call, timeout_seconds: float) -> CallResult:
    """Run `call` as one attempt and commit it with everything it did."""
    handler = engine.handlers.load(call.function)  # HandlerLoadError: the caller says it in one line
    if not engine.batch.is_empty():
        engine.flush()  # what the loop did so far is committed first: the call's writes come after
    engine.calls_made += 1
    start = engine.clock.now()
    label = f"{call.kind}:{call.target}:{start!r}:{engine.calls_made}"
    module = call.module or (call.target if call.kind == WEBTRIGGER else None)
    invocation = Invocation(engine, call.installation, None, None, start, call=label, module=module)
    random.seed(invocation.seed())
    target = getattr(handler.call, "forge_call", handler.call)  # a Python Resolver runs without an event loop
    execution = execute(target, call.args, invocation, timeout_seconds if engine.settings.enforce_timeouts else None)
    result = execution.result
    settings = engine.settings
    if result.kind == "timeout":
        ended = start + timeout_seconds
    elif engine.clock.virtual:
        ended = start + settings.invocation_seconds + invocation.storage_calls * settings.storage_call_seconds + invocation.extra_seconds
    else:
        ended = engine.clock.now()
    notes = list(invocation.notes)
    value: Any = None
    message: str | None = None
    error = result.error
    if result.kind == "returned":
        value = _json_safe(execution.value, notes)
        outcome = "succeeded"
    elif result.kind == "retry-request":
        outcome = "error"
        error = message = "the function returned an InvocationError, which only async events retry"
    else:
        outcome = "timeout" if result.kind == "timeout" else "error"
        raised = execution.raised
        message = getattr(raised, "plain", None) or (str(raised) if raised is not None and str(raised) else error)
    answer, failure = call.answer(value, outcome, message, notes)
    notes = [escape_surrogates(note) for note in notes]  # a handler's text may hold a lone surrogate
    if failure is not None and outcome == "succeeded":  # it returned, but nothing the platform can pass on
        outcome, error = "error", failure
    batch, engine.batch = engine.batch, WriteBatch()
    pushed = _pushes(batch)
    extra: dict[str, Any] = {"function": call.function, "answer": _shown(answer)}
    if call.module is not None:
        extra["module"] = call.module
    # stringify, as JSON.stringify writes: a lone surrogate (a body given on the command line) is escaped
    row = NewEvent(call.installation, call.kind, call.target, None, stringify(call.request, default=str), stringify(extra, default=str), start, start)
    attempt = AttemptRow(
        0, 1, 0, start, ended, outcome, None, error, None, None, None, None,
        invocation.quota_refusals, invocation.storage_calls, "\n".join(notes) or None, execution.logs or None, execution.wall_ms,
    )  # fmt: skip
    engine.lookahead.note_flush(batch)
    seq = engine.store.commit_call(batch, row, attempt)
    for observer in engine.observers:
        observer.attempt(
            AttemptReport(
                seq, "", call.installation, call.kind, call.target, None, 1, 0, start, ended, outcome, None, error,
                quota_refusals=invocation.quota_refusals, storage_calls=invocation.storage_calls, notes=notes,
                logs=execution.logs, wall_ms=execution.wall_ms, requests=invocation.requests,
            )
        )  # fmt: skip
    return CallResult(
        seq, call.kind, call.target, call.function, outcome, answer, error, notes, execution.logs, start, ended,
        invocation.storage_calls, pushed,
    )  # fmt: skip


def _json_safe(value: Any, notes: list[str]) -> Any:
    """The value as the platform passes it on: through JSON (undefined fields vanish)."""
    try:
        return through_json(value)
    except (TypeError, ValueError) as error:
        notes.append(f"the function's return value is not JSON ({error}); the platform passes it on as no value")
        return None


def _shown(value: Any) -> Any:
    text = stringify(value, default=str)
    return value if len(text) <= limits.CALL_ANSWER_KEPT_CHARS else text[: limits.CALL_ANSWER_KEPT_CHARS] + "…"


def _pushes(batch: WriteBatch) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    for event in batch.new_events:
        if event.job_id is not None:
            counts[event.job_id] = counts.get(event.job_id, 0) + 1
    return [{"queue": job.queue, "job_id": job.job_id, "events": counts.get(job.job_id, 0)} for job in batch.jobs]


