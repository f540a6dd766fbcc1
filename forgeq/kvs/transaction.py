"""`kvs.transact()`: sets, deletes and checks applied all or nothing, as `@forge/kvs` 1.6 sends them.

    (kvs.transact()
        .set("counter", total + 1)                                        # a plain key
        .set("rec-DEMO-1", record, {"entityName": "import-record",        # an entity item, if ...
             "conditions": Filter().and_("status", FilterConditions.not_equal_to("done"))})
        .delete("tmp")
        .check("lock", {"entityName": "lock", "conditions": Filter().and_("owner", FilterConditions.equal_to(me))})
        .execute())

The second argument of set/delete/check is Forge's `{entityName, conditions}` (or the keywords
`entity_name=` and `conditions=`); a set's fourth is its options (only `ttl`, also `ttl=`).
Conditions apply to custom entity items only. A failed condition raises ForgeKvsAPIError
`CONDITIONAL_CHECK_FAILED` (409) and nothing is written; over the storage quota the code is
`TOO_MANY_REQUESTS` (429).

Beyond Forge, a check of a plain key: `.check("lock", {"value": owner})` fails the transaction
unless the key holds exactly `owner` (`{"value": None}`: unless the key does not exist). Forge's
check takes custom entity items only; @forge/kvs has no equivalent, and lint FQ503 says so.
"""

from __future__ import annotations

from typing import Any

from forgeq.jsvalues import truthy
from forgeq.kvs.conditions import conditions_request
from forgeq.kvs.errors import ForgeKvsError
from forgeq.kvs.results import sent
from forgeq.runtime import current, sdk_call

_MISSING: Any = object()  # an argument left out: JavaScript's undefined


def _entity(entity: Any, entity_name: Any, conditions: Any) -> dict[str, Any]:
    """An operation's `entity` as the package holds it: `{entityName, conditions}` of a truthy argument
    (a string or an array has neither), or none; Python's keywords `entity_name=` and `conditions=`
    (and an `entity_name` key) win over it."""
    held = dict(entity) if isinstance(entity, dict) else {}
    if not truthy(entity) and entity_name is None and conditions is None:
        return {}
    return {
        "entityName": entity_name if entity_name is not None else held.get("entityName", held.get("entity_name")),
        "conditions": conditions if conditions is not None else held.get("conditions"),
    }


def _request(operation: dict[str, Any]) -> dict[str, Any]:
    """buildRequestSet / Deletes / Checks: the entity's name and its conditions built, at execute()."""
    shaped = {name: value for name, value in operation.items() if name != "entity"}
    entity = operation.get("entity")
    if entity is not None:
        for name, value in (("entityName", entity["entityName"]), ("conditions", conditions_request(entity["conditions"]))):
            if value is not None:
                shaped[name] = value
    return shaped


class TransactionBuilder:
    """Collects the operations; `execute()` sends them in one request (set, then delete, then check lists)."""

    def __init__(self) -> None:
        self._sets: list[dict[str, Any]] = []
        self._deletes: list[dict[str, Any]] = []
        self._checks: list[dict[str, Any]] = []

    def set(
        self,
        key: Any = None,
        value: Any = _MISSING,
        entity: Any = None,
        options: Any = None,
        *_: Any,
        entity_name: str | None = None,
        conditions: Any = None,
        ttl: Any = None,
    ) -> TransactionBuilder:
        operation: dict[str, Any] = {"key": key} if value is _MISSING else {"key": key, "value": value}  # undefined is left out
        held = _entity(entity, entity_name, conditions)
        if held:
            operation["entity"] = held
        if ttl is not None:
            options = {**(options or {}), "ttl": ttl}
        if options is not None:
            operation["options"] = options
        self._sets.append(operation)
        return self

    def delete(
        self, key: Any = None, entity: Any = None, *_: Any, entity_name: str | None = None, conditions: Any = None
    ) -> TransactionBuilder:
        held = _entity(entity, entity_name, conditions)
        self._deletes.append({"key": key, "entity": held} if held else {"key": key})
        return self

    def check(
        self, key: Any = None, entity: Any = _MISSING, *_: Any, entity_name: str | None = None, conditions: Any = None
    ) -> TransactionBuilder:
        """Fail the whole transaction unless the entity item exists and meets `conditions`; or, beyond
        Forge, unless plain key `key` holds `entity["value"]` (None: unless it does not exist)."""
        if isinstance(entity, dict) and "value" in entity:
            if len(entity) > 1 or entity_name is not None or conditions is not None:
                raise ForgeKvsError(
                    "transact().check(key, ...) takes {'entityName': ..., 'conditions': ...} (a custom entity item) "
                    "or {'value': ...} (a plain key's value), not both"
                )
            self._checks.append({"key": key, "value": entity["value"]})
            return self
        if entity_name is None and conditions is None:
            if entity is _MISSING:
                raise TypeError("Cannot destructure property 'entityName' of 'undefined' as it is undefined.")
            if entity is None:
                raise TypeError("Cannot destructure property 'entityName' of 'object null' as it is null.")
        held = _entity(entity if entity not in (None, _MISSING) else {}, entity_name, conditions)
        self._checks.append({"key": key, "entity": held or {"entityName": None, "conditions": None}})
        return self

    def request(self) -> dict[str, Any]:
        """The body @forge/kvs posts to /api/v1/transaction (empty lists left out)."""
        sections = {"set": self._sets, "delete": self._deletes, "check": self._checks}
        return {name: [item if "entity" not in item else _request(item) for item in items] for name, items in sections.items() if items}

    @sdk_call
    def execute(self, *_: Any) -> None:
        current().storage.transact(sent(self.request()))  # through JSON.stringify, as the package sends it

    def __repr__(self) -> str:
        return f"<forgeq.kvs transaction: {len(self._sets)} set, {len(self._deletes)} delete, {len(self._checks)} check>"
