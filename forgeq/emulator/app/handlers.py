"""Loading handler modules: `handler: index.handler` is attribute `handler` of `src/index.py`.

Modules are loaded from their file under a private package name (`_forgeq_app.<path>`), never by
putting `src/` first on `sys.path`, so an app's `src/json.py` cannot shadow what forgeq imports.
The app's folders go at the *end* of `sys.path`, so its modules can still import each other.
Only `forgeq run` (and the testing API) load handlers; `push`, `inspect` and `lint` never do.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import traceback
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgeq.emulator.app.manifest import JS_SUFFIXES, Function, Manifest, is_inside, resolve_handler_file
from forgeq.emulator.errors import HandlerLoadError
from forgeq.jsontext import escape_surrogates

PACKAGE = "_forgeq_app"


@dataclass
class LoadedHandler:
    function: Function
    file: Path
    call: Callable[..., Any]


class Handlers:
    """The handler callable of every function in a manifest, or why it cannot be loaded."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.loaded: dict[str, LoadedHandler] = {}
        self.errors: dict[str, HandlerLoadError] = {}
        self._modules: dict[Path, types.ModuleType] = {}
        self._bridge: Any = None  # bridge.Bridge: the Node.js worker of JavaScript handlers, once one loads

    @property
    def warnings(self) -> list[str]:
        """Loaded, but worth saying (a local Node.js newer than app.runtime.name)."""
        return list(self._bridge.warnings) if self._bridge is not None else []

    def load_all(self, keys: Iterable[str] | None = None) -> None:
        """Load the functions `keys` (default: every function); a failure is kept in `errors`."""
        # Python handlers share forgeq's process, so a user variable is set in it for them to read.
        os.environ.update(user_variables(os.environ))
        self._ensure_package()
        for key, function in self.manifest.functions.items():
            if keys is not None and key not in keys:
                continue
            try:
                self.loaded[key] = self._load(function)
                self.errors.pop(key, None)
            except HandlerLoadError as error:
                self.errors[key] = error
                self.loaded.pop(key, None)

    def load(self, key: str) -> LoadedHandler:
        """The function's handler, loaded now if it was not (a web trigger's, a UI resolver's)."""
        if key not in self.loaded:
            self.load_all([key])
        if key in self.errors:
            raise self.errors[key]
        return self.loaded[key]

    def get(self, function_key: str) -> LoadedHandler | None:
        return self.loaded.get(function_key)

    def unload(self) -> None:
        """Forget every module loaded from the app folder, so the next load reads the files again."""
        app_dir = str(self.manifest.app_dir)
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if name.startswith(PACKAGE + ".") or (file and file.startswith(app_dir) and not name.startswith("forgeq")):
                del sys.modules[name]
        self._modules.clear()
        self.loaded.clear()
        self.errors.clear()
        self.close()

    def close(self) -> None:
        """Stop the Node.js worker, if JavaScript handlers started one."""
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None

    def _ensure_package(self) -> None:
        if PACKAGE not in sys.modules:
            package = types.ModuleType(PACKAGE)
            package.__path__ = []
            sys.modules[PACKAGE] = package
        for folder in (self.manifest.app_dir / "src", self.manifest.app_dir):
            text = str(folder)
            if folder.is_dir() and text not in sys.path:
                sys.path.append(text)

    def _load(self, function: Function) -> LoadedHandler:
        app_dir = self.manifest.app_dir
        file, looked = resolve_handler_file(app_dir, function.module_path)
        where = f"function '{function.key}' (handler {function.handler})"
        if file is None:
            names = ", ".join(str(p.relative_to(app_dir)) for p in looked if p.suffix == ".py")
            raise HandlerLoadError(f"{where}: no file {names}", "create it, or fix `handler` in the manifest")
        if not is_inside(file, app_dir):
            raise HandlerLoadError(f"{where}: {file} resolves outside the app folder {app_dir}")
        if file.suffix in JS_SUFFIXES:  # runs on Node.js, in the bridge's worker (bridge.py)
            from forgeq.emulator.app.bridge import Bridge

            if self._bridge is None:
                self._bridge = Bridge(self.manifest)
            return LoadedHandler(function, file, self._bridge.load(function, file, where))
        module = self._modules.get(file) or self._import(file, where)
        try:
            call = getattr(module, function.attribute)
        except AttributeError:
            raise HandlerLoadError(
                f"{where}: {file.relative_to(app_dir)} has no attribute '{function.attribute}'",
                f"define `{function.attribute}` in it, or fix `handler` in the manifest",
            ) from None
        if not callable(call):
            raise HandlerLoadError(f"{where}: {file.relative_to(app_dir)}:{function.attribute} is not callable")
        return LoadedHandler(function, file, call)

    def _import(self, file: Path, where: str) -> types.ModuleType:
        relative = file.relative_to(self.manifest.app_dir).with_suffix("")
        name = PACKAGE + "." + ".".join(part.replace("-", "_") for part in relative.parts)
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise HandlerLoadError(f"{where}: cannot load {file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except SyntaxError as error:
            del sys.modules[name]
            location = f"{app_path(error.filename or str(file))}:{error.lineno}" if error.lineno else app_path(str(file))
            source = f" in `{error.text.strip()}`" if error.text and error.text.strip() else ""
            raise HandlerLoadError(f"{where}: {location}: SyntaxError: {error.msg}{source}", "fix the file; --watch reloads it") from None
        except BaseException as error:  # the module's top level ran user code; anything can come out
            del sys.modules[name]
            raise HandlerLoadError(f"{where}: importing {app_path(str(file))} failed: {describe_exception(error, file)}") from None
        self._modules[file] = module
        return module


def describe_exception(error: BaseException, near: Path | None = None) -> str:
    """`KeyError: 'x' (src/index.py:12)`: the exception and the innermost frame in the app's code,
    its path from the app's folder (where manifest.yml is), as an editor's "go to file" takes it."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    frames = traceback.extract_tb(error.__traceback__)
    app_frames = [f for f in frames if "/forgeq/" not in f.filename.replace("\\", "/") or (near and f.filename.startswith(str(near.parent)))]
    if app_frames:
        last = app_frames[-1]
        text += f" ({app_path(last.filename)}:{last.lineno})"
    return escape_surrogates(text)  # a lone surrogate in a message would not encode to the state file


@functools.lru_cache(maxsize=256)
def app_path(filename: str) -> str:
    """`src/index.py` for a file of the app whose manifest.yml is in an enclosing folder; else its name."""
    path = Path(filename)
    for folder in path.parents:
        if (folder / "manifest.yml").is_file():
            return path.relative_to(folder).as_posix()
    return path.name


USER_VARIABLE_PREFIX = "FORGE_USER_VAR_"


def user_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """`FORGE_USER_VAR_X=v` as `X=v`, as `forge tunnel` passes the app's variables to its functions."""
    return {name[len(USER_VARIABLE_PREFIX) :]: value for name, value in environ.items() if name.startswith(USER_VARIABLE_PREFIX) and len(name) > len(USER_VARIABLE_PREFIX)}
