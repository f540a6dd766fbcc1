"""FQ5xx: storage calls that Forge refuses whatever the data: an entity the manifest does not
declare, a transaction's check without an entity; and a check of a plain key's value, which only
forgeq's Python SDK offers.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from forgeq.emulator.app.manifest import Manifest
from forgeq.emulator.tools.linting.source import KVS, SourceFile, constant_string

Report = Callable[[str, ast.AST, str], None]


def check_storage(source: SourceFile, manifest: Manifest | None, report: Report) -> None:
    for node in ast.walk(source.tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method = node.func.attr
        if method == "entity" and manifest is not None and source.qualified(node.func.value) == KVS and node.args:
            name = constant_string(node.args[0])
            if name is not None and name not in manifest.entities:
                declared = ", ".join(manifest.entities) or "none"
                report(
                    "FQ501",
                    node,
                    f"kvs.entity('{name}'): the manifest declares no such entity (app.storage.entities: {declared}); "
                    "every call on it fails with INVALID_ENTITY_TYPE",
                )
        elif method == "check" and _in_transaction(source, node.func.value):
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
                report(
                    "FQ502",
                    node,
                    "this transaction check names no entityName: Forge checks conditions on custom entity items only, "
                    "so the whole transaction fails with INVALID_TRANSACTION_REQUEST",
                )


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
