"""The Forge manifest: parsed into plain dataclasses, validated as Forge's validator does (Atlassian's manifest reference).

Every problem is collected with its file, line and key path, so a user sees them all at once.
Parsing never imports handler code: `push`, `inspect` and `lint` read manifests too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeq.emulator import limits
from forgeq.emulator.app.yamlload import YamlProblem, load_with_lines
from forgeq.emulator.errors import ManifestError, Problem
from forgeq.emulator.jsoninput import limited_bytes

if TYPE_CHECKING:
    from forgeq.emulator.app.entities import Entity

KEY_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
REFERENCE_PATTERN = re.compile(r"^[a-zA-Z0-9._-]+$")
QUEUE_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
# Forge: ^([\p{Alpha}\d_-]+(?:\/[\p{Alpha}\d_-]+)*)\.([\p{Alpha}\d_-]+)$ ; \w is Python's nearest.
HANDLER_PATTERN = re.compile(r"^([\w-]+(?:/[\w-]+)*)\.([\w-]+)$")
INTERVALS = ("fiveMinute", "hour", "day", "week")
HANDLER_SUFFIXES = (".py",)
DUNDER = re.compile(r"^__\w*__$")  # `index.__class__`: an attribute of every module, never the app's handler
JS_SUFFIXES = (".tsx", ".jsx", ".ts", ".js", ".cjs", ".mjs")

_CONSUMER_PROPS = {"key", "queue", "function", "resolver", "endpoint", "crossVersion"}
_FUNCTION_PROPS = {"key", "handler", "timeoutSeconds", "runtime", "providers", "cleanup"}
_TRIGGER_PROPS = {"key", "events", "function", "endpoint", "filter", "payload"}
_SCHEDULED_PROPS = {"key", "function", "endpoint", "interval", "filter"}
_FILTER_PROPS = {"ignoreSelf", "expression", "onError", "appIsLicensed"}
WEBTRIGGER_RESPONSE_TYPES = ("static", "dynamic")
# The module kinds forgeq runs itself; a UI module's resolver runs with `forgeq invoke`, its UI never.
LOOP_KINDS = ("consumer", "trigger", "scheduledTrigger")
EMULATED_KINDS = ("function", *LOOP_KINDS, "webtrigger")


@dataclass(frozen=True)
class Function:
    key: str
    handler: str
    timeout_seconds: float
    line: int | None

    @property
    def module_path(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Consumer:
    key: str
    queue: str
    function: str
    method: str | None
    line: int | None

    @property
    def version(self) -> int:
        """1 for a resolver consumer (`resolver: {function, method}`), 2 for a function consumer."""
        return 1 if self.method is not None else 2


@dataclass(frozen=True)
class TriggerEvent:
    event_type: str
    filter: dict[str, Any] | None


@dataclass(frozen=True)
class Trigger:
    key: str
    events: tuple[TriggerEvent, ...]
    function: str
    filter: dict[str, Any] | None
    line: int | None


@dataclass(frozen=True)
class ScheduledTrigger:
    key: str
    function: str
    interval: str
    line: int | None


@dataclass(frozen=True)
class StaticOutput:
    """One of a static web trigger's configured responses (`response.outputs`), picked by `outputKey`."""

    key: str
    status_code: int
    content_type: str | None
    body: str | None


@dataclass(frozen=True)
class WebTrigger:
    key: str
    function: str
    response_type: str  # "dynamic" (default) or "static"
    outputs: tuple[StaticOutput, ...]
    line: int | None


@dataclass(frozen=True)
class UiModule:
    """A UI module (jira:issuePanel, confluence:globalPage, ...) whose `resolver.function` the UI invokes."""

    kind: str
    key: str
    function: str
    line: int | None


