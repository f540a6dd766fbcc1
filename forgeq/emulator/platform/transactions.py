"""KVS transactions: sets, deletes and checks over plain keys and entity items, all or nothing.

The request is what `kvs.transact()...execute()` of @forge/kvs sends to /api/v1/transaction:

    {"set":    [{"key", "value", "entityName"?, "conditions"?, "options"?: {"ttl"}}],
     "delete": [{"key", "entityName"?, "conditions"?}],
     "check":  [{"key", "entityName", "conditions"}]}

A check of a plain key, `{"key", "value"}`, is forgeq's extension (the Python SDK sends it;
@forge/kvs cannot): the key must hold exactly that value, or not exist when it is null.
`conditions` is a filter (`{"and": [...]}` or `{"or": [...]}`) on the item as stored before the
transaction. Forge's limits: at most 25 operations, each key once, 4 MB of payload; conditions only
on custom entity items; a set takes only a TTL. A transaction counts as one write against the
storage quota (its sets' bytes in 10 KB units) and, over it, fails with TOO_MANY_REQUESTS (the
transaction page's code). Whatever fails, nothing is written: every operation is checked, then
every condition is evaluated against the store as this attempt sees it, then the writes go into
the WriteBatch together, which commits them in one SQLite transaction with the attempt's outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forgeq.emulator import limits
from forgeq.emulator.platform import quota as quotas
from forgeq.emulator.platform.conditions import Clause, matches, parse_conditions
from forgeq.emulator.platform.storage import KvsFailure, check_key, check_value, ttl_seconds
from forgeq.runtime import PLAIN, Space

if TYPE_CHECKING:
    from forgeq.emulator.platform.storage import StorageSession

SECTIONS = ("set", "delete", "check")


@dataclass(frozen=True)
class _Expected:
    text: str | None  # the value the key must hold, as stored; None: the key must not exist


@dataclass(frozen=True)
class _Operation:
    kind: str
    space: Space
    key: str
    text: str | None  # a set's value as stored
    ttl: float | None
    conditions: tuple[str, tuple[Clause, ...]] | None
    expected: _Expected | None = None  # a plain key's check (forgeq's extension)

    def describe(self) -> str:
        where = f"entity '{self.space}'" if isinstance(self.space, str) else "the key-value store"
        return f"{self.kind} of key '{self.key}' in {where}"


def _invalid(message: str) -> KvsFailure:
    return KvsFailure("INVALID_TRANSACTION_REQUEST", message)


def execute(session: StorageSession, request: Any) -> None:
    """Apply the transaction, or raise ForgeKvsAPIError with nothing written."""
    if not isinstance(request, dict):
        raise _invalid("A transaction is an object with set, delete and check lists.")
    operations: list[_Operation] = []
    seen: dict[tuple[Space, str], str] = {}
    for section in SECTIONS:
        items = request.get(section)
        if items is None:
            continue
        if not isinstance(items, list | tuple):
            raise _invalid(f"'{section}' must be a list of operations.")
        for number, raw in enumerate(items):
            operation = _operation(session, section, raw, f"{section}[{number}]")
            slot = (operation.space, operation.key)
            if slot in seen:
                raise _invalid(
                    f"Key '{operation.key}' is used by {seen[slot]} and {section}[{number}]; each key can only be "
                    "used once in a transaction."
                )
            seen[slot] = f"{section}[{number}]"
            operations.append(operation)
    if not operations:
        raise _invalid("The transaction has no operations; add a set, delete or check.")
    if len(operations) > limits.TRANSACTION_MAX_OPERATIONS:
        raise _invalid(
            f"The transaction has {len(operations)} operations; each transaction can contain a maximum of "
            f"{limits.TRANSACTION_MAX_OPERATIONS}."
        )
    size = len(json.dumps(request, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > limits.TRANSACTION_MAX_BYTES:
        raise KvsFailure(
            "MAX_SIZE", f"The transaction is {size} bytes; each transaction is limited to a payload of 4 MB.", 413
        )
    written = sum(len(op.text.encode()) for op in operations if op.text is not None)
    at = session.charge("transaction", quotas.WRITE, written, "transaction", refusal_code="TOO_MANY_REQUESTS")
    storage = session.engine.storage
    for operation in operations:
        if operation.conditions is None and operation.expected is None:
            continue
        row = storage.read(session.installation, operation.space, operation.key, at)
        unmet = _unmet(operation, row.value if row is not None else None)
        if unmet is not None:
            raise KvsFailure(
                "CONDITIONAL_CHECK_FAILED", f"The transaction was cancelled: {unmet}; nothing was written.", 409
            )
    for operation in operations:
        if operation.kind == "set":
            expire_at = at + operation.ttl if operation.ttl is not None else None
            storage.write(session.installation, operation.space, operation.key, operation.text, at, expire_at)
        elif operation.kind == "delete":
            storage.write(session.installation, operation.space, operation.key, None, at)


def _unmet(operation: _Operation, stored: str | None) -> str | None:
    """Why the operation's conditions or check fail on the stored value (None: missing), or None."""
    if operation.expected is not None:
        wanted = operation.expected.text
        if (stored is None and wanted is None) or (stored is not None and wanted is not None and _same(stored, wanted)):
            return None
        held = "the key does not exist" if stored is None else f"it holds {stored[:200]}"
        return f"the {operation.describe()} expects {'no value' if wanted is None else wanted[:200]}, but {held}"
    if operation.conditions is None:
        return None
    if stored is None:
        if operation.kind == "check" or not matches(*operation.conditions, None):
            return f"the conditions of the {operation.describe()} were not met (the item does not exist)"
        return None
    if not matches(*operation.conditions, json.loads(stored)):
        return f"the conditions of the {operation.describe()} were not met by {stored[:200]}"
    return None


