"""The filters `inspect` and `replay` share: queue, state, installation, job, time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from forgeq.emulator import limits

if TYPE_CHECKING:
    from forgeq.emulator.store import Store
    from forgeq.emulator.store.inspection import Selection

QueueFilter = Annotated[str | None, typer.Option("--queue", metavar="QUEUE", help="Only this queue (or trigger module key).")]
StateFilter = Annotated[
    str | None,
    typer.Option(
        "--state", metavar="STATES",
        help="Only these states, comma-separated: pending, delayed, retrying, running, succeeded, dropped, lost, cancelled, blocked, delivered.",
    ),
]
JobFilter = Annotated[str | None, typer.Option("--job", metavar="JOB_ID", help="Only this job id.")]
SinceFilter = Annotated[
    str | None,
    typer.Option(
        "--since", metavar="T",
        help="From this time: an offset from the start of virtual time (15m, +00:15:00), -15m (the last 15 minutes), or an ISO date.",
    ),
]
UntilFilter = Annotated[str | None, typer.Option("--until", metavar="T", help="Up to this time (same forms as --since).")]
LimitOption = Annotated[int, typer.Option("--limit", metavar="N", help="At most this many.")]
OffsetOption = Annotated[int, typer.Option("--offset", metavar="N", help="Skip this many.")]


def parse_states(text: str | None, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.store.inspection import STATE_FILTERS

    if text is None:
        return ()
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    choices = allowed or tuple(STATE_FILTERS)
    unknown = [name for name in names if name not in choices]
    if unknown or not names:
        raise InputError(
            f"--state '{text}': {', '.join(unknown) or 'nothing'} is not one of {', '.join(choices)}"
        )
    return names


def check_page(limit: int, offset: int = 0) -> None:
    """The bounds of --limit and --offset, checked here rather than by click, whose range would print
    a 16-digit bound in every help text."""
    from forgeq.emulator.errors import InputError

    if not 1 <= limit <= limits.MAX_CLI_COUNT:
        raise InputError(f"--limit must be 1 to {limits.MAX_CLI_COUNT:,}, not {limit}")
    if not 0 <= offset <= limits.MAX_CLI_COUNT:
        raise InputError(f"--offset must be 0 to {limits.MAX_CLI_COUNT:,}, not {offset}")


def selection(
    store: Store,
    *,
    queue: str | None = None,
    state: str | None = None,
    installation: str | None = None,
    job: str | None = None,
    since: str | None = None,
    until: str | None = None,
    events: tuple[int, ...] = (),
    allowed_states: tuple[str, ...] | None = None,
) -> Selection:
    """A Selection for the store, with times read on the state's clock; bad input is refused (exit 2)."""
    from forgeq.cli.common import virtual_now
    from forgeq.emulator.store.inspection import Selection
    from forgeq.emulator.timespec import parse_window

    now = virtual_now(store)
    start, end = parse_window(since, until, now)
    return Selection(
        queue=queue,
        installation=installation,
        states=parse_states(state, allowed_states),
        job_id=job,
        since=start,
        until=end,
        events=events,
        now=now,
    )
