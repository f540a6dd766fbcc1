"""The port between handler code and the platform: the invocation in progress, and sync/async SDK calls.

`forgeq.events`, `forgeq.kvs` and `forgeq.resolver` find the platform through `current()`, as
`@forge/api` finds it through a global. The emulator's loop binds its invocation here for the
length of an attempt (`bind` / `unbind`); the SDK sees only the `Platform` protocol below, never
the loop, so the SDK imports nothing of the emulator's loop and the loop depends on the SDK only
for its public errors and validation. Outside an invocation (module import time, a plain script)
SDK calls raise ForgeRuntimeError.

This module imports nothing of forgeq: every other part may import it.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Generator
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

PLAIN = 0
SECRET = 1  # getSecret / setSecret / deleteSecret: never in a query, never shown by `inspect kvs`
# Where a key lives: PLAIN, SECRET, or the name of a custom entity (`kvs.entity(name)`).
Space = int | str

COROUTINE_FLAGS = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE

T = TypeVar("T")


class StorageSession(Protocol):
    """The key-value store as one invocation reaches it (served by forgeq.emulator.platform.storage)."""

    def get(self, key: Any, options: Any = None, space: Space = PLAIN) -> Any: ...

    def set(self, key: Any, value: Any, options: Any = None, space: Space = PLAIN) -> Any: ...

    def delete(self, key: Any, space: Space = PLAIN) -> None: ...

    def query(self, where: Any, cursor: Any, limit: Any, metadata_fields: Any) -> dict[str, Any]: ...

    def entity_query(self, request: Any) -> dict[str, Any]:
        """A query of a custom entity by index: the body of @forge/kvs's /api/v1/entity/query."""
        ...

    def transact(self, request: Any) -> None:
        """A transaction: the body of @forge/kvs's /api/v1/transaction."""
        ...

    def batch_set(self, items: Any) -> dict[str, Any]: ...

    def batch_get(self, items: Any) -> dict[str, Any]: ...

    def batch_delete(self, items: Any) -> dict[str, Any]: ...


class LegacyStorageSession(Protocol):
    """The legacy `storage` API of @forge/api as one invocation reaches it (platform/legacy_storage.py).

    Methods raise forgeq.api.storage.APIError."""

    def get(self, key: Any, encrypted: bool = False) -> Any: ...

    def set(self, key: Any, value: Any, encrypted: bool = False) -> None: ...

    def delete(self, key: Any, encrypted: bool = False) -> None: ...

    def list(self, where: Any = None, cursor: Any = None, limit: Any = None) -> dict[str, Any]: ...

    def entity_get(self, name: Any, key: Any) -> Any: ...

    def entity_set(self, name: Any, key: Any, value: Any) -> None: ...

    def entity_delete(self, name: Any, key: Any) -> None: ...

    def entity_list(self, request: dict[str, Any]) -> dict[str, Any]:
        """A page of an entity query by index: `{"results": [{key, value}], "nextCursor": str | None}`."""
        ...


class Platform(Protocol):
    """What handler code reaches in the invocation it runs in (the loop's Invocation implements it)."""

    installation: str
    event: int | None
    attempt: int
    notes: list[str]
    unawaited: list[Completed]

    @property
    def storage(self) -> StorageSession: ...

    @property
    def legacy_storage(self) -> LegacyStorageSession: ...

    def get_plain(self, key: str) -> Any:
        """`kvs.get(key)` with no options: storage.get, without its session's layers."""
        ...

    def set_plain(self, key: str, value: Any) -> None:
        """`kvs.set(key, value)` with no options: storage.set, without its session's layers."""
        ...

    def push(self, queue: Any, events: Any, job_id: str | None = None, *, texts: list[str] | None = None) -> str:
        """Publish events (`texts`: their JSON text, when the SDK wrote it); the new job's id.
        Raises PlatformRefusal for what the platform refuses."""
        ...

    def job_stats(self, queue: Any, job_id: Any) -> dict[str, int]: ...

    def cancel_job(self, queue: Any, job_id: Any) -> None: ...

    def seed(self) -> str:
        """The string this attempt's `random` is seeded with (the same for Python and JavaScript)."""
        ...

    def app_context(self, module_key: str) -> dict[str, Any]:
        """What `getAppContext()` of @forge/api reads: app, environment, installation, invocation."""
        ...

    def platform_request(self, call: dict[str, Any]) -> dict[str, Any]:
        """A request of Forge's own JavaScript packages, answered as the cloud answers it."""
        ...

    def product_request(self, target: dict[str, Any], path: str, method: str, body: str | None) -> dict[str, Any]:
        """A product request of the Python port (requestJira, requestConfluence, fetch): `target` as
        platform_request's call names it; the answer's body may come as a JSON value (`value`)."""
        ...

    def late(self, text: str) -> None:
        """What this invocation's leftover JavaScript work printed or tried after it ended (worker.cjs)."""
        ...


