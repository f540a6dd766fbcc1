"""`forgeq demo`: the seed guide's app under a bulk import, in one command, in a throwaway folder."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from forgeq.cli.common import DEFAULT_SEED, SeedOption, command_prefix, examples

EXAMPLES = examples(
    "forgeq demo                      # 1000 issues; a live status on a terminal",
    "forgeq demo --count 5000         # a bigger import",
    "forgeq demo --timeline           # a line per attempt",
    "forgeq demo --dir ./demo         # keep the app where you can edit it",
    docs="README.md, fixtures/storage-queue/README.md (the app), docs/fidelity.md (the limits it meets)",
)


def demo_source() -> Path:
    """The bundled demo app: inside the wheel (forgeq/demo_app), or fixtures/ in a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "demo_app", package.parent / "fixtures" / "storage-queue"):
        if (candidate / "manifest.yml").is_file():
            return candidate
    from forgeq.emulator.errors import ForgeqError

    raise ForgeqError("the demo app is not installed with this forgeq", "run `forgeq init` for a new app instead")


def demo(
    count: Annotated[int, typer.Option("--count", "-n", metavar="N", help="How many issue-created events the bulk import fires.")] = 1000,
    seed: SeedOption = DEFAULT_SEED,
    folder: Annotated[
        Path | None,
        typer.Option("--dir", metavar="PATH", help="Copy the demo app here instead of the temporary folder forgeq-demo (emptied each time)."),
    ] = None,
    timeline: Annotated[bool, typer.Option("--timeline", help="A line per attempt (the default when the output is not a terminal).")] = False,
) -> None:
    """Fire a bulk import at the bundled demo app (the seed guide's pattern) and run it until idle.

    The app is copied to one temporary folder, `forgeq-demo` under the system's temporary folder,
    emptied at each demo (so demos leave nothing else behind), with a pyproject.toml so that
    `uv run forgeq ...` works in it; the commands printed at the end look closer.
    """
    from forgeq.cli import render
    from forgeq.cli.push import push
    from forgeq.cli.run import run
    from forgeq.emulator.errors import InputError

    if count < 1:
        raise InputError(f"--count must be 1 or more, not {count}")
    from forgeq.emulator.tools.template import source_table

    if folder is None:
        target = Path(tempfile.gettempdir()) / "forgeq-demo"
        if target.exists() and (target / "manifest.yml").exists():
            shutil.rmtree(target)  # the previous demo's copy: one folder, whatever the number of demos
    else:
        target = folder
    if target.exists() and any(target.iterdir()) and not (target / "manifest.yml").exists():
        raise InputError(f"{target} is not empty", "pass an empty or new folder with --dir")
    shutil.copytree(demo_source(), target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".forgeq", "__pycache__", "tests"))
    if not (target / "pyproject.toml").exists():
        (target / "pyproject.toml").write_text(
            '[project]\nname = "forgeq-demo"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = ["forgeq"]\n\n'
            f"[tool.uv]\npackage = false\n{source_table()}",
            encoding="utf-8",
        )
    manifest = target / "manifest.yml"
    render.info(f"demo app: {target} (the seed guide's pattern: a trigger queues each kvs.set, a consumer retries 429s with backoff)")
    push(event="issue-created", count=count, manifest=manifest)
    run(manifest=manifest, until_idle=True, seed=seed, timeline=timeline)
    render.info(f"look closer: cd {target}, then: {command_prefix()} inspect dropped; {command_prefix()} inspect quota; {command_prefix()} report")

