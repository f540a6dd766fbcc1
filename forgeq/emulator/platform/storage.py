"""The key-value store as Forge's KVS serves it: validation, quotas, TTL, per installation.

Reads see this run's unacknowledged writes (the WriteBatch) before the database, so a handler
reads its own writes at once while the loop still commits in batches. A query commits the batch
first and then reads the database, in key order.

Each call is validated first (a bad request is answered 400 whatever the load), then charged to
the installation's quota (`engine.quota`; 429 RATE_LIMIT_EXCEEDED when refused), then served.
Every write goes through `Storage.write`, which fault injection wraps to watch idempotency.

A key lives in a space: plain, secret, or a custom entity (its name). Entity items take the same
path as plain keys; what is particular to them (declared attributes, queries by index) is in
entities.py, transactions in transactions.py.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from forgeq.emulator.platform import quota as quotas
from forgeq.emulator.store.batch import KvRow
from forgeq.jsontext import CircularJsonError, depth, escape_surrogates, object_text, parse, stringify
from forgeq.jsvalues import WHITESPACE, shown, type_name
from forgeq.runtime import PLAIN, SECRET, Space

if TYPE_CHECKING:
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.loop.invocation import Invocation


# Forge's documented key rule /^(?!\s+$)[a-zA-Z0-9:._\s-#]+$/ read as JavaScript reads it: `\s` is
# JavaScript's whitespace (tab, newline, the no-break and other Unicode spaces, U+FEFF; not Python's
# U+001C-U+001F or U+0085), `\s-#` is whitespace, `-` and `#`, and `$` ends the input (`\Z`).
KEY_PATTERN = re.compile(rf"(?![{WHITESPACE}]+\Z)[a-zA-Z0-9:._{WHITESPACE}\-#]+\Z")
KEY_RULE = "/^(?!\\s+$)[a-zA-Z0-9:._\\s-#]+$/"
MAX_KEY_LENGTH = 500
MAX_VALUE_BYTES = 240 * 1024
MAX_DEPTH = 32  # docs/fidelity.md: depth counted with a scalar at 0, a flat object at 1
UNIT_BYTES = 10 * 1024
QUERY_DEFAULT_LIMIT = 10
QUERY_MAX_LIMIT = 100  # CHANGE-1916; docs/fidelity.md: 100 itself is allowed
BATCH_MAX_ITEMS = 25
BATCH_MAX_BYTES = 4 * 1024 * 1024
MAX_TTL_SECONDS = 365 * 86400
TTL_UNITS = {"SECONDS": 1, "MINUTES": 60, "HOURS": 3600, "DAYS": 86400}
METADATA_FIELDS = ("CREATED_AT", "UPDATED_AT", "EXPIRE_TIME")
KEY_POLICIES = ("OVERRIDE", "FAIL_IF_EXISTS")
RETURN_VALUES = ("PREVIOUS", "LATEST")
CURSOR_PREFIX = "fq1."

# The API path each operation stands for, reported in ForgeKvsAPIError.responseDetails.httpPath.
PATHS = {
    "get": "/api/v1/get",
    "set": "/api/v1/set",
    "delete": "/api/v1/delete",
    "query": "/api/v1/query",
    "secret/get": "/api/v1/secret/get",
    "secret/set": "/api/v1/secret/set",
    "secret/delete": "/api/v1/secret/delete",
    "batch/set": "/api/v1/batch/set",
    "batch/get": "/api/v1/batch/get",
    "batch/delete": "/api/v1/batch/delete",
    "entity/get": "/api/v1/entity/get",
    "entity/set": "/api/v1/entity/set",
    "entity/delete": "/api/v1/entity/delete",
    "entity/query": "/api/v1/entity/query",
    "transaction": "/api/v1/transaction",
}


def _path(operation: str, space: Space) -> str:
    """The PATHS name of a get / set / delete in `space`."""
    if space == PLAIN:
        return operation
    return f"{'secret' if space == SECRET else 'entity'}/{operation}"


class KvsFailure(Exception):
    """A validation failure inside the emulator, turned into ForgeKvsAPIError at the API's edge."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def kvs_error(code: str, message: str, status: int = 400, path: str | None = None) -> Exception:
    from forgeq.kvs import ForgeKvsAPIError

    return ForgeKvsAPIError(code, message, status, http_path=path)


# -- validation ----------------------------------------------------------------------------------


