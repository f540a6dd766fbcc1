"""FQ401 (a name never defined) and FQ402 (a local read on a path where it was never assigned).

The Python forms of the seed guide's first two bugs (docs/fidelity.md, lint): `kvs` used but never imported,
and `retryDelay` assigned only on retries but read in the catch block of the first delivery.
Both analyses lean towards silence: when unsure, a name counts as defined.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from forgeq.emulator.tools.linting.source import SourceFile, walk_scope

_BUILTINS = frozenset(dir(builtins)) | {
    "__file__",
    "__name__",
    "__doc__",
    "__spec__",
    "__loader__",
    "__package__",
    "__builtins__",
    "__path__",
    "__annotations__",
}

Report = Callable[[str, ast.AST, str], None]


@dataclass
class _Scope:
    node: ast.AST
    kind: str  # module | function | class | comprehension
    parent: _Scope | None
    bound: set[str] = field(default_factory=set)
    declared_global: set[str] = field(default_factory=set)
    reads: list[ast.Name] = field(default_factory=list)


def check_names(source: SourceFile, report: Report) -> None:
    if not source.star_import and not _dynamic_namespace(source):
        _undefined_names(source, report)
    no_return = _no_return_functions(source)

    def ends(call: ast.Call) -> bool:
        name = source.qualified(call.func)
        return name in _NO_RETURN or name in no_return

    for node in ast.walk(source.tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            _possibly_unbound(node, report, ends)


def _dynamic_namespace(source: SourceFile) -> bool:
    """A module that writes its own globals (exec, globals()[...] = ...) defines names lint cannot see."""
    return "__getattr__" in source.functions or any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("exec", "globals", "vars")
        for node in ast.walk(source.tree)
    )


# Calls that never return: a statement after one is unreachable.
_NO_RETURN = {"sys.exit", "os._exit", "os.abort", "exit", "quit", "pytest.fail", "pytest.skip", "pytest.exit"}


def _no_return_functions(source: SourceFile) -> set[str]:
    """Module functions whose last statement raises or calls sys.exit (one level deep)."""
    found: set[str] = set()
    for name, function in source.functions.items():
        last = function.body[-1] if function.body else None
        exits = (
            isinstance(last, ast.Expr)
            and isinstance(last.value, ast.Call)
            and source.qualified(last.value.func) in _NO_RETURN
        )
        if isinstance(last, ast.Raise) or exits:
            found.add(name)
    return found


def _test_names(test: ast.AST) -> set[str]:
    """What a condition is about: `timeout`, `self.timeout`, `'retryContext'` (for x.get("retryContext")).

    A name that is only the base of an attribute, a subscript or a method call does not count, so
    `payload.get("a")` and `payload.get("b")` are about different things.
    """
    bases: set[int] = set()
    for node in ast.walk(test):
        if isinstance(node, ast.Attribute | ast.Subscript):
            bases.add(id(node.value))
        elif isinstance(node, ast.Call):
            bases.add(id(node.func))
    names: set[str] = set()
    for node in ast.walk(test):
        if isinstance(node, ast.Name) and id(node) not in bases:
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and id(node) not in bases and isinstance(node.value, ast.Name):
            names.add(f"{node.value.id}.{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(repr(node.value))
    return names


# -- FQ401 ---------------------------------------------------------------------------------------------


def _undefined_names(source: SourceFile, report: Report) -> None:
    module = _Scope(source.tree, "module", None)
    scopes = [module]
    _Binder(source, module, scopes).visit_body(source.tree.body)
    module_bound = module.bound | {name for scope in scopes for name in scope.declared_global}
    reported: set[str] = set()
    for scope in scopes:
        for name in scope.reads:
            if _resolves(name.id, scope, module_bound):
                continue
            if name.id in reported:
                continue
            reported.add(name.id)
            report(
                "FQ401",
                name,
                f"name '{name.id}' is not defined (never assigned or imported): reading it raises NameError",
            )


def _resolves(name: str, scope: _Scope, module_bound: set[str]) -> bool:
    if name in _BUILTINS or name in module_bound:
        return True
    current: _Scope | None = scope
    first = True
    while current is not None:
        if (first or current.kind != "class") and name in current.bound:
            return True
        if current.kind == "function" and name == "__class__":
            return True
        first = False
        current = current.parent
    return False


class _Binder:
    """Collects what each scope binds and which names it reads."""

    def __init__(self, source: SourceFile, scope: _Scope, scopes: list[_Scope]) -> None:
        self.source = source
        self.scope = scope
        self.scopes = scopes

    def child(self, node: ast.AST, kind: str) -> _Binder:
        scope = _Scope(node, kind, self.scope)
        self.scopes.append(scope)
        return _Binder(self.source, scope, self.scopes)

    def visit_body(self, body: Iterable[ast.AST]) -> None:
        for node in body:
            self.visit(node)

    def bind_target(self, target: ast.AST) -> None:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Store | ast.Del):
                    self.scope.bound.add(node.id)
                else:
                    self.scope.reads.append(node)
            elif isinstance(node, ast.Starred | ast.Tuple | ast.List):
                continue
            elif isinstance(node, ast.Attribute | ast.Subscript):
                self.visit(node.value)
                if isinstance(node, ast.Subscript):
                    self.visit(node.slice)

    def annotation(self, node: ast.AST | None, evaluated: bool) -> None:
        if node is not None and evaluated and not self.source.future_annotations:
            self.visit(node)

    def arguments(self, args: ast.arguments, inner: _Binder, evaluated_annotations: bool) -> None:
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(default)
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None:
                inner.scope.bound.add(arg.arg)
                self.annotation(arg.annotation, evaluated_annotations)

    def visit(self, node: ast.AST) -> None:  # noqa: C901 - one branch per node kind
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.scope.reads.append(node)
            else:
                self.scope.bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.scope.bound.add(node.name)
            for decorator in node.decorator_list:
                self.visit(decorator)
            inner = self.child(node, "function")
            self.arguments(node.args, inner, evaluated_annotations=True)
            self.annotation(node.returns, True)
            inner.visit_body(node.body)
        elif isinstance(node, ast.Lambda):
            inner = self.child(node, "function")
            self.arguments(node.args, inner, evaluated_annotations=False)
            inner.visit(node.body)
        elif isinstance(node, ast.ClassDef):
            self.scope.bound.add(node.name)
            for item in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
                self.visit(item)
            self.child(node, "class").visit_body(node.body)
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            inner = self.child(node, "comprehension")
            for generator in node.generators:
                inner.visit(generator.iter)
                inner.bind_target(generator.target)
                for condition in generator.ifs:
                    inner.visit(condition)
            if isinstance(node, ast.DictComp):
                inner.visit(node.key)
                inner.visit(node.value)
            else:
                inner.visit(node.elt)
        elif isinstance(node, ast.NamedExpr):
            self.visit(node.value)
            scope = self.scope
            while scope.kind == "comprehension" and scope.parent is not None:
                scope = scope.parent  # := binds in the enclosing function (PEP 572)
            scope.bound.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    self.scope.bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Global):
            self.scope.declared_global.update(node.names)
            self.scope.bound.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            self.scope.bound.update(node.names)
        elif isinstance(node, ast.ExceptHandler):
            if node.type is not None:
                self.visit(node.type)
            if node.name:
                self.scope.bound.add(node.name)
            self.visit_body(node.body)
        elif isinstance(node, ast.AnnAssign):
            self.annotation(node.annotation, self.scope.kind != "function")
            if node.value is not None:
                self.visit(node.value)
            self.bind_target(node.target)
        elif isinstance(node, ast.arg):
            return
        elif isinstance(node, ast.MatchAs | ast.MatchStar):
            if node.name:
                self.scope.bound.add(node.name)
            if isinstance(node, ast.MatchAs) and node.pattern is not None:
                self.visit(node.pattern)
        elif isinstance(node, ast.MatchMapping):
            if node.rest:
                self.scope.bound.add(node.rest)
            for child in ast.iter_child_nodes(node):
                self.visit(child)
        else:
            for child in ast.iter_child_nodes(node):
                self.visit(child)


# -- FQ402 ---------------------------------------------------------------------------------------------


def _locals(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    bound: set[str] = set()
    declared: set[str] = set()
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
            continue
        if isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            stack.extend(n for n in ast.walk(node) if isinstance(n, ast.NamedExpr))
            continue
        if isinstance(node, ast.Global | ast.Nonlocal):
            declared.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.NamedExpr):
            bound.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update(
                alias.asname or alias.name.split(".")[0] for alias in node.names if alias.name != "*"
            )
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            bound.add(node.name)
        stack.extend(ast.iter_child_nodes(node))
    args = function.args
    params = {
        a.arg
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        if a is not None
    }
    return bound - declared - params


def _assigned(statements: Iterable[ast.AST]) -> set[str]:
    names: set[str] = set()
    for statement in statements:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.NamedExpr):
                names.add(node.target.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
    return names


def _cannot_raise(value: ast.AST) -> bool:
    return not any(
        isinstance(n, ast.Call | ast.Subscript | ast.Attribute | ast.BinOp | ast.Await)
        for n in ast.walk(value)
    )


class _Flow:
    """Definite assignment over one function body: which locals are surely bound at each read."""

    def __init__(
        self,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        local_names: set[str],
        report: Report,
        ends: Callable[[ast.Call], bool],
    ) -> None:
        self.locals = local_names
        self.report = report
        self.ends = ends
        self.reported: set[str] = set()
        # The conditions around the current read, and those under which each local is assigned:
        # `if timeout: deadline = ...` then later `if timeout: use(deadline)` is correlated, not a bug.
        self.conditions: list[set[str]] = []
        self.assigned_under: dict[str, list[set[str]]] = {}
        for node in walk_scope(function):
            if isinstance(node, ast.If):
                tests = _test_names(node.test)
                for name in _assigned([*node.body, *node.orelse]):
                    self.assigned_under.setdefault(name, []).append(tests)

    def _correlated(self, name: str) -> bool:
        return any(
            condition & tests for condition in self.conditions for tests in self.assigned_under.get(name, [])
        )

    def read(self, expression: ast.AST | None, bound: set[str]) -> set[str]:
        """Check the reads of an expression; return `bound` plus what its := bind."""
        if expression is None:
            return bound
        bound = set(bound)
        self._read(expression, bound, set())
        return bound

    def _read(self, node: ast.AST, bound: set[str], shadowed: set[str]) -> None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            name = node.id
            if (
                name in self.locals
                and name not in bound
                and name not in shadowed
                and name not in self.reported
                and not self._correlated(name)
            ):
                self.reported.add(name)
                self.report(
                    "FQ402",
                    node,
                    f"local variable '{name}' may be unbound here: it is assigned only on some paths before this read, "
                    "and reading it on the others raises UnboundLocalError",
                )
            return
        if isinstance(node, ast.NamedExpr):
            self._read(node.value, bound, shadowed)
            bound.add(node.target.id)
            return
        if isinstance(node, ast.Lambda):
            return  # runs later, if ever
        if isinstance(node, ast.IfExp):
            self._read(node.test, bound, shadowed)
            self.conditions.append(_test_names(node.test))
            self._read(node.body, bound, shadowed)
            self._read(node.orelse, bound, shadowed)
            self.conditions.pop()
            return
        if isinstance(node, ast.BoolOp):
            pushed = 0
            for value in node.values:
                self._read(value, bound, shadowed)
                self.conditions.append(_test_names(value))
                pushed += 1
            del self.conditions[len(self.conditions) - pushed :]
            return
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            inner = set(shadowed)
            for generator in node.generators:
                self._read(generator.iter, bound, inner)
                inner |= {n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)}
                for condition in generator.ifs:
                    self._read(condition, bound, inner)
            parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            for part in parts:
                self._read(part, bound, inner)
            return
        for child in ast.iter_child_nodes(node):
            self._read(child, bound, shadowed)

    def target(self, target: ast.AST, bound: set[str]) -> set[str]:
        bound = set(bound)
        for node in ast.walk(target):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
            elif isinstance(node, ast.Attribute | ast.Subscript):
                self._read(node.value, bound, set())
                if isinstance(node, ast.Subscript):
                    self._read(node.slice, bound, set())
        return bound

    def block(self, statements: list[ast.stmt], bound: set[str]) -> tuple[set[str], bool]:
        """(names surely bound after the block, whether control can never fall out of it)."""
        for statement in statements:
            bound, ended = self.statement(statement, bound)
            if ended:
                return bound, True
        return bound, False

    def statement(self, node: ast.stmt, bound: set[str]) -> tuple[set[str], bool]:  # noqa: C901
        if isinstance(node, ast.Return | ast.Raise):
            for child in ast.iter_child_nodes(node):
                self.read(child, bound)
            return bound, True
        if isinstance(node, ast.Break | ast.Continue):
            return bound, True
        if isinstance(node, ast.Assign):
            bound = self.read(node.value, bound)
            for target in node.targets:
                bound = self.target(target, bound)
            return bound, False
        if isinstance(node, ast.AugAssign):
            bound = self.read(node.value, bound)
            if isinstance(node.target, ast.Name):
                self.read(
                    ast.Name(
                        id=node.target.id, ctx=ast.Load(), lineno=node.lineno, col_offset=node.col_offset
                    ),
                    bound,
                )
            return self.target(node.target, bound), False
        if isinstance(node, ast.AnnAssign):
            if node.value is None:
                return bound, False
            return self.target(node.target, self.read(node.value, bound)), False
        if isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bound = bound - {target.id}
                else:
                    self.read(target, bound)
            return bound, False
        if isinstance(node, ast.If):
            bound = self.read(node.test, bound)
            self.conditions.append(_test_names(node.test))
            body, body_ended = self.block(node.body, bound)
            orelse, else_ended = self.block(node.orelse, bound)
            self.conditions.pop()
            return _join([(body, body_ended), (orelse, else_ended)], bound)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and self.ends(node.value):
            self.read(node.value, bound)
            return bound, True
        if isinstance(node, ast.For | ast.AsyncFor | ast.While):
            if isinstance(node, ast.While):
                bound = self.read(node.test, bound)
                start = bound
                self.conditions.append(_test_names(node.test))
            else:
                bound = self.read(node.iter, bound)
                start = self.target(node.target, bound)
            # Leaning to silence: a later iteration sees what earlier ones bound.
            inside = start | _assigned(node.body)
            self.block(node.body, inside)
            orelse, _ = self.block(node.orelse, inside)
            if isinstance(node, ast.While):
                self.conditions.pop()
            return bound | (start - bound) | _assigned(node.body) | orelse, False
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                bound = self.read(item.context_expr, bound)
                if item.optional_vars is not None:
                    bound = self.target(item.optional_vars, bound)
            return self.block(node.body, bound)
        if isinstance(node, ast.Try | ast.TryStar):
            return self._try(node, bound)
        if isinstance(node, ast.Match):
            return self._match(node, bound)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for decorator in node.decorator_list:
                self.read(decorator, bound)
            if not isinstance(node, ast.ClassDef):
                for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
                    self.read(default, bound)
            return bound | {node.name}, False
        if isinstance(node, ast.Import | ast.ImportFrom):
            return bound | {alias.asname or alias.name.split(".")[0] for alias in node.names}, False
        if isinstance(node, ast.Global | ast.Nonlocal | ast.Pass):
            return bound, False
        for child in ast.iter_child_nodes(node):
            bound = self.read(child, bound)
        return bound, False

    def _try(self, node: ast.Try | ast.TryStar, bound: set[str]) -> tuple[set[str], bool]:
        body, body_ended = self.block(node.body, bound)
        if not body_ended:
            body, body_ended = self.block(node.orelse, body)
        # A handler may start after any statement of the body; assignments that cannot raise
        # (a constant, a name) are taken as done, so the common setup-then-call shape stays quiet.
        early: set[str] = set()
        for statement in node.body:
            if isinstance(statement, ast.Assign) and _cannot_raise(statement.value):
                early |= _assigned([statement])
            else:
                break
        outcomes = [(body, body_ended)]
        for handler in node.handlers:
            start = bound | early | ({handler.name} if handler.name else set())
            outcomes.append(self.block(handler.body, start))
        after, ended = _join(outcomes, bound)
        if node.finalbody:
            final_start = bound | _assigned(node.body)
            final, final_ended = self.block(node.finalbody, final_start)
            after = after | (final - final_start)
            ended = ended or final_ended
        return after, ended

    def _match(self, node: ast.Match, bound: set[str]) -> tuple[set[str], bool]:
        bound = self.read(node.subject, bound)
        outcomes = []
        exhaustive = False
        for case in node.cases:
            start = (
                bound
                | _assigned([case.pattern])
                | {
                    n.name
                    for n in ast.walk(case.pattern)
                    if isinstance(n, ast.MatchAs | ast.MatchStar) and n.name
                }
            )
            if case.guard is not None:
                start = self.read(case.guard, start)
            outcomes.append(self.block(case.body, start))
            if isinstance(case.pattern, ast.MatchAs) and case.pattern.pattern is None and case.guard is None:
                exhaustive = True
        if not exhaustive:
            outcomes.append((bound, False))
        return _join(outcomes, bound)


def _join(outcomes: list[tuple[set[str], bool]], before: set[str]) -> tuple[set[str], bool]:
    open_paths = [bound for bound, ended in outcomes if not ended]
    if not open_paths:
        return before, True
    result = set(open_paths[0])
    for bound in open_paths[1:]:
        result &= bound
    return result, False


def _possibly_unbound(
    function: ast.FunctionDef | ast.AsyncFunctionDef, report: Report, ends: Callable[[ast.Call], bool]
) -> None:
    local_names = _locals(function)
    if not local_names:
        return
    _Flow(function, local_names, report, ends).block(function.body, set())
