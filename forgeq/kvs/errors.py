"""The errors of `@forge/kvs`: ForgeKvsError on the client, ForgeKvsAPIError as the API answers."""

from __future__ import annotations

from typing import Any

from forgeq.jsontext import stringify
from forgeq.runtime import STATUS_TEXT


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
        self._http_path = http_path
        self._details: dict[str, Any] | None = None

    @property
    def response_details(self) -> dict[str, Any]:
        """Made when first read: a handler that catches a 429 and moves on never reads it."""
        if self._details is None:
            self._details = {
                "status": self.status,
                "statusText": STATUS_TEXT.get(self.status, ""),
                "traceId": None,
                "httpMethod": "POST",
                "httpPath": self._http_path,
                # The length (in UTF-16 units, JavaScript's) of the `{code, message}` body the platform answers.
                "responseBodyLength": len(stringify({"code": self.code, "message": self.message}).encode("utf-16-le")) // 2,
            }
        return self._details

    @property
    def responseDetails(self) -> dict[str, Any]:  # noqa: N802 - Forge's own name
        return self.response_details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