def check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise KvsFailure("INVALID_KEY", f"The key must be a string, not {type_name(key)}.")
    if key == "":
        raise KvsFailure("KEY_TOO_SHORT", "The key must be at least 1 character long.")
    if len(key) > MAX_KEY_LENGTH:
        raise KvsFailure(
            "KEY_TOO_LONG", f"The key is {len(key)} characters long; the maximum is {MAX_KEY_LENGTH}."
        )
    if not KEY_PATTERN.match(key):
        raise KvsFailure("INVALID_KEY", f"The key {shown(key)} must match {KEY_RULE}.")
    return key


def encode(value: Any) -> str | KvsFailure:
    """`JSON.stringify(value)`, the text the package sends and forgeq stores, or what the server
    answers for a value that is not JSON (NaN and Infinity become null, as JSON.stringify writes them).

    A structure that contains itself raises CircularJsonError (a TypeError): @forge/kvs's
    `JSON.stringify` throws it in the app, before any request, so the caller sees it first.
    """
    if value is None:
        return KvsFailure("INVALID_VALUE", "The value must not be undefined or null.")
    try:
        text = stringify(value)
    except CircularJsonError:
        raise
    except (TypeError, ValueError) as error:
        return KvsFailure("INVALID_VALUE", f"The value is not JSON: {error}.")
    if text == "null":
        return KvsFailure("INVALID_VALUE", "The value must not be undefined or null.")
    return text


def check_value(value: Any) -> str:
    """The value as stored (JSON.stringify's text), after Forge's depth and size checks."""
    return checked_text(encode(value))


def checked_text(encoded: str | KvsFailure) -> str:
    """The text `encode` gave, after Forge's depth and size checks; or its failure, raised."""
    return checked_text_and_size(encoded)[0]


def checked_text_and_size(encoded: str | KvsFailure) -> tuple[str, int]:
    """checked_text's text, and its size in UTF-8 bytes (what the quota charges)."""
    if isinstance(encoded, KvsFailure):
        raise encoded
    text = encoded
    # Nesting needs an opening bracket per level: a value with few of them is not too deep, and
    # the scan is left out. Strings may hold brackets: that only means the scan runs.
    if text.count("{") + text.count("[") > MAX_DEPTH:
        nested = depth(text)
        if nested > MAX_DEPTH:
            raise KvsFailure("MAX_DEPTH", f"The value is nested {nested} levels deep; the maximum is {MAX_DEPTH}.")
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        raise KvsFailure(
            "MAX_SIZE", f"The value is {size} bytes; the maximum is {MAX_VALUE_BYTES} (240 KiB).", 413
        )
    return text, size


def validate_key(key: Any) -> str:
    """check_key, raising ForgeKvsAPIError (for code outside a storage call: the testing API)."""
    try:
        return check_key(key)
    except KvsFailure as failure:
        raise kvs_error(failure.code, failure.message, failure.status) from None


def encode_value(value: Any) -> str:
    try:
        return check_value(value)
    except KvsFailure as failure:
        raise kvs_error(failure.code, failure.message, failure.status) from None


