"""FQ1xx: retry logic. How InvocationError is built and handed back, what retry_after can be,
which errors get retried, and whether the first delivery (no retryContext) is handled.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable

from forgeq.emulator import limits
from forgeq.emulator.tools.linting.source import (
    EVENTS_ERROR,
    INVOCATION_ERROR,
    TRIGGER,
    V1,
    V1_PLAIN,
    V2,
    FunctionNode,
    Role,
    SourceFile,
    constant_string,
    subscript_base,
    subscript_key,
    walk_scope,
)
from forgeq.emulator.tools.linting.values import Context, evaluate, reaching_constants

Report = Callable[[str, ast.AST, str], None]

_BROAD = {
    "Exception",
    "BaseException",
    "forgeq.kvs.ForgeKvsAPIError",
    "forgeq.kvs.ForgeKvsError",
    EVENTS_ERROR,
}
_GUARD_ERRORS = {"KeyError", "TypeError", "AttributeError", "LookupError", "Exception", "BaseException"}
_RETRY_COUNT_KEYS = ("retryCount", "retentionWindow", "remainingTimeMs")
MAX_RETRY_AFTER = limits.MAX_RETRY_AFTER


def check_retries(source: SourceFile, roles: list[Role], report: Report) -> None:
    bounds = _retry_count_bounds(roles)
    retry_helpers = _retry_helpers(source)
    for node in ast.walk(source.tree):
        if source.is_call_to(node, INVOCATION_ERROR):
            assert isinstance(node, ast.Call)
            scope = source.enclosing_function(node)
            _options(source, node, scope, bounds.get(scope) if scope else None, report)
        elif (
            isinstance(node, ast.Raise)
            and node.exc is not None
            and _builds_invocation_error(source, node.exc, retry_helpers)
        ):
            report(
                "FQ101",
                node,
                "InvocationError is raised: Forge honours only a returned one, so this is an app-level error "
                "(retry_after ignored; a trigger's event is lost). Use `return`",
            )
        elif isinstance(node, ast.ExceptHandler):
            _broad_retry(source, node, retry_helpers, report)
    _retry_context_reads(source, report)
    for role in roles:
        if role.kind == V2 and role.source is source and role.entry is not None:
            _retries_forever(source, role, retry_helpers, report)


def _retry_count_bounds(roles: list[Role]) -> dict[FunctionNode, float]:
    """The largest retryCount each function can see: 4 under v1 and triggers, no bound under v2,
    or less when the code compares the count with a limit of its own (`if retry_count >= 5: ...`)."""
    bounds: dict[FunctionNode, float] = {}
    for role in roles:
        bound = (
            float(limits.V1_MAX_RETRIES)
            if role.kind in (V1, V1_PLAIN, TRIGGER)
            else math.inf
            if role.kind == V2
            else 0.0
        )
        cap = _own_limit(role)
        if cap is not None:
            bound = min(bound, cap)
        for function in role.reachable:
            bounds[function] = max(bounds.get(function, 0.0), bound)
    return bounds


def _own_limit(role: Role) -> float | None:
    """The largest constant the role's code compares its retry count with (leaning to silence)."""
    nodes = [n for function in role.reachable for n in ast.walk(function)]
    counts = _derived_names(nodes, ("retryCount",))
    limits_seen: list[float] = []
    for node in nodes:
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        about_count = [
            side
            for side in sides
            if subscript_key(side) == "retryCount" or (isinstance(side, ast.Name) and side.id in counts)
        ]
        if not about_count:
            continue
        scope = role.source.enclosing_function(node)
        for side in sides:
            if side in about_count:
                continue
            value = evaluate(side, Context(role.source, scope, None))
            if value is not None and math.isfinite(value.hi):
                limits_seen.append(value.hi)
    return max(limits_seen) if limits_seen else None


def _retry_helpers(source: SourceFile) -> set[str]:
    """Module functions that return an InvocationError (`return retry_later(...)` asks for a retry too)."""
    helpers: set[str] = set()
    for name, function in source.functions.items():
        for node in walk_scope(function):
            if (
                isinstance(node, ast.Return)
                and node.value is not None
                and source.is_call_to(node.value, INVOCATION_ERROR)
            ):
                helpers.add(name)
    return helpers


def _builds_invocation_error(source: SourceFile, node: ast.AST, helpers: set[str]) -> bool:
    if source.is_call_to(node, INVOCATION_ERROR) or (
        isinstance(node, ast.Name | ast.Attribute) and source.refers_to(node, INVOCATION_ERROR)
    ):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
        return True
    if isinstance(node, ast.Name):
        scope = source.enclosing_function(node)
        values = source.local_values(scope, node.id) if scope is not None else None
        return bool(values) and all(source.is_call_to(v, INVOCATION_ERROR) for v in values or [])
    return False


