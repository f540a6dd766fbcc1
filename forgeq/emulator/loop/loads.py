"""Handler modules whose import killed forgeq: counted at the next start, not imported after three in a row.

The guards (app/sandbox.py) turn `os._exit` or a signal at a module's top level into a load that
fails. What they cannot catch (a crash of Python, SIGKILL, os._exit through ctypes) ends the process
with no event in flight, so the quarantine of events never applies and every run would die the same
way. So before a Python handler module is imported, its marker (a negative number: no event has
one) goes into the flight log beside the events in flight, and comes out once the import returns,
well or not. A marker still there when a run starts means the process died importing that module:
`Emulator.start` counts it in the state (meta `module_crashes`), and after QUARANTINE_AFTER_CRASHES
in a row does not import the module again until one of the app's Python files changes. Its events
wait as blocked, and `run --until-idle` exits non-zero saying so.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeq.emulator import limits
from forgeq.emulator.app.manifest import Manifest, resolve_handler_file

if TYPE_CHECKING:
    from forgeq.emulator.store import Store

META_KEY = "module_crashes"
_SKIPPED_FOLDERS = {"node_modules", "__pycache__", "venv"}


def marker(app_dir: Path, file: Path) -> int:
    """The module's mark in the flight log: negative, so no event's number."""
    return -(zlib.crc32(str(file.relative_to(app_dir)).encode("utf-8", "surrogateescape")) + 1)


class LoadCrashes:
    """Per handler module (its path in the app): crashes in a row while importing it, and the app's
    sources as they were then."""

    def __init__(self, store: Store, manifest: Manifest) -> None:
        self.store = store
        self.app_dir = manifest.app_dir
        self.files: dict[int, Path] = {}
        for function in manifest.functions.values():
            file, _ = resolve_handler_file(manifest.app_dir, function.module_path)
            if file is not None and file.suffix == ".py":
                self.files[marker(manifest.app_dir, file)] = file
        try:
            saved = json.loads(store.get_meta(META_KEY) or "{}")
        except ValueError:
            saved = {}
        self.counts: dict[str, dict[str, Any]] = saved if isinstance(saved, dict) else {}
        self.changed = False
        self._fingerprint: str | None = None

    def count(self, died: set[int]) -> list[str]:
        """Count a crash for each module the dead run was importing; what to tell the user."""
        told = []
        for mark in sorted(died):
            file = self.files.get(mark)
            if file is None:
                continue
            name = str(file.relative_to(self.app_dir))
            entry = self.counts.get(name)
            if entry is None or entry.get("fingerprint") != self.fingerprint():
                entry = {"crashes": 0, "fingerprint": self.fingerprint()}
            entry["crashes"] = int(entry.get("crashes", 0)) + 1
            self.counts[name] = entry
            self.changed = True
            told.append(f"forgeq died while importing {name} (crash {entry['crashes']} of {limits.QUARANTINE_AFTER_CRASHES} in a row before it is left out)")
        return told

    def left_out(self) -> dict[Path, str]:
        """The modules not to import: each with the reason its functions cannot load."""
        found = {}
        for file in self.files.values():
            entry = self.counts.get(str(file.relative_to(self.app_dir)))
            crashes = int(entry.get("crashes", 0)) if entry else 0
            if entry and crashes >= limits.QUARANTINE_AFTER_CRASHES and entry.get("fingerprint") == self.fingerprint():
                found[file] = (
                    f"importing {file.relative_to(self.app_dir)} killed forgeq {crashes} times in a row "
                    "(a crash of Python, SIGKILL, os._exit through ctypes): it is not imported again until "
                    "the app's Python files change"
                )
        return found

    def survived(self, file: Path) -> None:
        """An import returned (well or not): the crashes in a row start again from 0."""
        if self.counts.pop(str(file.relative_to(self.app_dir)), None) is not None:
            self.changed = True

    def save(self) -> None:
        if self.changed:
            self.store.set_meta(META_KEY, json.dumps(self.counts, sort_keys=True))
            self.changed = False

    def fingerprint(self) -> str:
        """The app's Python sources as they are (paths, sizes, modification times), computed once."""
        if self._fingerprint is None:
            import hashlib

            digest = hashlib.sha256()
            for folder, folders, files in os.walk(self.app_dir):
                folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in _SKIPPED_FOLDERS)
                for name in sorted(files):
                    if name.endswith(".py"):
                        path = os.path.join(folder, name)
                        try:
                            found = os.stat(path)
                        except OSError:
                            continue
                        digest.update(f"{path}\0{found.st_size}\0{found.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint
