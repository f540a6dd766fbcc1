"""What handler code imports: a Python mirror of `@forge/kvs` 1.6.

    from forgeq.kvs import kvs, WhereConditions, FilterConditions, Filter, SortOrder, MetadataField, ForgeKvsAPIError

    kvs.set("issue-DEMO-1", {"status": "new"}, ttl={"value": 1, "unit": "DAYS"})
    kvs.get("issue-DEMO-1")                     # {'status': 'new'}; None when missing (undefined in JS)
    kvs.get("issue-DEMO-1", metadata_fields=[MetadataField.CREATED_AT])   # {'key', 'value', 'createdAt'}
    kvs.set("lock", 1, key_policy="FAIL_IF_EXISTS")                     # 409 KEY_CONFLICT if it exists
    kvs.delete("issue-DEMO-1")                  # idempotent
    page = kvs.query().where("key", WhereConditions.begins_with("issue-")).limit(50).get_many()
    page.results, page.next_cursor              # also page["results"], page["nextCursor"]
    kvs.batch_set([{"key": "a", "value": 1}, {"key": "b", "value": 2}])  # .successful_keys / .failed_keys

    records = kvs.entity("import-record")       # a custom entity of app.storage.entities (entity.py)
    records.set("rec-DEMO-1", {"issueKey": "DEMO-1", "status": "failed", "attempts": 3})
    page = (records.query().index("by-status", partition=["failed"])
            .where(WhereConditions.greater_than(2)).sort(SortOrder.DESC).limit(20).get_many())
    (kvs.transact().set("counter", total + 1)   # all or nothing (transaction.py)
        .set("rec-DEMO-1", record, {"entityName": "import-record",
             "conditions": Filter().and_("status", FilterConditions.not_equal_to("done"))})
        .delete("tmp").execute())

Every method also has Forge's camelCase name (`getSecret`, `batchSet`, `getMany`, `beginsWith`,
...), and options can be passed as Forge's dict (`{"keyPolicy": "FAIL_IF_EXISTS"}`) or as Python
keywords. Failures raise ForgeKvsAPIError with Forge's `code` and an HTTP-like `status` (429 with
RATE_LIMIT_EXCEEDED over the storage quota). In `async def` code every call is awaitable.
"""

from __future__ import annotations

import sys
from typing import Any

from forgeq.jsvalues import property_error, spread, truthy
from forgeq.kvs.conditions import Filter, FilterConditions, Sort, SortOrder, WhereConditions
from forgeq.kvs.entity import Entity, EntityIndexQuery, EntityQueryBuilder
from forgeq.kvs.errors import ForgeKvsAPIError, ForgeKvsError
from forgeq.kvs.results import (
    BatchResult,
    ListResult,
    MetadataField,
    get_options,
    sent,
    sent_items,
    set_options,
)
from forgeq.kvs.transaction import TransactionBuilder
from forgeq.runtime import BOUND, COROUTINE_FLAGS, SECRET, awaitable, current, sdk_call

_MISSING: Any = object()  # an argument left out: JavaScript's undefined


class KvsQueryBuilder:
    """`kvs.query(options)`: like @forge/kvs's builder, it writes where, cursor and limit into the
    options object it was given (the caller's own dict, as JavaScript shares it) and returns itself;
    `where` replaces. Options that already hold `limit`, `cursor` or `where` are sent as they are."""

    def __init__(self, options: Any = _MISSING) -> None:
        self._options: Any = {} if options is _MISSING else options
        self._own: dict[str, Any] = {}  # the properties JavaScript would add to an array given as options

    def _set(self, name: str, value: Any) -> KvsQueryBuilder:
        error = property_error(self._options, name, setting=True)
        if error is not None:
            raise error
        (self._options if isinstance(self._options, dict) else self._own)[name] = value
        return self

    def _get(self, name: str) -> Any:
        options = self._options
        if isinstance(options, dict):
            return options.get(name)
        error = property_error(options, name, setting=False)
        if error is not None:
            raise error
        return self._own.get(name)

    def where(self, property: Any = None, condition: Any = None, *_: Any) -> KvsQueryBuilder:  # noqa: A002 - Forge's own name
        """`[{property, ...condition}]`, JavaScript's spread: a string spreads its characters, a number nothing."""
        return self._set("where", [{"property": property, **spread(condition)}])

    def cursor(self, cursor: Any = None, *_: Any) -> KvsQueryBuilder:
        return self._set("cursor", cursor)

    def limit(self, limit: Any = None, *_: Any) -> KvsQueryBuilder:
        return self._set("limit", limit)

    def _query(self) -> dict[str, Any]:
        fields = self._options.get("metadataFields") if isinstance(self._options, dict) else None
        fields = fields if truthy(fields) else None  # sent only when truthy
        limit, after, where = self._get("limit"), self._get("cursor"), self._get("where")
        return current().storage.query(sent(where), sent(after), sent(limit), sent(fields))

    @sdk_call
    def get_many(self, *_: Any) -> ListResult:
        return ListResult(self._query())

    @sdk_call
    def get_one(self, *_: Any) -> dict[str, Any] | None:
        results = self.limit(1)._query()["results"]  # as the package does: getOne() is limit(1).getMany()
        return results[0] if results else None

    getMany = get_many  # noqa: N815 - Forge's own name
    getOne = get_one  # noqa: N815


