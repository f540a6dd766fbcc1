"""`forgeq inspect`: look at the state without consuming anything."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from forgeq.cli import site as site_commands
from forgeq.cli.common import (
    CONTEXT,
    DbOption,
    InstallationOption,
    JsonOption,
    ManifestOption,
    examples,
    open_store,
    virtual_now,
)
from forgeq.cli.selection import (
    JobFilter,
    LimitOption,
    OffsetOption,
    QueueFilter,
    SinceFilter,
    StateFilter,
    UntilFilter,
)
from forgeq.emulator.errors import InputError

app = typer.Typer(
    help="Look at queues, events, jobs, timelines, the dropped-event ledger, the key-value store, quotas, product requests and the fake site.",
    epilog=examples(
        "forgeq inspect queue                          # per queue: pending, retrying, succeeded, dropped, ...",
        "forgeq inspect events --state retrying --since 15m",
        "forgeq inspect timeline 17                    # every attempt of event #17, with its retryContext",
        "forgeq inspect dropped --not-replayed         # the ledger",
        "forgeq inspect kvs --prefix issue- --limit 20",
        "forgeq inspect quota --metric write_units",
        docs="docs/json.md (every --json shape, the filters), docs/state-file.md",
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)
app.command("requests", short_help="Every product call handlers made, with its status and Retry-After.")(site_commands.requests)
app.add_typer(site_commands.app, name="site", short_help="The fake product site after a run: issues, pages, their history.")


@app.command("queue", short_help="Per queue: events by state, at the state's clock.")
def queue(manifest: ManifestOption = Path("manifest.yml"), db: DbOption = None, installation: InstallationOption = None, json_output: JsonOption = False) -> None:
    """Per queue: pending, delayed, running, retrying, succeeded, dropped, cancelled."""
    from forgeq.launcher import inspect_queue  # the launcher runs it without typer too (start-up)

    inspect_queue(manifest, db, installation, json_output)


@app.command("events", short_help="Events with their state, attempts and retries.")
def events(
    queue: QueueFilter = None,
    state: StateFilter = None,
    job: JobFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    limit: LimitOption = 100,
    offset: OffsetOption = 0,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    installation: InstallationOption = None,
    json_output: JsonOption = False,
) -> None:
    """Events with their state, attempts and retries (--since/--until: when they were pushed)."""
    from forgeq.cli import render
    from forgeq.cli.selection import check_page, selection

    check_page(limit, offset)
    store = open_store(manifest, db)
    sel = selection(store, queue=queue, state=state, installation=installation, job=job, since=since, until=until)
    shaped = [event_json(r) for r in store.find_events(sel, limit, offset)]
    total = store.count_events(sel)
    if json_output:
        render.json_out({"events": shaped, "total": total})
    else:
        render.events_table(shaped)
        render.footer(len(shaped), total, offset, "event")


@app.command("timeline", short_help="Every attempt of one event or one job, with its retryContext.")
def timeline(
    event: Annotated[str | None, typer.Argument(metavar="EVENT", help="An event: its number (17 or #17) or its eventId.")] = None,
    job: Annotated[str | None, typer.Option("--job", metavar="JOB_ID", help="Every event of this job instead of one event.")] = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="With --job: at most this many events.")] = 100,
    offset: Annotated[int, typer.Option("--offset", metavar="N", help="With --job: skip this many events.")] = 0,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Every attempt of one event (or of every event of a job, a page at a time), with the retryContext it carried."""
    from forgeq.cli import render
    from forgeq.cli.selection import check_page, selection
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.ids import parse_event_ref

    if (event is None) == (job is None):
        raise InputError("name one event (forgeq inspect timeline 17) or one job (--job JOB_ID)")
    store = open_store(manifest, db)
    window = selection(store, since=since, until=until)
    if job is not None:
        by_job = selection(store, job=job)
        jobs = store.find_jobs(by_job, 1)
        if not jobs:
            raise InputError(f"no job '{job}' in {store.path}", "list them with `forgeq inspect jobs`")
        check_page(limit, offset)
        records = store.find_events(by_job, limit, offset)  # a bulk import's job has 1e5 events
        attempts: dict[int, list[dict[str, Any]]] = {}
        if records:
            for row in store.attempts_of_job(job, window.since, window.until, events=(records[0].id, records[-1].id)):
                seq = row.pop("seq")
                attempts.setdefault(seq, []).append(attempt_json(row, store.site_requests(event=seq, attempt=row["attempt"])))
        data: dict[str, Any] = {
            "job": job_json(jobs[0]),
            "timelines": [{"event": event_json(r), "attempts": attempts.get(r.id, [])} for r in records],
            "total": store.count_events(by_job),
        }
        if json_output:
            render.json_out(data)
        else:
            render.job_timeline(data)
            render.footer(len(records), data["total"], offset, "event")
        return
    assert event is not None
    record = store.event(parse_event_ref(event))
    if record is None:
        raise InputError(f"no event '{event}' in {store.path}", "list them with `forgeq inspect events`")
    rows = [
        a
        for a in store.attempts(record.id)
        if (window.since is None or a["started_at"] >= window.since) and (window.until is None or a["started_at"] <= window.until)
    ]
    data = {
        "event": event_json(record),
        "attempts": [attempt_json(a, store.site_requests(event=record.id, attempt=a["attempt"])) for a in rows],
        "children": store.children(record.id),
    }
    if json_output:
        render.json_out(data)
    else:
        render.event_timeline(data)


