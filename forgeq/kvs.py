"""What handler code imports: a Python mirror of `@forge/kvs` (FS §2).

    from forgeq.kvs import kvs, WhereConditions, MetadataField, ForgeKvsAPIError

    kvs.set("issue-DEMO-1", {"status": "new"}, ttl={"value": 1, "unit": "DAYS"})
    kvs.get("issue-DEMO-1")                     # {'status': 'new'}; None when missing (undefined in JS)
    kvs.get("issue-DEMO-1", metadata_fields=[MetadataField.CREATED_AT])   # {'key', 'value', 'createdAt'}
    kvs.set("lock", 1, key_policy="FAIL_IF_EXISTS")                     # 409 KEY_CONFLICT if it exists
    kvs.delete("issue-DEMO-1")                  # idempotent
    page = kvs.query().where("key", WhereConditions.begins_with("issue-")).limit(50).get_many()
    page.results, page.next_cursor              # also page["results"], page["nextCursor"]
    kvs.batch_set([{"key": "a", "value": 1}, {"key": "b", "value": 2}])  # .successful_keys / .failed_keys

Every method also has Forge's camelCase name (`getSecret`, `batchSet`, `getMany`, `beginsWith`,
...), and options can be passed as Forge's dict (`{"keyPolicy": "FAIL_IF_EXISTS"}`) or as Python
keywords. Failures raise ForgeKvsAPIError with Forge's `code` and an HTTP-like `status` (429 with
RATE_LIMIT_EXCEEDED over the storage quota). In `async def` code every call is awaitable.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from forgeq.runtime import SECRET, current, sdk_call


class ForgeKvsError(Exception):
    """A client-side error of @forge/kvs (a bad argument caught before any request)."""


class ForgeKvsAPIError(ForgeKvsError):
    """An error answered by the KVS API: `.code`, `.message`, `.status`, `.context`, `.response_details`."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        context: dict[str, Any] | None = None,
        *,
        http_path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.context = context or {}
        self.response_details = {
            "status": status,
            "statusText": _STATUS_TEXT.get(status, ""),
            "traceId": None,
            "httpMethod": "POST",
            "httpPath": http_path,
            "responseBodyLength": None,
        }

    @property
    def responseDetails(self) -> dict[str, Any]:  # noqa: N802 - Forge's own name
        return self.response_details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


_STATUS_TEXT = {
    400: "Bad Request",
    404: "Not Found",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
}


