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

from forgeq.kvs.conditions import conditions_request
from forgeq.kvs.errors import ForgeKvsError
from forgeq.kvs.results import sent
from forgeq.runtime import current, sdk_call


def _entity(entity: Any, entity_name: str | None, conditions: Any, method: str) -> dict[str, Any]:
    if entity is not None and not isinstance(entity, dict):
        raise ForgeKvsError(
            f"transact().{method}(key, ...): the entity argument is {{'entityName': ..., 'conditions': Filter()...}}, "
            f"not {type(entity).__name__}"
        )
    held = dict(entity or {})
    name = entity_name if entity_name is not None else held.get("entityName", held.get("entity_name"))
    if conditions is None:
        conditions = held.get("conditions")
    shaped: dict[str, Any] = {}
    if name is not None:
        shaped["entityName"] = name
    if conditions is not None:
        shaped["conditions"] = conditions_request(conditions)
    return shaped


class TransactionBuilder:
    """Collects the operations; `execute()` sends them in one request (set, then delete, then check lists)."""

    def __init__(self) -> None:
        self._sets: list[dict[str, Any]] = []
        self._deletes: list[dict[str, Any]] = []
        self._checks: list[dict[str, Any]] = []

    def set(
        self,
        key: str,
        value: Any,
        entity: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        *,
        entity_name: str | None = None,
        conditions: Any = None,
        ttl: Any = None,
    ) -> TransactionBuilder:
        operation: dict[str, Any] = {"key": key, "value": value, **_entity(entity, entity_name, conditions, "set")}
        if ttl is not None:
            options = {**(options or {}), "ttl": ttl}
        if options is not None:
            operation["options"] = options
        self._sets.append(operation)
        return self

    def delete(
        self, key: str, entity: dict[str, Any] | None = None, *, entity_name: str | None = None, conditions: Any = None
    ) -> TransactionBuilder:
        self._deletes.append({"key": key, **_entity(entity, entity_name, conditions, "delete")})
        return self

    def check(
        self, key: str, entity: dict[str, Any] | None = None, *, entity_name: str | None = None, conditions: Any = None
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
        self._checks.append({"key": key, **_entity(entity, entity_name, conditions, "check")})
        return self

    def request(self) -> dict[str, Any]:
        """The body @forge/kvs posts to /api/v1/transaction (empty lists left out)."""
        sections = {"set": self._sets, "delete": self._deletes, "check": self._checks}
        return {name: list(items) for name, items in sections.items() if items}

    @sdk_call
    def execute(self) -> None:
        current().storage.transact(sent(self.request()))  # through JSON.stringify, as the package sends it

    def __repr__(self) -> str:
        return f"<forgeq.kvs transaction: {len(self._sets)} set, {len(self._deletes)} delete, {len(self._checks)} check>"