@app.command("jobs", short_help="Jobs with Forge's getStats and forgeq's detail.")
def jobs(
    queue: QueueFilter = None,
    state: Annotated[
        str | None, typer.Option("--state", metavar="STATES", help="Only jobs with an event in one of these states (comma-separated, as for `inspect events`).")
    ] = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    limit: LimitOption = 100,
    offset: OffsetOption = 0,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    installation: InstallationOption = None,
    json_output: JsonOption = False,
) -> None:
    """Jobs with Forge's getStats (success, inProgress, failed) and forgeq's detail (--since/--until: when pushed)."""
    from forgeq.cli import render
    from forgeq.cli.selection import check_page, selection

    check_page(limit, offset)
    store = open_store(manifest, db)
    sel = selection(store, queue=queue, state=state, installation=installation, since=since, until=until)
    shaped = [job_json(row) for row in store.find_jobs(sel, limit, offset)]
    total = store.count_jobs(sel)
    if json_output:
        render.json_out({"jobs": shaped, "total": total})
    else:
        render.jobs_table(shaped)
        render.footer(len(shaped), total, offset, "job")


@app.command("dropped", short_help="The ledger: every dropped or lost event, and why.")
def dropped(
    queue: QueueFilter = None,
    state: Annotated[str | None, typer.Option("--state", metavar="STATES", help="dropped (queue events) or lost (trigger events); both by default.")] = None,
    job: JobFilter = None,
    not_replayed: Annotated[bool, typer.Option("--not-replayed", help="Only events not replayed yet.")] = False,
    since: SinceFilter = None,
    until: UntilFilter = None,
    limit: LimitOption = 1000,
    offset: OffsetOption = 0,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    installation: InstallationOption = None,
    json_output: JsonOption = False,
) -> None:
    """The ledger: every dropped or lost event, with its last error, retry context and why (--since/--until: when dropped)."""
    from forgeq.cli import render
    from forgeq.cli.selection import check_page, selection

    check_page(limit, offset)
    store = open_store(manifest, db)
    sel = selection(store, queue=queue, state=state, installation=installation, job=job, since=since, until=until, allowed_states=("dropped", "lost"))
    rows = [dropped_json(row) for row in store.find_dropped(sel, limit, offset, unreplayed=not_replayed)]
    total = store.count_dropped(sel, unreplayed=not_replayed)
    if json_output:
        render.json_out({"dropped": rows, "total": total})
    else:
        render.dropped_table(rows, total)
        render.footer(len(rows), total, offset, "ledger entry")


@app.command("kvs", short_help="The key-value store of an installation (no secrets).")
def kvs(
    prefix: Annotated[str, typer.Option("--prefix", metavar="PREFIX", help="Only keys starting with this.")] = "",
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="At most this many keys.")] = 1000,
    entity: Annotated[str | None, typer.Option("--entity", metavar="NAME", help="A custom entity's items instead of the plain keys, e.g. --entity import-record.")] = None,
    index: Annotated[str | None, typer.Option("--index", metavar="NAME", help="With --entity: in this index's order (by-key, or one the manifest declares).")] = None,
    partition: Annotated[list[str] | None, typer.Option("--partition", metavar="VALUE", help="With --index: a partition value, once per partition attribute, in order.")] = None,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    installation: InstallationOption = None,
    json_output: JsonOption = False,
) -> None:
    """The key-value store of an installation (secrets are never shown), or a custom entity's items.

    Example: forgeq inspect kvs --entity import-record --index by-status --partition failed
    """
    import json

    from forgeq.cli import render
    from forgeq.cli.selection import check_page
    from forgeq.emulator.settings import DEFAULT_INSTALLATION
    from forgeq.emulator.tools.entity_listing import entity_counts, list_items

    check_page(limit)
    store = open_store(manifest, db)
    site = installation or DEFAULT_INSTALLATION
    if entity is not None:
        from forgeq.emulator.app.manifest import load_manifest

        listing = list_items(
            store, load_manifest(manifest), site, entity,
            index=index, partition=partition or [], prefix=prefix, limit=limit, now=virtual_now(store),
        )  # fmt: skip
        if json_output:
            render.json_out(listing)
        else:
            render.entity_table(listing)
        return
    if index is not None or partition:
        raise InputError("--index and --partition need --entity", "e.g. --entity import-record --index by-status")
    rows = store.kv_scan(site, 0, prefix, None, limit, virtual_now(store))
    keys = [
        {"key": key, "value": json.loads(row.value), "created_at": row.created_at, "updated_at": row.updated_at, "expire_at": row.expire_at}
        for key, row in rows
    ]
    entities = entity_counts(store, site)
    total = store.kv_count(site, 0, prefix, virtual_now(store))
    if json_output:
        render.json_out({"installation": site, "keys": keys, "entities": entities, "total": total})
    else:
        render.kvs_table(site, keys, entities, total)
        render.footer(len(keys), total, 0, "key", "--limit N shows more, --prefix P fewer")


