"""Events counted by state without an index that holds the state of every event (schema 6).

A success writes one index entry, its events_due entry's removal: no index holds SUCCEEDED. The
counts read three indexes in their own order (schema.py says what each holds), and the succeeded
are what is left: all, less the waiting, less the others (dropped, cancelled, blocked, ...).

- all: events_by_kind (kind, target, retry_count), the history's length, without a sort;
- the others: events_by_target, partial on `state NOT IN (0, 2)`, a few rows;
- the waiting: events_due, covering, as long as the backlog. Grouped by a sort of the backlog's
  rows (the index is in due order), never the history's.

On a state file of schema 5 opened read-only (no events_by_kind, a full events_by_target) the same
statements answer the same, from other indexes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from forgeq.emulator.store import schema

# The waiting rows from events_due, named: SQLite without statistics would take events_by_kind for
# an equality on its first column or for its order (the history's length, each row looked up).
_WAITING = f"FROM events e INDEXED BY events_due WHERE state = {schema.PENDING}"


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """The passes in one read transaction: a run committing in between (another process) would
    count its events in one pass and not another, and the difference is the succeeded."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def kind_state_counts(conn: sqlite3.Connection) -> dict[tuple[str, int, bool], int]:
    """Events by (kind, state, retried): the run summary's and the report's totals."""
    counts: dict[tuple[str, int, bool], int] = {}

    def add(kind: str, state: int, retried: int, n: int) -> None:
        key = (kind, state, bool(retried))
        counts[key] = counts.get(key, 0) + n
        if state != schema.SUCCEEDED:
            key = (kind, schema.SUCCEEDED, bool(retried))
            counts[key] = counts.get(key, 0) - n

    with _snapshot(conn):
        for kind, retried, n in conn.execute("SELECT kind, retry_count > 0, count(*) FROM events GROUP BY kind, target, retry_count"):
            add(kind, schema.SUCCEEDED, retried, n)
        for kind, state, retried, n in conn.execute(
            f"SELECT kind, state, retry_count > 0, count(*) FROM events WHERE {schema.NOT_PENDING_OR_SUCCEEDED} "
            "GROUP BY kind, target, state, retry_count"
        ):
            add(kind, state, retried, n)
        for kind, retried, n in conn.execute(f"SELECT kind, retry_count > 0, count(*) {_WAITING} GROUP BY 1, 2"):
            add(kind, schema.PENDING, retried, n)
    return {key: n for key, n in counts.items() if n}


def target_counts(
    conn: sqlite3.Connection, now: float, names: tuple[str, ...], installation: str | None, kind: str | None
) -> dict[str, dict[str, int]]:
    """Per target (of `kind`, of `installation`; None: any): `names` (each 0 to start with) plus the
    other states found, the waiting split into pending / delayed / retrying / running (leased)."""
    terms: list[str] = []
    args: list[Any] = []
    if kind:
        terms.append("kind = ?")
        args.append(kind)
    if installation:
        terms.append("installation = ?")
        args.append(installation)
    narrowed = "".join(f" AND {term}" for term in terms)
    counts: dict[str, dict[str, int]] = {}

    def add(target: str, name: str, n: int) -> None:
        bucket = counts.get(target)
        if bucket is None:
            bucket = counts[target] = dict.fromkeys(names, 0)
        bucket[name] = bucket.get(name, 0) + n
        if name != "succeeded":
            bucket["succeeded"] -= n

    # Grouped by kind first where an index starts with it: its own order, no sort over the history.
    with _snapshot(conn):
        everything = " WHERE " + " AND ".join(terms) if terms else ""
        for target, n in conn.execute(f"SELECT target, count(*) FROM events{everything} GROUP BY kind, target", args):
            add(target, "succeeded", n)
        for target, state, n in conn.execute(
            f"SELECT target, state, count(*) FROM events WHERE {schema.NOT_PENDING_OR_SUCCEEDED}{narrowed} GROUP BY kind, target, state",
            args,
        ):
            add(target, schema.STATE_NAMES[state], n)
        for target, leased, retrying, future, n in conn.execute(
            f"SELECT target, {schema.LEASED}, retry_count > 0, available_at > ?, count(*) {_WAITING}{narrowed} GROUP BY 1, 2, 3, 4",
            [now, *args],
        ):
            add(target, "running" if leased else "retrying" if retrying else "delayed" if future else "pending", n)
    return {target: counts[target] for target in sorted(counts)}
