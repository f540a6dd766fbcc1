"""What handler code imports: a Python mirror of `@forge/resolver`.

    resolver = Resolver()

    @resolver.define("event-listener")
    def listener(request):          # request = {"payload": ..., "context": ...}
        ...

    handler = resolver.get_definitions()

The platform calls the definitions with `{"call": {"functionKey", "payload", "jobId"}, "context"}`
and the backend runtime payload; the defined function gets `{"payload": payload or {}, "context":
{...context, installContext, accountId, license, jobId, installation}}`, the last fields taken from
the runtime payload (accountId from its principal), as @forge/resolver 1.8 and 2.x do.
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

        def start(event: dict[str, Any], runtime_payload: Any) -> Any:
            call = event.get("call") or {}
            key = call.get("functionKey")
            function = functions.get(key) if isinstance(key, str) else None
            if function is None:
                raise ResolverError(f"Resolver has no definition for '{key}'.")
            return function({"payload": call.get("payload") or {}, "context": _context(event, call, runtime_payload)})

        async def definitions(event: dict[str, Any], backend_runtime_payload: Any = None) -> Any:
            result = start(event, backend_runtime_payload)
            if inspect.isawaitable(result):
                result = await result
            return _copied(result)

        def forge_call(event: dict[str, Any], backend_runtime_payload: Any = None) -> Any:
            """What forgeq's loop calls instead of `definitions`, with the same result: a plain
            function's at once (no event loop to spin per attempt), an async one's as a coroutine."""
            result = start(event, backend_runtime_payload)
            if result is not None and inspect.isawaitable(result):
                return _finish(result)
            return _copied(result)

        definitions.forge_resolver = True  # type: ignore[attr-defined]
        definitions.forge_call = forge_call  # type: ignore[attr-defined]
        return definitions

    getDefinitions = get_definitions  # noqa: N815 - Forge's own name


def _context(event: dict[str, Any], call: dict[str, Any], runtime_payload: Any) -> dict[str, Any]:
    """The definition's context, as @forge/resolver 1.8 and 2.x build it: the call's context, then
    what the backend runtime payload (the platform's second argument) says of the installation, the
    user (principal) and the license. Called without a payload (a test calling the handler
    directly), the call's context is kept as it is."""
    context = dict(event.get("context") or {})
    if isinstance(runtime_payload, dict):
        principal = runtime_payload.get("principal")
        context["installContext"] = runtime_payload.get("installContext")
        context["accountId"] = principal.get("accountId") if isinstance(principal, dict) else None
        context["license"] = runtime_payload.get("license")
        context["jobId"] = call.get("jobId")
        context["installation"] = runtime_payload.get("installation")
    else:
        context["jobId"] = call.get("jobId")
    return context


async def _finish(awaitable: Any) -> Any:
    return _copied(await awaitable)


def _copied(result: Any) -> Any:
    # The JS resolver deep-copies object results through JSON, so undefined fields vanish.
    if isinstance(result, dict) and not result.get("_retry"):
        return json.loads(json.dumps(result, default=str))
    return result


__all__ = ["Resolver", "ResolverError"]
