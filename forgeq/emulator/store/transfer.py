"""Whole-state reads and writes for `forgeq export`, `forgeq import` and `forgeq reset`.

A mixin of `Store` (see sqlite.py). Export reads inside one read transaction: under WAL that is a
consistent snapshot of the last commit, and the loop of a running `forgeq run` keeps writing
meanwhile. Import and reset each run in one IMMEDIATE transaction: a state is replaced entirely,
or not at all. Tables are found in sqlite_master, so a table added by a later schema is carried
(and wiped) too.
"""

from __future__ import annotations

import ast
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from forgeq.emulator.errors import InputError

if TYPE_CHECKING:
    from forgeq.emulator.store.transfer_rows import Column, TableLoad


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class StateTransfer:
    """Snapshot reads, wholesale loads and the wipe."""

    conn: sqlite3.Connection
    path: str

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by Store
        raise NotImplementedError

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read inside sees one committed state (a deferred transaction, fixed by its first read)."""
        self.conn.execute("BEGIN DEFERRED")
        try:
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            yield
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def table_names(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) != 'sqlite_' ORDER BY name"
        )
        return [row[0] for row in rows]

    def table_columns(self, table: str) -> list[Column]:
        from forgeq.emulator.store.transfer_rows import Column

        if table not in self.table_names():
            raise KeyError(table)
        columns = []
        for _cid, name, _type, not_null, default, _pk in self.conn.execute(
            f"PRAGMA table_info({_quote(table)})"
        ):
            try:
                value = ast.literal_eval(default) if default is not None else None
            except (ValueError, SyntaxError):
                value = None
            columns.append(Column(name, bool(not_null), value))
        return columns

    def table_rows(self, table: str, order_by: str | None = None) -> Iterator[dict[str, Any]]:
        """Every row of `table` as a dict; `order_by` lists column names (the primary key's, usually)."""
        names = [c.name for c in self.table_columns(table)]
        order = ""
        if order_by is not None:
            wanted = [part.strip() for part in order_by.split(",")]
            if any(part not in names for part in wanted):
                raise KeyError(order_by)
            order = " ORDER BY " + ", ".join(_quote(part) for part in wanted)
        cursor = self.conn.execute(f"SELECT * FROM {_quote(table)}{order}")
        described = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(described, row, strict=True))

    def events_with_ledger(self) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Events by number, each with its ledger row (without `event`) or None: one statement."""
        ledger_columns = [c.name for c in self.table_columns("ledger") if c.name != "event"]
        selected = ", ".join(f"l.{_quote(name)}" for name in ledger_columns)
        cursor = self.conn.execute(
            f"SELECT e.*, l.event IS NOT NULL, {selected} FROM events e LEFT JOIN ledger l ON l.event = e.id ORDER BY e.id"
        )
        event_count = len(cursor.description) - len(ledger_columns) - 1
        names = [d[0] for d in cursor.description[:event_count]]
        for row in cursor:
            event = dict(zip(names, row[:event_count], strict=True))
            ledger = (
                dict(zip(ledger_columns, row[event_count + 1 :], strict=True)) if row[event_count] else None
            )
            yield event, ledger

    def attempts_by_event(self) -> Iterator[dict[str, Any]]:
        """Attempts ordered as attempts_by_event(event, attempt) stores them (no sort needed)."""
        return self.table_rows("attempts", "event, attempt, id")

    def event_sequence(self) -> int:
        row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return 0 if row is None else int(row[0])

    def row_counts(self) -> dict[str, int]:
        return {
            table: int(self.conn.execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()[0])
            for table in self.table_names()
        }

    def _wipe(self, conn: sqlite3.Connection) -> dict[str, int]:
        deleted = {}
        for table in self.table_names():
            deleted[table] = conn.execute(f"DELETE FROM {_quote(table)}").rowcount
        conn.execute("DELETE FROM sqlite_sequence")
        return deleted

    def wipe(self) -> dict[str, int]:
        """Delete every row of every table and restart event numbers at 1; the file and schema stay."""
        with self.transaction() as conn:
            return self._wipe(conn)

    def load(
        self, loads: Iterable[TableLoad], event_sequence: int, *, replace: bool, source: str
    ) -> dict[str, int]:
        """Insert whole tables in one transaction, into an empty state (or after wiping it with `replace`)."""
        with self.transaction() as conn:
            if replace:
                self._wipe(conn)
            else:
                held = {table: n for table, n in self.row_counts().items() if n and table != "meta"}
                if held:
                    listed = ", ".join(f"{n} {table}" for table, n in sorted(held.items()))
                    raise InputError(
                        f"{self.path} is not empty ({listed})",
                        "run `forgeq reset` first, or pass --replace to import over it",
                    )
                conn.execute("DELETE FROM meta")
            counts: dict[str, int] = {}
            for load in loads:
                placeholders = ", ".join("?" * len(load.columns))
                columns = ", ".join(_quote(c) for c in load.columns)
                try:
                    cursor = conn.executemany(
                        f"INSERT INTO {_quote(load.table)} ({columns}) VALUES ({placeholders})", load.rows
                    )
                except sqlite3.IntegrityError as error:
                    raise InputError(
                        f"{source}: {load.table}: {error}", "each row must be unique and complete"
                    ) from None
                counts[load.table] = counts.get(load.table, 0) + max(cursor.rowcount, 0)
            top = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
            conn.execute("DELETE FROM sqlite_sequence WHERE name = 'events'")
            sequence = max(int(event_sequence), int(top))
            if sequence:
                conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('events', ?)", (sequence,))
        return counts