@dataclass
class Manifest:
    path: Path
    app_dir: Path
    app_id: str
    runtime: str | None
    functions: dict[str, Function] = field(default_factory=dict)
    consumers: list[Consumer] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)
    scheduled_triggers: list[ScheduledTrigger] = field(default_factory=list)
    webtriggers: list[WebTrigger] = field(default_factory=list)
    ui_modules: list[UiModule] = field(default_factory=list)
    storage: dict[str, Any] = field(default_factory=dict)
    entities: dict[str, Entity] = field(default_factory=dict)  # app.storage.entities (app/entities.py)
    permissions: dict[str, Any] = field(default_factory=dict)  # as written: scopes, external fetch (platform/site/egress.py)
    remotes: list[Any] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # One warning per module kind forgeq does not run (a UI module, a Rovo agent, ...): `run` prints
    # them, `lint` lists them apart from its findings, `doctor` counts them.
    unemulated: list[Problem] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def loop_functions(self) -> set[str]:
        """The functions the event loop calls (consumers, triggers, scheduled triggers): loaded at start.
        Every other function (a web trigger's, a UI resolver) loads when it is first called."""
        return (
            {c.function for c in self.consumers}
            | {t.function for t in self.triggers}
            | {s.function for s in self.scheduled_triggers}
        )

    def webtrigger(self, key: str) -> WebTrigger | None:
        return next((w for w in self.webtriggers if w.key == key), None)

    def consumer_for(self, queue: str) -> Consumer | None:
        for consumer in self.consumers:
            if consumer.queue == queue:
                return consumer
        return None

    def triggers_for(self, event_type: str) -> list[tuple[Trigger, TriggerEvent]]:
        return [(t, e) for t in self.triggers for e in t.events if e.event_type == event_type]

    @property
    def queues(self) -> list[str]:
        return sorted({c.queue for c in self.consumers})


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate `path`; raise ManifestError listing every problem."""
    manifest_path = Path(path)
    file = str(path)
    try:
        raw = limited_bytes(manifest_path, limits.MAX_YAML_INPUT_BYTES)
    except FileNotFoundError:
        folder = manifest_path.resolve().parent
        raise ManifestError(
            [Problem(file, None, "", f"no such file in {folder}: not a Forge app's folder")],
            "run it in the app's folder, or pass the path of the app's manifest.yml with -m PATH",
        ) from None
    except IsADirectoryError:
        raise ManifestError([Problem(file, None, "", "is a folder; pass the manifest.yml inside it")]) from None
    except OSError as error:
        raise ManifestError([Problem(file, None, "", f"cannot be read: {error.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ManifestError([Problem(file, None, "", f"is not UTF-8 text (byte {error.start}); a manifest is YAML")]) from None
    try:
        data, lines, problems = load_with_lines(text, file)
    except YamlProblem as error:
        raise ManifestError([error.problem]) from None
    validator = _Validator(file, lines, manifest_path.resolve().parent)
    validator.problems.extend(problems)
    manifest = validator.validate(data, manifest_path)
    if validator.problems:
        raise ManifestError(validator.problems)
    manifest.warnings = validator.warnings
    return manifest


def resolve_handler_file(app_dir: Path, module_path: str) -> tuple[Path | None, list[Path]]:
    """Where `index` of `index.handler` lives: src/index.py, then index.py beside the manifest.

    Returns the file (or None) and every path looked at. A JavaScript file found instead is
    returned too, so the caller can say which runtime it needs.
    """
    looked: list[Path] = []
    for base in (app_dir / "src", app_dir):
        for suffix in HANDLER_SUFFIXES + JS_SUFFIXES:
            candidate = base / f"{module_path}{suffix}"
            looked.append(candidate)
            if candidate.is_file():
                return candidate, looked
    return None, looked


def is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


class _Validator:
    def __init__(self, file: str, lines: dict[str, int], app_dir: Path) -> None:
        self.file = file
        self.lines = lines
        self.app_dir = app_dir
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.module_keys: dict[str, str] = {}
        self.function_keys: set[str] = set()

    def error(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, self._line(path), path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Problem(self.file, self._line(path), path, message))

    def _line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rsplit(".", 1)[0] if "." in path else path.rsplit("[", 1)[0] if "[" in path else ""
        return self.lines.get("")

    def validate(self, data: Any, path: Path) -> Manifest:
        manifest = Manifest(path=path, app_dir=self.app_dir, app_id="", runtime=None, lines=self.lines)
        if data is None:
            self.error("", "the manifest is empty; it needs `app` and `modules`")
            return manifest
        if not isinstance(data, dict):
            self.error("", f"the manifest must be a mapping with `app` and `modules`, not a {type(data).__name__}")
            return manifest
        self._app(data.get("app"), manifest)
        if isinstance(data.get("permissions"), dict):
            manifest.permissions = data["permissions"]
        if isinstance(data.get("remotes"), list):
            manifest.remotes = data["remotes"]
        modules = data.get("modules")
        if modules is None:
            self.error("modules", "document must have at least 1 module")
            return manifest
        if not isinstance(modules, dict):
            self.error("modules", "must be a mapping of module types to lists")
            return manifest
        for module_type, entries in modules.items():
            if not isinstance(entries, list) or not entries:
                self.error(f"modules.{module_type}", "must be a list with at least one item")
                continue
            for index, entry in enumerate(entries):
                where = f"modules.{module_type}[{index}]"
                if not isinstance(entry, dict):
                    self.error(where, "must be a mapping")
                    continue
                self._module_key(where, entry)
        functions = modules.get("function")
        if isinstance(functions, list):
            for index, entry in enumerate(functions):
                if isinstance(entry, dict):
                    self._function(f"modules.function[{index}]", entry, manifest)
        for module_type, parse in (
            ("consumer", self._consumer),
            ("trigger", self._trigger),
            ("scheduledTrigger", self._scheduled),
        ):
            entries = modules.get(module_type)
            if isinstance(entries, list):
                for index, entry in enumerate(entries):
                    if isinstance(entry, dict):
                        parse(f"modules.{module_type}[{index}]", entry, manifest)
        entries = modules.get("webtrigger")
        if isinstance(entries, list):
            for index, entry in enumerate(entries):
                if isinstance(entry, dict):
                    self._webtrigger(f"modules.webtrigger[{index}]", entry, manifest)
        for module_type, entries in modules.items():
            if module_type not in EMULATED_KINDS and isinstance(entries, list):
                self._other_module(str(module_type), entries, manifest)
        self._cross_checks(manifest)
        return manifest

    def _app(self, app: Any, manifest: Manifest) -> None:
        if app is None:
            self.warn("app", "no `app` section; Forge needs `app.id` and `app.runtime.name`")
            return
        if not isinstance(app, dict):
            self.error("app", "must be a mapping")
            return
        app_id = app.get("id")
        manifest.app_id = str(app_id) if app_id is not None else ""
        runtime = app.get("runtime")
        if isinstance(runtime, dict) and isinstance(runtime.get("name"), str):
            manifest.runtime = runtime["name"]
        storage = app.get("storage")
        if storage is not None:
            if isinstance(storage, dict):
                manifest.storage = storage
                # Imported here: most apps declare no entities, and start-up need not pay for them.
                from forgeq.emulator.app.entities import parse_entities

                manifest.entities = parse_entities(storage.get("entities"), "app.storage.entities", self.error, self._line)
            else:
                self.error("app.storage", "must be a mapping")

    def _module_key(self, where: str, entry: dict[str, Any]) -> None:
        key = entry.get("key")
        if key is None:
            self.error(where, "should have required property 'key'")
            return
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            self.error(f"{where}.key", f"key '{key}' must match {KEY_PATTERN.pattern}")
            return
        if key in self.module_keys:
            self.error(f"{where}.key", f"found duplicate module key '{key}' (also at {self.module_keys[key]})")
        else:
            self.module_keys[key] = where

    def _unknown(self, where: str, entry: dict[str, Any], allowed: set[str]) -> None:
        for prop in entry:
            if prop not in allowed:
                self.error(f"{where}.{prop}", f"should NOT have additional property '{prop}'")

    def _reference(self, where: str, value: Any) -> str | None:
        if not isinstance(value, str) or not REFERENCE_PATTERN.fullmatch(value) or len(value) > limits.REFERENCE_MAX:
            self.error(where, f"must be a function key matching {REFERENCE_PATTERN.pattern}, 1-{limits.REFERENCE_MAX} characters")
            return None
        if value not in self.function_keys:
            kind = where.split(".")[1].split("[")[0]
            self.error(where, f"{kind} references undefined function module with key '{value}'")
            return None
        return value

    def _function(self, where: str, entry: dict[str, Any], manifest: Manifest) -> None:
        self._unknown(where, entry, _FUNCTION_PROPS)
        key = entry.get("key")
        if isinstance(key, str):
            self.function_keys.add(key)
        if isinstance(key, str) and len(key) > limits.FUNCTION_KEY_MAX:
            self.error(f"{where}.key", f"The function key exceeds {limits.FUNCTION_KEY_MAX} characters: '{key}'.")
        timeout = entry.get("timeoutSeconds", limits.DEFAULT_TIMEOUT_SECONDS)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= limits.MAX_TIMEOUT_SECONDS:
            self.error(f"{where}.timeoutSeconds", f"must be a number from 1 to {int(limits.MAX_TIMEOUT_SECONDS)}, not {timeout!r}")
            timeout = limits.DEFAULT_TIMEOUT_SECONDS
        handler = entry.get("handler")
        if handler is None:
            self.error(where, "should have required property 'handler'")
            return
        if not isinstance(handler, str) or not HANDLER_PATTERN.fullmatch(handler):
            self.error(
                f"{where}.handler",
                f"handler property '{handler}' must be in format <module>.<function> (example: index.run).",
            )
            return
        module_path = handler.rsplit(".", 1)[0]
        found, looked = resolve_handler_file(self.app_dir, module_path)
        if found is None:
            names = ", ".join(str(p.relative_to(self.app_dir)) for p in looked if p.suffix == ".py")
            self.error(f"{where}.handler", f"cannot find associated file for '{handler}' (looked for {names})")
        elif not is_inside(found, self.app_dir):
            self.error(f"{where}.handler", f"'{found}' resolves outside the app folder {self.app_dir}; handlers must live inside it")
        elif found.suffix in HANDLER_SUFFIXES and DUNDER.match(attribute := handler.rsplit(".", 1)[1]):
            self.error(
                f"{where}.handler",
                f"handler '{handler}' names `{attribute}`, which every Python module has: it is not a function defined in "
                f"{found.relative_to(self.app_dir)}",
            )
        if isinstance(key, str) and KEY_PATTERN.fullmatch(key):
            manifest.functions[key] = Function(key, handler, float(timeout), self._line(where))

    def _consumer(self, where: str, entry: dict[str, Any], manifest: Manifest) -> None:
        self._unknown(where, entry, _CONSUMER_PROPS)
        queue = entry.get("queue")
        if queue is None:
            self.error(where, "should have required property 'queue'")
        elif not isinstance(queue, str) or not QUEUE_PATTERN.fullmatch(queue) or len(queue) > limits.QUEUE_NAME_MAX:
            self.error(
                f"{where}.queue",
                f"queue '{queue}' must match {QUEUE_PATTERN.pattern} and be 1-{limits.QUEUE_NAME_MAX} characters",
            )
            queue = None
        forms = [name for name in ("function", "resolver", "endpoint") if name in entry]
        if len(forms) != 1:
            self.error(where, "must have exactly one of 'function' (v2), 'resolver' (v1) or 'endpoint'")
            return
        if "crossVersion" in entry:
            self.warn(f"{where}.crossVersion", "crossVersion was removed after 2025-11-21; events now run on any version")
        form = forms[0]
        function: str | None = None
        method: str | None = None
        if form == "function":
            function = self._reference(f"{where}.function", entry["function"])
        elif form == "resolver":
            resolver = entry["resolver"]
            if not isinstance(resolver, dict):
                self.error(f"{where}.resolver", "must be a mapping with 'function' and 'method'")
                return
            self._unknown(f"{where}.resolver", resolver, {"function", "method", "workflow"})
            if "workflow" in resolver:
                self.warn(f"{where}.resolver.workflow", "Forge Workflows consumers are not emulated; this consumer will not run")
                return
            function = self._reference(f"{where}.resolver.function", resolver.get("function"))
            raw_method = resolver.get("method")
            if not isinstance(raw_method, str) or not KEY_PATTERN.fullmatch(raw_method) or len(raw_method) > limits.REFERENCE_MAX:
                self.error(f"{where}.resolver.method", f"method must match {KEY_PATTERN.pattern}, 1-{limits.REFERENCE_MAX} characters")
                return
            method = raw_method
        else:
            self.warn(f"{where}.endpoint", "Forge Remote endpoints are not emulated; this consumer will not run")
            return
        key = entry.get("key")
        if function and queue and isinstance(key, str):
            manifest.consumers.append(Consumer(key, queue, function, method, self._line(where)))

    def _filter(self, where: str, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict) or not value:
            self.error(where, "filter must be a mapping with at least one of ignoreSelf, expression, onError")
            return None
        self._unknown(where, value, _FILTER_PROPS)
        return value

    def _trigger(self, where: str, entry: dict[str, Any], manifest: Manifest) -> None:
        self._unknown(where, entry, _TRIGGER_PROPS)
        if "endpoint" in entry:
            self.warn(f"{where}.endpoint", "Forge Remote endpoints are not emulated; this trigger will not run")
            return
        function = self._reference(f"{where}.function", entry.get("function"))
        raw_events = entry.get("events")
        events: list[TriggerEvent] = []
        if not isinstance(raw_events, list) or not raw_events:
            self.error(f"{where}.events", "should be a non-empty list of event types")
        else:
            for index, item in enumerate(raw_events):
                item_where = f"{where}.events[{index}]"
                if isinstance(item, str):
                    events.append(TriggerEvent(item, None))
                elif isinstance(item, dict) and isinstance(item.get("eventType"), str):
                    self._unknown(item_where, item, {"eventType", "filter", "payload"})
                    events.append(TriggerEvent(item["eventType"], self._filter(f"{item_where}.filter", item.get("filter"))))
                else:
                    self.error(item_where, "must be an event type string or {eventType, filter}")
        trigger_filter = self._filter(f"{where}.filter", entry.get("filter"))
        if trigger_filter and trigger_filter.get("ignoreSelf") and any(not e.event_type.startswith("avi:jira:") for e in events):
            self.error(f"{where}.filter.ignoreSelf", "Trigger filtering with ignoreSelf works only with Jira events")
        key = entry.get("key")
        if function and events and isinstance(key, str):
            manifest.triggers.append(Trigger(key, tuple(events), function, trigger_filter, self._line(where)))

    def _scheduled(self, where: str, entry: dict[str, Any], manifest: Manifest) -> None:
        self._unknown(where, entry, _SCHEDULED_PROPS)
        if "endpoint" in entry:
            self.warn(f"{where}.endpoint", "Forge Remote endpoints are not emulated; this trigger will not run")
            return
        function = self._reference(f"{where}.function", entry.get("function"))
        interval = entry.get("interval")
        if interval not in INTERVALS:
            self.error(f"{where}.interval", f"interval must be one of {', '.join(INTERVALS)}, not {interval!r}")
            return
        key = entry.get("key")
        if function and isinstance(key, str):
            manifest.scheduled_triggers.append(ScheduledTrigger(key, function, str(interval), self._line(where)))

    def _webtrigger(self, where: str, entry: dict[str, Any], manifest: Manifest) -> None:
        # Forge's schema lets a webtrigger carry properties of its own; only these are read.
        if "endpoint" in entry and "function" not in entry:
            self.warn(f"{where}.endpoint", "Forge Remote endpoints are not emulated; `forgeq webtrigger` cannot call this one")
            return
        function = self._reference(f"{where}.function", entry.get("function"))
        response = entry.get("response")
        response_type, outputs = "dynamic", []
        if response is not None:
            if not isinstance(response, dict) or response.get("type") not in WEBTRIGGER_RESPONSE_TYPES:
                self.error(f"{where}.response", "response must be a mapping with `type: static` or `type: dynamic`")
                return
            response_type = str(response["type"])
            raw_outputs = response.get("outputs")
            if response_type == "static":
                if not isinstance(raw_outputs, list) or not raw_outputs:
                    self.error(f"{where}.response.outputs", "a static web trigger needs `outputs`: a list of {key, statusCode, contentType?, body?}")
                    return
                for index, output in enumerate(raw_outputs):
                    out_where = f"{where}.response.outputs[{index}]"
                    status = output.get("statusCode") if isinstance(output, dict) else None
                    if not isinstance(output, dict) or not isinstance(output.get("key"), str) or isinstance(status, bool) or not isinstance(status, int):
                        self.error(out_where, "an output needs `key` (a string) and `statusCode` (a number)")
                        return
                    content_type, body = output.get("contentType"), output.get("body")
                    outputs.append(StaticOutput(output["key"], status, str(content_type) if content_type is not None else None, str(body) if body is not None else None))
        key = entry.get("key")
        if function and isinstance(key, str):
            manifest.webtriggers.append(WebTrigger(key, function, response_type, tuple(outputs), self._line(where)))

    def _other_module(self, kind: str, entries: list[Any], manifest: Manifest) -> None:
        """A module kind forgeq does not run: record its resolver functions (a UI module's), warn once."""
        functions: list[str] = []
        remote = False
        for index, entry in enumerate(entries):
            resolver = entry.get("resolver") if isinstance(entry, dict) else None
            if not isinstance(resolver, dict):
                continue
            if "function" not in resolver:
                remote = remote or "endpoint" in resolver
                continue
            function = self._reference(f"modules.{kind}[{index}].resolver.function", resolver.get("function"))
            key = entry.get("key")
            if function and isinstance(key, str):
                manifest.ui_modules.append(UiModule(kind, key, function, self._line(f"modules.{kind}[{index}]")))
                if function not in functions:
                    functions.append(function)
        is_ui = functions or remote or any(isinstance(e, dict) and ("resource" in e or "render" in e or "resolver" in e) for e in entries)
        if functions:
            names = ", ".join(f"'{f}'" for f in functions)
            which = f"resolver function {names} runs" if len(functions) == 1 else f"resolver functions {names} run"
            message = f"forgeq does not render UI modules; the {which} with `forgeq invoke`"
        elif is_ui:
            message = "forgeq does not render UI modules" + (" (Forge Remote resolvers are not emulated either)" if remote else "")
        else:
            message = "forgeq does not emulate this module kind; it is ignored"
        manifest.unemulated.append(Problem(self.file, self._line(f"modules.{kind}"), f"modules.{kind}", message))

    def _cross_checks(self, manifest: Manifest) -> None:
        queues: dict[str, Consumer] = {}
        for consumer in manifest.consumers:
            if consumer.queue in queues:
                self.problems.append(
                    Problem(
                        self.file,
                        consumer.line,
                        "modules.consumer",
                        f"queue '{consumer.queue}' already has consumer '{queues[consumer.queue].key}'; forgeq allows one consumer per queue",
                    )
                )
            queues[consumer.queue] = consumer
        if len(manifest.scheduled_triggers) > limits.MAX_SCHEDULED_TRIGGERS:
            self.problems.append(
                Problem(self.file, manifest.scheduled_triggers[-1].line, "modules.scheduledTrigger", f"at most {limits.MAX_SCHEDULED_TRIGGERS} scheduled triggers per app")
            )
        if sum(1 for s in manifest.scheduled_triggers if s.interval == "fiveMinute") > 1:
            self.problems.append(Problem(self.file, None, "modules.scheduledTrigger", "at most 1 scheduled trigger with interval fiveMinute"))
        if not manifest.functions and not self.problems:
            self.problems.append(Problem(self.file, self._line("modules"), "modules", "document must have at least 1 function"))
