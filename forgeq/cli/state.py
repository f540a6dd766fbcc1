"""`forgeq reset`, `forgeq export`, `forgeq import`: the whole state at once.

None of them imports user code. Reset and import take the run lock, so they never change a state
under a running `forgeq run`; export reads a consistent snapshot and may run beside one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from forgeq.cli.common import DbOption, ManifestOption, open_store, state_path

if TYPE_CHECKING:
    from forgeq.emulator.store import StateLock


def reset(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for a confirmation.")] = False,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
) -> None:
    """Delete every event, job, attempt, ledger entry, key and quota window of the state (asks first)."""
    from forgeq.cli import render
    from forgeq.emulator.errors import ForgeqError
    from forgeq.emulator.store import Store
    from forgeq.emulator.tools.transfer import reset_state

    path = state_path(manifest, db)
    if not path.exists():
        sys.stdout.write(f"nothing to reset: no state file at {path}\n")
        return
    lock = _lock(path, "reset")
    try:
        store = Store(path)
        held = {table: n for table, n in store.row_counts().items() if n}
        if not yes:
            listed = ", ".join(f"{n} {table}" for table, n in sorted(held.items())) or "nothing"
            if not render.confirm(f"reset {path}: delete {listed}?"):
                raise ForgeqError(f"not reset: {path} is unchanged", "answer y, or pass --yes")
        deleted = reset_state(store)
        store.close()
    finally:
        lock.release()
    render.reset_done(deleted, str(path))


def export(
    file: Annotated[Path | None, typer.Argument(metavar="FILE", help="Write here (default: standard output; - too).")] = None,
    include_secrets: Annotated[
        bool,
        typer.Option("--include-secrets", help="Also export secrets (kvs.set_secret values), in clear text."),
    ] = False,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
) -> None:
    """Write the whole state as JSON (secrets left out unless asked).

    Jobs, events with their attempts and ledger entries, the key-value store per installation and
    quota windows (docs/json.md). Safe beside a running `forgeq run`: a consistent snapshot.
    """
    from forgeq.cli import render
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.tools.transfer import export_state

    store = open_store(manifest, db)
    if file is None or str(file) == "-":
        counts = export_state(store, sys.stdout, include_secrets=include_secrets)
        sys.stdout.flush()
        render.exported(counts, "standard output")
        return
    if file.is_dir():
        raise InputError(f"{file} is a folder", "name the file to write, e.g. state.json")
    temporary = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        # An export with secrets is readable by its owner only; written aside, then renamed, so a
        # failed export never leaves half a file behind.
        descriptor = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if include_secrets else 0o644
        )
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            counts = export_state(store, out, include_secrets=include_secrets)
        os.replace(temporary, file)
    except OSError as error:
        raise InputError(f"cannot write {file}: {error.strerror}") from None
    finally:
        if temporary.exists():
            temporary.unlink()
    render.exported(counts, str(file))


def import_(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="An export written by `forgeq export` (- reads standard input).")
    ],
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Replace a state that is not empty (as reset then import, in one step)."
        ),
    ] = False,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
) -> None:
    """Load an export into the state, which must be empty (after `forgeq reset`) unless --replace."""
    from forgeq.cli import render
    from forgeq.emulator.store import Store
    from forgeq.emulator.tools.transfer import import_state, read_export, read_export_file

    source = "standard input" if file == "-" else file
    document = read_export(sys.stdin.read(), source) if file == "-" else read_export_file(Path(file))
    path = state_path(manifest, db)
    lock = _lock(path, "import into")
    try:
        store = Store(path)
        counts = import_state(store, document, source, replace=replace)
        store.close()
    finally:
        lock.release()
    render.imported(counts, source, str(path))


def _lock(path: Path, doing: str) -> StateLock:
    """The run lock, so no `forgeq run` starts (or runs) while the state is replaced."""
    from forgeq.emulator.errors import StateBusyError
    from forgeq.emulator.store import StateLock

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = StateLock(str(path))
    try:
        lock.acquire()
    except StateBusyError as error:
        raise StateBusyError(
            f"cannot {doing} {path}: it is in use by a `forgeq run` ({error.message.rsplit('(', 1)[-1].rstrip(')')})",
            "stop that run first",
        ) from None
    return lock
