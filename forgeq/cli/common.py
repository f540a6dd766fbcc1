"""What several commands share: finding the app and its state file, and the common options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# typer-free, shared with the launcher (forgeq/launcher.py)
from forgeq.statefile import STATE_DIR as STATE_DIR
from forgeq.statefile import STATE_FILE as STATE_FILE
from forgeq.statefile import open_store as open_store
from forgeq.statefile import state_path as state_path
from forgeq.statefile import virtual_now as virtual_now

ManifestOption = Annotated[Path, typer.Option("--manifest", "-m", help="The app's manifest.yml (its state lives beside it).")]
DbOption = Annotated[Path | None, typer.Option("--db", help="The state file (env FORGEQ_DB; default: .forgeq/state.db beside the manifest).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (shapes in docs/json.md).")]
InstallationOption = Annotated[str | None, typer.Option("--installation", "-i", help="Only this installation (site).")]