@app.command("quota", short_help="Storage quota and push-limit use per window.")
def quota(
    metric: Annotated[str | None, typer.Option("--metric", metavar="METRIC", help="Only this metric: write_units, read_units, requests, writes, ..., pushed_events.")] = None,
    all_windows: Annotated[bool, typer.Option("--all", help="Also list the one-second windows that refused nothing.")] = False,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    installation: InstallationOption = None,
    json_output: JsonOption = False,
) -> None:
    """Storage quota and push-limit use per window: units used against the limit, calls refused."""
    from forgeq.cli import render
    from forgeq.emulator.tools.quota_report import quota_report

    store = open_store(manifest, db)
    report = quota_report(store, installation, metric, all_windows)
    if json_output:
        render.json_out(report)
    else:
        render.quota_table(report)


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


def attempt_json(row: dict[str, Any], requests: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    import json

    from forgeq.cli.site import request_json

    shaped = {k: v for k, v in row.items() if k not in ("id", "event")}
    shaped["retry_context"] = json.loads(row["retry_context"]) if row["retry_context"] else None
    shaped["notes"] = row["notes"].split("\n") if row["notes"] else []
    shaped["requests"] = [request_json(r) for r in requests]
    return shaped


def job_json(row: dict[str, Any]) -> dict[str, Any]:
    """A job: Forge's getStats under `stats`, forgeq's own counts under `detail` (docs/json.md)."""
    return {
        "job_id": row["job_id"],
        "queue": row["queue"],
        "installation": row["installation"],
        "origin": row["origin"],
        "created_at": row["created_at"],
        "cancelled_at": row["cancelled_at"],
        "stats": {"success": row["success"], "inProgress": row["in_progress"], "failed": row["failed"]},
        "detail": {
            "events": row["events"],
            "pending": row["pending"],
            "delayed": row["delayed"],
            "retrying": row["retrying"],
            "running": row["running"],
            "blocked": row["blocked"],
            "succeeded": row["success"],
            "dropped": row["failed"],
            "cancelled": row["cancelled"],
            "attempts": row["attempts"],
            "last_finished_at": row["last_finished_at"],
        },
    }


def dropped_json(row: dict[str, Any]) -> dict[str, Any]:
    """A ledger entry: the event, why it was dropped, its last error and retry context, its replay."""
    import json

    from forgeq.emulator.store.inspection import LOST_KINDS
    from forgeq.emulator.store.schema import STATE_NAMES

    shaped = {
        "seq": row["seq"],
        "event_id": row["event_id"],
        "installation": row["installation"],
        "kind": row["kind"],
        "queue": row["target"],
        "job_id": row["job_id"],
        "fate": "lost" if row["kind"] in LOST_KINDS else "dropped",
        "reason": row["drop_reason"],
        "last_error": row["last_error"],
        "retry_context": json.loads(row["retry_context"]) if row["retry_context"] else None,
        "attempts": row["attempts"],
        "retry_count": row["retry_count"],
        "enqueued_at": row["enqueued_at"],
        "dropped_at": row["dropped_at"],
        "body": json.loads(row["body"]),
        "replayed_as": row["replayed_as"],
        "replayed_event_id": row["replayed_event_id"],
        "replay_state": STATE_NAMES.get(row["replayed_state"]) if row["replayed_state"] is not None else None,
    }
    if "new_seq" in row:
        shaped["new_seq"] = row["new_seq"]
        shaped["new_event_id"] = row["new_event_id"]
        shaped["new_job_id"] = row["new_job_id"]
    return shaped
