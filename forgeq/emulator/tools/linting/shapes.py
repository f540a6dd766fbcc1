"""Roles and event shapes: which function the manifest runs for each module, and whether its code
reads the event the way that consumer version delivers it (FQ004, FQ005, FQ201, FQ202).

v1 resolver consumers get `{payload, context}` with `retryContext` inside the payload and `jobId`
in the context (Atlassian's "Queue" page: v1 consumers); v2 function consumers get `handler(event, context)` with `body`,
`queueName`, `jobId`, `eventId` and `retryContext` on the event (Atlassian's "Async events API": v2 function consumers).
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from forgeq.emulator.app.manifest import Manifest
from forgeq.emulator.tools.linting.source import (
    SCHEDULED,
    TRIGGER,
    V1,
    V1_PLAIN,
    V2,
    V2_RESOLVER,
    FunctionNode,
    Role,
    SourceFile,
    bind_attribute,
    reachable_functions,
    resolver_methods,
    subscript_base,
    subscript_key,
    walk_scope,
)

# (code, file or None for the manifest, node or manifest line, message)
Report = Callable[[str, SourceFile | None, ast.AST | int | None, str], None]

_V2_EVENT_FIELDS = ("body", "queueName", "eventId", "retryContext", "jobId")
_V1_FIELDS_ON_V2_EVENT = ("payload", "call", "context")


def find_roles(manifest: Manifest, sources: dict[str, SourceFile], report: Report) -> list[Role]:
    """One Role per consumer / trigger / scheduledTrigger whose handler lint can read."""
    roles: list[Role] = []
    modules: list[tuple[str, str, str | None, str | None, str]] = []
    for consumer in manifest.consumers:
        modules.append(
            (consumer.key, consumer.function, consumer.queue, consumer.method, V1 if consumer.method else V2)
        )
    for trigger in manifest.triggers:
        modules.append((trigger.key, trigger.function, None, None, TRIGGER))
    for scheduled in manifest.scheduled_triggers:
        modules.append((scheduled.key, scheduled.function, None, None, SCHEDULED))
    checked_attributes: set[tuple[str, str]] = set()
    for module_key, function_key, queue, method, kind in modules:
        function = manifest.functions.get(function_key)
        if function is None:
            continue
        source = sources.get(function.module_path)
        if source is None:
            continue
        binding = bind_attribute(source, function.attribute)
        if binding is None:
            if (
                (source.name, function.attribute) not in checked_attributes
                and not source.star_import
                and "__getattr__" not in source.functions
            ):
                checked_attributes.add((source.name, function.attribute))
                index = list(manifest.functions).index(function_key)
                report(
                    "FQ004",
                    None,
                    manifest.lines.get(f"modules.function[{index}].handler", function.line),
                    f"function '{function_key}' (handler {function.handler}) names `{function.attribute}`, which {source.name} "
                    "does not define at module level: every invocation fails",
                )
            continue
        if binding.unknown:
            continue
        role = Role(kind, module_key, function_key, source, binding.anchor, queue=queue, method=method)
        if binding.resolver is not None:
            if kind == V1 and method is not None:
                methods, complete = resolver_methods(source, binding.resolver)
                if method not in methods:
                    if complete:
                        known = ", ".join(sorted(methods)) or "none"
                        report(
                            "FQ005",
                            source,
                            binding.anchor,
                            f"consumer '{module_key}' calls method '{method}', which resolver `{binding.resolver}` does not define "
                            f"(it defines: {known}): every delivery throws `Resolver has no definition for '{method}'.`",
                        )
                    continue
                role.entry = methods[method]
            elif kind == V2:
                role.kind = V2_RESOLVER
                report(
                    "FQ202",
                    source,
                    binding.anchor,
                    f"consumer '{module_key}' is a v2 function consumer (manifest `function:`), but `{function.attribute}` is "
                    f"resolver `{binding.resolver}`'s definitions: the platform calls it with (event, context), the Resolver "
                    "finds no `call` in it and throws on every delivery. Point the consumer at a plain function, or declare it "
                    "with `resolver: {function, method}` (v1)",
                )
                continue
            else:
                continue
        else:
            role.entry = binding.function
            if kind == V1:
                role.kind = V1_PLAIN
        if role.entry is not None:
            role.reachable = reachable_functions(source, role.entry)
        roles.append(role)
    return roles


def check_shapes(roles: list[Role], report: Report) -> None:
    for role in roles:
        entry = role.entry
        if entry is None or not entry.args.args:
            continue
        first = entry.args.args[0].arg
        second = entry.args.args[1].arg if len(entry.args.args) > 1 else None
        if role.kind == V1:
            _v1_reads(role, entry, first, report)
        elif role.kind == V1_PLAIN:
            _v1_plain_reads(role, entry, first, report)
        elif role.kind == V2:
            _v2_reads(role, entry, first, second, report)


def _aliases(function: FunctionNode, names: dict[str, str]) -> dict[str, str]:
    """Follow `payload = request["payload"]`, `body = event.get("body")`, `e = event` one assignment at a time."""
    changed = True
    while changed:
        changed = False
        for node in walk_scope(function):
            if not (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                continue
            target, value = node.targets[0].id, node.value
            if target in names:
                continue
            if isinstance(value, ast.Name) and value.id in names:
                names[target] = names[value.id]
                changed = True
                continue
            base, key = subscript_base(value), subscript_key(value)
            if isinstance(base, ast.Name) and base.id in names and key is not None:
                derived = f"{names[base.id]}.{key}"
                names[target] = derived
                changed = True
    return names


def _reads(function: FunctionNode, names: dict[str, str]) -> list[tuple[ast.AST, str, str]]:
    """(node, what the base is, key) for each `x["key"]` / `x.get("key")` on a tracked name."""
    found = []
    for node in walk_scope(function):
        key = subscript_key(node)
        base = subscript_base(node)
        if key is None or base is None:
            continue
        if isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            continue
        if isinstance(base, ast.Name) and base.id in names:
            found.append((node, names[base.id], key))
        elif subscript_key(base) is not None and isinstance(subscript_base(base), ast.Name):
            inner_base = subscript_base(base)
            assert isinstance(inner_base, ast.Name)
            if inner_base.id in names:
                found.append((node, f"{names[inner_base.id]}.{subscript_key(base)}", key))
    return found


def _v1_reads(role: Role, entry: FunctionNode, request: str, report: Report) -> None:
    names = _aliases(entry, {request: "request"})
    for node, base, key in _reads(entry, names):
        if base == "request" and key in _V2_EVENT_FIELDS:
            where = (
                'inside the payload: `request["payload"]["retryContext"]`'
                if key == "retryContext"
                else (
                    'in the context: `request["context"]["jobId"]`'
                    if key == "jobId"
                    else "not delivered to a v1 consumer"
                )
            )
            report(
                "FQ201",
                role.source,
                node,
                f"{role.describe()} reads `{key}` on the resolver request, a v2 event field; under v1 it is {where}",
            )
        elif base == "request.payload" and key == "body":
            report(
                "FQ201",
                role.source,
                node,
                f'{role.describe()} reads payload["body"]: a v1 consumer\'s payload is the pushed body itself, so read its fields directly',
            )
        elif base == "request.payload.retryContext" and key == "retentionWindow":
            report(
                "FQ201",
                role.source,
                node,
                f'{role.describe()} reads retryContext["retentionWindow"], which only v2 consumers get',
            )


def _v1_plain_reads(role: Role, entry: FunctionNode, event: str, report: Report) -> None:
    names = _aliases(entry, {event: "envelope"})
    for node, base, key in _reads(entry, names):
        if base == "envelope" and key in (*_V2_EVENT_FIELDS, "payload"):
            report(
                "FQ201",
                role.source,
                node,
                f"{role.describe()} runs a plain function, which Forge calls with `{{call: {{functionKey, payload, jobId}}, context}}`: "
                f"there is no `{key}` on it. Use a Resolver (`handler = resolver.get_definitions()`) or a v2 function consumer",
            )
            return


def _v2_reads(role: Role, entry: FunctionNode, event: str, context: str | None, report: Report) -> None:
    start = {event: "event"}
    if context is not None:
        start[context] = "context"
    names = _aliases(entry, start)
    for node, base, key in _reads(entry, names):
        if base == "event" and key in _V1_FIELDS_ON_V2_EVENT:
            report(
                "FQ202",
                role.source,
                node,
                f'{role.describe()} reads event["{key}"], a v1 field: a v2 event carries what was pushed in event["body"], '
                f"and event.{key} is undefined",
            )
        elif base == "event.body" and key == "retryContext":
            report(
                "FQ202",
                role.source,
                node,
                f'{role.describe()} reads retryContext inside the body, where v1 puts it; under v2 it is event["retryContext"]',
            )
        elif base == "context" and key == "jobId":
            report(
                "FQ202",
                role.source,
                node,
                f'{role.describe()} reads context["jobId"], a v1 field; under v2 the job id is event["jobId"]',
            )
