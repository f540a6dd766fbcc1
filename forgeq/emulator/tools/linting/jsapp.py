"""`forgeq lint` for a JavaScript or TypeScript app: its handler modules, what they import, its
package.json and the @forge packages installed in node_modules.

The files read are the handler modules the manifest names and the app's modules they import
(`./util`), at most MAX_FILES; node_modules is never read as code, only each package's
package.json. The checks are the JavaScript forms of the Python ones (FQ003-FQ005, FQ101,
FQ301-FQ302, FQ501-FQ502) and the JavaScript app's own (FQ006, FQ601-FQ604).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from forgeq.emulator import limits
from forgeq.emulator.app import packages as npm
from forgeq.emulator.app.manifest import JS_SUFFIXES, Manifest, is_inside, resolve_handler_file
from forgeq.emulator.jsoninput import bounded_bytes
from forgeq.emulator.tools.linting.javascript import (
    LEGACY_STORAGE_NAMES,
    At,
    JsSource,
    read,
    resolve_relative,
)
from forgeq.emulator.tools.linting.storage import UNNAMED_CHECK, undeclared_entity

MAX_FILES = 200
MAX_SOURCE_BYTES = limits.MAX_SOURCE_BYTES
QUEUE_KEY = re.compile(r"^[a-zA-Z0-9_-]+$")
LEGACY_RUNTIMES = (None, "sandbox")
STORAGE_REMOVED_IN = 8  # @forge/api 8.0.0 removed `storage` (its index.js has no storage export)

# (code, file, line, column, message)
Report = Callable[[str, str, int | None, int | None, str], None]


@dataclass
class JsApp:
    """What lint read of a JavaScript app."""

    sources: dict[Path, JsSource]
    handlers: dict[str, JsSource]  # function key -> its handler module
    files: list[str]


def uses_javascript(manifest: Manifest) -> bool:
    return any(
        (found := resolve_handler_file(manifest.app_dir, f.module_path)[0]) is not None and found.suffix in JS_SUFFIXES
        for f in manifest.functions.values()
    )


def read_app(
    manifest: Manifest, display: Callable[[Path], str], report: Report, functions: Iterable[str] | None = None
) -> JsApp:
    """Read the JS handler modules of `manifest` (of `functions` only, when given) and the app modules they import."""
    app_dir = manifest.app_dir
    sources: dict[Path, JsSource] = {}
    handlers: dict[str, JsSource] = {}
    pending: list[Path] = []
    by_function: dict[str, Path] = {}
    wanted = manifest.functions if functions is None else {key: manifest.functions[key] for key in functions}
    for key, function in wanted.items():
        found, _ = resolve_handler_file(app_dir, function.module_path)
        if found is not None and found.suffix in JS_SUFFIXES and is_inside(found, app_dir):
            by_function[key] = found.resolve()
            pending.append(found.resolve())
    while pending and len(sources) < MAX_FILES:
        path = pending.pop(0)
        if path in sources or "node_modules" in path.parts:
            continue
        source = _read(path, display(path), report)
        if source is None:
            continue
        sources[path] = source
        for imported in source.imports:
            if imported.module.startswith("."):
                target = resolve_relative(path, imported.module)
                if target is not None and is_inside(target, app_dir) and target.suffix in (*JS_SUFFIXES, ".mts", ".cts"):
                    pending.append(target.resolve())
    for key, path in by_function.items():
        if path in sources:
            handlers[key] = sources[path]
    return JsApp(sources, handlers, [s.name for s in sources.values()])


def _read(path: Path, name: str, report: Report) -> JsSource | None:
    try:
        raw = bounded_bytes(path, MAX_SOURCE_BYTES)
    except OSError as error:
        report("FQ003", name, None, None, f"cannot be read: {error.strerror}")
        return None
    if len(raw) > MAX_SOURCE_BYTES:
        report("FQ003", name, None, None, f"is over {MAX_SOURCE_BYTES // 1024 // 1024} MB; not a handler module lint will read")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        report("FQ003", name, None, None, f"is not UTF-8 text (byte {error.start})")
        return None
    source = read(path, name, text)
    if source.syntax_error is not None:
        at = source.syntax_error
        report("FQ003", name, at.line, at.column, "SyntaxError: the module does not parse here: it cannot be loaded")
    return source


def check_app(manifest: Manifest, app: JsApp, manifest_name: str, report: Report, display: Callable[[Path], str]) -> None:
    if manifest.runtime in LEGACY_RUNTIMES:
        what = "no `app.runtime.name`" if manifest.runtime is None else "`app.runtime.name: sandbox`"
        report(
            "FQ006", manifest_name, manifest.lines.get("app.runtime", manifest.lines.get("app")), None,
            f"{what}: the app runs on the legacy sandbox runtime, which Forge stopped running on 28 February 2025",
        )  # fmt: skip
    _check_handlers(manifest, app, manifest_name, report)
    for source in app.sources.values():
        for at in source.thrown_invocation_errors:
            report(
                "FQ101", source.name, at.line, at.column,
                "`throw new InvocationError(...)`: a thrown InvocationError is an app-level error, its retryAfter is ignored; "
                "`return new InvocationError(...)`",
            )  # fmt: skip
        for key, at in source.queues:
            _check_queue(manifest, source, key, at, report)
        _check_storage(manifest, source, report)
    packages = Packages.of(manifest.app_dir)
    _check_imports(app, packages, report)
    _check_legacy_storage(app, packages, report)
    _check_versions(manifest, packages, report, display)


def _check_handlers(manifest: Manifest, app: JsApp, manifest_name: str, report: Report) -> None:
    functions = list(manifest.functions)
    for key, source in app.handlers.items():
        function = manifest.functions[key]
        if function.attribute in source.exports or source.exports_unknown or "default" in source.exports:
            continue  # a default export may be the object holding it (module.exports of a bundle)
        report(
            "FQ004", manifest_name, manifest.lines.get(f"modules.function[{functions.index(key)}].handler", function.line), None,
            f"function '{key}' (handler {function.handler}) names `{function.attribute}`, which {source.name} does not export: "
            "every invocation fails",
        )  # fmt: skip
    for consumer in manifest.consumers:
        handler = app.handlers.get(consumer.function)
        if consumer.method is None or handler is None:
            continue
        defines, complete = defined_keys(app, handler)
        if consumer.method not in defines and complete:
            known = ", ".join(sorted(defines)) or "none"
            report(
                "FQ005", manifest_name, consumer.line, None,
                f"consumer '{consumer.key}' calls method '{consumer.method}', which {handler.name}'s resolver does not define "
                f"(it defines: {known}): every delivery throws `Resolver has no definition for '{consumer.method}'.`",
            )  # fmt: skip


def defined_keys(app: JsApp, source: JsSource) -> tuple[set[str], bool]:
    """The resolver keys defined in `source` and the app modules it imports; False if one cannot be read."""
    seen: set[Path] = set()
    keys: set[str] = set()
    complete = True
    stack: list[JsSource] = [source]
    while stack:
        current = stack.pop()
        if current.path in seen:
            continue
        seen.add(current.path)
        keys.update(current.defines)
        complete = complete and not current.defines_unknown
        for found in current.imports:
            target = resolve_relative(current.path, found.module) if found.module.startswith(".") else None
            if target is not None and target.resolve() in app.sources:
                stack.append(app.sources[target.resolve()])
    return keys, complete


def _check_queue(manifest: Manifest, source: JsSource, key: str, at: At, report: Report) -> None:
    if not QUEUE_KEY.match(key):
        report("FQ302", source.name, at.line, at.column, f"queue key '{key}' throws InvalidQueueNameError: only letters, digits, '-' and '_' are allowed")
    elif manifest.consumer_for(key) is None:
        known = ", ".join(manifest.queues) or "none"
        report("FQ301", source.name, at.line, at.column, f"queue '{key}' has no consumer in the manifest (its queues: {known}): pushed events are never processed")


def _check_storage(manifest: Manifest, source: JsSource, report: Report) -> None:
    """FQ501 and FQ502 as for Python (linting/storage.py): an entity the manifest does not declare, named
    through `kvs.entity('x')` (or the legacy `storage.entity('x')`) or an `entityName` of a transaction's
    operation or a batch item; a transaction check without an entityName."""
    kvs_names = set(source.imported("@forge/kvs"))
    storage_names = {local for local, imported in source.imported("@forge/api").items() if imported in ("storage", "default", "*")}
    if not kvs_names and not storage_names:
        return
    for receiver, name, what, at in source.entities:
        if name in manifest.entities or receiver not in kvs_names | storage_names:
            continue
        report("FQ501", source.name, at.line, at.column, undeclared_entity(manifest, what))
    for receiver, at in source.unnamed_checks:
        if receiver in kvs_names:
            report("FQ502", source.name, at.line, at.column, UNNAMED_CHECK)


@dataclass
class Packages:
    """The app's package.json (what it declares) and the @forge copies npm installed (app/packages.py)."""

    declared: dict[str, str]  # name -> the version range declared
    copies: list[npm.Package]  # every copy, nested ones too
    package_json: Path | None
    lines: dict[str, int]  # name -> its line in package.json

    @property
    def installed(self) -> dict[str, str]:
        """name -> the version at node_modules/<name>, the copy the app's own imports get."""
        return {copy.name: copy.version for copy in self.copies if copy.owner is None}

    @classmethod
    def of(cls, app_dir: Path) -> Packages:
        path = app_dir / "package.json"
        declared: dict[str, str] = {}
        lines: dict[str, int] = {}
        found: Path | None = None
        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text)
            found = path
        except (OSError, UnicodeDecodeError, ValueError):
            data, text = {}, ""
        if isinstance(data, dict):
            for section in ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies"):
                entries = data.get(section)
                if isinstance(entries, dict):
                    for name, spec in entries.items():
                        declared.setdefault(str(name), str(spec))
        for number, line in enumerate(text.splitlines(), 1):
            match = re.match(r'\s*"(@forge/[^"]+)"\s*:', line)
            if match:
                lines.setdefault(match.group(1), number)
        return cls(declared, npm.installed(app_dir), found, lines)