# -- the options: FQ102, FQ103, FQ104, FQ108 ------------------------------------------------------------


def _options(
    source: SourceFile,
    call: ast.Call,
    scope: FunctionNode | None,
    retry_count_max: float | None,
    report: Report,
) -> None:
    if not call.args and not call.keywords:
        report(
            "FQ102",
            call,
            "InvocationError() with no options asks for a retry after 1 s, the SDK's default: no backoff, so a "
            "rate-limited dependency is called again at once",
        )
        return
    keywords = {k.arg: k.value for k in call.keywords if k.arg is not None}
    unpacked = any(k.arg is None for k in call.keywords)
    for wrong, right in (
        ("retryAfter", "retry_after"),
        ("retryReason", "retry_reason"),
        ("retryData", "retry_data"),
    ):
        if wrong in keywords:
            report(
                "FQ102" if wrong == "retryAfter" else "FQ108",
                keywords[wrong],
                f"InvocationError takes `{right}=` (or a dict with '{wrong}'); `{wrong}=` raises TypeError",
            )
            return
    options = call.args[0] if call.args else None
    retry_after = keywords.get("retry_after")
    retry_reason = keywords.get("retry_reason")
    if isinstance(options, ast.Dict):
        if any(key is None for key in options.keys):
            return  # {**spread}: unknown keys
        keys = {constant_string(key): value for key, value in zip(options.keys, options.values, strict=True)}
        for wrong, right in (("retry_after", "retryAfter"), ("retry_reason", "retryReason")):
            if wrong in keys:
                report(
                    "FQ102" if wrong == "retry_after" else "FQ108",
                    options,
                    f"the options dict uses '{wrong}', which Forge does not read: it expects '{right}' (or pass `{wrong}=` as a keyword)",
                )
                return
        retry_after = retry_after or keys.get("retryAfter")
        retry_reason = retry_reason or keys.get("retryReason")
    elif options is not None or unpacked:
        return  # options built elsewhere: lint cannot see their keys
    if retry_after is None:
        report(
            "FQ102",
            call,
            "InvocationError without retry_after: the SDK sends no retryAfter and what the platform does then is "
            "undocumented (forgeq applies 1 s); give a delay with backoff",
        )
    else:
        _retry_after_value(source, retry_after, scope, retry_count_max, report)
    if retry_reason is None:
        report(
            "FQ108",
            call,
            "InvocationError without retry_reason: the SDK sends none, despite the docs' default of FUNCTION_RETRY_REQUEST",
        )


def _retry_after_value(
    source: SourceFile,
    value: ast.expr,
    scope: FunctionNode | None,
    retry_count_max: float | None,
    report: Report,
) -> None:
    context = Context(source, scope, retry_count_max)
    for constant, _origin in reaching_constants(value, context):
        if constant <= 0:
            report(
                "FQ104",
                value,
                f"retry_after can be {constant:g}: the SDK raises 0 or less to 1 s, so that retry comes at once",
            )
            break
    found = evaluate(value, context)
    if found is None or found.hi <= MAX_RETRY_AFTER:
        return
    if found.lo > MAX_RETRY_AFTER:
        amount = _seconds(found.lo) if found.lo == found.hi else f"{_seconds(found.lo)} or more"
        report(
            "FQ103",
            value,
            f"retry_after is {amount}, above Forge's 900 s maximum: the platform clamps it to 900 s",
        )
    elif math.isinf(found.hi):
        threshold = _first_retry_count_over(source, value, scope)
        when = f" from retryCount {threshold}" if threshold is not None else ""
        report(
            "FQ103",
            value,
            f"retry_after grows with retryCount without a cap and passes 900 s{when} (v2 retries are not counted down, "
            "only the 24 h retention window ends them): Forge clamps it to 900 s; cap it with min(..., 900)",
        )
    else:
        report(
            "FQ103",
            value,
            f"retry_after can reach {_seconds(found.hi)}, above Forge's 900 s maximum: the platform clamps it to 900 s",
        )


def _first_retry_count_over(source: SourceFile, value: ast.expr, scope: FunctionNode | None) -> int | None:
    for count in range(0, 64):
        found = evaluate(value, Context(source, scope, float(count)))
        if found is None:
            return None
        if found.hi > MAX_RETRY_AFTER:
            return count
    return None


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 100 else f"{value:g} s"


# -- FQ105: a retry on every exception ------------------------------------------------------------------


