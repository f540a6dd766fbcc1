"""The key-value store as Forge's KVS serves it: validation, quotas, TTL, per installation.

Reads see this run's unacknowledged writes (the WriteBatch) before the database, so a handler
reads its own writes at once while the loop still commits in batches.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from forgeq.emulator.store.batch import KvRow

if TYPE_CHECKING:
    from forgeq.emulator.engine import Emulator
    from forgeq.emulator.invocation import Invocation

PLAIN = 0
SECRET = 1

# FS §2.6: Forge's /^(?!\s+$)[a-zA-Z0-9:._\s-#]+$/ with the range rewritten so Python accepts it.
KEY_PATTERN = re.compile(r"^(?!\s+$)[a-zA-Z0-9:._\s\-#]+$", re.ASCII)
MAX_KEY_LENGTH = 500
MAX_VALUE_BYTES = 240 * 1024
MAX_DEPTH = 32  # docs/fidelity.md: depth counted with a scalar at 0, a flat object at 1
UNIT_BYTES = 10 * 1024


def kvs_error(code: str, message: str, status: int = 400) -> Exception:
    from forgeq.kvs import ForgeKvsAPIError

    return ForgeKvsAPIError(code, message, status)


def validate_key(key: Any) -> str:
    if not isinstance(key, str) or key == "":
        raise kvs_error("KEY_TOO_SHORT" if key == "" else "INVALID_KEY", "The key must be a non-empty string.")
    if len(key) > MAX_KEY_LENGTH:
        raise kvs_error("KEY_TOO_LONG", f"The key is {len(key)} characters; the maximum is {MAX_KEY_LENGTH}.")
    if not KEY_PATTERN.match(key):
        raise kvs_error("INVALID_KEY", f"The key {key!r} must match /^(?!\\s+$)[a-zA-Z0-9:._\\s-#]+$/.")
    return key


def encode_value(value: Any) -> str:
    if value is None:
        raise kvs_error("INVALID_VALUE", "The value must not be undefined or null.")
    depth = _depth(value, 0)
    if depth > MAX_DEPTH:
        raise kvs_error("MAX_DEPTH", f"The value is nested {depth} levels deep; the maximum is {MAX_DEPTH}.")
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise kvs_error("INVALID_VALUE", f"The value is not JSON: {error}.") from None
    size = len(text.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        raise kvs_error("MAX_SIZE", f"The value is {size} bytes; the maximum is {MAX_VALUE_BYTES} (240 KiB).", 413)
    return text


def _depth(value: Any, level: int) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list | tuple):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    if isinstance(value, float) and not math.isfinite(value):
        raise kvs_error("INVALID_VALUE", "The value holds NaN or Infinity, which JSON cannot carry.")
    return level


def units(size_bytes: int) -> int:
    """Forge's 2025 accounting: 10 KB units, rounded up, at least 1 per request."""
    return max(1, -(-size_bytes // UNIT_BYTES))


class Storage:
    def __init__(self, engine: Emulator) -> None:
        self.engine = engine
        # Hooks asked before each storage call is charged: (invocation, operation) -> None, or a
        # refusal message served as a 429 (fault injection, forgeq/emulator/faults.py).
        self.before_call: list[Callable[[Invocation, str], str | None]] = []

    def session(self, invocation: Invocation) -> StorageSession:
        return StorageSession(self.engine, invocation)

    def read(self, installation: str, space: int, key: str, now: float) -> KvRow | None:
        pending = self.engine.batch.kv_writes
        slot = (installation, space, key)
        row = pending[slot] if slot in pending else self.engine.store.kv_get(installation, space, key)
        if row is not None and row.expire_at is not None and row.expire_at <= now:
            return None
        return row

    def write(self, installation: str, space: int, key: str, text: str | None, now: float, expire_at: float | None = None) -> KvRow | None:
        """Buffer a write (None deletes); return the previous row."""
        previous = self.read(installation, space, key, now)
        if text is None:
            self.engine.batch.kv_writes[(installation, space, key)] = None
        else:
            created = previous.created_at if previous is not None else now
            self.engine.batch.kv_writes[(installation, space, key)] = KvRow(text, created, now, expire_at)
        return previous


class StorageSession:
    """KVS calls of one invocation: each is validated, charged to the quota, then served."""

    def __init__(self, engine: Emulator, invocation: Invocation) -> None:
        self.engine = engine
        self.invocation = invocation
        self.installation = invocation.installation

    def _charge(self, operation: str, size_bytes: int) -> float:
        invocation = self.invocation
        invocation.storage_calls += 1
        for hook in self.engine.storage.before_call:
            injected = hook(invocation, operation)
            if injected is not None:
                invocation.quota_refusals += 1
                raise kvs_error("RATE_LIMIT_EXCEEDED", injected, 429)
        at = invocation.now()
        refusal = self.engine.quota.charge(self.installation, operation, units(size_bytes), at)
        if refusal is not None:
            invocation.quota_refusals += 1
            raise kvs_error("RATE_LIMIT_EXCEEDED", refusal, 429)
        return at

    def get(self, key: str, space: int = PLAIN) -> Any:
        validate_key(key)
        at = self.invocation.now()
        row = self.engine.storage.read(self.installation, space, key, at)
        self._charge("read", len(row.value.encode()) if row else 0)
        return None if row is None else json.loads(row.value)

    def set(self, key: str, value: Any, space: int = PLAIN) -> None:
        validate_key(key)
        text = encode_value(value)
        at = self._charge("write", len(text.encode()))
        self.engine.storage.write(self.installation, space, key, text, at)

    def delete(self, key: str, space: int = PLAIN) -> None:
        validate_key(key)
        at = self._charge("delete", 0)
        self.engine.storage.write(self.installation, space, key, None, at)
