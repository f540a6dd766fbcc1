"""`forgeq replay`: dropped or lost events back on their queue (or to their trigger) as new deliveries.

A mixin of `Store` (see sqlite.py). Forge has no dead-letter queue; forgeq's ledger is one, and
this is its redrive. A replay is a new event row (`replay_of` = the original's number) with a
fresh retention window and retry count 0; the original stays dropped, and its ledger row records
`replayed_as`. Selecting and inserting happen in one IMMEDIATE transaction, so two replays at once
never deliver one dropped event twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from forgeq.emulator.ids import derived_uuid, event_uuid
from forgeq.emulator.store.batch import NewEvent, NewJob
from forgeq.emulator.store.inspection import InspectQueries, Selection

# A replay is delivered now: the original push's delay is over (concurrency keys are kept).
_DROPPED_EXTRA_FIELDS = ("delayInSeconds",)


class Replays(InspectQueries):
    """Redrive of the ledger."""

    conn: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by Store
        raise NotImplementedError

    @staticmethod
    def _insert_jobs(conn: sqlite3.Connection, jobs: Iterable[NewJob]) -> None:  # provided by Store
        raise NotImplementedError

    @staticmethod
    def _insert_events(
        conn: sqlite3.Connection, events: Iterable[NewEvent]
    ) -> list[int]:  # provided by Store
        raise NotImplementedError

    def replay_dropped(self, sel: Selection, now: float, *, dry_run: bool = False) -> list[dict[str, Any]]:
        """Replay every ledger entry matching `sel` that was not replayed yet; return them, oldest drop first.

        Each returned row is a ledger row (`find_dropped`) plus `new_seq`, `new_event_id` and
        `new_job_id` (None on a dry run). Queue events of one queue and installation share one new
        job (origin `replay`), so `getStats` of the original job is left as Forge would leave it.
        """
        if dry_run:
            return [_planned(row) for row in self.find_dropped(sel, -1, unreplayed=True)]
        with self.transaction() as conn:
            rows = self.find_dropped(sel, -1, unreplayed=True)
            groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
            for row in rows:
                groups.setdefault((row["installation"], row["kind"], row["target"]), []).append(row)
            for (installation, kind, target), members in groups.items():
                first = conn.execute(
                    "SELECT coalesce(max(seq), 0) + 1 FROM sqlite_sequence WHERE name = 'events'"
                ).fetchone()[0]
                job_id = derived_uuid("job", "replay", first) if kind == "queue" else None
                if job_id is not None:
                    self._insert_jobs(conn, [NewJob(job_id, installation, target, now, "replay")])
                seqs = self._insert_events(
                    conn,
                    [
                        NewEvent(
                            installation,
                            kind,
                            target,
                            job_id,
                            row["body"],
                            _replay_extra(row["extra"]),
                            now,
                            now,
                            replay_of=row["seq"],
                        )
                        for row in members
                    ],
                )
                conn.executemany(
                    "UPDATE ledger SET replayed_as = ? WHERE event = ?",
                    [(seq, row["seq"]) for seq, row in zip(seqs, members, strict=True)],
                )
                for seq, row in zip(seqs, members, strict=True):
                    row["new_seq"] = seq
                    row["new_job_id"] = job_id
                    row["new_event_id"] = event_uuid(seq)  # as _insert_events names it
        return rows


def _planned(row: dict[str, Any]) -> dict[str, Any]:
    row.update(new_seq=None, new_event_id=None, new_job_id=None)
    return row


def _replay_extra(extra: str | None) -> str | None:
    if not extra:
        return extra
    fields = {name: value for name, value in json.loads(extra).items() if name not in _DROPPED_EXTRA_FIELDS}
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False) if fields else None
