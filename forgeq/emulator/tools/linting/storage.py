"""FQ5xx: storage calls that Forge refuses whatever the data: an entity the manifest does not
declare, a transaction's check without an entity; and a check of a plain key's value, which only
forgeq's Python SDK offers.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from forgeq.emulator.app.manifest import Manifest
from forgeq.emulator.tools.linting import javascript
from forgeq.emulator.tools.linting.javascript import TRANSACTION_ENTITY_ARGUMENT
from forgeq.emulator.tools.linting.source import KVS, SourceFile, constant_string

Report = Callable[[str, ast.AST, str], None]
# Where an entityName may be written: a transaction operation's argument (TRANSACTION_ENTITY_ARGUMENT,
# as in JavaScript), kvs's batch items (the Python SDK's spelling and @forge/kvs's).
BATCHES = ("batch_set", "batch_get", "batch_delete", *javascript.BATCHES)
# FQ502, in Python and in JavaScript (linting/jsapp.py).
UNNAMED_CHECK = (
    "this transaction check names no entityName: Forge checks conditions on custom entity items only, "
    "so the whole transaction fails with INVALID_TRANSACTION_REQUEST"
)


def undeclared_entity(manifest: Manifest, what: str) -> str:
    """FQ501's message, in Python and in JavaScript (linting/jsapp.py)."""
    declared = ", ".join(manifest.entities) or "none"
    return (
        f"{what}: the manifest declares no such entity (app.storage.entities: {declared}); "
        "every call on it fails with INVALID_ENTITY_TYPE"
    )


def check_storage(source: SourceFile, manifest: Manifest | None, report: Report) -> None:
    for node in ast.walk(source.tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method = node.func.attr
        if method == "entity" and manifest is not None and source.qualified(node.func.value) == KVS and node.args:
            name = constant_string(node.args[0])
            if name is not None:
                _declared(manifest, f"kvs.entity('{name}')", name, node, report)
        if manifest is not None:
            for named, at in _entity_names(source, node, method):
                _declared(manifest, f"entityName '{named}'", named, at, report)
        if method == "check" and _in_transaction(source, node.func.value):
            checked = _checked(node)
            if checked == "value":
                report(
                    "FQ503",
                    node,
                    "check(key, {'value': ...}) checks a plain key's value: forgeq's Python SDK offers it, Forge does "
                    "not (its check takes a custom entity item's {entityName, conditions}; through @forge/kvs the "
                    "transaction fails with INVALID_TRANSACTION_REQUEST)",
                )
            elif checked is None:
                report("FQ502", node, UNNAMED_CHECK)


def _declared(manifest: Manifest, what: str, name: str, node: ast.AST, report: Report) -> None:
    if name not in manifest.entities:
        report("FQ501", node, undeclared_entity(manifest, what))


def _entity_names(source: SourceFile, call: ast.Call, method: str) -> list[tuple[str, ast.AST]]:
    """The literal entity names a transaction operation (its entity argument or `entity_name=`) or a batch
    of kvs (its items) names."""
    assert isinstance(call.func, ast.Attribute)
    if method in TRANSACTION_ENTITY_ARGUMENT and _in_transaction(source, call.func.value):
        position = TRANSACTION_ENTITY_ARGUMENT[method]
        dicts = call.args[position : position + 1]
    elif method in BATCHES and source.qualified(call.func.value) == KVS and call.args:
        first = call.args[0]
        dicts = list(first.elts) if isinstance(first, ast.List | ast.Tuple) else []
    else:
        return []
    found: list[tuple[str, ast.AST]] = []
    for keyword in call.keywords:
        if keyword.arg == "entity_name" and (name := constant_string(keyword.value)) is not None:
            found.append((name, keyword.value))
    for item in dicts:
        if not isinstance(item, ast.Dict):
            continue
        for key, value in zip(item.keys, item.values, strict=True):
            if key is not None and constant_string(key) in ("entityName", "entity_name"):
                name = constant_string(value)
                if name is not None:
                    found.append((name, value))
    return found


def _in_transaction(source: SourceFile, node: ast.expr) -> bool:
    """Whether `node` is a chain of calls starting at `kvs.transact()`."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "transact":
            return source.qualified(node.func.value) == KVS
        node = node.func.value
    return False


def _checked(call: ast.Call) -> str | None:
    """What a check visibly names: "entity" (or lint cannot tell), "value" (a plain key's value:
    a dict literal of just 'value'), or None (no argument, or a dict literal without entityName)."""
    if any(keyword.arg in ("entity_name", None) for keyword in call.keywords):
        return "entity"
    if len(call.args) < 2:
        return None
    entity = call.args[1]
    if not isinstance(entity, ast.Dict) or None in entity.keys:
        return "entity"  # built elsewhere: lint cannot tell
    keys = {constant_string(key) for key in entity.keys if key is not None}
    if keys & {"entityName", "entity_name"}:
        return "entity"
    return "value" if keys == {"value"} and not call.keywords else None
