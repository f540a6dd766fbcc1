"""Watch mode (`forgeq run --watch`): reload handler modules and the manifest when their files change.

A watchfiles thread only collects the paths that changed; the loop applies them between two steps
on its own thread (`Emulator.between_steps`), so no attempt is running while modules are swapped
and no other thread ever touches the engine or the store. The queue, the retries in flight and
the key-value store stay as they are: only code (and, for a manifest change, routing) changes.

Forge's `forge tunnel` rebundles on a source change but needs a redeploy for a manifest change
(Atlassian's "forge tunnel" page); forgeq applies a valid manifest at once and keeps the last good one when it is invalid.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from forgeq.emulator.app.manifest import JS_SUFFIXES, Manifest, load_manifest, resolve_handler_file
from forgeq.emulator.errors import ManifestError
from forgeq.emulator.loop.engine import Emulator
from forgeq.emulator.loop.timeline import Notice
from forgeq.emulator.wording import plural

# watchfiles groups the changes of one save (an editor's temp file + rename) before yielding them.
DEBOUNCE_MS = 400
STEP_MS = 50
# How often a watcher thread wakes without changes, to see whether it should stop.
POLL_MS = 200
READY_TIMEOUT_SECONDS = 10.0
_IGNORED_DIRS = {
    "__pycache__",
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".forgeq",
}
_MAX_PROBLEMS_SHOWN = 10
_CODE_SUFFIXES = (".py", *JS_SUFFIXES)  # a JavaScript handler's change restarts the Node.js worker (bridge.py)


class WatchError(RuntimeError):
    """The file watcher could not start (a folder vanished, no inotify watches left)."""


class Watcher:
    """Watches an app's manifest and handler code; `apply()` (a between-steps hook) reloads them."""

    def __init__(self, emulator: Emulator, manifest_path: Path) -> None:
        self.emulator = emulator
        self.manifest_file = manifest_path  # as the user named it, so problems name it the same way
        self.manifest_path = manifest_path.resolve()
        self.app_dir = self.manifest_path.parent
        self.changes: queue.SimpleQueue[Path] = queue.SimpleQueue()
        self.failures: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._folders: tuple[tuple[Path, ...], tuple[Path, ...]] = ((), ())

    # -- the watcher threads -----------------------------------------------------------------------

    def folders(self, manifest: Manifest | None = None) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
        """(watched recursively, watched without subfolders): src/, the app folder, handler folders.

        The app folder is watched without its subfolders so that the state file's writes
        (.forgeq/), node_modules or a virtualenv beside the app never wake the watcher.
        """
        manifest = manifest or self.emulator.manifest
        src = self.app_dir / "src"
        recursive = (src,) if src.is_dir() else ()
        flat = {self.app_dir}
        for function in manifest.functions.values():
            found, _ = resolve_handler_file(self.app_dir, function.module_path)
            if found is None:
                continue
            folder = found.resolve().parent
            if src.is_dir() and (folder == src.resolve() or src.resolve() in folder.parents):
                continue
            if self.app_dir == folder or self.app_dir in folder.parents:
                flat.add(folder)
        return recursive, tuple(sorted(flat))

    def start(self) -> None:
        """Start watching; returns once the watchers are armed, so a change made now is seen."""
        # A module edited twice within one second keeps its size and mtime second; Python would
        # then trust a stale __pycache__ entry written in between. Writing none avoids that.
        sys.dont_write_bytecode = True
        self._stop = threading.Event()  # a fresh one: a thread of an earlier start keeps its own, already set
        self._folders = self.folders()
        recursive, flat = self._folders
        ready: list[threading.Event] = []
        for paths, deep in ((recursive, True), (flat, False)):
            if not paths:
                continue
            armed = threading.Event()
            thread = threading.Thread(
                target=self._watch, args=(paths, deep, armed), name="forgeq-watch", daemon=True
            )
            thread.start()
            self._threads.append(thread)
            ready.append(armed)
        for armed in ready:
            armed.wait(READY_TIMEOUT_SECONDS)
        try:
            failure = self.failures.get_nowait()
        except queue.Empty:
            return
        self.stop()
        raise WatchError(failure)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def _watch(self, paths: tuple[Path, ...], recursive: bool, armed: threading.Event) -> None:
        import watchfiles

        try:
            for changes in watchfiles.watch(
                *paths,
                watch_filter=None,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=self._stop,
                rust_timeout=POLL_MS,
                yield_on_timeout=True,
                recursive=recursive,
                raise_interrupt=False,
            ):
                armed.set()
                for _change, name in changes:
                    path = Path(name)
                    if self._relevant(path):
                        self.changes.put(path)
        except Exception as error:  # noqa: BLE001 - reported on the timeline by the loop's thread
            self.failures.put(f"{type(error).__name__}: {error}")
        finally:
            armed.set()

    def _relevant(self, path: Path) -> bool:
        if path == self.manifest_path:
            return True
        if path.suffix not in _CODE_SUFFIXES:
            return False
        try:
            parts = path.relative_to(self.app_dir).parts
        except ValueError:
            return False
        return not any(part in _IGNORED_DIRS or part.startswith(".") for part in parts[:-1])

    # -- the loop's side -----------------------------------------------------------------------------

    def pending(self) -> list[Path]:
        changed: set[Path] = set()
        while True:
            try:
                changed.add(self.changes.get_nowait())
            except queue.Empty:
                return sorted(changed)

    def apply(self) -> None:
        """Between two steps: apply what changed since the last call (cheap when nothing did)."""
        while True:
            try:
                failure = self.failures.get_nowait()
            except queue.Empty:
                break
            self._say(f"watching stopped: {failure}; restart `forgeq run --watch`", "error")
        changed = self.pending()
        if changed:
            self.apply_changes(changed)

    def apply_changes(self, changed: Iterable[Path]) -> None:
        changed = list(changed)
        code = [path for path in changed if path.suffix in _CODE_SUFFIXES]
        if self.manifest_path in changed:
            self._apply_manifest(code)
        elif code:
            self._reload(f"{self._names(code)} changed")

    def _apply_manifest(self, code: list[Path]) -> None:
        name = self._relative(self.manifest_path)
        try:
            manifest = load_manifest(self.manifest_file)
        except ManifestError as error:
            shown = error.problems[:_MAX_PROBLEMS_SHOWN]
            more = len(error.problems) - len(shown)
            self._say(f"{name} changed but is invalid; the last good manifest keeps running", "error")
            for problem in shown:
                self._say(f"  {problem}", "error")
            if more:
                self._say(f"  (and {more} more problem(s); `forgeq lint` lists them all)", "error")
            if code:
                self._reload(f"{self._names(code)} changed")
            return
        before = self._describe(self.emulator.manifest)
        errors_before = set(self.emulator.handlers.errors)
        self.emulator.replace_manifest(manifest)
        after = self._describe(manifest)
        what = "nothing that forgeq runs changed" if before == after else after
        self._say(f"{name} changed and is valid: applied ({what}); Forge would need `forge deploy` for this")
        for warning in manifest.warnings:
            self._say(str(warning), "warning")
        self._report_loaded(errors_before)
        if self.folders(manifest) != self._folders:
            self.stop()
            try:
                self.start()
            except WatchError as error:
                self._say(f"watching stopped: {error}; restart `forgeq run --watch`", "error")

    def _reload(self, why: str) -> None:
        errors_before = set(self.emulator.handlers.errors)
        self._say(f"{why}: reloading handlers")
        self.emulator.reload()
        self._report_loaded(errors_before)

    def _report_loaded(self, errors_before: set[str]) -> None:
        handlers = self.emulator.handlers
        total = len(self.emulator.manifest.loop_functions)
        fixed = sorted(key for key in errors_before if key in handlers.loaded)
        for key in fixed:
            self._say(f"function '{key}' loads again; its waiting events run now")
        level = "info" if not handlers.errors else "warning"
        self._say(f"{len(handlers.loaded)} of {plural(total, 'function')} loaded", level)

    def _describe(self, manifest: Manifest) -> str:
        parts = [plural(len(manifest.functions), "function"), f"queues: {', '.join(manifest.queues) or 'none'}"]
        if manifest.triggers:
            parts.append(plural(len(manifest.triggers), "trigger"))
        if manifest.scheduled_triggers:
            parts.append(plural(len(manifest.scheduled_triggers), "scheduled trigger"))
        return "; ".join(parts)

    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.app_dir))
        except ValueError:
            return str(path)

    def _names(self, paths: list[Path]) -> str:
        names = [self._relative(path) for path in paths]
        return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")

    def _say(self, text: str, level: str = "info") -> None:
        self.emulator.notify(Notice(self.emulator.clock.now(), text, level))

    def describe_watched(self) -> str:
        recursive, flat = self._folders
        names = [self._relative(p) + "/" for p in recursive] + [self._relative(p) or "." for p in flat]
        return ", ".join(name if name not in ("", ".") else "." for name in names)