def units(size_bytes: int) -> int:
    """Forge's 2025 accounting: 10 KB units, rounded up, at least 1 per request (a 65 KB write costs 7)."""
    return max(1, -(-size_bytes // UNIT_BYTES))


def ttl_seconds(ttl: Any) -> float:
    """`{"value": 5, "unit": "MINUTES"}` (Forge's shape) or a number of seconds (forgeq's shorthand)."""
    if isinstance(ttl, int | float) and not isinstance(ttl, bool):
        value: Any = ttl
        unit = "SECONDS"
    elif isinstance(ttl, dict):
        value = ttl.get("value")
        unit = ttl.get("unit", "SECONDS")
    else:
        raise KvsFailure(
            "INVALID_TTL", "ttl must be {value, unit} with unit SECONDS, MINUTES, HOURS or DAYS."
        )
    if unit not in TTL_UNITS:
        raise KvsFailure("INVALID_TTL", f"ttl unit {shown(unit)} is not one of {', '.join(TTL_UNITS)}.")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise KvsFailure("INVALID_TTL", f"ttl value {shown(value)} must be a positive number.")
    seconds = float(value) * TTL_UNITS[unit]
    if seconds > MAX_TTL_SECONDS:
        raise KvsFailure("INVALID_TTL", "The maximum TTL is 1 year.")
    return seconds


def check_metadata_fields(fields: Any) -> tuple[str, ...]:
    if fields is None:
        return ()
    if isinstance(fields, str) or not isinstance(fields, list | tuple):
        raise KvsFailure(
            "INVALID_METADATA_FIELD", "metadataFields must be a list of CREATED_AT, UPDATED_AT, EXPIRE_TIME."
        )
    names = []
    for field in fields:
        name = getattr(field, "value", field)
        if name not in METADATA_FIELDS:
            raise KvsFailure(
                "INVALID_METADATA_FIELD",
                f"{shown(field)} is not a metadata field (CREATED_AT, UPDATED_AT, EXPIRE_TIME).",
            )
        names.append(str(name))
    return tuple(names)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _live(row: KvRow | None, at: float) -> KvRow | None:
    """The row, unless it has expired by `at` (Store._write_kv's upsert applies the same rule)."""
    return None if row is None or (row.expire_at is not None and row.expire_at <= at) else row


def item(key: str, row: KvRow, fields: Iterable[str]) -> dict[str, Any]:
    """`{key, value}` plus the metadata fields asked for (createdAt/updatedAt in epoch ms)."""
    shaped: dict[str, Any] = {"key": key, "value": parse(row.value)}
    assert row.created_at is not None  # rows come from `read` or the database, which resolve it
    for field in fields:
        if field == "CREATED_AT":
            shaped["createdAt"] = round(row.created_at * 1000)
        elif field == "UPDATED_AT":
            shaped["updatedAt"] = round(row.updated_at * 1000)
        elif field == "EXPIRE_TIME" and row.expire_at is not None:
            shaped["expireTime"] = iso(row.expire_at)
    return shaped


def encode_cursor(key: str) -> str:
    return CURSOR_PREFIX + base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: Any) -> str:
    if not isinstance(cursor, str) or not cursor.startswith(CURSOR_PREFIX):
        raise KvsFailure(
            "INVALID_CURSOR",
            "The cursor is not one this query returned (cursors are not stable: do not persist them).",
        )
    text = cursor[len(CURSOR_PREFIX) :]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise KvsFailure("INVALID_CURSOR", "The cursor is not one this query returned.") from None


def _options(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise KvsFailure("INVALID_OPTIONS", f"options must be an object, not {type_name(options)}.")
    # Python spellings are accepted beside Forge's: key_policy, return_value, metadata_fields, ...
    return {_CAMEL.get(str(name), str(name)): value for name, value in options.items()}


_CAMEL = {
    "key_policy": "keyPolicy",
    "return_value": "returnValue",
    "return_metadata_fields": "returnMetadataFields",
    "metadata_fields": "metadataFields",
    "entity_name": "entityName",
}


# -- the store, with this run's unacknowledged writes ---------------------------------------------------


def get_plain(invocation: Invocation, key: str) -> Any:
    """`kvs.get(key)` with no options, in one frame: what StorageSession.get checks, reads and
    charges, for a key that passes its checks (the SDK's KVS.get calls it; bench/README.md, round 4)."""
    engine = invocation.engine
    if not (0 < len(key) <= MAX_KEY_LENGTH and KEY_PATTERN.match(key)):
        return invocation.storage.get(key)  # its error, as the session words it
    storage = engine.storage
    row = storage.read(invocation.installation, PLAIN, key, invocation.now())
    if storage.before_call or engine.quota.limits:
        size = 0 if row is None else len(row.value) if row.value.isascii() else len(row.value.encode())
        invocation.storage.charge("read", quotas.READ, size, "get")
    else:  # StorageSession.charge, for a call no quota or hook can refuse
        invocation.storage_calls += 1
    return None if row is None else parse(row.value)


def set_plain(invocation: Invocation, key: str, value: Any) -> None:
    """`kvs.set(key, value)` with no options, the commonest storage call, without a session for
    what passes its checks (the SDK's KVS.set calls it; bench/README.md, round 4)."""
    encoded = (type(value) is dict and object_text(value)) or encode(value)  # a cycle throws in the app, before any request
    if not _set_checked(invocation, key, encoded, PLAIN):
        invocation.storage.set_encoded(key, value, encoded)


def _set_checked(invocation: Invocation, key: Any, encoded: str | KvsFailure, space: Space) -> bool:
    """A set with no options of a key and a text that pass its checks (check_key and
    checked_text_and_size, inlined for what passes them): charged and written. False, doing
    nothing, for anything else: the caller's session checks it, and says why it fails."""
    if not (
        type(encoded) is str and type(key) is str and 0 < len(key) <= MAX_KEY_LENGTH and KEY_PATTERN.match(key)
        and encoded.isascii() and len(encoded) <= MAX_VALUE_BYTES and encoded.count("{") + encoded.count("[") <= MAX_DEPTH
    ):  # fmt: skip
        return False
    engine = invocation.engine
    storage = engine.storage
    if storage.before_call or engine.quota.limits:
        path = "set" if space == PLAIN else _path("set", space)
        at = invocation.storage.charge("secret" if space == SECRET else "write", quotas.WRITE, len(encoded), path)
    else:  # StorageSession.charge, for a call no quota or hook can refuse
        invocation.storage_calls += 1
        at = invocation.now()
    pending = engine.batch.kv_writes
    slot = (invocation.installation, space, key)
    if slot in pending or storage.watch is not None:
        storage.write(invocation.installation, space, key, encoded, at)
    else:
        pending[slot] = _kv_row((encoded, None, at, None))  # Storage.write's plain case
    return True


class Storage:
    def __init__(self, engine: Emulator) -> None:
        self.engine = engine
        # Hooks asked before each storage call is charged: (invocation, operation) -> None, or a
        # refusal message served as a 429 (fault injection, forgeq/emulator/tools/faults.py).
        self.before_call: list[Callable[[Invocation, str], str | None]] = []
        # What watches the writes, if anything: (installation, space, key), the row each write
        # replaces and its new text (None: deleted); faults.py's redelivery reports the changes.
        self.watch: Callable[[tuple[str, Space, str], KvRow | None, str | None], None] | None = None

    def session(self, invocation: Invocation) -> StorageSession:
        return StorageSession(self.engine, invocation)

    def read(self, installation: str, space: Space, key: str, now: float) -> KvRow | None:
        pending = self.engine.batch.kv_writes
        slot = (installation, space, key)
        if slot in pending:
            row = pending[slot]
            if row is not None and row.created_at is None:  # a buffered set: its createdAt, now it is asked for
                stored = _live(self.engine.store.kv_get(installation, space, key), row.updated_at)
                row = pending[slot] = row._replace(created_at=stored.created_at if stored is not None else row.updated_at)
        else:
            row = self.engine.store.kv_get(installation, space, key)
        return _live(row, now)

    def write(
        self,
        installation: str,
        space: Space,
        key: str,
        text: str | None,
        now: float,
        expire_at: float | None = None,
        *,
        previous: bool = False,
    ) -> KvRow | None:
        """Buffer a write (None deletes); with `previous`, return the row it replaces (else None).

        A set keeps the stored row's createdAt (Forge's metadata): the commit's upsert does that,
        so a plain set costs no read (Store._write_kv).
        """
        pending = self.engine.batch.kv_writes
        slot = (installation, space, key)
        before: KvRow | None = None
        created: float | None = None
        if previous or slot in pending or self.watch is not None:  # a delete buffered before this set must reset createdAt
            before = self.read(installation, space, key, now)
            created = before.created_at if before is not None else now
            if self.watch is not None:
                self.watch(slot, before, text)
        pending[slot] = None if text is None else _kv_row((text, created, now, expire_at))
        return before if previous else None

    def scan(
        self, installation: str, prefix: str, after: str | None, limit: int, now: float
    ) -> list[tuple[str, KvRow]]:
        """Plain keys in order, from the database once this run's writes are committed."""
        if escape_surrogates(prefix) != prefix:
            return []  # a key is ASCII and JavaScript's whitespace (check_key): none begins with a lone surrogate
        self.engine.flush()
        return self.engine.store.kv_scan(installation, PLAIN, prefix, after, limit, now)


# KvRow(*fields) without the named tuple's Python-level __new__ (a set makes one per call).
_kv_row: Callable[[tuple[str, float | None, float, float | None]], KvRow] = functools.partial(tuple.__new__, KvRow)


def quota_for(engine: Emulator) -> quotas.StorageQuota | quotas.NoQuota:
    """The storage quota of `engine.settings.storage_limits`, recording usage into the WriteBatch."""
    return quotas.build_quota(
        engine.settings.storage_limits, load=window_loader(engine), record=window_recorder(engine)
    )


def window_loader(engine: Emulator) -> quotas.Loader:
    """Units already used in a window: committed (quota_windows) plus this run's pending batch."""

    def load(installation: str, metric: str, start: float) -> int:
        pending = engine.batch.quota.get((installation, metric, start))
        return engine.store.quota_used(installation, metric, start) + (int(pending[1]) if pending else 0)

    return load


def window_recorder(engine: Emulator) -> quotas.Recorder:
    def record(
        installation: str, metric: str, start: float, seconds: float, used: int, refused: int, limit: int
    ) -> None:
        windows = engine.batch.quota
        slot = (installation, metric, start)
        row = windows.get(slot)
        if row is None:
            windows[slot] = [seconds, used, refused, limit]
        else:
            row[1] += used
            row[2] += refused

    return record


# -- one invocation's calls ---------------------------------------------------------------------------


class StorageSession:
    """KVS calls of one invocation: each is validated, charged to the quota, then served.

    Methods raise ForgeKvsAPIError (Forge's `code` and HTTP-like `status`); the SDK (forgeq.kvs)
    is a thin layer over them.
    """

    def __init__(self, engine: Emulator, invocation: Invocation) -> None:
        self.engine = engine
        self.invocation = invocation
        self.installation = invocation.installation

    def charge(
        self,
        fault_operation: str,
        operation: str,
        size_bytes: int,
        path: str,
        items: int = 1,
        refusal_code: str = "RATE_LIMIT_EXCEEDED",
    ) -> float:
        """Count the call and charge it to the quota; return its virtual time, or raise the 429.

        `path` names the operation in PATHS; `refusal_code` is the code of a refusal (a
        transaction's is TOO_MANY_REQUESTS, as the transaction page says).
        """
        invocation = self.invocation
        invocation.storage_calls += 1
        for hook in self.engine.storage.before_call:
            injected = hook(invocation, fault_operation)
            if injected is not None:
                invocation.quota_refusals += 1
                raise kvs_error(refusal_code, injected, 429, PATHS[path])
        at = invocation.now()
        quota = self.engine.quota
        refusal = quota.charge(self.installation, operation, units(size_bytes), at, items) if quota.limits else None
        if refusal is not None:
            invocation.quota_refusals += 1
            raise kvs_error(refusal_code, refusal, 429, PATHS[path])
        return at

    def _key(self, key: Any, space: Space) -> str:
        """The key, checked as its space wants it (an entity checks its name and declaration first)."""
        if type(space) is str:
            return self.engine.entities.check_key(space, key)
        return check_key(key)

    def _value(self, encoded: str | KvsFailure, value: Any, space: Space) -> str:
        """The value's text as stored: `encoded` checked (see `encode`), or an entity item checked
        against its entity's declared attributes."""
        if type(space) is str:
            return self.engine.entities.check_item(space, value, self.invocation.notes.append)
        return checked_text(encoded)

    def _call(self, path: str, work: Callable[[], Any]) -> Any:
        try:
            return work()
        except KvsFailure as failure:
            raise kvs_error(failure.code, failure.message, failure.status, PATHS[path]) from None

    # -- single keys ------------------------------------------------------------------------------

    def get(self, key: Any, options: Any = None, space: Space = PLAIN) -> Any:
        path = _path("get", space)

        def work() -> Any:
            self._key(key, space)
            given = _options(options)
            fields = check_metadata_fields(given.get("metadataFields"))
            row = self.engine.storage.read(self.installation, space, key, self.invocation.now())
            self.charge(
                "secret" if space == SECRET else "read",
                quotas.READ,
                len(row.value.encode()) if row else 0,
                path,
            )
            if row is None:
                return None
            # The SDK returns the bare value without options, and {key, value, ...} with them.
            return item(key, row, fields) if options is not None else parse(row.value)

        return self._call(path, work)

    def get_text(self, key: Any) -> str | None:
        """get(key) of the plain store with no options, as the value's stored JSON text: what the
        worker's answer carries, without parsing it to write it again."""

        def work() -> str | None:
            check_key(key)
            row = self.engine.storage.read(self.installation, PLAIN, key, self.invocation.now())
            self.charge("read", quotas.READ, len(row.value.encode()) if row else 0, "get")
            return None if row is None else row.value

        text: str | None = self._call("get", work)
        return text

    def set(self, key: Any, value: Any, options: Any = None, space: Space = PLAIN) -> Any:
        return self.set_encoded(key, value, encode(value), options, space)  # a cycle throws in the app, before any request

    def set_encoded(self, key: Any, value: Any, encoded: str | KvsFailure, options: Any = None, space: Space = PLAIN) -> Any:
        """set(), `value` already encoded (see `encode`)."""
        path = "set" if space == PLAIN else _path("set", space)
        if options is None and type(space) is not str:  # the commonest call: the checks below that apply
            if _set_checked(self.invocation, key, encoded, space):
                return None
            try:
                check_key(key)
                text, size = checked_text_and_size(encoded)
            except KvsFailure as failure:
                raise kvs_error(failure.code, failure.message, failure.status, PATHS[path]) from None
            at = self.charge("secret" if space == SECRET else "write", quotas.WRITE, size, path)
            self.engine.storage.write(self.installation, space, key, text, at)
            return None
        return self._set(key, value, encoded, options, space, path)

    def _set(self, key: Any, value: Any, encoded: str | KvsFailure, options: Any, space: Space, path: str) -> Any:
        """set() with options or in an entity: its own method, so that set()'s plain calls make no closure cells."""

        def work() -> Any:
            self._key(key, space)
            text = self._value(encoded, value, space)
            given = _options(options)
            policy = given.get("keyPolicy")
            returned = given.get("returnValue")
            if policy is not None and policy not in KEY_POLICIES:
                raise KvsFailure(
                    "INVALID_KEY_POLICY", f"keyPolicy {shown(policy)} is not OVERRIDE or FAIL_IF_EXISTS."
                )
            if returned is not None:
                if returned not in RETURN_VALUES:
                    raise KvsFailure(
                        "INVALID_RETURN_VALUE", f"returnValue {shown(returned)} is not PREVIOUS or LATEST."
                    )
                if policy != "OVERRIDE":
                    raise KvsFailure(
                        "INVALID_KEY_POLICY_RETURN_VALUE_COMBINATION",
                        f"returnValue needs keyPolicy OVERRIDE (keyPolicy is {shown(policy)}).",
                    )
            fields = check_metadata_fields(given.get("returnMetadataFields"))
            ttl = ttl_seconds(given["ttl"]) if given.get("ttl") is not None else None
            at = self.charge("secret" if space == SECRET else "write", quotas.WRITE, len(text.encode()), path)
            if (
                policy == "FAIL_IF_EXISTS"
                and self.engine.storage.read(self.installation, space, key, at) is not None
            ):
                raise KvsFailure(
                    "KEY_CONFLICT",
                    "The provided key already exists and the key policy is set to FAIL_IF_EXISTS.",
                    409,
                )
            previous = self.engine.storage.write(
                self.installation, space, key, text, at, at + ttl if ttl is not None else None, previous=returned == "PREVIOUS"
            )
            if returned == "PREVIOUS":
                return item(key, previous, fields) if previous is not None else None
            if returned == "LATEST":
                latest = self.engine.storage.read(self.installation, space, key, at)
                return item(key, latest, fields) if latest is not None else None
            return None

        return self._call(path, work)

    def delete(self, key: Any, space: Space = PLAIN) -> None:
        path = _path("delete", space)

        def work() -> None:
            self._key(key, space)
            at = self.charge("secret" if space == SECRET else "delete", quotas.DELETE, 0, path)
            self.engine.storage.write(self.installation, space, key, None, at)

        self._call(path, work)

    # -- query --------------------------------------------------------------------------------------

    def query(
        self, where: Any = None, cursor: Any = None, limit: Any = None, metadata_fields: Any = None
    ) -> dict[str, Any]:
        """`{"results": [{key, value, ...}], "nextCursor": str}` (nextCursor only when more keys follow)."""

        def work() -> dict[str, Any]:
            prefix = _where_prefix(where)
            size = QUERY_DEFAULT_LIMIT if limit is None else limit
            if isinstance(size, bool) or not isinstance(size, int):
                raise KvsFailure(
                    "INVALID_QUERY_LIMIT",
                    f"limit must be a whole number from 1 to {QUERY_MAX_LIMIT}, not {shown(size)}.",
                )
            if size > QUERY_MAX_LIMIT:
                raise KvsFailure(
                    "LIST_QUERY_LIMIT_EXCEEDED",
                    f"The query limit is {size}; it should be at most {QUERY_MAX_LIMIT}.",
                )
            if size < 1:
                raise KvsFailure(
                    "INVALID_QUERY_LIMIT",
                    f"limit must be a whole number from 1 to {QUERY_MAX_LIMIT}, not {size}.",
                )
            after = decode_cursor(cursor) if cursor is not None else None
            fields = check_metadata_fields(metadata_fields)
            rows = self.engine.storage.scan(self.installation, prefix, after, size + 1, self.invocation.now())
            page = rows[:size]
            results = []
            for key, row in page:
                shaped = item(key, row, fields)
                if "EXPIRE_TIME" not in fields and row.expire_at is not None:
                    shaped["expireTime"] = iso(
                        row.expire_at
                    )  # Result<T> carries expireTime when the key has one
                results.append(shaped)
            response_bytes = sum(len(key.encode()) + len(row.value.encode()) for key, row in page)
            self.charge("query", quotas.QUERY, response_bytes, "query")
            answer: dict[str, Any] = {"results": results}
            if len(rows) > size:
                answer["nextCursor"] = encode_cursor(page[-1][0])
            return answer

        return self._call("query", work)  # type: ignore[no-any-return]

    # -- batches ------------------------------------------------------------------------------------

    def batch_set(self, items: Any) -> dict[str, Any]:
        # A cycle in any value throws in the app, before any request (as in set).
        values = [
            encode(entry["value"]) if isinstance(entry, dict) and "value" in entry else None
            for entry in (items if isinstance(items, list | tuple) else ())
        ]

        def work() -> dict[str, Any]:
            entries = _batch_entries(items, "batchSet")
            successful: list[dict[str, Any]] = []
            failed: list[dict[str, Any]] = []
            ready: list[tuple[Space, str, str, float | None]] = []
            for entry, encoded in zip(entries, values, strict=True):
                key = entry.get("key")
                try:
                    space = _space_of(entry)
                    if encoded is None:
                        raise KvsFailure("INVALID_VALUE", "The item has no value.")
                    checked = self._key(key, space)
                    text = self._value(encoded, entry["value"], space)
                    given = _options(entry.get("options"))
                    extra = sorted(set(given) - {"ttl"})
                    if extra:
                        raise KvsFailure(
                            "INVALID_SET_OPTIONS",
                            f"batchSet accepts only a ttl option, not {', '.join(extra)} (CHANGE-3038).",
                        )
                    ttl = ttl_seconds(given["ttl"]) if given.get("ttl") is not None else None
                    ready.append((space, checked, text, ttl))
                except KvsFailure as failure:
                    failed.append(_failed(entry, failure))
            total = sum(len(text.encode()) for _, _, text, _ in ready)
            if total > BATCH_MAX_BYTES:
                raise KvsFailure("MAX_SIZE", f"The batch is {total} bytes; the maximum is 4 MB.", 413)
            if ready:
                at = self.charge("batch", quotas.WRITE, total, "batch/set", items=len(ready))
                for space, key, text, ttl in ready:
                    self.engine.storage.write(
                        self.installation, space, key, text, at, at + ttl if ttl is not None else None
                    )
                    successful.append(_named({"key": key}, space))
            return {"successfulKeys": successful, "failedKeys": failed}

        return self._call("batch/set", work)  # type: ignore[no-any-return]

    def batch_get(self, items: Any) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            entries = _batch_entries(items, "batchGet")
            failed: list[dict[str, Any]] = []
            wanted: list[tuple[Space, str, tuple[str, ...]]] = []
            for entry in entries:
                key = entry.get("key")
                try:
                    space = _space_of(entry)
                    checked = self._key(key, space)
                    fields = check_metadata_fields(_options(entry.get("options")).get("metadataFields"))
                    wanted.append((space, checked, fields))
                except KvsFailure as failure:
                    failed.append(_failed(entry, failure))
            if not wanted:
                return {"successfulKeys": [], "failedKeys": failed}
            now = self.invocation.now()
            rows = [
                (space, key, fields, self.engine.storage.read(self.installation, space, key, now))
                for space, key, fields in wanted
            ]
            total = sum(len(row.value.encode()) for _, _, _, row in rows if row is not None)
            self.charge("batch", quotas.READ, total, "batch/get", items=len(rows))
            successful = []
            for space, key, fields, row in rows:
                if row is None:
                    missing = {"key": key, "error": {"code": "KEY_NOT_FOUND", "message": "The key does not exist."}}
                    failed.append(_named(missing, space))
                else:
                    successful.append(_named(item(key, row, fields), space))
            return {"successfulKeys": successful, "failedKeys": failed}

        return self._call("batch/get", work)  # type: ignore[no-any-return]

    def batch_delete(self, items: Any) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            entries = _batch_entries(items, "batchDelete")
            failed: list[dict[str, Any]] = []
            keys: list[tuple[Space, str]] = []
            for entry in entries:
                try:
                    space = _space_of(entry)
                    keys.append((space, self._key(entry.get("key"), space)))
                except KvsFailure as failure:
                    failed.append(_failed(entry, failure))
            successful: list[dict[str, Any]] = []
            if keys:
                at = self.charge("batch", quotas.DELETE, 0, "batch/delete", items=len(keys))
                for space, key in keys:
                    self.engine.storage.write(self.installation, space, key, None, at)
                    successful.append(_named({"key": key}, space))
            return {"successfulKeys": successful, "failedKeys": failed}

        return self._call("batch/delete", work)  # type: ignore[no-any-return]

    # -- custom entities and transactions (entities.py, transactions.py) -----------------------------

    def entity_query(self, request: Any) -> dict[str, Any]:
        """A query of a custom entity by index: `{"results": [...], "nextCursor": str}` (entities.py)."""
        return self._call("entity/query", lambda: self.engine.entities.query(self, request))  # type: ignore[no-any-return]

    def transact(self, request: Any) -> None:
        """Sets, deletes and checks, all or nothing (transactions.py)."""
        from forgeq.emulator.platform import transactions

        self._call("transaction", lambda: transactions.execute(self, request))


def _where_prefix(where: Any) -> str:
    """The prefix of `[{"property": "key", "condition": "BEGINS_WITH", "values": [prefix]}]`, or "" for all keys."""
    if where is None:
        return ""
    if not isinstance(where, list | tuple):
        raise KvsFailure("QUERY_WHERE_INVALID", "where must be a list holding one condition.")
    if len(where) == 0:
        return ""
    if len(where) > 1:
        raise KvsFailure("QUERY_WHERE_INVALID", "A query may have only one where condition.")
    clause = where[0]
    if not isinstance(clause, dict):
        raise KvsFailure("QUERY_WHERE_INVALID", "The where condition must be an object.")
    if clause.get("property") != "key":
        raise KvsFailure(
            "QUERY_WHERE_FIELD_INVALID",
            f"Queries can only target the key field, not {shown(clause.get('property'))}.",
        )
    if clause.get("condition") != "BEGINS_WITH":
        raise KvsFailure(
            "INVALID_FILTER_CONDITION",
            f"The only condition the key-value store supports is BEGINS_WITH, not {shown(clause.get('condition'))}.",
        )
    values = clause.get("values")
    if not isinstance(values, list | tuple) or len(values) != 1:
        raise KvsFailure("INVALID_FILTER_VALUES", "BEGINS_WITH takes exactly one value.")
    prefix = values[0]
    if isinstance(prefix, bool) or not isinstance(prefix, str | int | float):
        raise KvsFailure(
            "INVALID_FILTER_VALUES", f"The BEGINS_WITH value must be a string, not {type_name(prefix)}."
        )
    return prefix if isinstance(prefix, str) else json.dumps(prefix)


def _batch_entries(items: Any, name: str) -> list[dict[str, Any]]:
    """The items of a batch, or a failure of the whole batch (empty, over 25, or a key twice)."""
    if not isinstance(items, list | tuple):
        raise KvsFailure("INVALID_BATCH_REQUEST", f"{name} takes a list of items.")
    if not items:
        raise KvsFailure("INVALID_BATCH_REQUEST", f"{name} needs at least one item.")
    if len(items) > BATCH_MAX_ITEMS:
        raise KvsFailure(
            "INVALID_BATCH_REQUEST", f"{name} takes at most {BATCH_MAX_ITEMS} items, not {len(items)}."
        )
    entries = []
    seen: set[tuple[Any, Any]] = set()
    for entry in items:
        if isinstance(entry, str):
            entry = {"key": entry}  # forgeq's shorthand for batchGet / batchDelete
        if not isinstance(entry, dict):
            raise KvsFailure("INVALID_BATCH_REQUEST", f"Each {name} item must be an object with a key.")
        slot = (_hashable(entry.get("key")), _hashable(entry.get("entityName", entry.get("entity_name"))))
        if slot in seen:
            raise KvsFailure(
                "INVALID_BATCH_REQUEST", f"{name} names the key {shown(entry.get('key'))} more than once."
            )
        seen.add(slot)
        entries.append(entry)
    return entries


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _space_of(entry: dict[str, Any]) -> Space:
    """A batch item's space: its entityName (checked with its key), else the plain store."""
    name = entry.get("entityName", entry.get("entity_name"))
    if name is None:
        return PLAIN
    if not isinstance(name, str):
        raise KvsFailure("INVALID_ENTITY_TYPE", f"entityName must be a string, not {type(name).__name__}.")
    return name


def _named(shaped: dict[str, Any], space: Space) -> dict[str, Any]:
    """A batch result item, with the entityName of an entity item (as the package's types have it)."""
    if type(space) is str:
        shaped["entityName"] = space
    return shaped


def _failed(entry: dict[str, Any], failure: KvsFailure) -> dict[str, Any]:
    """A batch item that failed, as the request named it (its entityName too)."""
    shaped = {"key": entry.get("key"), "error": {"code": failure.code, "message": failure.message}}
    name = entry.get("entityName", entry.get("entity_name"))
    if name is not None:
        shaped["entityName"] = name
    return shaped
