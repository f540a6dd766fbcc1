"""A handler module read with `ast` (never imported): its imports, functions, and the roles the
manifest gives them (v1 resolver method, v2 consumer, product trigger, scheduled trigger).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)

INVOCATION_ERROR = "forgeq.events.InvocationError"
QUEUE = "forgeq.events.Queue"
RATE_LIMIT_ERROR = "forgeq.events.RateLimitError"
EVENTS_ERROR = "forgeq.events.EventsError"
KVS = "forgeq.kvs.kvs"
RESOLVER = "forgeq.resolver.Resolver"
DEFINITIONS = ("get_definitions", "getDefinitions")


class SourceFile:
    """One parsed Python file of the app."""

    def __init__(self, path: Path, name: str, text: str, tree: ast.Module) -> None:
        self.path = path
        self.name = name  # as findings show it: relative to the app folder
        self.text = text
        self.tree = tree
        self.lines = text.splitlines()
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.aliases: dict[str, str] = {}
        self.star_import = False
        self.future_annotations = False
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.module_values: dict[str, list[ast.expr]] = {}
        self.module_names: set[str] = set()
        self._index()

    def _index(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        first = alias.name.split(".")[0]
                        self.aliases[first] = first
            elif isinstance(node, ast.ImportFrom):
                module = ("." * node.level) + (node.module or "")
                if module == "__future__" and any(a.name == "annotations" for a in node.names):
                    self.future_annotations = True
                for alias in node.names:
                    if alias.name == "*":
                        self.star_import = True
                        continue
                    self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        for statement in _module_statements(self.tree.body):
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                self.functions[statement.name] = statement
            elif isinstance(statement, ast.Assign):
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        self.module_values.setdefault(target.id, []).append(statement.value)
            elif (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and statement.value is not None
            ):
                self.module_values.setdefault(statement.target.id, []).append(statement.value)

    # -- names -------------------------------------------------------------------------------------

    def qualified(self, node: ast.AST) -> str | None:
        """`IE` -> forgeq.events.InvocationError when imported so; a bare unknown name stays itself."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualified(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def refers_to(self, node: ast.AST, qualified_name: str) -> bool:
        name = self.qualified(node)
        if name is None:
            return False
        # A bare name that was never imported counts too (FQ401 reports that it is undefined).
        return name == qualified_name or name == qualified_name.rsplit(".", 1)[1]

    def is_call_to(self, node: ast.AST, qualified_name: str) -> bool:
        return isinstance(node, ast.Call) and self.refers_to(node.func, qualified_name)

    # -- structure ---------------------------------------------------------------------------------

    def enclosing_function(self, node: ast.AST) -> FunctionNode | None:
        parent = self.parents.get(node)
        while parent is not None:
            if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                return parent
            parent = self.parents.get(parent)
        return None

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        parent = self.parents.get(node)
        while parent is not None:
            yield parent
            parent = self.parents.get(parent)

    def local_values(self, scope: ast.AST | None, name: str) -> list[ast.expr] | None:
        """The values assigned to `name` in a function (or at module level when scope is None).

        None when the name is also bound in a way whose value cannot be read (a parameter, a loop
        target, `+=`, unpacking): the caller then knows nothing about it.
        """
        if scope is None:
            return self.module_values.get(name)
        values: list[ast.expr] = []
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            arguments = scope.args
            every = [
                *arguments.posonlyargs,
                *arguments.args,
                *arguments.kwonlyargs,
                arguments.vararg,
                arguments.kwarg,
            ]
            if any(arg is not None and arg.arg == name for arg in every):
                return None
        for node in walk_scope(scope):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        values.append(node.value)
                    elif any(
                        isinstance(n, ast.Name) and n.id == name for n in ast.walk(target)
                    ) and not isinstance(target, ast.Name):
                        return None
            elif (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.target.id == name
            ):
                if node.value is not None:
                    values.append(node.value)
            elif isinstance(node, ast.NamedExpr) and node.target.id == name:
                values.append(node.value)
            elif isinstance(
                node, ast.AugAssign | ast.For | ast.AsyncFor | ast.With | ast.AsyncWith | ast.comprehension
            ):
                targets = (
                    [node.target]
                    if not isinstance(node, ast.With | ast.AsyncWith)
                    else [i.optional_vars for i in node.items if i.optional_vars]
                )
                if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
                    return None
        return values

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""


