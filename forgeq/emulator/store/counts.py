"""Events counted by state without an index that holds the state of every event (schema 6).

A success writes one index entry, its events_due entry's removal: no index holds SUCCEEDED. The
counts read three indexes in their own order (schema.py says what each holds), and the succeeded
are what is left: all, less the waiting, less the others (dropped, cancelled, blocked, ...).

- all: events_by_kind (kind, target, retry_count), the history's length, without a sort;
- the others: events_by_target, partial on `state NOT IN (0, 2)`, a few rows;
- the waiting: events_due, covering, as long as the backlog. The index is in due order, so a sort
  groups them, by one key (kind, or target) with the splits summed inside: a key per split made
  the sort three times as slow on a backlog of 1e6 (bench/README.md, "Round 5"). The leased are
  read from `leases`, a row each, and moved from waiting to running.

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
_LEASED = f"FROM leases l, json_each(l.events) j CROSS JOIN events e ON e.id = j.value WHERE e.state = {schema.PENDING}"


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
        for kind, n, retried in conn.execute(f"SELECT kind, count(*), sum(retry_count > 0) {_WAITING} GROUP BY kind"):
            add(kind, schema.PENDING, 1, retried)
            add(kind, schema.PENDING, 0, n - retried)
    return {key: n for key, n in counts.items() if n}


def target_counts(
    conn: sqlite3.Connection, now: float, names: tuple[str, ...], installation: str | None, kind: str | None
) -> dict[str, dict[str, int]]:
    """Per target (of `kind`, of `installation`; None: any): `names` (each 0 to start with) plus the
    other states found, the waiting split into pending / delayed / retrying / running (leased)."""
    columns = [column for column, value in (("kind", kind), ("installation", installation)) if value]
    args: list[Any] = [value for value in (kind, installation) if value]
    narrowed = "".join(f" AND {column} = ?" for column in columns)
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
        everything = " WHERE " + " AND ".join(f"{column} = ?" for column in columns) if columns else ""
        for target, n in conn.execute(f"SELECT target, count(*) FROM events{everything} GROUP BY kind, target", args):
            add(target, "succeeded", n)
        for target, state, n in conn.execute(
            f"SELECT target, state, count(*) FROM events WHERE {schema.NOT_PENDING_OR_SUCCEEDED}{narrowed} GROUP BY kind, target, state",
            args,
        ):
            add(target, schema.STATE_NAMES[state], n)
        for target, n, retrying, delayed in conn.execute(
            f"SELECT target, count(*), sum(retry_count > 0), sum(retry_count = 0 AND available_at > ?) {_WAITING}{narrowed} GROUP BY target",
            [now, *args],
        ):
            add(target, "retrying", retrying)
            add(target, "delayed", delayed)
            add(target, "pending", n - retrying - delayed)
        # The leased (a window of each run's) were counted above as waiting: moved to running.
        for target, retrying, future, n in conn.execute(
            f"SELECT e.target, e.retry_count > 0, e.available_at > ?, count(*) {_LEASED}{''.join(f' AND e.{column} = ?' for column in columns)} "
            "GROUP BY 1, 2, 3",
            [now, *args],
        ):
            add(target, "running", n)
            add(target, "retrying" if retrying else "delayed" if future else "pending", -n)
    return {target: counts[target] for target in sorted(counts)}
