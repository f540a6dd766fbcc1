"""Where an app's manifest and state file are, and opening the state: shared by the typer commands
(forgeq/cli/common.py) and the launcher's fast paths (forgeq/launcher.py), so it imports neither
typer nor rich."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forgeq.emulator.store import Store

STATE_DIR = ".forgeq"
STATE_FILE = "state.db"
DEFAULT_SEED = 0  # one default for every command that takes --seed (run, demo, the testing API)


def manifest_from(argument: Path | None, option: Path | None) -> Path:
    """The manifest named by the argument or by -m (the same one if both), else ./manifest.yml."""
    from forgeq.emulator.errors import InputError

    if argument is not None and option is not None and argument != option:
        if _from_defaults_file("manifest"):
            return argument  # a per-app default gives way to the argument, as to any option given
        raise InputError(f"two manifests: {argument} and -m {option}", "name the app once, as an argument or with -m")
    return argument or option or Path("manifest.yml")


def _from_defaults_file(name: str) -> bool:
    """Whether the running typer command took option `name` from a defaults file (forgeq/cli/appconfig.py).
    Without typer loaded there is no command context: the launcher parsed the arguments itself."""
    if "typer._click.globals" not in sys.modules:
        return False
    from typer._click.core import ParameterSource  # typer's own copy of click, whose context this is
    from typer._click.globals import get_current_context

    context = get_current_context(silent=True)
    return context is not None and context.get_parameter_source(name) == ParameterSource.DEFAULT_MAP


def state_path(manifest: Path, db: Path | None) -> Path:
    if db is not None:
        return db
    env = os.environ.get("FORGEQ_DB")
    if env:
        return Path(env)
    return manifest.resolve().parent / STATE_DIR / STATE_FILE


def open_store(manifest: Path, db: Path | None, *, must_exist: bool = True) -> Store:
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.store import Store

    path = state_path(manifest, db)
    if not must_exist and db is None and not os.environ.get("FORGEQ_DB") and not manifest.exists():
        # A push in the wrong folder would make a state file there that no `forgeq run` reads.
        raise InputError(
            f"no {manifest} in {manifest.resolve().parent}: not a Forge app's folder",
            "run it in the app's folder or pass --manifest PATH; --db PATH names a state file directly",
        )
    if must_exist and not path.exists():
        if db is None and not os.environ.get("FORGEQ_DB") and not manifest.exists():
            raise InputError(
                f"no {manifest} here and no state file at {path}",
                "run in the app's folder, or pass --manifest or --db",
            )
        raise InputError(f"no state file at {path}", "push events or run the app first, or pass --db")
    return Store(path)


def virtual_now(store: Store) -> float:
    """The state's clock: where the last virtual run left it (the epoch before any run)."""
    from forgeq.emulator.loop.clock import RealClock, resumed_virtual_time

    if store.get_meta("clock") == "real":
        return RealClock().now()
    return resumed_virtual_time(store.get_meta("virtual_now"))
