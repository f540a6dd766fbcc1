"""The loop's look-ahead claim: the next events in due order, leased in the commit's transaction.

`Store.commit(batch, claim)` applies the batch, then (same IMMEDIATE transaction) leases the first
`claim.limit` PENDING events in (available_at, id) order due at or before `claim.until`, and reads
the earliest due time left PENDING after that (`claim.rest_min`). One transaction per window of
up to 50 events, where a claim per instant cost two (forgeq/emulator/lookahead.py says why the
timeline is the same).
"""

from __future__ import annotations

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


def claim_window(conn: sqlite3.Connection, claim: WindowClaim, columns: str) -> None:
    """Lease the window inside the caller's transaction; fill claim.rows and claim.rest_min."""
    rows = conn.execute(
        f"UPDATE events SET state = {schema.RUNNING}, lease_owner = ? WHERE id IN ("
        f"SELECT id FROM events WHERE state = {schema.PENDING} AND available_at <= ? "
        f"ORDER BY available_at, id LIMIT ?) RETURNING {columns}",
        (claim.owner, claim.until, claim.limit),
    ).fetchall()
    rows.sort(key=lambda row: (row[9], row[0]))  # RETURNING gives no order: (available_at, id)
    claim.rows = rows
    rest = conn.execute(f"SELECT min(available_at) FROM events WHERE state = {schema.PENDING}").fetchone()[0]
    claim.rest_min = math.inf if rest is None else float(rest)
