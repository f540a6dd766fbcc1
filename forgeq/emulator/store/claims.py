"""The loop's look-ahead claim: the next events in due order, leased in the commit's transaction.

`Store.commit(batch, claim)` applies the batch, then (same IMMEDIATE transaction) leases the first
`claim.limit` PENDING events not leased, in (available_at, id) order, due at or before `claim.until`,
and reads the earliest due time left waiting after that (`claim.rest_min`). One transaction per
window of up to 200 events (`limits.WINDOW_EVENTS`), where a claim per instant cost two (forgeq/emulator/loop/lookahead.py says why the
timeline is the same).
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from forgeq.emulator.store import schema


@dataclass
class WindowClaim:
    until: float  # due at or before this (math.inf: no bound)
    limit: int
    owner: str
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # EventRecord fields, in (available_at, id) order
    rest_min: float = math.inf  # earliest available_at still PENDING after the claim (inf: none)


class Leases:
    """The events this process's runs hold leased, by owner, as the `leases` table holds them.

    A run's leases are one row (owner, JSON array of event numbers), written in the transaction that
    takes or gives back a lease: a claim adds its events, a commit takes out those it acknowledged or
    gave back. The sets here mirror the rows: only this process writes its owners' rows, and
    `Store.reclaim_running` (which clears the table) calls `forget`.
    """

    def __init__(self) -> None:
        self.held: dict[str, set[int]] = {}

    def take(self, conn: sqlite3.Connection, owner: str, events: list[int]) -> None:
        if events:
            held = self.held.setdefault(owner, set())
            held.update(events)
            _write(conn, owner, held)

    def give_back(self, conn: sqlite3.Connection, events: set[int]) -> None:
        for owner, held in self.held.items():
            if not held.isdisjoint(events):
                held -= events
                _write(conn, owner, held)

    def forget(self) -> None:
        self.held.clear()


def _write(conn: sqlite3.Connection, owner: str, held: set[int]) -> None:
    if held:
        conn.execute("INSERT OR REPLACE INTO leases(owner, events) VALUES (?, ?)", (owner, json.dumps(sorted(held))))
    else:
        conn.execute("DELETE FROM leases WHERE owner = ?", (owner,))


def claim_window(conn: sqlite3.Connection, claim: WindowClaim, columns: str, leases: Leases) -> None:
    """Lease the window inside the caller's transaction; fill claim.rows and claim.rest_min."""
    claim.rows = lease(
        conn,
        leases,
        f"SELECT {columns} FROM events e WHERE {schema.WAITING} AND available_at <= ? ORDER BY available_at, id LIMIT ?",
        (claim.until, claim.limit),
        claim.owner,
    )
    rest = conn.execute(
        f"SELECT available_at FROM events e WHERE {schema.WAITING} ORDER BY available_at, id LIMIT 1"
    ).fetchone()
    claim.rest_min = math.inf if rest is None else float(rest[0])


def lease(conn: sqlite3.Connection, leases: Leases, select: str, args: tuple[Any, ...], owner: str) -> list[tuple[Any, ...]]:
    """Lease the events `select` returns (id first) to `owner`, inside the caller's transaction.

    The event's own row stays PENDING until its attempt is acknowledged, so each attempt writes the
    event's row and indexes once (schema.py).
    """
    rows = conn.execute(select, args).fetchall()
    leases.take(conn, owner, [row[0] for row in rows])
    return rows
