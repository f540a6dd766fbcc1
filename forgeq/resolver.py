"""What handler code imports: a Python mirror of `@forge/resolver`.

    resolver = Resolver()

    @resolver.define("event-listener")
    def listener(request):          # request = {"payload": ..., "context": ...}
        ...

    handler = resolver.get_definitions()

The platform calls the definitions with `({"call": {"functionKey", "payload", "jobId"}, "context"},
backend_runtime_payload)`; as @forge/resolver 2.x does, the defined function gets `{"payload": payload
|| {}, "context": {...context, installContext, accountId, license, jobId, installation}}` (the last five
from the backend runtime payload) and an object it returns goes through JSON.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from forgeq.jsontext import through_json
from forgeq.jsvalues import to_string, truthy, typeof


class ResolverError(Exception):
    """What @forge/resolver throws: a plain JavaScript Error, so it is named Error (on the timeline too)."""


ResolverError.__name__ = ResolverError.__qualname__ = "Error"


# Object.prototype's properties: `key in this.functions` finds them in every resolver (Node.js 20).
_INHERITED = frozenset(
    [
        "constructor",
        "__defineGetter__",
        "__defineSetter__",
        "hasOwnProperty",
        "__lookupGetter__",
        "__lookupSetter__",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toString",
        "valueOf",
        "__proto__",
        "toLocaleString",
    ]
)
_MISSING: Any = object()


class Resolver:
    def __init__(self) -> None:
        self.functions: dict[str, Callable[..., Any]] = {}

    def define(self, key: Any = None, function: Any = _MISSING, *_: Any) -> Any:
        """`resolver.define("key", fn)`, or `@resolver.define("key")` as a decorator."""
        if function is _MISSING:

            def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
                self.define(key, fn)
                return fn

            return decorator
        if not callable(function):
            raise ResolverError(
                f"Resolver definition '{to_string(key)}' callback must be a 'function'. Received '{typeof(function)}'."
            )
        name = to_string(key)  # a JavaScript object's keys are strings: 1 and "1" are one key
        if name in self.functions or name in _INHERITED:
            raise ResolverError(f"Resolver definition '{name}' already exists.")
        self.functions[name] = function
        return self

    def get_function(self, key: Any = None, *_: Any) -> Callable[..., Any]:
        """The function defined for `key`; ResolverError "Resolver has no definition for 'x'." if none."""
        name = to_string(key)
        function = self.functions.get(name)
        if function is None:
            if name in _INHERITED:  # JavaScript finds Object.prototype's function, which fails when called
                return _inherited(name)
            raise ResolverError(f"Resolver has no definition for '{name}'.")
        return function

    def get_definitions(self) -> Callable[..., Any]:
        get_function = self.get_function

        def start(event: dict[str, Any], backend_runtime_payload: Any) -> Any:
            call = event.get("call") or {}
            function = get_function(call.get("functionKey"))
            payload = call.get("payload")
            return function(
                {
                    "payload": payload if truthy(payload) else {},
                    "context": _context(event, call, backend_runtime_payload),
                }
            )

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

    getDefinitions = get_definitions  # noqa: N815 - Forge's own names
    getFunction = get_function  # noqa: N815


def make_resolver(handlers: dict[str, Callable[..., Any]]) -> Callable[..., Any]:
    """`makeResolver({key: fn, ...})`: a Resolver with each defined, its definitions."""
    resolver = Resolver()
    for key, function in handlers.items():
        resolver.define(key, function)
    return resolver.get_definitions()


makeResolver = make_resolver


def _context(event: dict[str, Any], call: dict[str, Any], backend: Any) -> dict[str, Any]:
    """`{...context, installContext, accountId, license, jobId, installation}` as @forge/resolver 1.8 and
    2.x build it, the last five from the backend runtime payload (accountId from its principal); what
    JavaScript would leave undefined is left out."""
    context = dict(event.get("context") or {})
    if not isinstance(
        backend, dict
    ):  # called without one (a test calling the handler directly): the context as it is
        return {**context, "jobId": call.get("jobId")}
    principal = backend.get("principal")
    added = {
        "installContext": backend.get("installContext"),
        "accountId": principal.get("accountId") if isinstance(principal, dict) else None,
        "license": backend.get("license"),
        "jobId": call.get("jobId"),
        "installation": backend.get("installation"),
    }
    for name, value in added.items():
        context.pop(name, None)  # JavaScript's spread overwrites it, with undefined if need be
        if value is not None:
            context[name] = value
    return context


def _inherited(name: str) -> Callable[..., Any]:
    def inherited(request: Any) -> Any:
        raise TypeError(f"Object.prototype.{name} called as a resolver function")

    return inherited


async def _finish(awaitable: Any) -> Any:
    return _copied(await awaitable)


def _copied(result: Any) -> Any:
    """`typeof result === 'object'` results go through JSON (sanitizeObject): undefined fields vanish,
    NaN is null, a cycle throws its TypeError; an InvocationError is the plain object it stands for."""
    if isinstance(result, dict | list | tuple) or callable(getattr(result, "toJSON", None)):
        return through_json(result, default=str)
    return result


__all__ = ["Resolver", "ResolverError", "makeResolver", "make_resolver"]