def _module_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, including those inside module-level if/try/with blocks."""
    for statement in body:
        yield statement
        if isinstance(statement, ast.If | ast.Try | ast.With):
            for block in ("body", "orelse", "finalbody"):
                yield from _module_statements(getattr(statement, block, []) or [])
            for handler in getattr(statement, "handlers", []):
                yield from _module_statements(handler.body)


def walk_scope(scope: ast.AST) -> Iterator[ast.AST]:
    """Every node of a function (or module) body, without entering nested functions and classes."""
    roots: list[ast.AST]
    if isinstance(scope, ast.Lambda):
        roots = [scope.body]
    elif isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Module | ast.ClassDef):
        roots = list(scope.body)
    else:
        roots = [scope]
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, SCOPES):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def constant_string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def subscript_key(node: ast.AST) -> str | None:
    """'k' for `x["k"]` and `x.get("k", ...)`; None otherwise."""
    if isinstance(node, ast.Subscript):
        return constant_string(node.slice)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
    ):
        return constant_string(node.args[0])
    return None


def subscript_base(node: ast.AST) -> ast.expr | None:
    if isinstance(node, ast.Subscript):
        return node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.value
    return None


# -- roles ---------------------------------------------------------------------------------------------


V1 = "v1"  # a Resolver method behind a v1 consumer: gets {payload, context}
V1_PLAIN = "v1-plain"  # a plain function behind a v1 consumer: gets {call, context}
V2 = "v2"  # a v2 function consumer: handler(event, context)
V2_RESOLVER = "v2-resolver"  # a Resolver's definitions behind a v2 consumer
TRIGGER = "trigger"
SCHEDULED = "scheduled"


@dataclass
class Role:
    kind: str
    module_key: str  # the consumer / trigger / scheduledTrigger key
    function_key: str
    source: SourceFile
    anchor: ast.AST  # where the handler attribute is bound (findings about the entry point go here)
    entry: FunctionNode | None = None
    queue: str | None = None
    method: str | None = None
    reachable: list[FunctionNode] = field(default_factory=list)

    def describe(self) -> str:
        if self.kind in (V1, V1_PLAIN):
            return f"v1 resolver consumer '{self.module_key}' (queue '{self.queue}')"
        if self.kind in (V2, V2_RESOLVER):
            return f"v2 function consumer '{self.module_key}' (queue '{self.queue}')"
        if self.kind == TRIGGER:
            return f"trigger '{self.module_key}'"
        return f"scheduledTrigger '{self.module_key}'"


@dataclass
class Binding:
    """What a module-level handler attribute is: a function, or a Resolver's definitions."""

    anchor: ast.AST
    function: FunctionNode | None = None
    resolver: str | None = None  # the Resolver variable whose get_definitions() it is
    unknown: bool = False  # bound, but to something lint cannot follow (an import, a call)


def bind_attribute(source: SourceFile, attribute: str, depth: int = 0) -> Binding | None:
    """How `attribute` is defined at module level; None when it is not defined at all."""
    found: Binding | None = None
    for statement in _module_statements(source.tree.body):
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef) and statement.name == attribute:
            found = Binding(statement, function=statement)
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            if (
                any(isinstance(t, ast.Name) and t.id == attribute for t in targets)
                and statement.value is not None
            ):
                found = _binding_of(source, statement, statement.value, depth)
            elif any(isinstance(n, ast.Name) and n.id == attribute for t in targets for n in ast.walk(t)):
                found = Binding(statement, unknown=True)
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            if any((alias.asname or alias.name.split(".")[0]) == attribute for alias in statement.names):
                found = Binding(statement, unknown=True)
        elif isinstance(statement, ast.ClassDef) and statement.name == attribute:
            found = Binding(statement, unknown=True)
    return found


def _binding_of(source: SourceFile, statement: ast.stmt, value: ast.expr, depth: int) -> Binding:
    if isinstance(value, ast.Lambda):
        return Binding(statement, function=value)
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in DEFINITIONS
        and isinstance(value.func.value, ast.Name)
    ):
        return Binding(statement, resolver=value.func.value.id)
    if isinstance(value, ast.Name) and depth < 5:
        inner = bind_attribute(source, value.id, depth + 1)
        if inner is not None:
            return Binding(statement, inner.function, inner.resolver, inner.unknown)
    return Binding(statement, unknown=True)


def resolver_methods(source: SourceFile, resolver: str) -> tuple[dict[str, FunctionNode | None], bool]:
    """{method: its function} defined on `resolver`, and whether every define had a constant key."""
    methods: dict[str, FunctionNode | None] = {}
    complete = True
    for node in ast.walk(source.tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                if _is_define(decorator, resolver):
                    assert isinstance(decorator, ast.Call)
                    key = constant_string(decorator.args[0]) if decorator.args else None
                    if key is None:
                        complete = False
                    else:
                        methods[key] = node
        elif isinstance(node, ast.Call) and _is_define(node, resolver) and len(node.args) >= 2:
            key = constant_string(node.args[0])
            if key is None:
                complete = False
                continue
            target = node.args[1]
            if isinstance(target, ast.Lambda):
                methods[key] = target
            elif isinstance(target, ast.Name):
                methods[key] = source.functions.get(target.id)
            else:
                methods[key] = None
    return methods, complete


def _is_define(node: ast.AST, resolver: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "define"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == resolver
    )


def reachable_functions(source: SourceFile, entry: FunctionNode) -> list[FunctionNode]:
    """The entry and every module-level function of its file that it calls, directly or not."""
    seen: list[FunctionNode] = [entry]
    index = 0
    while index < len(seen):
        function = seen[index]
        index += 1
        for node in ast.walk(function):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                called = source.functions.get(node.func.id)
                if called is not None and called not in seen:
                    seen.append(called)
    return seen
