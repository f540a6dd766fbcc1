"""How handler code reaches the emulator: the invocation in progress, and sync/async SDK calls.

`forgeq.events`, `forgeq.kvs` and `forgeq.resolver` find the running emulator through
`current()`, as `@forge/api` finds the platform through a global. Outside an invocation (module
import time, a plain script) they raise ForgeRuntimeError.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Generator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from forgeq.emulator.invocation import Invocation

_current: ContextVar[Invocation | None] = ContextVar("forgeq_invocation", default=None)
_COROUTINE_FLAGS = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE

T = TypeVar("T")


class ForgeRuntimeError(RuntimeError):
    """An SDK call made where no Forge invocation is running."""


def current() -> Invocation:
    invocation = _current.get()
    if invocation is None:
        raise ForgeRuntimeError(
            "no Forge invocation is running: call forgeq.events / forgeq.kvs from a handler that "
            "`forgeq run` (or forgeq.testing) invokes, not at import time"
        )
    return invocation


def bind(invocation: Invocation | None) -> Any:
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
        if not sys._getframe(1).f_code.co_flags & _COROUTINE_FLAGS:
            return function(*args, **kwargs)
        try:
            return Completed(function(*args, **kwargs))
        except Exception as error:  # surfaces at `await`, like a rejected Promise
            pending = Completed(error=error)
            invocation = _current.get()
            if invocation is not None:  # never awaited: an unhandled rejection fails the attempt
                invocation.unawaited.append(pending)
            return pending

    return wrapper