# The HTTP statuses the platform answers with, and their text (what `response.statusText` reads).
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
}


class PlatformRefusal(Exception):
    """The platform's answer to a request it refused: an HTTP status and the JSON body it sent.

    The platform's services raise it; each client turns it into what its package raises for that
    answer: forgeq.events as @forge/events' validators.js maps a response, and the platform's HTTP
    answers (emulator/platform/api.py) send it to the JavaScript packages as it is.
    """

    def __init__(self, status: int, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {STATUS_TEXT.get(status, '')}: {body}")
        self.status = status
        self.body: dict[str, Any] = body or {}

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.status, "")


_current: ContextVar[Platform | None] = ContextVar("forgeq_invocation", default=None)
BOUND = _current  # what bind() sets: the engine's per-attempt code sets and resets it without the call


class ForgeRuntimeError(RuntimeError):
    """An SDK call made where no Forge invocation is running."""


def current() -> Platform:
    invocation = _current.get()
    if invocation is None:
        raise ForgeRuntimeError(
            "no Forge invocation is running: call forgeq.events / forgeq.kvs from a handler that "
            "`forgeq run` (or forgeq.testing) invokes, not at import time"
        )
    return invocation


def bound() -> Platform | None:
    """The invocation in progress, or None (forgeq's guards ask whether handler code is running)."""
    return _current.get()


def bind(invocation: Platform | None) -> Any:
    return _current.set(invocation)


def unbind(token: Any) -> None:
    _current.reset(token)


class Completed:
    """An already-settled awaitable: what an SDK call returns inside `async def` code.

    In JavaScript every Forge SDK call returns a Promise; here the call runs at once and, when the
    caller is a coroutine, its result is handed back as an awaitable, so `await kvs.get(k)` works
    in `async def` handlers and `kvs.get(k)` works in plain ones.
    """

    __slots__ = ("_value", "_error", "awaited")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value = value
        self._error = error
        self.awaited = False

    def __await__(self) -> Generator[Any, None, Any]:
        self.awaited = True
        if self._error is not None:
            raise self._error
        return self._value
        yield  # pragma: no cover - makes this a generator

    def __repr__(self) -> str:
        return f"<forgeq pending result: add `await` to get {self._value!r}>"


def sdk_call(function: Callable[..., T]) -> Callable[..., T]:
    """Return the result directly to plain code, and as an awaitable to coroutine code."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not sys._getframe(1).f_code.co_flags & COROUTINE_FLAGS:
            return function(*args, **kwargs)
        return awaitable(function, *args, **kwargs)

    return wrapper


def awaitable(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Completed:
    """What an SDK call returns to coroutine code: `function(*args, **kwargs)` settled, as an awaitable."""
    try:
        return Completed(function(*args, **kwargs))
    except Exception as error:  # surfaces at `await`, like a rejected Promise
        pending = Completed(error=error)
        invocation = _current.get()
        if invocation is not None:  # never awaited: an unhandled rejection fails the attempt
            invocation.unawaited.append(pending)
        return pending
