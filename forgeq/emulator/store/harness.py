"""What the testing API and fault injection read and write beyond the loop's own statements.

A mixin of `Store` (see sqlite.py): every statement here is small and runs on the same
connection, so a test reads exactly what `forgeq inspect` would read from the same state.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any

from forgeq.emulator.store import schema

_ATTEMPT_COLUMNS = (
    "a.id AS attempt_id, a.event, e.event_id, e.installation, e.kind, e.target, e.job_id, a.attempt, a.retry_count, "
    "a.started_at, a.ended_at, a.outcome, a.reason, a.error, a.retry_after_asked, a.retry_after_applied, a.next_at, "
    "a.retry_context, a.quota_refusals, a.storage_calls, a.notes, a.logs, a.wall_ms"
)


class HarnessStore:
    """Reads and small writes for forgeq.testing and forgeq.emulator.tools.faults."""

    conn: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by Store
        raise NotImplementedError

    def timeline_rows(
        self,
        *,
        event: int | None = None,
        job_id: str | None = None,
        target: str | None = None,
        kind: str | None = None,
        installation: str | None = None,
        after_attempt_id: int = 0,
    ) -> list[dict[str, Any]]:
        """Attempts in the order they were committed, each with its event's identity."""
        clauses: list[str] = ["a.id > ?"]
        args: list[Any] = [after_attempt_id]
        for column, value in (
            ("a.event", event),
            ("e.job_id", job_id),
            ("e.target", target),
            ("e.kind", kind),
            ("e.installation", installation),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        cursor = self.conn.execute(
            f"SELECT {_ATTEMPT_COLUMNS} FROM attempts a JOIN events e ON e.id = a.event WHERE {' AND '.join(clauses)} ORDER BY a.id",
            args,
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def drop_reasons(self, events: list[int]) -> dict[int, str]:
        """The ledger's drop reason of each of `events` that is in it."""
        marks = ", ".join("?" * len(events))
        return dict(self.conn.execute(f"SELECT event, drop_reason FROM ledger WHERE event IN ({marks})", events).fetchall()) if events else {}

    def last_attempt_id(self) -> int:
        return int(self.conn.execute("SELECT coalesce(max(id), 0) FROM attempts").fetchone()[0])

    def all_jobs(self) -> list[dict[str, Any]]:
        """Every job with Forge's counts (success, inProgress, failed) and forgeq's cancelled count."""
        rows = self.conn.execute(
            "SELECT j.job_id, j.installation, j.queue, j.created_at, j.cancelled_at, j.origin, "
            f"sum(e.state = {schema.SUCCEEDED}), sum(e.state IN ({schema.PENDING}, {schema.RUNNING}, {schema.BLOCKED})), "
            f"sum(e.state = {schema.DROPPED}), sum(e.state = {schema.CANCELLED}), count(e.id) "
            "FROM jobs j LEFT JOIN events e ON e.job_id = j.job_id GROUP BY j.job_id ORDER BY j.created_at, j.job_id"
        ).fetchall()
        names = (
            "job_id",
            "installation",
            "queue",
            "created_at",
            "cancelled_at",
            "origin",
            "success",
            "inProgress",
            "failed",
            "cancelled",
            "events",
        )
        return [
            {
                name: (value or 0) if index >= 6 else value
                for index, (name, value) in enumerate(zip(names, row, strict=True))
            }
            for row in rows
        ]

    def quota_rows(self, installation: str | None = None) -> list[dict[str, Any]]:
        """Every recorded quota window, oldest first (columns as the quota model writes them)."""
        sql = "SELECT * FROM quota_windows"
        args: list[Any] = []
        if installation is not None:
            sql += " WHERE installation = ?"
            args.append(installation)
        cursor = self.conn.execute(sql + " ORDER BY window_start, installation, metric", args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def known_installations(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT installation FROM events UNION SELECT installation FROM kvs ORDER BY 1"
        ).fetchall()
        return [row[0] for row in rows]

    def redeliver_finished(self, event: int, at: float) -> bool:
        """Deliver a succeeded event again at `at`: the same delivery once more.

        Forge delivers at least once (Atlassian's "Async events API": at-least-once delivery): a duplicate carries the same event id, body and
        retry context as the delivery that succeeded. The attempt count carries on, so the
        timeline numbers the duplicate after the original.
        """
        with self.transaction() as conn:
            changed = conn.execute(
                f"UPDATE events SET state = {schema.PENDING}, available_at = ?, finished_at = NULL, last_error = NULL "
                f"WHERE id = ? AND state = {schema.SUCCEEDED} AND kind IN ('queue', 'trigger', 'scheduled')",
                (at, event),
            ).rowcount
        return bool(changed)
