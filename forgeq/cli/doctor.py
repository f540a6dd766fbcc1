"""`forgeq doctor`: what this install emulates, the state file in use, and the versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgeq.cli.common import DbOption, JsonOption, ManifestOption


def doctor(
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    json_output: JsonOption = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print only the fidelity table, as docs/fidelity.md holds it.")
    ] = False,
) -> None:
    """Show what this forgeq emulates exactly, approximately and not at all, its state file and versions."""
    from forgeq.cli import render
    from forgeq.emulator.tools.fidelity import markdown_table

    if markdown:
        render.plain(markdown_table())
        return
    from forgeq.cli.common import state_path
    from forgeq.emulator.tools.doctor import diagnose

    data = diagnose(manifest, state_path(manifest, db))
    if json_output:
        render.json_out(data)
    else:
        render.doctor(data)
