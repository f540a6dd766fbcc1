"""What several commands share: finding the app and its state file, and the common options."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

# typer-free, shared with the launcher (forgeq/launcher.py)
from forgeq.statefile import DEFAULT_SEED as DEFAULT_SEED
from forgeq.statefile import STATE_DIR as STATE_DIR
from forgeq.statefile import STATE_FILE as STATE_FILE
from forgeq.statefile import manifest_from as manifest_from
from forgeq.statefile import open_store as open_store
from forgeq.statefile import state_path as state_path
from forgeq.statefile import virtual_now as virtual_now

ManifestOption = Annotated[
    Path, typer.Option("--manifest", "-m", metavar="PATH", help="The app's manifest.yml (its state lives beside it).")
]
DbOption = Annotated[
    Path | None,
    typer.Option("--db", metavar="PATH", help="The state file (env FORGEQ_DB; default: .forgeq/state.db beside the manifest)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (shapes in docs/json.md).")]
InstallationOption = Annotated[str | None, typer.Option("--installation", "-i", metavar="SITE", help="Only this installation (site).")]
SeedOption = Annotated[
    int, typer.Option("--seed", metavar="N", help="Seeds delivery order, retry jitter and handlers' `random`: same seed, same timeline.")
]
# `forgeq run MANIFEST` / `forgeq lint MANIFEST` also take the manifest as an argument, as they always did.
ManifestArgument = Annotated[
    Path | None, typer.Argument(metavar="MANIFEST", show_default=False, help="The app's manifest.yml, as -m takes it.")
]
ManifestChoice = Annotated[
    Path | None, typer.Option("--manifest", "-m", metavar="PATH", show_default=False, help="The app's manifest.yml [default: manifest.yml].")
]


# Every typer app and command: -h as well as --help, and help text as written (wrapped at 100 columns).
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def examples(*lines: str, docs: str | None = None) -> str:
    """A command's help epilog: examples kept on their lines (click's \\b), then where to read more."""
    text = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
    if docs:
        text += f"\n\nMore: {docs}"
    return text


def command_prefix() -> str:
    """How the user calls forgeq from their shell in another folder: `forgeq` when it is on their
    PATH, else through uv (the demo's and a new app's pyproject.toml bring this forgeq).
    `uv run forgeq ...` puts its environment's bin folder first on PATH: that one is not the user's."""
    path = os.environ.get("PATH", "")
    if os.environ.get("UV_RUN_RECURSION_DEPTH") and os.environ.get("VIRTUAL_ENV"):
        entries = path.split(os.pathsep)
        ours = os.path.join(os.environ["VIRTUAL_ENV"], "bin")
        if ours in entries:
            entries.remove(ours)  # the first one, uv run's; an activated environment's stays
        path = os.pathsep.join(entries)
    return "forgeq" if shutil.which("forgeq", path=path) else "uv run forgeq"
