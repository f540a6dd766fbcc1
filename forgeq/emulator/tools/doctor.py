"""What `forgeq doctor` reports: versions, the state file, the manifest, and the fidelity list."""

from __future__ import annotations

import platform
import sqlite3
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from forgeq.emulator.app.manifest import EMULATED_KINDS
from forgeq.emulator.store.probe import probe
from forgeq.emulator.tools import fidelity
from forgeq.emulator.wording import plural

PACKAGES = ("typer", "rich", "PyYAML", "sqlite-utils", "watchfiles")
FIDELITY_DOC = "docs/fidelity.md (in the forgeq repository)"


def version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def diagnose(manifest: Path, state: Path) -> dict[str, Any]:
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.errors import ManifestError, StateFileError
    from forgeq.emulator.store import StateLock

    found = probe(state)
    found["path"] = str(state)
    try:
        found["in_use"] = StateLock(str(state)).is_held_elsewhere()
    except StateFileError as error:  # a second hard link, a bind mount: doctor says so rather than failing
        found["in_use"] = False
        found["error"] = found["error"] or error.message
    manifest_status: dict[str, Any] | None = None
    if manifest.exists():
        not_run: list[str] = []
        try:
            loaded = load_manifest(manifest)
            status = f"valid: {plural(len(loaded.functions), 'function')}, {plural(len(loaded.consumers), 'consumer')}, {plural(len(loaded.triggers), 'trigger')}"
            if loaded.webtriggers:
                status += f", {plural(len(loaded.webtriggers), 'web trigger')} (`forgeq webtrigger`)"
            if loaded.ui_modules:
                status += f", {plural(len(loaded.ui_modules), 'UI module')} with a resolver (`forgeq invoke`)"
            not_run = [problem.path.removeprefix("modules.") for problem in loaded.unemulated]
        except ManifestError as error:
            status = f"invalid: {len(error.problems)} problem(s); `forgeq lint` lists them"
        manifest_status = {"path": str(manifest), "status": status, "not_run": not_run}
    return {
        "packages": _forge_packages(manifest.resolve().parent) if manifest.exists() else None,
        "versions": {
            "forgeq": version_of("forgeq"),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "packages": {name: version_of(name) for name in PACKAGES},
        },
        "platform": f"{platform.system()} {platform.machine()}",
        "executable": sys.executable,
        "state": found,
        "manifest": manifest_status,
        "modules": {"run": list(EMULATED_KINDS), "ui_resolvers": "the `resolver.function` of any UI module, with `forgeq invoke`"},
        "fidelity": [item.as_dict() for item in fidelity.ITEMS],
        "fidelity_doc": FIDELITY_DOC,
    }


def _forge_packages(app_dir: Path) -> dict[str, Any]:
    """The app's installed @forge packages (nested copies too), how each reaches the platform, and
    what forgeq knows to fail on Forge among them (forgeq/emulator/app/packages.py)."""
    from forgeq.emulator.app import packages

    installed = packages.installed(app_dir)
    return {
        "installed": [package.as_dict() for package in installed],
        "problems": [problem.as_dict() for problem in packages.problems(installed)],
    }
