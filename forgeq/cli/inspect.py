"""`forgeq inspect`: look at the state without consuming anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from forgeq.cli.common import DbOption, InstallationOption, JsonOption, ManifestOption, open_store, virtual_now

app = typer.Typer(help="Look at queues, events, timelines and the key-value store.", no_args_is_help=True)


@app.command("queue")
def queue(manifest: ManifestOption = Path("manifest.yml"), db: DbOption = None, installation: InstallationOption = None, json_output: JsonOption = False) -> None:
    """Per queue: pending, delayed, running, retrying, succeeded, dropped, cancelled."""
    from forgeq.cli import render

    store = open_store(manifest, db)
    now = virtual_now(store)
    queues = store.queue_counts(now, installation)
    triggers = store.queue_counts(now, installation, kind="trigger")
    triggers.update(store.queue_counts(now, installation, kind="scheduled"))
    if json_output:
        render.json_out({"now": now, "queues": queues, "triggers": triggers})
    else:
        render.queue_table(queues, now, triggers)


@app.command("events")
def events(
    queue: Annotated[str | None, typer.Option("--queue", help="Only this queue.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="pending, running, succeeded, dropped, cancelled, blocked.")] = None,
    job: Annotated[str | None, typer.Option("--job", help="Only this job id.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 100,
    offset: Annotated[int, typer.Option("--offset", help="Skip this many.")] = 0,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    installation: InstallationOption = None,
    json_output: JsonOption = False,
) -> None:
    """Events with their state, attempts and retries."""
    from forgeq.cli import render
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.store.schema import STATE_NAMES

    states = {name: number for number, name in STATE_NAMES.items()}
    if state is not None and state not in states:
        raise InputError(f"--state '{state}' is not one of {', '.join(states)}")
    if limit < 1 or offset < 0:
        raise InputError("--limit must be 1 or more and --offset 0 or more")
    store = open_store(manifest, db)
    rows = store.events(
        kind="queue" if queue else None, target=queue, state=states.get(state or ""), job_id=job, installation=installation, limit=limit, offset=offset
    )
    shaped = [event_json(r) for r in rows]
    if json_output:
        render.json_out({"events": shaped})
    else:
        render.events_table(shaped)


@app.command("timeline")
def timeline(
    event: Annotated[str, typer.Argument(help="An event: its number (17 or #17) or its eventId.")],
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Every attempt of one event, with the retryContext it carried."""
    from forgeq.cli import render
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.ids import parse_event_ref

    store = open_store(manifest, db)
    record = store.event(parse_event_ref(event))
    if record is None:
        raise InputError(f"no event '{event}' in {store.path}", "list them with `forgeq inspect events`")
    attempts = store.attempts(record.id)
    data = {"event": event_json(record), "attempts": [attempt_json(a) for a in attempts]}
    if json_output:
        render.json_out(data)
    else:
        render.event_timeline(data)


@app.command("kvs")
def kvs(
    prefix: Annotated[str, typer.Option("--prefix", help="Only keys starting with this.")] = "",
    limit: Annotated[int, typer.Option("--limit", help="At most this many keys.")] = 1000,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    installation: InstallationOption = None,
    json_output: JsonOption = False,
) -> None:
    """The key-value store of an installation (secrets are never shown)."""
    import json

    from forgeq.cli import render
    from forgeq.emulator.settings import DEFAULT_INSTALLATION

    store = open_store(manifest, db)
    site = installation or DEFAULT_INSTALLATION
    rows = store.kv_scan(site, 0, prefix, None, limit, virtual_now(store))
    keys = [
        {"key": key, "value": json.loads(row.value), "created_at": row.created_at, "updated_at": row.updated_at, "expire_at": row.expire_at}
        for key, row in rows
    ]
    if json_output:
        render.json_out({"installation": site, "keys": keys})
    else:
        render.kvs_table(site, keys)


def event_json(record: Any) -> dict[str, Any]:
    import json

    from forgeq.emulator.store.schema import STATE_NAMES

    return {
        "seq": record.id,
        "event_id": record.event_id,
        "installation": record.installation,
        "kind": record.kind,
        "queue": record.target,
        "job_id": record.job_id,
        "state": STATE_NAMES[record.state],
        "retrying": record.state == 0 and record.retry_count > 0,
        "attempts": record.attempts,
        "retry_count": record.retry_count,
        "retry_reason": record.retry_reason,
        "retry_data": json.loads(record.retry_data) if record.retry_data else None,
        "available_at": record.available_at,
        "enqueued_at": record.enqueued_at,
        "finished_at": record.finished_at,
        "last_error": record.last_error,
        "body": json.loads(record.body),
        "extra": json.loads(record.extra) if record.extra else None,
        "replay_of": record.replay_of,
        "parent": record.parent_id,
    }


def attempt_json(row: dict[str, Any]) -> dict[str, Any]:
    import json

    shaped = {k: v for k, v in row.items() if k not in ("id", "event")}
    shaped["retry_context"] = json.loads(row["retry_context"]) if row["retry_context"] else None
    shaped["notes"] = row["notes"].split("\n") if row["notes"] else []
    return shaped
