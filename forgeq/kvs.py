"""What handler code imports: a Python mirror of `@forge/kvs`.

    from forgeq.kvs import kvs

    kvs.set("issue-DEMO-1", {"status": "new"})
    kvs.get("issue-DEMO-1")        # {'status': 'new'}; None when missing (undefined in JS)
    kvs.delete("issue-DEMO-1")     # idempotent

Failures raise ForgeKvsAPIError with Forge's `code` and an HTTP-like `status` (429 with
RATE_LIMIT_EXCEEDED over the storage quota). In `async def` code every call is awaitable.
"""

from __future__ import annotations

from typing import Any

from forgeq.emulator.runtime import current, sdk_call


class ForgeKvsError(Exception):
    """A client-side error of @forge/kvs (a bad argument caught before any request)."""


class ForgeKvsAPIError(Exception):
    """An error answered by the KVS API: `.code`, `.message`, `.status`, `.response_details`."""

    def __init__(self, code: str, message: str, status: int = 400, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.context = context or {}
        self.response_details = {"status": status, "statusText": _STATUS_TEXT.get(status, "")}

    @property
    def responseDetails(self) -> dict[str, Any]:  # noqa: N802 - Forge's own name
        return self.response_details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


_STATUS_TEXT = {400: "Bad Request", 404: "Not Found", 409: "Conflict", 413: "Payload Too Large", 429: "Too Many Requests"}


class KVS:
    @sdk_call
    def get(self, key: str) -> Any:
        return current().storage.get(key)

    @sdk_call
    def set(self, key: str, value: Any) -> None:
        current().storage.set(key, value)

    @sdk_call
    def delete(self, key: str) -> None:
        current().storage.delete(key)


kvs = KVS()

__all__ = ["KVS", "ForgeKvsAPIError", "ForgeKvsError", "kvs"]
