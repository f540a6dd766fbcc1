"""What a `retry_after` expression can evaluate to, read from the code: a range and the constants.

`BASE * 2 ** retry_count + random.random() * 100` under a v1 consumer (retryCount 0..4) is
[20, 420]; under v2 (no retry cap) it has no upper bound, so Forge's 900 s clamp will apply.
Anything lint cannot follow (a parameter, a call into another module) makes the result unknown,
and unknown means no finding.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

from forgeq.emulator.tools.linting.source import FunctionNode, SourceFile, subscript_key

INF = math.inf
MAX_DEPTH = 12


@dataclass(frozen=True)
class Range:
    lo: float
    hi: float

    def __or__(self, other: Range) -> Range:
        return Range(min(self.lo, other.lo), max(self.hi, other.hi))


@dataclass
class Context:
    source: SourceFile
    scope: FunctionNode | None
    retry_count_max: float | None  # 4 under v1 and triggers, INF under v2, None when unknown
    bindings: dict[str, Range] | None = None


def _mul(a: float, b: float) -> float:
    if a == 0 or b == 0:
        return 0.0
    return a * b


def _combine(a: Range, b: Range, op: Callable[[float, float], float]) -> Range | None:
    try:
        values = [op(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    except (ZeroDivisionError, OverflowError, ValueError):
        return None
    if any(math.isnan(v) for v in values):
        return None
    return Range(min(values), max(values))


def _power(base: Range, exponent: Range) -> Range | None:
    if base.lo < 1 or exponent.lo < 0:
        return None  # a shrinking or sign-changing power: not a backoff lint can judge

    def power(x: float, y: float) -> float:
        try:
            return float(x**y)
        except OverflowError:
            return INF

    return Range(power(base.lo, exponent.lo), power(base.hi, exponent.hi))


_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _mul,
    ast.Div: operator.truediv,
}


def evaluate(node: ast.AST, context: Context, depth: int = 0) -> Range | None:  # noqa: C901
    if depth > MAX_DEPTH:
        return None

    def again(inner: ast.AST) -> Range | None:
        return evaluate(inner, context, depth + 1)

    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return Range(float(node.value), float(node.value))
    if isinstance(node, ast.Name):
        return _name(node.id, context, depth)
    key = subscript_key(node)
    if key == "retryCount":
        return None if context.retry_count_max is None else Range(0, context.retry_count_max)
    if key == "remainingTimeMs":
        return Range(0, 24 * 3600 * 1000)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = again(node.operand)
        return Range(-inner.hi, -inner.lo) if inner else None
    if isinstance(node, ast.BinOp):
        left, right = again(node.left), again(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        if isinstance(node.op, ast.FloorDiv):
            result = _combine(left, right, operator.truediv)
            return (
                Range(math.floor(result.lo), math.floor(result.hi))
                if result and math.isfinite(result.lo) and math.isfinite(result.hi)
                else result
            )
        op = _BINARY.get(type(node.op))
        return _combine(left, right, op) if op else None
    if isinstance(node, ast.IfExp):
        body, orelse = again(node.body), again(node.orelse)
        return body | orelse if body and orelse else None
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        parts = [again(value) for value in node.values]
        if any(part is None for part in parts):
            return None
        result = parts[0]
        for part in parts[1:]:
            assert result is not None and part is not None
            result = result | part
        return result
    if isinstance(node, ast.Call):
        return _call(node, context, depth)
    return None


def _name(name: str, context: Context, depth: int) -> Range | None:
    if context.bindings is not None and name in context.bindings:
        return context.bindings[name]
    values = context.source.local_values(context.scope, name) if context.scope is not None else None
    if context.scope is not None and values is None:
        return None  # a parameter, a loop variable, `+=`: unknown
    if not values:
        values = context.source.module_values.get(name)
        if not values:
            return None
        context = Context(context.source, None, context.retry_count_max)
    result: Range | None = None
    for value in values:
        part = evaluate(value, context, depth + 1)
        if part is None:
            return None
        result = part if result is None else result | part
    return result


def _call(node: ast.Call, context: Context, depth: int) -> Range | None:
    source = context.source
    name = source.qualified(node.func)
    args = [evaluate(arg, context, depth + 1) for arg in node.args]
    if node.keywords:
        return None
    if name in ("min", "max") and len(args) >= 2 and all(args):
        known = [a for a in args if a is not None]
        pick = min if name == "min" else max
        return Range(pick(a.lo for a in known), pick(a.hi for a in known))
    if name in ("int", "float", "round", "math.ceil", "math.floor") and len(args) == 1:
        return args[0]
    if name == "random.random" and not args:
        return Range(0, 1)
    if name in ("random.uniform", "random.randint", "random.randrange") and len(args) == 2 and all(args):
        low, high = args[0], args[1]
        assert low is not None and high is not None
        return Range(min(low.lo, high.lo), max(low.hi, high.hi))
    if isinstance(node.func, ast.Name) and node.func.id in source.functions and all(args):
        function = source.functions[node.func.id]
        returns = [n for n in ast.walk(function) if isinstance(n, ast.Return)]
        params = [a.arg for a in function.args.args]
        if len(returns) != 1 or returns[0].value is None or len(params) != len(args):
            return None
        bindings = {param: arg for param, arg in zip(params, args, strict=True) if arg is not None}
        return evaluate(
            returns[0].value, Context(source, function, context.retry_count_max, bindings), depth + 1
        )
    return None


def reaching_constants(node: ast.AST, context: Context, depth: int = 0) -> list[tuple[float, ast.AST]]:
    """The constant values the expression takes on some path, with where each comes from.

    `delay` assigned `0` before an `if` that may reassign it reaches 0 on the first delivery.
    """
    if depth > MAX_DEPTH:
        return []
    if isinstance(node, ast.Name):
        values = context.source.local_values(context.scope, node.id) if context.scope is not None else None
        if not values:
            values = context.source.module_values.get(node.id) or []
        found: list[tuple[float, ast.AST]] = []
        for value in values:
            found.extend(reaching_constants(value, context, depth + 1))
        return found
    if isinstance(node, ast.IfExp):
        return reaching_constants(node.body, context, depth + 1) + reaching_constants(
            node.orelse, context, depth + 1
        )
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        return [pair for value in node.values for pair in reaching_constants(value, context, depth + 1)]
    if any(isinstance(n, ast.Name | ast.Call | ast.Subscript | ast.Attribute) for n in ast.walk(node)):
        return []
    exact = evaluate(node, Context(context.source, None, None), depth + 1)
    if exact is not None and exact.lo == exact.hi:
        return [(exact.lo, node)]
    return []
