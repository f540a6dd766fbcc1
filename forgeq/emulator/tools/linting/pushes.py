"""FQ2xx/FQ3xx on the producer side: Queue construction and `push` calls.

Queue names against the manifest's consumers, what the SDK's validators would refuse, how many
events one push or one loop of pushes can carry against Forge's 50 per push and 500 per minute,
v2-only push settings sent to a v1 consumer, and SDK calls left unawaited in async code.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from forgeq.emulator import limits
from forgeq.emulator.app.manifest import Manifest
from forgeq.emulator.tools.linting.source import (
    EVENTS_ERROR,
    KVS,
    QUEUE,
    RATE_LIMIT_ERROR,
    TRIGGER,
    FunctionNode,
    Role,
    SourceFile,
    constant_string,
)

Report = Callable[[str, ast.AST, str], None]

INF = math.inf
QUEUE_KEY = re.compile(r"^[a-zA-Z0-9_-]+$")
_QUEUE_METHODS = {"push", "get_stats", "getStats", "cancel"}
_LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.comprehension)


@dataclass
class PushSite:
    call: ast.Call
    queue: str | None  # the queue's name, when lint can tell
    queue_line: int | None = None  # where that Queue is constructed


def check_pushes(source: SourceFile, manifest: Manifest | None, roles: list[Role], report: Report) -> None:
    for call in _queue_constructions(source):
        _queue_name(source, call, manifest, report)
    sites = list(_push_sites(source))
    trigger_functions = {
        f for role in roles if role.kind == TRIGGER and role.source is source for f in role.reachable
    }
    for site in sites:
        scope = source.enclosing_function(site.call)
        events = _event_literals(source, site.call, scope, report)
        if (
            manifest is not None
            and site.queue is not None
            and QUEUE_KEY.fullmatch(site.queue)
            and manifest.consumer_for(site.queue) is None
        ):
            declared = site.queue_line
            if declared is not None and declared != site.call.lineno:
                report(
                    "FQ301",
                    site.call,
                    f"this pushes to queue '{site.queue}' (line {declared}), which no consumer in the manifest listens on: "
                    "the events are never processed",
                )
        if manifest is not None and site.queue is not None:
            consumer = manifest.consumer_for(site.queue)
            if consumer is not None and consumer.method is not None:
                for event in events:
                    settings = [
                        k
                        for k in (constant_string(key) for key in event.keys)
                        if k in ("delayInSeconds", "concurrency")
                    ]
                    if settings:
                        report(
                            "FQ203",
                            event,
                            f"pushes an event with {', '.join(settings)} (the @forge/events 2.x shape) to queue '{site.queue}', "
                            f"whose consumer '{consumer.key}' is a v1 resolver consumer: on Forge a v1 push takes the delay as a "
                            "setting of the whole push, so this delay is never applied and the consumer's payload fields are missing",
                        )
        count = event_count(source, site.call.args[0], scope) if len(site.call.args) == 1 else None
        _too_many(site, count, report)
        _loop(source, site, scope, count, report)
        if _within(source, site.call, trigger_functions) and not _handled(source, site.call, broad=True):
            report(
                "FQ305",
                site.call,
                "this trigger pushes without handling RateLimitError: past 500 pushed events per minute the push throws, "
                "a trigger's thrown error is not retried, and the product event is lost",
            )
    _unawaited(source, report)


# -- queues --------------------------------------------------------------------------------------------


def _queue_constructions(source: SourceFile) -> Iterator[ast.Call]:
    for node in ast.walk(source.tree):
        if source.is_call_to(node, QUEUE):
            assert isinstance(node, ast.Call)
            yield node


def _key_node(call: ast.Call) -> tuple[ast.expr | None, bool]:
    """(the key expression, whether the first argument is a bare value where the options object goes:
    `Queue("q")`, which has no key, as `new Queue("q")` has none)."""
    for keyword in call.keywords:
        if keyword.arg == "key":
            return keyword.value, False
    if call.args:
        first = call.args[0]
        if isinstance(first, ast.Dict):
            for key, value in zip(first.keys, first.values, strict=True):
                if constant_string(key) == "key":
                    return value, False
            return None, False
        if constant_string(first) is not None:
            return first, True
        return first, False
    return None, False


def _string_value(source: SourceFile, node: ast.expr | None, scope: FunctionNode | None) -> str | None:
    if node is None:
        return None
    text = constant_string(node)
    if text is not None:
        return text
    if isinstance(node, ast.Name):
        values = source.local_values(scope, node.id) if scope is not None else None
        if not values:
            values = source.module_values.get(node.id)
        if values and len({constant_string(v) for v in values}) == 1:
            return constant_string(values[0])
    return None


def _queue_name(source: SourceFile, call: ast.Call, manifest: Manifest | None, report: Report) -> None:
    key_node, bare = _key_node(call)
    if bare:
        name = constant_string(key_node) if key_node is not None else None
        report(
            "FQ302",
            call,
            f'Queue("{name}") has no key, as new Queue("{name}") has none in JavaScript: it throws InvalidQueueNameError; '
            f'write Queue(key="{name}") or Queue({{"key": "{name}"}})',
        )
        return
    if key_node is None and not call.keywords and not call.args:
        report("FQ302", call, "Queue() without a key throws a TypeError, as new Queue() does")
        return
    name = _string_value(source, key_node, source.enclosing_function(call))
    if name is None:
        return
    if not QUEUE_KEY.fullmatch(name):
        report(
            "FQ302",
            key_node or call,
            f"queue key '{name}' throws InvalidQueueNameError: only letters, digits, '-' and '_' are allowed",
        )
        return
    if manifest is not None and manifest.consumer_for(name) is None:
        known = ", ".join(manifest.queues) or "none"
        too_long = (
            f"; at {len(name)} characters it can never have one (a manifest queue has at most {limits.QUEUE_NAME_MAX})"
            if len(name) > limits.QUEUE_NAME_MAX
            else ""
        )
        report(
            "FQ301",
            key_node or call,
            f"queue '{name}' has no consumer in the manifest (its queues: {known}){too_long}: pushed events are never processed",
        )


def _resolve_queue(source: SourceFile, receiver: ast.expr, scope: FunctionNode | None) -> ast.Call | None:
    if source.is_call_to(receiver, QUEUE):
        assert isinstance(receiver, ast.Call)
        return receiver
    if isinstance(receiver, ast.Name):
        values = source.local_values(scope, receiver.id) if scope is not None else None
        if not values:
            values = source.module_values.get(receiver.id)
        if values and all(source.is_call_to(v, QUEUE) for v in values):
            first = values[0]
            assert isinstance(first, ast.Call)
            return first
    return None


def _push_sites(source: SourceFile) -> Iterator[PushSite]:
    for node in ast.walk(source.tree):
        if not (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "push"
        ):
            continue
        receiver = node.func.value
        scope = source.enclosing_function(node)
        queue_call = _resolve_queue(source, receiver, scope)
        if queue_call is None:
            text = source.qualified(receiver) or ""
            if "queue" not in text.lower():
                continue
            yield PushSite(node, None)
            continue
        key_node, _ = _key_node(queue_call)
        yield PushSite(
            node, _string_value(source, key_node, source.enclosing_function(queue_call)), queue_call.lineno
        )


# -- the events of one push: FQ306, FQ307, FQ303 --------------------------------------------------------


def _event_literals(
    source: SourceFile, call: ast.Call, scope: FunctionNode | None, report: Report
) -> list[ast.Dict]:
    """Check the literal events of a push; return the event dicts lint could read."""
    if len(call.args) != 1 or call.keywords:
        if len(call.args) >= 2:
            report(
                "FQ306",
                call,
                "push(payload, settings) is the @forge/events 1.x signature; 2.x takes one argument, an event or a list of "
                'events, each {"body": {...}, "delayInSeconds": n}',
            )
        elif not call.args:
            report("FQ306", call, "push() without events throws NoEventsToPushError")
        return []
    argument = call.args[0]
    candidates: list[ast.expr] = [argument]
    if isinstance(argument, ast.Name):
        values = source.local_values(scope, argument.id) if scope is not None else None
        candidates = list(values) if values else []
    events: list[ast.expr] = []
    for candidate in candidates:
        if isinstance(candidate, ast.List | ast.Tuple):
            if not candidate.elts and candidate is argument:
                report("FQ306", call, "push([]) throws NoEventsToPushError: 'No events pushed.'")
            events.extend(candidate.elts)
        elif isinstance(candidate, ast.ListComp | ast.GeneratorExp):
            events.append(candidate.elt)
        else:
            events.append(candidate)
    dicts: list[ast.Dict] = []
    for event in events:
        if isinstance(event, ast.Constant | ast.JoinedStr):
            report(
                "FQ306",
                event,
                "an event that is not an object throws InvalidPayloadError: 'Event must be an object.'; push {\"body\": {...}}",
            )
        elif isinstance(event, ast.Dict):
            dicts.append(event)
            _event_dict(event, report)
    return dicts


def _event_dict(event: ast.Dict, report: Report) -> None:
    if any(key is None for key in event.keys):
        return  # {**spread}
    fields = {constant_string(key): value for key, value in zip(event.keys, event.values, strict=True)}
    body = fields.get("body")
    if "body" not in fields:
        report(
            "FQ306",
            event,
            "an event without 'body' throws InvalidPayloadError: 'Event body must be an object.'; @forge/events 2.x pushes "
            '{"body": {...}} (pushing the payload itself is the 1.x form)',
        )
    elif isinstance(body, ast.Constant | ast.List | ast.Tuple | ast.JoinedStr | ast.ListComp):
        report(
            "FQ306",
            body,
            "a body that is not an object throws InvalidPayloadError: 'Event body must be an object.'",
        )
    delay = fields.get("delayInSeconds")
    if (
        isinstance(delay, ast.UnaryOp)
        and isinstance(delay.op, ast.USub)
        and isinstance(delay.operand, ast.Constant)
    ):
        report(
            "FQ306",
            delay,
            "a negative delayInSeconds throws InvalidPushSettingsError: 'The delayInSeconds setting must be between 0 and 900.'",
        )
    elif isinstance(delay, ast.Constant):
        value = delay.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            report("FQ306", delay, f"delayInSeconds {value!r} is not a number; it must be 0-900 seconds")
        elif value > limits.MAX_DELAY_SECONDS or value < 0:
            report(
                "FQ306",
                delay,
                f"delayInSeconds {value:g} throws InvalidPushSettingsError: 'The delayInSeconds setting must be between 0 and 900.'",
            )
        elif value != int(value):
            report(
                "FQ307",
                delay,
                f"delayInSeconds {value:g} is fractional: the SDK lets it through, how Forge's server applies it is undocumented",
            )


def event_count(source: SourceFile, argument: ast.expr, scope: FunctionNode | None) -> float | None:
    """How many events one push of `argument` can carry at most: a number, INF, or None (unknown)."""
    if isinstance(argument, ast.Dict):
        return 1
    if isinstance(argument, ast.List | ast.Tuple):
        return None if any(isinstance(e, ast.Starred) for e in argument.elts) else len(argument.elts)
    if isinstance(argument, ast.ListComp | ast.GeneratorExp):
        total = 1.0
        for generator in argument.generators:
            total *= iteration_bound(source, generator.iter, scope)
        return total
    if isinstance(argument, ast.Subscript) and isinstance(argument.slice, ast.Slice):
        return _slice_length(argument.slice)
    if isinstance(argument, ast.Name) and scope is not None:
        values = source.local_values(scope, argument.id)
        if not values:
            return None
        counts = [event_count(source, value, scope) for value in values]
        if any(count is None for count in counts):
            return None
        grown = _grown_in_loop(source, scope, argument.id)
        return INF if grown else max(c for c in counts if c is not None)
    return None


def _grown_in_loop(source: SourceFile, scope: FunctionNode, name: str) -> bool:
    for node in ast.walk(scope):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("append", "extend", "insert")
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == name
            and any(isinstance(a, _LOOPS) for a in _ancestors_in(source, node, scope))
        ):
            return True
    return False


def _slice_length(part: ast.Slice) -> float | None:
    lower, upper = part.lower, part.upper
    if upper is None:
        return None
    if isinstance(upper, ast.Constant) and isinstance(upper.value, int):
        if lower is None:
            return upper.value
        if isinstance(lower, ast.Constant) and isinstance(lower.value, int):
            return max(0, upper.value - lower.value)
    if (
        isinstance(upper, ast.BinOp)
        and isinstance(upper.op, ast.Add)
        and lower is not None
        and ast.dump(upper.left) == ast.dump(lower)
        and isinstance(upper.right, ast.Constant)
        and isinstance(upper.right.value, int)
    ):
        return upper.right.value
    return None


def iteration_bound(source: SourceFile, iterable: ast.expr, scope: FunctionNode | None) -> float:
    """How many times a loop over `iterable` can run; INF when lint cannot bound it."""
    if isinstance(iterable, ast.Call) and source.qualified(iterable.func) == "range":
        bounds = [
            a.value if isinstance(a, ast.Constant) and isinstance(a.value, int) else None
            for a in iterable.args
        ]
        if bounds and all(v is not None for v in bounds):
            return len(range(*[v for v in bounds if v is not None]))
        return INF
    if isinstance(iterable, ast.List | ast.Tuple | ast.Set):
        return len(iterable.elts)
    if isinstance(iterable, ast.Constant) and isinstance(iterable.value, str):
        return len(iterable.value)
    if isinstance(iterable, ast.Subscript) and isinstance(iterable.slice, ast.Slice):
        length = _slice_length(iterable.slice)
        return INF if length is None else length
    if isinstance(iterable, ast.Name):
        values = source.local_values(scope, iterable.id) if scope is not None else None
        if not values:
            values = source.module_values.get(iterable.id)
        if values and all(isinstance(v, ast.List | ast.Tuple | ast.Set) for v in values):
            return max(iteration_bound(source, v, None) for v in values)
    return INF


def _too_many(site: PushSite, count: float | None, report: Report) -> None:
    if count is None or count <= limits.MAX_EVENTS_PER_PUSH:
        return
    if math.isinf(count):
        report(
            "FQ303",
            site.call,
            f"this push sends a list built from an unbounded collection: past {limits.MAX_EVENTS_PER_PUSH} events it throws "
            "TooManyEventsError and nothing is pushed; push in chunks of 50",
        )
    else:
        report(
            "FQ303",
            site.call,
            f"this push sends {count:g} events; more than {limits.MAX_EVENTS_PER_PUSH} throws TooManyEventsError",
        )


# -- pushes in loops: FQ304 ------------------------------------------------------------------------------


def _ancestors_in(source: SourceFile, node: ast.AST, scope: ast.AST | None) -> Iterator[ast.AST]:
    for parent in source.ancestors(node):
        if parent is scope or isinstance(
            parent, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
        ):
            return
        yield parent


def _loop(
    source: SourceFile, site: PushSite, scope: FunctionNode | None, count: float | None, report: Report
) -> None:
    iterations = 1.0
    looped = False
    for parent in _ancestors_in(source, site.call, scope):
        if isinstance(parent, ast.For | ast.AsyncFor):
            if _in_body(site.call, parent, source):
                looped = True
                iterations *= iteration_bound(source, parent.iter, scope)
        elif isinstance(parent, ast.While):
            looped = True
            iterations = INF
        elif isinstance(parent, ast.ListComp | ast.GeneratorExp | ast.SetComp | ast.DictComp):
            looped = True
            for generator in parent.generators:
                iterations *= iteration_bound(source, generator.iter, scope)
    if not looped:
        return
    per_push = count if count is not None else 1.0
    total = iterations * per_push
    if total <= limits.PUSHED_EVENTS_PER_MINUTE or _handled(source, site.call, broad=False):
        return
    amount = "an unbounded number of" if math.isinf(total) else f"up to {total:g}"
    report(
        "FQ304",
        site.call,
        f"this push runs in a loop: {amount} events in one invocation, past Forge's {limits.PUSHED_EVENTS_PER_MINUTE} "
        f"pushed events per minute (RateLimitError) and, at {limits.CYCLIC_INVOCATION_LIMIT} push requests, the cyclic "
        "invocation limit; handle RateLimitError or bound the loop",
    )


def _in_body(node: ast.AST, loop: ast.For | ast.AsyncFor | ast.While, source: SourceFile) -> bool:
    child: ast.AST = node
    for parent in source.ancestors(node):
        if parent is loop:
            return child in loop.body or child in loop.orelse
        child = parent
    return False


def _handled(source: SourceFile, node: ast.AST, broad: bool) -> bool:
    """Is `node` inside a try whose handlers catch RateLimitError (or, with broad, any exception)?"""
    child: ast.AST = node
    for parent in source.ancestors(node):
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                if handler.type is None:
                    return broad
                parts = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                for part in parts:
                    if source.refers_to(part, RATE_LIMIT_ERROR) or source.refers_to(part, EVENTS_ERROR):
                        return True
                    if broad and source.qualified(part) in ("Exception", "BaseException"):
                        return True
        if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return False
        child = parent
    return False


def _within(source: SourceFile, node: ast.AST, functions: set[FunctionNode]) -> bool:
    return any(parent in functions for parent in source.ancestors(node))


# -- FQ308: SDK calls never awaited ---------------------------------------------------------------------


def _unawaited(source: SourceFile, report: Report) -> None:
    for function in ast.walk(source.tree):
        if not isinstance(function, ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
                continue
            if source.enclosing_function(node) is not function:
                continue
            call = node.value
            what = _sdk_call_name(source, call, function)
            if what is not None:
                report(
                    "FQ308",
                    call,
                    f"`{what}(...)` is not awaited in async code: on Forge it may finish in a later invocation or never, and its errors escape",
                )


def _sdk_call_name(source: SourceFile, call: ast.Call, scope: FunctionNode) -> str | None:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    root: ast.expr = func
    while isinstance(root, ast.Attribute | ast.Call):
        root = root.value if isinstance(root, ast.Attribute) else root.func
    if isinstance(root, ast.Name) and source.refers_to(root, KVS):
        return f"kvs.{func.attr}" if isinstance(func.value, ast.Name) else f"kvs...{func.attr}"
    if func.attr in _QUEUE_METHODS and _resolve_queue(source, func.value, scope) is not None:
        return f"{ast.unparse(func.value)}.{func.attr}"
    return None
