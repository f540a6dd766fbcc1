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


class EntityStorage:
    """`storage.entity(name)`: the Custom Entity Store (forgeq/emulator/platform/legacy_storage.py)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @sdk_call
    def get(self, key: str) -> Any:
        return current().legacy_storage.entity(self.name, "get", key=key)

    @sdk_call
    def set(self, key: str, value: Any) -> None:
        current().legacy_storage.entity(self.name, "set", key=key, value=value)

    @sdk_call
    def delete(self, key: str) -> None:
        current().legacy_storage.entity(self.name, "delete", key=key)

    def query(self) -> Any:
        return current().legacy_storage.entity(self.name, "query")


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

__all__ = ["APIError", "EntityStorage", "Query", "Storage", "startsWith", "starts_with", "storage"]
