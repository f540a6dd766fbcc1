"""What handler code imports: a Python mirror of the legacy `storage` API of @forge/api (2.x to 7.x).

    from forgeq.api import storage, startsWith

    storage.set("issue-DEMO-1", {"status": "new"})
    storage.get("issue-DEMO-1")            # {'status': 'new'}; None when missing (undefined in JS)
    storage.delete("issue-DEMO-1")
    storage.set_secret("token", "s3cret")  # get_secret / delete_secret; never listed by a query
    page = storage.query().where("key", startsWith("issue-")).limit(20).cursor(c).get_many()
    page.results                           # [{'key': ..., 'value': ...}]
    page.next_cursor                       # the last result's cursor (None for an empty page)
    storage.query().where("key", startsWith("issue-")).get_one()
    storage.entity("task").set("t-1", {"status": "open", "rank": 3})      # a custom entity of the manifest
    (storage.entity("task").query().index("by-status", {"partition": ["open"]})
        .where(WhereConditions.isGreaterThan(1)).andFilter("rank", FilterConditions.exists())
        .sort(SortOrder.DESC).limit(10).getMany())

It is the key-value store that `forgeq.kvs` (@forge/kvs) reaches: the same keys, rules and quotas
(forgeq/emulator/platform/legacy_storage.py serves both this module and the JavaScript package).
As in @forge/storage, the query builder is immutable (each call returns a new one) and the last
page's `next_cursor` is still set: loop until a page comes back empty. Failures raise APIError with
the message the JavaScript package gives. Forge's camelCase names work too (`getSecret`, `getMany`).
In `async def` code every call is awaitable.
"""

from __future__ import annotations

from typing import Any

from forgeq.kvs import ListResult
from forgeq.runtime import current, sdk_call


class APIError(Exception):
    """@forge/storage's APIError: `str(error)` is its message.

    forgeq adds what the server said: `.code` (@forge/kvs's error code), `.status` and `.server_message`.
    """

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, server_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.server_message = server_message if server_message is not None else message


def startsWith(value: str) -> dict[str, Any]:  # noqa: N802 - Forge's own name
    """The only condition of a key query: keys that start with `value`."""
    return {"condition": "STARTS_WITH", "value": value}


starts_with = startsWith