def _broad_retry(source: SourceFile, handler: ast.ExceptHandler, helpers: set[str], report: Report) -> None:
    caught = _caught_names(source, handler.type)
    broad = sorted(caught & _BROAD) if caught is not None else ["every exception"]
    if caught is not None and not broad:
        return
    retries = [
        node
        for statement in handler.body
        for node in [statement, *walk_scope(statement)]
        if isinstance(node, ast.Return)
        and node.value is not None
        and _builds_invocation_error(source, node.value, helpers)
    ]
    if not retries:
        return
    body_nodes = [n for statement in handler.body for n in [statement, *walk_scope(statement)]]
    if any(isinstance(n, ast.Raise) for n in body_nodes):
        return  # some errors are re-raised: the handler chooses
    if handler.name and any(_tests_name(n, handler.name) for n in body_nodes):
        return  # the retry depends on the error (its code, status or type)
    what = (
        "every exception"
        if caught is None or "BaseException" in broad or "Exception" in broad
        else "every " + broad[0].rsplit(".", 1)[1]
    )
    kvs_note = (
        ", including INVALID_KEY, KEY_TOO_LONG, MAX_SIZE and MAX_DEPTH,"
        if "Kvs" in what or what in ("every exception", "every Exception")
        else ""
    )
    report(
        "FQ105",
        handler,
        f"this retries {what}{kvs_note} which fail the same way on every attempt: the retries are used up "
        "for nothing (4 in v1, 24 h in v2). Retry only rate limits (429) and re-raise the rest",
    )


def _caught_names(source: SourceFile, node: ast.expr | None) -> set[str] | None:
    if node is None:
        return None
    parts = node.elts if isinstance(node, ast.Tuple) else [node]
    names: set[str] = set()
    for part in parts:
        name = source.qualified(part)
        if name is None:
            continue
        names.add(name)
        for broad in _BROAD:
            if name == broad.rsplit(".", 1)[-1]:
                names.add(broad)
    return names


def _tests_name(node: ast.AST, name: str) -> bool:
    tests: list[ast.AST] = []
    if isinstance(node, ast.If | ast.While | ast.IfExp):
        tests.append(node.test)
    elif isinstance(node, ast.Match):
        tests.append(node.subject)
    elif isinstance(node, ast.BoolOp | ast.Compare):
        tests.append(node)
    return any(isinstance(n, ast.Name) and n.id == name for test in tests for n in ast.walk(test))


# -- FQ106: retryContext on the first delivery ----------------------------------------------------------


def _retry_context_reads(source: SourceFile, report: Report) -> None:
    reported: set[int] = set()

    def flag(node: ast.AST, text: str) -> None:
        line = getattr(node, "lineno", 0)
        if line not in reported:
            reported.add(line)
            report("FQ106", node, text)

    for scope in [
        source.tree,
        *(
            n
            for n in ast.walk(source.tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        ),
    ]:
        if _only_called_on_retries(source, scope):
            continue
        maybe_missing = _retry_context_names(source, scope)
        for node in walk_scope(scope):
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)
                and constant_string(node.slice) == "retryContext"
            ):
                if not _guarded(source, node, "retryContext", maybe_missing):
                    flag(
                        node,
                        'reads `...["retryContext"]`, which is missing on the first delivery (KeyError): use .get("retryContext") and branch on it',
                    )
                continue
            base = subscript_base(node)
            if base is None:
                continue
            is_method_call = isinstance(node, ast.Call)
            if subscript_key(base) == "retryContext" and isinstance(base, ast.Call):
                default = _get_default(base)
                risky = default is None or (isinstance(default, ast.Dict) and not is_method_call)
                if risky and not _guarded(source, node, "retryContext", maybe_missing):
                    flag(
                        node,
                        'reads inside `.get("retryContext")`, which is None (or empty) on the first delivery',
                    )
            elif isinstance(base, ast.Name) and base.id in maybe_missing:
                kind = maybe_missing[base.id]
                if kind == "empty" and is_method_call:
                    continue
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr != "get"
                ):
                    continue
                if not _guarded(source, node, base.id, maybe_missing):
                    what = "None" if kind == "none" else "empty"
                    flag(
                        node,
                        f"reads inside `{base.id}`, the retryContext, which is {what} on the first delivery: guard it (`if {base.id}:`)",
                    )