def _major(version: str | None) -> int | None:
    match = re.match(r"^\D*(\d+)", version or "")
    return int(match.group(1)) if match else None


def package_name(module: str) -> str | None:
    """`@forge/api` for '@forge/api' and '@forge/api/out/x'; None for what is not a @forge package."""
    if not module.startswith("@forge/"):
        return None
    return "/".join(module.split("/")[:2])


def _check_imports(app: JsApp, packages: Packages, report: Report) -> None:
    reported: set[str] = set()
    for source in app.sources.values():
        for found in source.imports:
            name = package_name(found.module)
            if name is None or name in packages.declared or name in reported:
                continue
            reported.add(name)
            where = "package.json" if packages.package_json is not None else "a package.json (there is none)"
            if name in packages.installed:
                report(
                    "FQ601", source.name, found.at.line, found.at.column,
                    f"'{name}' is imported but not declared in {where}: it is installed ({packages.installed[name]}) only "
                    "because another package needs it, and its version can change under you",
                )  # fmt: skip
            else:
                report(
                    "FQ601", source.name, found.at.line, found.at.column,
                    f"'{name}' is imported but not declared in {where} nor installed: the module cannot load "
                    f"(Cannot find module '{found.module}'); `npm install {name}`",
                )  # fmt: skip


def _check_legacy_storage(app: JsApp, packages: Packages, report: Report) -> None:
    version = packages.installed.get("@forge/api") or packages.declared.get("@forge/api")
    removed = (_major(version) or 0) >= STORAGE_REMOVED_IN
    for source in app.sources.values():
        uses: list[tuple[str, At]] = []
        for found in source.imports:
            if package_name(found.module) == "@forge/api":
                uses.extend((f"`{imported}` from '@forge/api'", found.at) for imported in found.names.values() if imported in LEGACY_STORAGE_NAMES)
        api_names = {local for local, imported in source.imported("@forge/api").items() if imported in ("default", "*")}
        uses.extend((f"`{what}`", at) for what, at in source.legacy_storage if what.split(".")[0] in api_names)
        for what, at in uses:
            if removed:
                report(
                    "FQ604", source.name, at.line, at.column,
                    f"{what}: @forge/api {version} has no legacy storage API (removed in 8.0): it is undefined and the first "
                    "call throws TypeError; use `kvs` of @forge/kvs",
                )  # fmt: skip
            else:
                report(
                    "FQ603", source.name, at.line, at.column,
                    f"{what} is the legacy storage API (deprecated, removed in @forge/api 8); `kvs` of @forge/kvs reaches the same store",
                )  # fmt: skip


def _check_versions(manifest: Manifest, packages: Packages, report: Report, display: Callable[[Path], str]) -> None:
    """The installed copies that forgeq knows to fail on Forge (app/packages.py), at the package.json
    line of the dependency that brings each one in."""
    for problem in npm.problems(packages.copies):
        copy = problem.package
        brought_by = copy.owner or copy.name
        where = packages.package_json if packages.package_json is not None else manifest.app_dir / copy.path / "package.json"
        report(
            "FQ602", display(where), packages.lines.get(brought_by) if packages.package_json is not None else None, None,
            f"{copy.name} {copy.version} ({copy.path}) {problem.message}: {problem.fix}",
        )  # fmt: skip
