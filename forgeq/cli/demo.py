"""`forgeq demo`: the seed guide's app under a bulk import, in one command, in a throwaway folder."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer


def demo_source() -> Path:
    """The bundled demo app: inside the wheel (forgeq/demo_app), or fixtures/ in a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "demo_app", package.parent / "fixtures" / "storage-queue"):
        if (candidate / "manifest.yml").is_file():
            return candidate
    from forgeq.emulator.errors import ForgeqError

    raise ForgeqError("the demo app is not installed with this forgeq", "run `forgeq init` for a new app instead")


def demo(
    count: Annotated[int, typer.Option("--count", "-n", help="How many issue-created events the bulk import fires.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seeds delivery order and the handlers' jitter.")] = 7,
    folder: Annotated[Path | None, typer.Option("--dir", help="Copy the demo app here instead of a temporary folder.")] = None,
    timeline: Annotated[bool, typer.Option("--timeline", help="Print every attempt instead of a progress line.")] = False,
) -> None:
    """Fire a bulk import at the bundled demo app (the seed guide's pattern) and run it until idle."""
    from forgeq.cli import render
    from forgeq.cli.push import push
    from forgeq.cli.run import run
    from forgeq.emulator.errors import InputError

    if count < 1:
        raise InputError(f"--count must be 1 or more, not {count}")
    target = folder or Path(tempfile.mkdtemp(prefix="forgeq-demo-"))
    if target.exists() and any(target.iterdir()) and not (target / "manifest.yml").exists():
        raise InputError(f"{target} is not empty", "pass an empty or new folder with --dir")
    shutil.copytree(demo_source(), target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".forgeq", "__pycache__", "tests"))
    manifest = target / "manifest.yml"
    render.info(f"demo app: {target} (the seed guide's pattern: a trigger queues each kvs.set, a consumer retries 429s with backoff)")
    push(event="issue-created", count=count, manifest=manifest)
    run(manifest=manifest, until_idle=True, seed=seed, quiet=not timeline)
    render.info(f"look closer: forgeq inspect dropped --manifest {manifest}; forgeq inspect quota --manifest {manifest}; forgeq report --manifest {manifest}")
