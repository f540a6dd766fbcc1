"""`forgeq replay`: put dropped or lost events back on their queue, as new deliveries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgeq.cli.common import DbOption, InstallationOption, JsonOption, ManifestOption, open_store
from forgeq.cli.selection import JobFilter, QueueFilter, SinceFilter, UntilFilter
from forgeq.emulator.wording import plural


def replay(
    dropped: Annotated[
        bool,
        typer.Option(
            "--dropped", help="Every dropped or lost event not replayed yet (the other options narrow it)."
        ),
    ] = False,
    queue: QueueFilter = None,
    job: JobFilter = None,
    event: Annotated[
        list[str] | None,
        typer.Option("--event", "-e", metavar="EVENT", help="This event (17, #17 or its eventId); repeat for more."),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", metavar="STATES", help="dropped (queue events) or lost (trigger events); both by default."),
    ] = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be replayed; change nothing.")
    ] = False,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    installation: InstallationOption = None,
    json_output: JsonOption = False,
) -> None:
    """Deliver dropped or lost events again, as new events (dry run: --dry-run).

    Each becomes a new event (replay_of = the original) with a fresh retention window and retry
    count 0; the originals stay in the ledger, marked replayed.
    """
    from forgeq.cli import render
    from forgeq.cli.common import virtual_now
    from forgeq.cli.inspect import dropped_json
    from forgeq.cli.selection import selection
    from forgeq.emulator.errors import ForgeqError, InputError
    from forgeq.emulator.ids import parse_event_ref

    if not (dropped or queue or job or event):
        raise InputError(
            "say what to replay",
            "--dropped for every dropped or lost event, or --queue NAME, --job JOB_ID, --event N",
        )
    store = open_store(manifest, db)
    numbers: list[int] = []
    for ref in event or []:
        record = store.event(parse_event_ref(ref))
        if record is None:
            raise InputError(
                f"--event {ref}: no such event in {store.path}",
                "list the dropped ones with `forgeq inspect dropped`",
            )
        entry = store.find_dropped(selection(store, events=(record.id,)), 1)
        if not entry:
            from forgeq.emulator.store.schema import STATE_NAMES

            raise InputError(
                f"--event {ref}: event #{record.id} is {STATE_NAMES[record.state]}, not dropped",
                "only dropped or lost events are replayed",
            )
        if entry[0]["replayed_as"] is not None:
            raise InputError(
                f"--event {ref}: event #{record.id} was replayed already, as #{entry[0]['replayed_as']}",
                f"replay #{entry[0]['replayed_as']} instead if it was dropped too",
            )
        numbers.append(record.id)
    sel = selection(
        store,
        queue=queue,
        job=job,
        state=state,
        installation=installation,
        since=since,
        until=until,
        events=tuple(numbers),
        allowed_states=("dropped", "lost"),
    )
    rows = [dropped_json(row) for row in store.replay_dropped(sel, virtual_now(store), dry_run=dry_run)]
    if not rows:
        ledger = store.ledger_totals()
        held = ledger["dropped"] + ledger["lost"]
        waiting = held - ledger["dropped_replayed"] - ledger["lost_replayed"]
        if held == 0:
            why = "the ledger is empty: no event was dropped or lost"
        elif waiting == 0:
            why = "the one dropped or lost event was replayed already" if held == 1 else f"all {plural(held, 'dropped or lost event')} were replayed already"
        elif waiting == 1:
            why = "the one dropped or lost event not replayed yet does not match these options"
        else:
            why = f"none of the {plural(waiting, 'dropped or lost event')} not replayed yet matches these options"
        raise ForgeqError(f"nothing to replay: {why}", "see the ledger with `forgeq inspect dropped`")
    if json_output:
        render.json_out({"dry_run": dry_run, "count": len(rows), "replayed": rows})
    else:
        render.replayed(rows, dry_run)
    store.close()