class KVS:
    """`kvs` of @forge/kvs: keys, secrets, queries and batches of the current installation."""

    def get(self, key: Any = None, options: Any = None, *_: Any, metadata_fields: Any = None) -> Any:
        """The value, or None when missing; with options (metadata_fields), `{key, value, createdAt, ...}`."""
        # The commonest call, as set()'s below.
        coroutine = sys._getframe(1).f_code.co_flags & COROUTINE_FLAGS
        if options is None and metadata_fields is None and type(key) is str and not coroutine and (invocation := BOUND.get()) is not None:
            return invocation.get_plain(key)
        if coroutine:
            return awaitable(self._get, key, options, metadata_fields)
        return self._get(key, options, metadata_fields)

    def _get(self, key: Any, options: Any, metadata_fields: Any) -> Any:
        return current().storage.get(sent(key), sent(get_options(options, metadata_fields)))

    def set(
        self,
        key: Any = None,
        value: Any = None,
        options: Any = None,
        *_: Any,
        ttl: Any = None,
        key_policy: str | None = None,
        return_value: str | None = None,
        return_metadata_fields: Any = None,
    ) -> Any:
        """Write a value; None, or `{key, value, ...}` with return_value PREVIOUS / LATEST (keyPolicy OVERRIDE)."""
        # The commonest call, from plain code in an invocation, in one frame: what sdk_call and _set
        # do, for a string key and no options (bench/README.md, round 4).
        coroutine = sys._getframe(1).f_code.co_flags & COROUTINE_FLAGS
        if (
            options is None and ttl is None and key_policy is None and return_value is None and return_metadata_fields is None
            and type(key) is str and not coroutine and (invocation := BOUND.get()) is not None
        ):  # fmt: skip
            invocation.set_plain(key, value)
            return None
        if coroutine:
            return awaitable(self._set, key, value, options, ttl, key_policy, return_value, return_metadata_fields)
        return self._set(key, value, options, ttl, key_policy, return_value, return_metadata_fields)

    def _set(self, key: Any, value: Any, options: Any, ttl: Any, key_policy: Any, return_value: Any, return_metadata_fields: Any) -> Any:
        if options is None and ttl is None and key_policy is None and return_value is None and return_metadata_fields is None:
            return current().storage.set(sent(key), value, None)
        return current().storage.set(
            sent(key), value, sent(set_options(options, ttl, key_policy, return_value, return_metadata_fields))
        )

    @sdk_call
    def delete(self, key: Any = None, *_: Any) -> None:
        current().storage.delete(sent(key))

    def query(self, options: Any = _MISSING, *_: Any, metadata_fields: Any = None) -> KvsQueryBuilder:
        """A query builder over `options` (`{}` when left out; None is JavaScript's null, which the builder cannot write to)."""
        if metadata_fields is not None:
            options = {**(options if isinstance(options, dict) else {}), "metadataFields": metadata_fields}
        return KvsQueryBuilder(options)

    @sdk_call
    def get_secret(self, key: Any = None, options: Any = None, *_: Any, metadata_fields: Any = None) -> Any:
        return current().storage.get(sent(key), sent(get_options(options, metadata_fields)), space=SECRET)

    @sdk_call
    def set_secret(
        self, key: Any = None, value: Any = None, options: Any = None, *, ttl: Any = None, key_policy: str | None = None
    ) -> Any:
        return current().storage.set(
            sent(key), value, sent(set_options(options, ttl, key_policy, None, None)), space=SECRET
        )

    @sdk_call
    def delete_secret(self, key: Any = None, *_: Any) -> None:
        current().storage.delete(sent(key), space=SECRET)

    @sdk_call
    def batch_set(self, items: Any = None, *_: Any) -> BatchResult:
        """Up to 25 `{key, value, entityName?, options?}`; per-key results, best effort."""
        return BatchResult(current().storage.batch_set(sent_items(items)))

    @sdk_call
    def batch_get(self, items: Any = None, *_: Any) -> BatchResult:
        """Up to 25 `{key, options?}` (or plain keys); missing keys come back in failed_keys as KEY_NOT_FOUND."""
        return BatchResult(current().storage.batch_get(sent_items(items)))

    @sdk_call
    def batch_delete(self, items: Any = None, *_: Any) -> BatchResult:
        """Up to 25 `{key}` (or plain keys); deleting a missing key succeeds."""
        return BatchResult(current().storage.batch_delete(sent_items(items)))

    def entity(self, name: Any = None, *_: Any) -> Entity:
        """A custom entity the manifest declares under app.storage.entities: get, set, delete, query."""
        return Entity(name)

    def transact(self, *_: Any) -> TransactionBuilder:
        """Sets, deletes and checks over plain keys and entity items, applied all or nothing by `execute()`."""
        return TransactionBuilder()

    getSecret = get_secret  # noqa: N815 - Forge's own names
    setSecret = set_secret  # noqa: N815
    deleteSecret = delete_secret  # noqa: N815
    batchSet = batch_set  # noqa: N815
    batchGet = batch_get  # noqa: N815
    batchDelete = batch_delete  # noqa: N815


kvs = KVS()

__all__ = [
    "KVS",
    "BatchResult",
    "Entity",
    "EntityIndexQuery",
    "EntityQueryBuilder",
    "Filter",
    "FilterConditions",
    "ForgeKvsAPIError",
    "ForgeKvsError",
    "KvsQueryBuilder",
    "ListResult",
    "MetadataField",
    "Sort",
    "SortOrder",
    "TransactionBuilder",
    "WhereConditions",
    "kvs",
]