class Query:
    """`storage.query()`: immutable, as @forge/storage's builder is; `where` replaces the condition."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self._options: dict[str, Any] = dict(options or {})

    def _with(self, **changes: Any) -> Query:
        return Query({**self._options, **changes})

    def where(self, field: str, condition: dict[str, Any]) -> Query:
        return self._with(where=[{"field": field, **condition}])

    def cursor(self, cursor: str) -> Query:
        return self._with(cursor=cursor)

    def limit(self, limit: int) -> Query:
        return self._with(limit=limit)

    @sdk_call
    def get_many(self) -> ListResult:
        page = current().legacy_storage.list(self._options.get("where"), self._options.get("cursor"), self._options.get("limit"))
        return ListResult({"results": page["results"], "nextCursor": page["nextCursor"]})

    @sdk_call
    def get_one(self) -> dict[str, Any] | None:
        options = self._options
        results = current().legacy_storage.list(options.get("where"), options.get("cursor"), 1)["results"]
        return results[0] if results else None

    getMany = get_many  # noqa: N815 - Forge's own names
    getOne = get_one  # noqa: N815


class WhereConditions:
    """The legacy API's conditions on an index's range attribute (@forge/storage's names)."""

    @staticmethod
    def beginsWith(value: Any) -> dict[str, Any]:  # noqa: N802 - Forge's own names
        return {"condition": "BEGINS_WITH", "values": [value]}

    @staticmethod
    def between(values: list[Any]) -> dict[str, Any]:
        """`between([low, high])`: the legacy API takes one list (@forge/kvs takes two values)."""
        return {"condition": "BETWEEN", "values": list(values)}

    @staticmethod
    def equalsTo(value: Any) -> dict[str, Any]:  # noqa: N802
        return {"condition": "EQUAL_TO", "values": [value]}

    @staticmethod
    def isGreaterThan(value: Any) -> dict[str, Any]:  # noqa: N802
        return {"condition": "GREATER_THAN", "values": [value]}

    @staticmethod
    def isGreaterThanEqualTo(value: Any) -> dict[str, Any]:  # noqa: N802
        return {"condition": "GREATER_THAN_EQUAL_TO", "values": [value]}

    @staticmethod
    def isLessThan(value: Any) -> dict[str, Any]:  # noqa: N802
        return {"condition": "LESS_THAN", "values": [value]}

    @staticmethod
    def isLessThanEqualTo(value: Any) -> dict[str, Any]:  # noqa: N802
        return {"condition": "LESS_THAN_EQUAL_TO", "values": [value]}


class FilterConditions(WhereConditions):
    """The legacy API's filter conditions: the where conditions, and contains, exists, ..."""

    @staticmethod
    def contains(value: Any) -> dict[str, Any]:
        return {"condition": "CONTAINS", "values": [value]}

    @staticmethod
    def doesNotContain(value: Any) -> dict[str, Any]:  # noqa: N802 - Forge's own names
        return {"condition": "NOT_CONTAINS", "values": [value]}

    @staticmethod
    def notEqualsTo(value: Any) -> dict[str, Any]:  # noqa: N802
        return {"condition": "NOT_EQUAL_TO", "values": [value]}

    @staticmethod
    def exists() -> dict[str, Any]:
        return {"condition": "EXISTS", "values": [True]}

    @staticmethod
    def doesNotExist() -> dict[str, Any]:  # noqa: N802
        return {"condition": "NOT_EXISTS", "values": [True]}


class SortOrder:
    ASC = "ASC"
    DESC = "DESC"


class EntityQuery:
    """`storage.entity(name).query()`: immutable like @forge/storage's builder. `index(name, {partition})`
    first, then where, andFilter or orFilter (not both), sort, cursor, limit, getMany / getOne."""

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = dict(options)

    def _with(self, **changes: Any) -> EntityQuery:
        return EntityQuery({**self._options, **changes})

    def index(self, name: str, options: dict[str, Any] | None = None) -> EntityQuery:
        return self._with(indexName=name, **(options or {}))

    def where(self, condition: dict[str, Any]) -> EntityQuery:
        return self._with(range=dict(condition))

    def and_filter(self, field: str, condition: dict[str, Any]) -> EntityQuery:
        return self._filter("and", field, condition)

    def or_filter(self, field: str, condition: dict[str, Any]) -> EntityQuery:
        return self._filter("or", field, condition)

    def _filter(self, operator: str, field: str, condition: dict[str, Any]) -> EntityQuery:
        held = self._options.get("filters") or {}
        items = held.get(operator, []) if operator in held or not held else None
        if items is None:  # the package's and/or builders have no method of the other kind
            raise AttributeError(f"this query's filters are joined with '{next(iter(held))}', not '{operator}'")
        return self._with(filters={operator: [*items, {"property": field, **condition}]})

    def sort(self, order: str) -> EntityQuery:
        return self._with(sort=order)

    def cursor(self, cursor: str) -> EntityQuery:
        return self._with(cursor=cursor)

    def limit(self, limit: int) -> EntityQuery:
        return self._with(limit=limit)

    def _request(self) -> dict[str, Any]:
        return {name: value for name, value in self._options.items() if value is not None}

    @sdk_call
    def get_many(self) -> ListResult:
        return ListResult(current().legacy_storage.entity_list(self._request()))

    @sdk_call
    def get_one(self) -> dict[str, Any] | None:
        results = current().legacy_storage.entity_list({**self._request(), "limit": 1})["results"]
        return results[0] if results else None

    andFilter = and_filter  # noqa: N815 - Forge's own names
    orFilter = or_filter  # noqa: N815
    getMany = get_many  # noqa: N815
    getOne = get_one  # noqa: N815


class EntityStorage:
    """`storage.entity(name)`: a custom entity of app.storage.entities (the items kvs.entity(name) reaches)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @sdk_call
    def get(self, key: str) -> Any:
        """The item's value, or None when it is missing."""
        return current().legacy_storage.entity_get(self.name, key)

    @sdk_call
    def set(self, key: str, value: Any) -> None:
        current().legacy_storage.entity_set(self.name, key, value)

    @sdk_call
    def delete(self, key: str) -> None:
        current().legacy_storage.entity_delete(self.name, key)

    def query(self) -> EntityQuery:
        return EntityQuery({"entityName": self.name})


class Storage:
    """`storage` of @forge/api: keys and secrets of the current installation, and key queries."""

    @sdk_call
    def get(self, key: str) -> Any:
        """The value, or None when the key does not exist."""
        return current().legacy_storage.get(key)

    @sdk_call
    def set(self, key: str, value: Any) -> None:
        current().legacy_storage.set(key, value)

    @sdk_call
    def delete(self, key: str) -> None:
        current().legacy_storage.delete(key)

    @sdk_call
    def get_secret(self, key: str) -> Any:
        return current().legacy_storage.get(key, encrypted=True)

    @sdk_call
    def set_secret(self, key: str, value: Any) -> None:
        current().legacy_storage.set(key, value, encrypted=True)

    @sdk_call
    def delete_secret(self, key: str) -> None:
        current().legacy_storage.delete(key, encrypted=True)

    def query(self) -> Query:
        return Query()

    def entity(self, name: str) -> EntityStorage:
        return EntityStorage(name)

    getSecret = get_secret  # noqa: N815 - Forge's own names
    setSecret = set_secret  # noqa: N815
    deleteSecret = delete_secret  # noqa: N815


storage = Storage()

__all__ = [
    "APIError",
    "EntityQuery",
    "EntityStorage",
    "FilterConditions",
    "Query",
    "SortOrder",
    "Storage",
    "WhereConditions",
    "startsWith",
    "starts_with",
    "storage",
]