def _same(stored: str, wanted: str) -> bool:
    """Two stored texts hold the same JSON value (object keys in any order; true is not 1)."""

    def canonical(text: str) -> str:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))

    return stored == wanted or canonical(stored) == canonical(wanted)


def _operation(session: StorageSession, section: str, raw: Any, where: str) -> _Operation:
    if not isinstance(raw, dict):
        raise _invalid(f"{where} must be an object with a key.")
    entity_name = raw.get("entityName")
    conditions = raw.get("conditions")
    entities = session.engine.entities
    try:
        if entity_name is None:
            if section == "check" and "value" in raw and conditions is None:
                key = check_key(raw.get("key"))
                wanted = raw["value"]
                return _Operation(section, PLAIN, key, None, None, None, _Expected(None if wanted is None else check_value(wanted)))
            if section == "check":
                raise _invalid(
                    f"{where}: a check needs an entityName and conditions (Forge checks conditions on custom entity "
                    "items only)."
                )
            if conditions is not None:
                raise _invalid(f"{where}: conditions apply to custom entity items only; add an entityName.")
            key = check_key(raw.get("key"))
            space: Space = PLAIN
        else:
            key = entities.check_key(entity_name, raw.get("key"))
            space = entity_name
        parsed = None
        if conditions is not None:
            parsed = parse_conditions(entities.declared(entity_name), conditions, f"{where} conditions")
        elif section == "check":
            raise _invalid(f"{where}: a check needs conditions.")
        text: str | None = None
        ttl: float | None = None
        if section == "set":
            if "value" not in raw:
                raise KvsFailure("INVALID_VALUE", f"{where} has no value.")
            value = raw["value"]
            text = check_value(value) if space == PLAIN else entities.check_item(space, value, session.invocation.notes.append)
            options = raw.get("options")
            if options is not None:
                if not isinstance(options, dict):
                    raise KvsFailure("INVALID_SET_OPTIONS", f"{where}: options must be an object holding a ttl.")
                extra = sorted(set(options) - {"ttl"})
                if extra:
                    raise KvsFailure(
                        "INVALID_SET_OPTIONS", f"{where}: a transaction's set accepts only a ttl option, not {', '.join(extra)}."
                    )
                if options.get("ttl") is not None:
                    ttl = ttl_seconds(options["ttl"])
    except KvsFailure as failure:
        if failure.message.startswith(where):
            raise
        raise KvsFailure(failure.code, f"{where}: {failure.message}", failure.status) from None
    return _Operation(section, space, key, text, ttl, parsed)
