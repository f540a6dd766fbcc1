"""What `forgeq inspect` and `forgeq replay` read: events, jobs, attempts and the ledger, filtered.

A mixin of `Store` (see sqlite.py). Every listing is one statement (no query per row), filtered in
SQL on indexed columns where one exists (events_by_kind, events_by_target, events_due,
events_by_job, attempts_by_event), and paged with LIMIT / OFFSET, so a state with a million events
answers a filtered page quickly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from forgeq.emulator.store import schema

if TYPE_CHECKING:
    from forgeq.emulator.store.sqlite import EventRecord

# The states a filter takes: the columns of `inspect queue`, plus `lost` (a dropped trigger or
# scheduled-trigger event) and `delivered` (a product event fanned out to its triggers).
# `?` stands for the state's clock ("now"): pending and delayed differ only by the due time.
# A state of events_by_target's (partial) says its WHERE word for word, so SQLite may read that index.
_OTHER = f"{schema.NOT_PENDING_OR_SUCCEEDED} AND e.state"
STATE_FILTERS: dict[str, str] = {
    "pending": f"{schema.WAITING} AND e.retry_count = 0 AND e.available_at <= ?",
    "delayed": f"{schema.WAITING} AND e.retry_count = 0 AND e.available_at > ?",
    "retrying": f"{schema.WAITING} AND e.retry_count > 0",
    "running": schema.IN_FLIGHT,
    "succeeded": f"e.state = {schema.SUCCEEDED}",
    "dropped": f"{_OTHER} = {schema.DROPPED}",
    "lost": f"{_OTHER} = {schema.DROPPED} AND e.kind IN ('trigger', 'scheduled')",
    "cancelled": f"{_OTHER} = {schema.CANCELLED}",
    "blocked": f"{_OTHER} = {schema.BLOCKED}",
    "delivered": f"{_OTHER} = {schema.FANNED_OUT}",
    "answered": f"{_OTHER} = {schema.ANSWERED}",
}
# Waiting states: read from events_due (the backlog), which holds the target too.
_WAITING_STATES = frozenset(("pending", "delayed", "retrying"))
# Every events.kind the loop writes (docs/architecture.md, "Event rows").
KINDS = ("queue", "product", "trigger", "scheduled", *schema.CALL_KINDS)
# Kinds whose dropped events Forge calls lost: a trigger has no queue to be dropped from.
LOST_KINDS = ("trigger", "scheduled")

_EVENT_COLUMNS = (  # in EventRecord's order (store/sqlite.py)
    "e.id, e.event_id, e.installation, e.kind, e.target, e.job_id, e.body, e.extra, e.available_at, e.enqueued_at, "
    f"e.attempts, e.retry_count, e.retry_reason, e.retry_data, e.redelivered, e.root_id, e.last_error, {schema.shown_state('e.')}, "
    "e.crashes, e.parent_id, e.replay_of, e.finished_at"
)
_ATTEMPT_COLUMNS = (
    "a.event AS seq, a.attempt, a.retry_count, a.started_at, a.ended_at, a.outcome, a.reason, a.error, a.retry_after_asked, "
    "a.retry_after_applied, a.next_at, a.retry_context, a.quota_refusals, a.storage_calls, a.notes, a.logs, a.wall_ms"
)
_LEDGER_COLUMNS = (
    "l.event AS seq, e.event_id, e.installation, e.kind, e.target, e.job_id, e.body, e.extra, e.enqueued_at, e.attempts, "
    "e.retry_count, e.retry_reason, l.dropped_at, l.drop_reason, l.last_error, l.retry_context, l.replayed_as, "
    "r.event_id AS replayed_event_id, r.state AS replayed_state"
)
_JOB_COUNTS = (
    f"sum(e.state = {schema.SUCCEEDED}) AS success, "
    f"sum(e.state IN ({schema.PENDING}, {schema.RUNNING}, {schema.BLOCKED})) AS in_progress, "
    f"sum(e.state = {schema.DROPPED}) AS failed, "
    f"sum(e.state = {schema.CANCELLED}) AS cancelled, "
    f"sum({schema.WAITING} AND e.retry_count = 0 AND e.available_at <= ?) AS pending, "
    f"sum({schema.WAITING} AND e.retry_count = 0 AND e.available_at > ?) AS delayed, "
    f"sum({schema.WAITING} AND e.retry_count > 0) AS retrying, "
    f"sum({schema.IN_FLIGHT}) AS running, "
    f"sum(e.state = {schema.BLOCKED}) AS blocked, "
    "sum(e.attempts) AS attempts, count(e.id) AS events, max(e.finished_at) AS last_finished_at"
)


@dataclass
class Selection:
    """What a listing or a replay is narrowed to; None (or empty) means any."""

    queue: str | None = None  # the event's target: a queue name, or a trigger's module key
    installation: str | None = None
    states: tuple[str, ...] = ()  # names from STATE_FILTERS, any of them
    job_id: str | None = None
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, inclusive
    events: tuple[int, ...] = ()  # event numbers
    now: float = 0.0  # the state's clock, for pending vs delayed


def _event_clauses(sel: Selection, time_column: str | None) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if sel.queue is not None:
        if sel.states and _WAITING_STATES.issuperset(sel.states):
            # `+` keeps SQLite off events_by_kind, whose (kind, target) range is the queue's whole history.
            clauses.append("+e.target = ?")
        else:
            # Naming every kind lets SQLite use events_by_kind or events_by_target, whose first column is the kind.
            clauses.append(f"e.kind IN {KINDS!r} AND e.target = ?")
        args.append(sel.queue)
    for column, value in (("e.installation", sel.installation), ("e.job_id", sel.job_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if sel.events:
        clauses.append(f"e.id IN ({', '.join('?' * len(sel.events))})")
        args.extend(sel.events)
    if sel.states:
        parts = []
        for name in sel.states:
            parts.append(f"({STATE_FILTERS[name]})")
            args.extend([sel.now] * STATE_FILTERS[name].count("?"))
        clauses.append("(" + " OR ".join(parts) + ")")
    if time_column is not None:
        if sel.since is not None:
            clauses.append(f"{time_column} >= ?")
            args.append(sel.since)
        if sel.until is not None:
            clauses.append(f"{time_column} <= ?")
            args.append(sel.until)
    return clauses, args


def _where(clauses: Iterable[str]) -> str:
    listed = list(clauses)
    return " WHERE " + " AND ".join(listed) if listed else ""


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


class InspectQueries:
    """Filtered listings for `inspect events|jobs|timeline|dropped`, the summary and `replay`."""

    conn: sqlite3.Connection

    # -- events -----------------------------------------------------------------------------------

    def find_events(self, sel: Selection, limit: int, offset: int = 0) -> list[EventRecord]:
        """Events matching `sel`, by number; the time filter applies to when they were pushed."""
        from forgeq.emulator.store.sqlite import EventRecord

        clauses, args = _event_clauses(sel, "e.enqueued_at")
        rows = self.conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events e{_where(clauses)} ORDER BY e.id LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return [EventRecord(*row) for row in rows]

    def count_events(self, sel: Selection) -> int:
        clauses, args = _event_clauses(sel, "e.enqueued_at")
        return int(self.conn.execute(f"SELECT count(*) FROM events e{_where(clauses)}", args).fetchone()[0])

    # -- jobs ---------------------------------------------------------------------------------------

    def _job_query(self, sel: Selection, limit: int | None = None, offset: int = 0) -> tuple[str, list[Any]]:
        """Jobs with their counts. With a page and no state filter, the page of jobs is taken first
        and only its events are counted; a state filter needs every job's counts before paging."""
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("queue", sel.queue),
            ("installation", sel.installation),
            ("job_id", sel.job_id),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if sel.since is not None:
            clauses.append("created_at >= ?")
            args.append(sel.since)
        if sel.until is not None:
            clauses.append("created_at <= ?")
            args.append(sel.until)
        having = ""
        having_args: list[Any] = []
        if sel.states:
            parts = []
            for name in sel.states:
                parts.append(f"coalesce(sum({STATE_FILTERS[name]}), 0) > 0")
                having_args.extend([sel.now] * STATE_FILTERS[name].count("?"))
            having = " HAVING " + " OR ".join(parts)
        jobs = f"SELECT * FROM jobs{_where(clauses)}"
        paged = limit is not None and not sel.states
        if paged:
            jobs += " ORDER BY created_at, job_id LIMIT ? OFFSET ?"
            args += [limit, offset]
        sql = (
            f"SELECT j.job_id, j.installation, j.queue, j.created_at, j.cancelled_at, j.origin, {_JOB_COUNTS} "
            f"FROM ({jobs}) j LEFT JOIN events e ON e.job_id = j.job_id GROUP BY j.job_id{having} ORDER BY j.created_at, j.job_id"
        )
        if limit is not None and not paged:
            sql += " LIMIT ? OFFSET ?"
            having_args += [limit, offset]
        return sql, [sel.now, sel.now, *args, *having_args]

    def find_jobs(self, sel: Selection, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        """Jobs with Forge's counts (success, inProgress, failed) and forgeq's detail; oldest first."""
        sql, args = self._job_query(sel, limit, offset)
        rows = _dicts(self.conn.execute(sql, args))
        counted = (
            "success",
            "in_progress",
            "failed",
            "cancelled",
            "pending",
            "delayed",
            "retrying",
            "running",
            "blocked",
            "attempts",
            "events",
        )
        for row in rows:
            for name in counted:
                row[name] = int(row[name] or 0)
        return rows

    def count_jobs(self, sel: Selection) -> int:
        sql, args = self._job_query(sel)
        return int(self.conn.execute(f"SELECT count(*) FROM ({sql})", args).fetchone()[0])

    # -- attempts -----------------------------------------------------------------------------------

    def attempts_of_job(
        self, job_id: str, since: float | None = None, until: float | None = None, events: tuple[int, int] | None = None
    ) -> list[dict[str, Any]]:
        """Every attempt of the job's events (`events`: those numbered from .. to), by event then
        attempt (one statement, via events_by_job)."""
        clauses = ["e.job_id = ?"]
        args: list[Any] = [job_id]
        if events is not None:
            clauses.append("e.id BETWEEN ? AND ?")
            args.extend(events)
        if since is not None:
            clauses.append("a.started_at >= ?")
            args.append(since)
        if until is not None:
            clauses.append("a.started_at <= ?")
            args.append(until)
        cursor = self.conn.execute(
            f"SELECT {_ATTEMPT_COLUMNS} FROM events e JOIN attempts a ON a.event = e.id{_where(clauses)} ORDER BY e.id, a.attempt, a.id",
            args,
        )
        return _dicts(cursor)

    # -- the ledger ---------------------------------------------------------------------------------

    def _ledger_query(
        self, sel: Selection, unreplayed: bool, with_replay: bool = True
    ) -> tuple[str, list[Any]]:
        clauses, args = _event_clauses(replace(sel, states=()), None)
        if "lost" in sel.states and "dropped" not in sel.states:
            clauses.append(f"e.kind IN {LOST_KINDS!r}")
        elif "dropped" in sel.states and "lost" not in sel.states:
            clauses.append(f"e.kind NOT IN {LOST_KINDS!r}")
        if sel.since is not None:
            clauses.append("l.dropped_at >= ?")
            args.append(sel.since)
        if sel.until is not None:
            clauses.append("l.dropped_at <= ?")
            args.append(sel.until)
        if unreplayed:
            clauses.append("l.replayed_as IS NULL")
        replay = " LEFT JOIN events r ON r.id = l.replayed_as" if with_replay else ""
        sql = f"FROM ledger l JOIN events e ON e.id = l.event{replay}{_where(clauses)}"
        return sql, args

    def find_dropped(
        self, sel: Selection, limit: int, offset: int = 0, *, unreplayed: bool = False
    ) -> list[dict[str, Any]]:
        """The ledger: every dropped or lost event with its last error, retry context and reason."""
        sql, args = self._ledger_query(sel, unreplayed)
        return _dicts(
            self.conn.execute(
                f"SELECT {_LEDGER_COLUMNS} {sql} ORDER BY l.dropped_at, l.event LIMIT ? OFFSET ?",
                [*args, limit, offset],
            )
        )

    def count_dropped(self, sel: Selection, *, unreplayed: bool = False) -> int:
        sql, args = self._ledger_query(sel, unreplayed, with_replay=False)
        return int(self.conn.execute(f"SELECT count(*) {sql}", args).fetchone()[0])

    def ledger_totals(self) -> dict[str, int]:
        """Ledger entries by fate (dropped queue events, lost trigger events) and how many were replayed."""
        totals = dict.fromkeys(("dropped", "dropped_replayed", "lost", "lost_replayed"), 0)
        for lost, count, replayed in self.conn.execute(
            f"SELECT e.kind IN {LOST_KINDS!r}, count(*), count(l.replayed_as) FROM ledger l JOIN events e ON e.id = l.event GROUP BY 1"
        ):
            fate = "lost" if lost else "dropped"
            totals[fate] += int(count)
            totals[f"{fate}_replayed"] += int(replayed)
        return totals
