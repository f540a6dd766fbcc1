"""What handler code imports: a Python mirror of `@forge/resolver`.

    resolver = Resolver()

    @resolver.define("event-listener")
    def listener(request):          # request = {"payload": ..., "context": ...}
        ...

    handler = resolver.get_definitions()

The platform calls the definitions with `{"call": {"functionKey", "payload", "jobId"}, "context"}`;
the defined function gets `{"payload": payload or {}, "context": {...context, "jobId": ...}}`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any


class ResolverError(Exception):
    pass


class Resolver:
    def __init__(self) -> None:
        self.functions: dict[str, Callable[..., Any]] = {}

    def define(self, key: str, function: Callable[..., Any] | None = None) -> Any:
        """`resolver.define("key", fn)`, or `@resolver.define("key")` as a decorator."""
        if function is None:
            def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
                self.define(key, fn)
                return fn

            return decorator
        if key in self.functions:
            raise ResolverError(f"Resolver definition '{key}' already exists.")
        self.functions[key] = function
        return self

    def get_definitions(self) -> Callable[..., Any]:
        functions = self.functions

        def start(event: dict[str, Any]) -> Any:
            call = event.get("call") or {}
            key = call.get("functionKey")
            function = functions.get(key) if isinstance(key, str) else None
            if function is None:
                raise ResolverError(f"Resolver has no definition for '{key}'.")
            context = {**(event.get("context") or {}), "jobId": call.get("jobId")}
            return function({"payload": call.get("payload") or {}, "context": context})

        async def definitions(event: dict[str, Any], backend_runtime_payload: Any = None) -> Any:
            result = start(event)
            if inspect.isawaitable(result):
                result = await result
            return _copied(result)

        def forge_call(event: dict[str, Any], backend_runtime_payload: Any = None) -> Any:
            """What forgeq's loop calls instead of `definitions`, with the same result: a plain
            function's at once (no event loop to spin per attempt), an async one's as a coroutine."""
            result = start(event)
            if result is not None and inspect.isawaitable(result):
                return _finish(result)
            return _copied(result)

        definitions.forge_resolver = True  # type: ignore[attr-defined]
        definitions.forge_call = forge_call  # type: ignore[attr-defined]
        return definitions

    getDefinitions = get_definitions  # noqa: N815 - Forge's own name


async def _finish(awaitable: Any) -> Any:
    return _copied(await awaitable)


def _copied(result: Any) -> Any:
    # The JS resolver deep-copies object results through JSON, so undefined fields vanish.
    if isinstance(result, dict) and not result.get("_retry"):
        return json.loads(json.dumps(result, default=str))
    return result


__all__ = ["Resolver", "ResolverError"]