class MetadataField(StrEnum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    EXPIRE_TIME = "EXPIRE_TIME"


class WhereConditions:
    """Conditions for `query().where("key", ...)`: the key-value store supports only begins_with."""

    @staticmethod
    def begins_with(value: Any) -> dict[str, Any]:
        return {"condition": "BEGINS_WITH", "values": [value]}

    beginsWith = begins_with  # noqa: N815 - Forge's own name


class _Result(dict[str, Any]):
    """A dict in Forge's JSON shape, whose fields also read as attributes, in Python or Forge spelling."""

    _ALIASES: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        key = self._ALIASES.get(name, name)
        if key in self:
            return self[key]
        if key in self._DEFAULTS:
            return self._DEFAULTS[key]
        raise AttributeError(name)

    _DEFAULTS: dict[str, Any] = {}


class ListResult(_Result):
    """What `get_many()` answers: `results` (dicts with key, value, ...) and `next_cursor` (None on the last page)."""

    _ALIASES = {"next_cursor": "nextCursor"}
    _DEFAULTS = {"nextCursor": None}


class BatchResult(_Result):
    """What a batch answers: `successful_keys` and `failed_keys` ({key, error: {code, message}})."""

    _ALIASES = {"successful_keys": "successfulKeys", "failed_keys": "failedKeys"}


class KvsQueryBuilder:
    """`kvs.query()`: like @forge/kvs's builder, it changes itself and returns itself; `where` replaces."""

    def __init__(self, metadata_fields: Any = None) -> None:
        self._where: list[dict[str, Any]] | None = None
        self._cursor: Any = None
        self._limit: Any = None
        self._metadata_fields = metadata_fields

    def where(self, property: str, condition: dict[str, Any]) -> KvsQueryBuilder:  # noqa: A002 - Forge's own name
        if not isinstance(condition, dict):
            raise ForgeKvsError(
                "where() takes a condition from WhereConditions, e.g. WhereConditions.begins_with('issue-')"
            )
        self._where = [{"property": property, **condition}]
        return self

    def cursor(self, cursor: str) -> KvsQueryBuilder:
        self._cursor = cursor
        return self

    def limit(self, limit: int) -> KvsQueryBuilder:
        self._limit = limit
        return self

    @sdk_call
    def get_many(self) -> ListResult:
        return ListResult(
            current().storage.query(self._where, self._cursor, self._limit, self._metadata_fields)
        )

    @sdk_call
    def get_one(self) -> dict[str, Any] | None:
        results = current().storage.query(self._where, self._cursor, 1, self._metadata_fields)["results"]
        self._limit = 1  # as the SDK does: getOne() is limit(1).getMany()
        return results[0] if results else None

    getMany = get_many  # noqa: N815 - Forge's own name
    getOne = get_one  # noqa: N815


def _get_options(options: Any, metadata_fields: Any) -> Any:
    if metadata_fields is None:
        return options
    return {**(options or {}), "metadataFields": list(metadata_fields)}


def _set_options(
    options: Any, ttl: Any, key_policy: Any, return_value: Any, return_metadata_fields: Any
) -> Any:
    given = {
        "ttl": ttl,
        "keyPolicy": key_policy,
        "returnValue": return_value,
        "returnMetadataFields": return_metadata_fields,
    }
    extra = {name: value for name, value in given.items() if value is not None}
    if not extra:
        return options
    if options is not None and not isinstance(options, dict):
        return options  # let the API answer INVALID_OPTIONS
    return {**(options or {}), **extra}


class KVS:
    """`kvs` of @forge/kvs: keys, secrets, queries and batches of the current installation."""

    @sdk_call
    def get(self, key: str, options: Any = None, *, metadata_fields: Any = None) -> Any:
        """The value, or None when missing; with options (metadata_fields), `{key, value, createdAt, ...}`."""
        return current().storage.get(key, _get_options(options, metadata_fields))

    @sdk_call
    def set(
        self,
        key: str,
        value: Any,
        options: Any = None,
        *,
        ttl: Any = None,
        key_policy: str | None = None,
        return_value: str | None = None,
        return_metadata_fields: Any = None,
    ) -> Any:
        """Write a value; None, or `{key, value, ...}` with return_value PREVIOUS / LATEST (keyPolicy OVERRIDE)."""
        return current().storage.set(
            key, value, _set_options(options, ttl, key_policy, return_value, return_metadata_fields)
        )

    @sdk_call
    def delete(self, key: str) -> None:
        current().storage.delete(key)

    def query(self, options: Any = None, *, metadata_fields: Any = None) -> KvsQueryBuilder:
        fields = (
            metadata_fields
            if metadata_fields is not None
            else (options or {}).get("metadataFields")
            if isinstance(options, dict)
            else None
        )
        return KvsQueryBuilder(fields)

    @sdk_call
    def get_secret(self, key: str, options: Any = None, *, metadata_fields: Any = None) -> Any:
        return current().storage.get(key, _get_options(options, metadata_fields), space=SECRET)

    @sdk_call
    def set_secret(
        self, key: str, value: Any, options: Any = None, *, ttl: Any = None, key_policy: str | None = None
    ) -> Any:
        return current().storage.set(
            key, value, _set_options(options, ttl, key_policy, None, None), space=SECRET
        )

    @sdk_call
    def delete_secret(self, key: str) -> None:
        current().storage.delete(key, space=SECRET)

    @sdk_call
    def batch_set(self, items: list[dict[str, Any]]) -> BatchResult:
        """Up to 25 `{key, value, options?}`; per-key results, best effort (FS §2.5)."""
        return BatchResult(current().storage.batch_set(items))

    @sdk_call
    def batch_get(self, items: list[Any]) -> BatchResult:
        """Up to 25 `{key, options?}` (or plain keys); missing keys come back in failed_keys as KEY_NOT_FOUND."""
        return BatchResult(current().storage.batch_get(items))

    @sdk_call
    def batch_delete(self, items: list[Any]) -> BatchResult:
        """Up to 25 `{key}` (or plain keys); deleting a missing key succeeds."""
        return BatchResult(current().storage.batch_delete(items))

    def entity(self, name: str) -> Any:
        raise ForgeKvsError(
            f"kvs.entity({name!r}): forgeq does not emulate the Custom Entity Store; use plain keys"
        )

    def transact(self) -> Any:
        raise ForgeKvsError("kvs.transact(): forgeq does not emulate KVS transactions yet")

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
    "ForgeKvsAPIError",
    "ForgeKvsError",
    "KvsQueryBuilder",
    "ListResult",
    "MetadataField",
    "WhereConditions",
    "kvs",
]