def _only_called_on_retries(source: SourceFile, scope: ast.AST) -> bool:
    """A module function called only where retryContext was checked first (`if "retryContext" in event:
    return handle_retry(event)`) runs only on retries."""
    if (
        not isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef)
        or source.functions.get(scope.name) is not scope
    ):
        return False
    calls = [
        n
        for n in ast.walk(source.tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == scope.name
    ]
    return bool(calls) and all(_guarded(source, call, "retryContext", {}) for call in calls)


def _get_default(call: ast.Call) -> ast.expr | None:
    if len(call.args) >= 2:
        default = call.args[1]
        return None if isinstance(default, ast.Constant) and default.value is None else default
    return None


def _retry_context_names(source: SourceFile, scope: ast.AST) -> dict[str, str]:
    """Names bound to `x.get("retryContext")`: "none" (may be None) or "empty" (a {} default)."""
    names: dict[str, str] = {}
    other: set[str] = set()
    for node in walk_scope(scope):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
            if isinstance(value, ast.Call) and subscript_key(value) == "retryContext":
                default = _get_default(value)
                if default is None:
                    names[name] = "none"
                elif isinstance(default, ast.Dict) and not default.keys:
                    names[name] = "empty"
                else:
                    other.add(name)
            else:
                other.add(name)
    return {name: kind for name, kind in names.items() if name not in other}


def _mentions(node: ast.AST, key: str, names: dict[str, str]) -> bool:
    for inner in ast.walk(node):
        if isinstance(inner, ast.Constant) and inner.value in ("retryContext", key):
            return True
        if isinstance(inner, ast.Name) and (inner.id == key or inner.id in names):
            return True
    return False


def _exits(body: list[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[-1], ast.Return | ast.Raise | ast.Continue | ast.Break)


def _guarded(source: SourceFile, node: ast.AST, key: str, names: dict[str, str]) -> bool:
    child: ast.AST = node
    for parent in source.ancestors(node):
        if (
            isinstance(parent, ast.If | ast.While | ast.IfExp)
            and child is not parent.test
            and _mentions(parent.test, key, names)
        ):
            return True
        if isinstance(parent, ast.BoolOp):
            before = parent.values[: parent.values.index(child)] if child in parent.values else []
            if any(_mentions(value, key, names) for value in before):
                return True
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                caught = _caught_names(source, handler.type)
                if caught is None or caught & _GUARD_ERRORS:
                    return True
        for block in ("body", "orelse", "finalbody"):
            statements = getattr(parent, block, None)
            if isinstance(statements, list) and child in statements:
                for earlier in statements[: statements.index(child)]:
                    if (
                        isinstance(earlier, ast.If)
                        and _mentions(earlier.test, key, names)
                        and (_exits(earlier.body) or _exits(earlier.orelse))
                    ):
                        return True
                    if isinstance(earlier, ast.Assert) and _mentions(earlier.test, key, names):
                        return True
        if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return False
        child = parent
    return False


# -- FQ107: a v2 consumer that never stops retrying -----------------------------------------------------


def _retries_forever(source: SourceFile, role: Role, helpers: set[str], report: Report) -> None:
    nodes = [n for function in role.reachable for n in ast.walk(function)]
    asks = any(
        isinstance(n, ast.Return)
        and n.value is not None
        and _builds_invocation_error(source, n.value, helpers)
        for n in nodes
    )
    if not asks:
        return
    reads = [n for n in nodes if subscript_key(n) in _RETRY_COUNT_KEYS]
    tainted = _derived_names(nodes, _RETRY_COUNT_KEYS)
    decides = any(_decides_on(n, tainted) for n in nodes)
    if decides:
        return
    entry = role.entry
    assert entry is not None
    how = "never reads retryCount" if not reads else "reads retryCount only to compute a delay, never to stop"
    report(
        "FQ107",
        entry if not isinstance(entry, ast.Lambda) else role.anchor,
        f"{role.describe()} asks for retries and {how}: under v2 there is no retry cap, so a failure that does not go "
        "away is retried until the 24 h retention window ends, then dropped",
    )


def _derived_names(nodes: list[ast.AST], keys: tuple[str, ...]) -> set[str]:
    names: set[str] = set()
    changed = True
    while changed:
        changed = False
        for node in nodes:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                name = node.targets[0].id
                if name in names:
                    continue
                if any(
                    subscript_key(n) in keys or (isinstance(n, ast.Name) and n.id in names)
                    for n in ast.walk(node.value)
                ):
                    names.add(name)
                    changed = True
    return names


def _decides_on(node: ast.AST, tainted: set[str]) -> bool:
    if not isinstance(node, ast.Compare):
        return False
    return any(
        subscript_key(n) in _RETRY_COUNT_KEYS or (isinstance(n, ast.Name) and n.id in tainted)
        for n in ast.walk(node)
    )
