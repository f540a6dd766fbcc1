"""Which UI resolver function `forgeq invoke KEY` calls when the UI modules use several.

On Forge each UI module's frontend calls its own resolver, so `invoke('getSettings')` needs no
hint; forgeq, called from outside any module, finds the one function whose handler defines KEY.
The handlers are read as lint reads them (never imported or run): `@resolver.define("X")` and
`resolver.define("X", f)` in Python (linting/source.py), `resolver.define('X', ...)` and
`makeResolver({...})` in JavaScript and TypeScript, following the app's own imports and re-exports
(linting/javascript.py, linting/jsapp.py).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from forgeq.emulator import limits
from forgeq.emulator.app.manifest import (
    HANDLER_SUFFIXES,
    JS_SUFFIXES,
    Manifest,
    is_inside,
    resolve_handler_file,
)
from forgeq.emulator.errors import InputError
from forgeq.emulator.jsoninput import bounded_text
from forgeq.emulator.tools.linting import jsapp
from forgeq.emulator.tools.linting.source import SourceFile, bind_attribute, resolver_methods


@dataclass(frozen=True)
class Definitions:
    """The keys a function's resolver defines, as read; `complete` when the reading found every one."""

    keys: frozenset[str]
    complete: bool


def resolver_function(manifest: Manifest, key: str, function: str | None, module: str | None) -> str | None:
    """The resolver function to call for `invoke(key)`: `function` when given; with neither `function`
    nor `module`, the one UI resolver function that defines `key`, if the UI modules use several.

    None leaves the choice to the call (one function, or `module` names the module). InputError when
    several functions remain and the handlers do not single one out.
    """
    if function is not None or module is not None:
        return function
    functions = list(dict.fromkeys(ui.function for ui in manifest.ui_modules))
    if len(functions) < 2:
        return None
    read = definitions(manifest, functions)
    defining = [name for name in functions if key in read[name].keys]
    unread = [name for name in functions if key not in read[name].keys and not read[name].complete]
    if len(defining) == 1 and not unread:
        return defining[0]
    if len(defining) > 1:
        found = f"{_listed(defining)} each define '{key}'"
    elif defining:
        found = f"{defining[0]} defines '{key}', and {_listed(unread)} may too (not every key its resolver defines can be read)"
    elif unread:
        found = f"none of them defines '{key}' as read, but not every key of {_listed(unread)} can be read"
    else:
        found = f"none of them defines '{key}'"
    raise InputError(
        f"the UI modules' resolvers are {len(functions)} functions: {', '.join(functions)}; {found}",
        "say which function (or module) to call",
    )


def definitions(manifest: Manifest, functions: list[str]) -> dict[str, Definitions]:
    """What each of `functions` (keys in manifest.functions) defines, read from its handler module."""
    found: dict[str, Definitions] = {}
    scripts: list[str] = []
    for name in functions:
        path, _ = resolve_handler_file(manifest.app_dir, manifest.functions[name].module_path)
        if path is not None and path.suffix in JS_SUFFIXES:
            scripts.append(name)
        elif path is not None and path.suffix in HANDLER_SUFFIXES and is_inside(path, manifest.app_dir):
            found[name] = _python(path, manifest.functions[name].attribute)
        else:
            found[name] = Definitions(frozenset(), complete=False)
    if scripts:
        app = jsapp.read_app(manifest, str, lambda *_: None, functions=scripts)
        for name in scripts:
            handler = app.handlers.get(name)
            if handler is None or handler.syntax_error is not None:
                found[name] = Definitions(frozenset(), complete=False)
                continue
            keys, complete = jsapp.defined_keys(app, handler)
            # No define at all: the handler may be a plain function that answers every key itself.
            found[name] = Definitions(frozenset(keys), complete and bool(keys))
    return found


def _python(path: Path, attribute: str) -> Definitions:
    unknown = Definitions(frozenset(), complete=False)
    try:
        text = bounded_text(path, limits.MAX_SOURCE_BYTES)  # TooLarge is an OSError
        source = SourceFile(path, path.name, text, ast.parse(text, filename=str(path)))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError, RecursionError):
        return unknown
    binding = bind_attribute(source, attribute)
    # A resolver imported from another module (or a plain function) defines keys this file does not show.
    if binding is None or binding.resolver is None or binding.resolver not in source.module_values:
        return unknown
    methods, complete = resolver_methods(source, binding.resolver)
    return Definitions(frozenset(methods), complete)


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
