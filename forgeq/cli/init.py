"""`forgeq init [DIR]`: a new Forge app from the template shipped with forgeq."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgeq.cli.common import command_prefix, examples

EXAMPLES = examples(
    "forgeq init my-app && cd my-app && uv run pytest",
    "forgeq init . --name billing-sync   # here, in an empty folder",
    docs="README.md (The development loop), docs/testing.md",
)


def init(
    folder: Annotated[
        Path, typer.Argument(metavar="FOLDER", help="Where to create the app (created if missing; must be empty).")
    ] = Path("."),
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Write the template into a folder that is not empty (its files are overwritten)."
        ),
    ] = False,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", metavar="NAME", help="The app's name in its README and manifest [default: the folder's name]."
        ),
    ] = None,
) -> None:
    """Create a Forge app: a manifest, a trigger, a queue, a consumer with backoff, tests, a README."""
    from forgeq.cli import render
    from forgeq.emulator.tools.template import create_app

    written = create_app(folder, force=force, name=name)
    here = folder.resolve() == Path.cwd().resolve()
    steps = [] if here else [f"cd {folder}"]
    forgeq = command_prefix()
    commands = [
        ("uv run pytest", "the app's tests, on virtual time (pyproject.toml brings forgeq and pytest)"),
        (f"{forgeq} push issue-created --count 1000", "a bulk import"),
        (f"{forgeq} run --until-idle", "deliver it, with a live status"),
    ]
    width = max(len(command) for command, _ in commands) + 3
    steps += [f"{command:<{width}}# {what}" for command, what in commands]
    render.initialized(str(folder), written, steps)
