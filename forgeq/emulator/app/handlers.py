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
from pathlib import Path
from typing import Any

from forgeq.emulator import limits
from forgeq.emulator.app import sandbox
from forgeq.emulator.app.manifest import JS_SUFFIXES, Function, Manifest, is_inside, resolve_handler_file
from forgeq.emulator.errors import HandlerLoadError
from forgeq.emulator.safetext import safe_text
from forgeq.jsontext import escape_surrogates

PACKAGE = "_forgeq_app"


class LoadedHandler:
    # A plain class, not a dataclass: every run imports this module, and a dataclass costs the
    # import a generated __init__, __eq__ and __repr__ (bench/README.md, Round 4).
    __slots__ = ("function", "file", "call")

    def __init__(self, function: Function, file: Path, call: Callable[..., Any]) -> None:
        self.function = function
        self.file = file
        self.call = call


class Handlers:
    """The handler callable of every function in a manifest, or why it cannot be loaded."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.loaded: dict[str, LoadedHandler] = {}
        self.errors: dict[str, HandlerLoadError] = {}
        self._modules: dict[Path, types.ModuleType] = {}
        self._bridge: Any = None  # bridge.Bridge: the Node.js worker of JavaScript handlers, once one loads
        self.load_notes: list[str] = []  # what the guards left out while modules loaded (sandbox.py)
        self.skip: dict[Path, str] = {}  # modules not to import, each with the reason (loop/loads.py)
        # Around each Python module's import: the engine marks it in the flight log, so a load that
        # kills the process is known at the next start (Emulator.start).
        self.before_import: Callable[[Path], None] = _nothing
        self.after_import: Callable[[Path], None] = _nothing

    @property
    def warnings(self) -> list[str]:
        """Loaded, but worth saying (a local Node.js newer than app.runtime.name, a guard's note)."""
        return (list(self._bridge.warnings) if self._bridge is not None else []) + self.load_notes

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
        if file in self.skip:
            raise HandlerLoadError(f"{where}: {self.skip[file]}", "fix the module; a change to any of the app's Python files lets forgeq try it again")
        if file.suffix in JS_SUFFIXES:  # runs on Node.js, in the bridge's worker (bridge.py)
            from forgeq.emulator.app.bridge import Bridge

            if self._bridge is None:
                self._bridge = Bridge(self.manifest)
            return LoadedHandler(function, file, self._bridge.load(function, file, where))
        module = self._modules.get(file) or self._import(file, where)
        try:
            call = vars(module)[function.attribute]  # the module's own names: not what every module inherits
        except KeyError:
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
        self.before_import(file)
        sandbox.loading = True  # its top level is handler code: the guards answer it (sandbox.py)
        try:
            spec.loader.exec_module(module)
            sandbox.exit_if_forked()
            refused = self._settle_guards(file)
            if refused is not None:  # it caught ProcessExit and went on: still a module that would not load
                del sys.modules[name]
                raise HandlerLoadError(f"{where}: importing {app_path(str(file))}: {refused}")
        except HandlerLoadError:
            raise
        except SyntaxError as error:
            del sys.modules[name]
            location = f"{app_path(error.filename or str(file))}:{error.lineno}" if error.lineno else app_path(str(file))
            source = f" in `{error.text.strip()}`" if error.text and error.text.strip() else ""
            raise HandlerLoadError(f"{where}: {location}: SyntaxError: {error.msg}{source}", "fix the file; --watch reloads it") from None
        except BaseException as error:  # the module's top level ran user code; anything can come out
            sandbox.exit_if_forked()
            sandbox.settle()  # what a guard refused is this error; its notes would only repeat it
            sys.modules.pop(name, None)
            raise HandlerLoadError(f"{where}: importing {app_path(str(file))} failed: {safe_text(describe_exception(error, file), limits.MAX_ERROR_TEXT_CHARS)}") from None
        finally:
            sandbox.loading = False
            self.after_import(file)
        self._modules[file] = module
        return module

    def _settle_guards(self, file: Path) -> str | None:
        if not sandbox.tripped:
            return None
        refused, noted = sandbox.settle()
        self.load_notes.extend(f"{file.relative_to(self.manifest.app_dir)}: {note}" for note in noted)
        return refused


def _nothing(file: Path) -> None:
    pass


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
