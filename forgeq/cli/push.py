"""`forgeq push`: put events on a queue of the app's state, from outside the app.

It never imports user code: it records the events in the state file and the loop delivers them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from forgeq.cli.common import DbOption, ManifestOption, open_store, virtual_now


def push(
    event: Annotated[str | None, typer.Argument(help="A product event (issue-created, ...); or use --queue.")] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="Push to this queue, as Queue(key=...).push would.")] = None,
    body: Annotated[str | None, typer.Option("--body", help="The event body: JSON, or @file.json.")] = None,
    delay: Annotated[float | None, typer.Option("--delay", help="delayInSeconds, 0-900.")] = None,
    count: Annotated[int, typer.Option("--count", "-n", help="How many events to push.")] = 1,
    installation: Annotated[str | None, typer.Option("--installation", "-i", help="The installation (site) to push to.")] = None,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the job id and event numbers as JSON.")] = False,
) -> None:
    """Push events to a queue of the app (the loop of `forgeq run` delivers them)."""
    from forgeq.cli import render
    from forgeq.emulator.errors import InputError

    if count < 1:
        raise InputError(f"--count must be 1 or more, not {count}")
    if event is not None and queue is not None:
        raise InputError("give either a product event or --queue, not both")
    if queue is None:
        raise InputError("nothing to push", "pass --queue NAME --body JSON, or a product event such as issue-created")
    result = push_to_queue(queue, body, delay, count, installation, manifest, db)
    if json_output:
        render.json_out(result)
    else:
        render.pushed(result)


def read_body(body: str | None) -> Any:
    from forgeq.emulator.errors import InputError

    if body is None:
        return {}
    source = "--body"
    text = body
    if body.startswith("@"):
        path = Path(body[1:])
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"--body {body}: no such file {path}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"--body {body}: cannot read {path}: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{source}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}") from None


def push_to_queue(
    queue: str, body: str | None, delay: float | None, count: int, installation: str | None, manifest: Path, db: Path | None
) -> dict[str, Any]:
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.pushing import new_events
    from forgeq.emulator.settings import DEFAULT_INSTALLATION
    from forgeq.events import EventsError, Queue, validate_push

    try:
        Queue(key=queue)
    except EventsError as error:
        raise InputError(f"--queue '{queue}': {error}") from None
    event: dict[str, Any] = {"body": read_body(body)}
    if delay is not None:
        event["delayInSeconds"] = delay
    try:
        validate_push([event])
    except EventsError as error:
        raise InputError(f"{type(error).__name__}: {error}") from None
    warnings = []
    if manifest.exists():
        from forgeq.emulator.manifest import load_manifest

        if load_manifest(manifest).consumer_for(queue) is None:
            warnings.append(f"no consumer in {manifest} listens on queue '{queue}'; the events wait until one does")
    store = open_store(manifest, db, must_exist=False)
    site = installation or DEFAULT_INSTALLATION
    now = virtual_now(store)
    job_id, seqs = store.push_job(queue, site, now, "cli", new_events(queue, (event for _ in range(count)), installation=site, now=now, job_id=None))
    store.close()
    return {"queue": queue, "installation": site, "job_id": job_id, "count": len(seqs), "first": seqs[0], "last": seqs[-1], "warnings": warnings}
