"""Custom entity items and their indexes: the `entities` table and one SQLite index per declared index.

An item is a row (installation, entity, key) holding its value as JSON text. Each index the
manifest declares is a partial expression index on that table, created in the state file:

    CREATE INDEX "ces:import-record:by-status:1f2e3d4c" ON entities(
        installation, json_extract(value, '$."status"'), json_extract(value, '$."attempts"'), key
    ) WHERE entity = 'import-record'

so a query by index is a range scan of that B-tree whatever the number of items, and the index
is always exactly as current as the rows (SQLite keeps it). An item without an index's attributes
has NULLs there and is left out of that index's queries (items are sparse, as Forge's are). The
index's name carries a hash of its definition: a changed definition is a new index, built once
from the rows when the emulator starts (`sync_entity_indexes`).

Queries read index order through `INDEXED BY` (SQLite keeps no statistics on these expressions
and would otherwise prefer the primary key). A page continues after the last item it returned
with two range scans, the rest of that item's range value then the values beyond it, because a
row-value comparison over expressions does not bound an index scan.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from forgeq.emulator.store.batch import KvRow

if TYPE_CHECKING:
    from forgeq.emulator.store.entity_scans import EntityScan, IndexShape

# Operators of a range bound (the platform turns Forge's conditions into these).
RANGE_OPERATORS = ("=", ">", ">=", "<", "<=")


def _attribute(name: str) -> str:
    # Attribute names match ^[a-zA-Z][a-zA-Z0-9_]*$ (the manifest checks them): safe in a JSON path.
    return f"json_extract(value, '$.\"{name}\"')"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class EntityStore:
    """Store methods for custom entities (a mixin of Store: `self.conn` and `self.transaction()`)."""

    conn: sqlite3.Connection
    _entity_indexes: set[str] | None = None

    # -- items --------------------------------------------------------------------------------

    def entity_get(self, installation: str, entity: str, key: str) -> KvRow | None:
        row = self.conn.execute(
            "SELECT value, created_at, updated_at, expire_at FROM entities WHERE installation = ? AND entity = ? AND key = ?",
            (installation, entity, key),
        ).fetchone()
        return None if row is None else KvRow(row[0], row[1], row[2], row[3])

    @staticmethod
    def _write_entities(conn: sqlite3.Connection, writes: list[tuple[str, str, str, KvRow | None]]) -> None:
        deletes = [(i, e, k) for i, e, k, row in writes if row is None]
        upserts = [
            (i, e, k, row.value, row.created_at, row.updated_at, row.expire_at) for i, e, k, row in writes if row is not None
        ]
        conn.executemany("DELETE FROM entities WHERE installation = ? AND entity = ? AND key = ?", deletes)
        # As Store._write_kv: a createdAt of None (?5) keeps the stored item's, if it is live at the write (?6).
        conn.executemany(
            "INSERT INTO entities(installation, entity, key, value, created_at, updated_at, expire_at) "
            "VALUES (?1, ?2, ?3, ?4, coalesce(?5, ?6), ?6, ?7) ON CONFLICT(installation, entity, key) DO UPDATE SET "
            "value = excluded.value, "
            "created_at = CASE WHEN ?5 IS NULL AND (entities.expire_at IS NULL OR entities.expire_at > ?6) "
            "THEN entities.created_at ELSE excluded.created_at END, "
            "updated_at = excluded.updated_at, expire_at = excluded.expire_at",
            upserts,
        )

    def entity_counts(self, installation: str) -> dict[str, int]:
        return dict(
            self.conn.execute(
                "SELECT entity, count(*) FROM entities WHERE installation = ? GROUP BY entity ORDER BY entity",
                (installation,),
            ).fetchall()
        )

    # -- indexes --------------------------------------------------------------------------------

    def entity_indexes(self) -> set[str]:
        """The names of the entity indexes the state file holds."""
        if self._entity_indexes is None:
            self._entity_indexes = {
                row[0]
                for row in self.conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entities' AND name LIKE 'ces:%'"
                )
            }
        return self._entity_indexes

    def sync_entity_indexes(self, shapes: list[IndexShape]) -> tuple[list[str], list[str]]:
        """Create the SQLite index of every shape that lacks one, drop those no shape wants; (created, dropped)."""
        wanted = {shape.sqlite_name: shape for shape in shapes if shape.sqlite_name is not None}
        existing = self.entity_indexes()
        created = sorted(name for name in wanted if name not in existing)
        dropped = sorted(name for name in existing if name not in wanted)
        if not created and not dropped:
            return [], []
        with self.transaction() as conn:  # type: ignore[attr-defined]
            for name in dropped:
                conn.execute(f"DROP INDEX IF EXISTS {_identifier(name)}")
            for name in created:
                shape = wanted[name]
                columns = ", ".join(["installation", *(_attribute(a) for a in shape.partition), _attribute(str(shape.range)), "key"])
                conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {_identifier(name)} ON entities({columns}) "
                    f"WHERE entity = {_literal(shape.entity)}"
                )
        self._entity_indexes = None
        return created, dropped

    # -- queries --------------------------------------------------------------------------------

    def entity_scan(
        self, scan: EntityScan, after: tuple[Any, str] | None, now: float, chunk: int
    ) -> Iterator[tuple[Any, str, KvRow]]:
        """(range value, key, row) in index order, after `after` (a range value and a key), unexpired at `now`.

        Reads `chunk` rows per statement; the caller stops when it has what it needs.
        """
        shape = scan.shape
        column = "key" if shape.range is None else _attribute(shape.range)
        name = shape.sqlite_name
        indexed = f" INDEXED BY {_identifier(name)}" if name is not None and name in self.entity_indexes() else ""
        # The partition and the expiry hold for every statement; the range bounds only where the
        # range value is not already fixed (with `= value` beside them SQLite picks the bounds).
        where = [f"entity = {_literal(shape.entity)}", "installation = ?", "(expire_at IS NULL OR expire_at > ?)"]
        args: list[Any] = [scan.installation, now]
        for attribute, value in zip(shape.partition, scan.partition_values, strict=True):
            where.append(f"{_attribute(attribute)} = ?")
            args.append(value)
        bounded = list(where)
        bounded_args = list(args)
        if shape.range is not None:
            bounded.append(f"{column} IS NOT NULL")
        for operator, value in scan.bounds:
            if operator not in RANGE_OPERATORS:
                raise ValueError(f"unknown range operator {operator!r}")
            bounded.append(f"{column} {operator} ?")
            bounded_args.append(value)
        order = "DESC" if scan.descending else "ASC"
        beyond = "<" if scan.descending else ">"
        select = f"SELECT {column}, key, value, created_at, updated_at, expire_at FROM entities{indexed} WHERE "
        fixed, ranged = " AND ".join(where), " AND ".join(bounded)
        while True:
            if after is None:
                sql = f"{select}{ranged} ORDER BY {column} {order}, key {order} LIMIT ?"
                rows = self.conn.execute(sql, [*bounded_args, chunk]).fetchall()
            else:
                value, key = after
                rows = []
                if shape.range is not None:  # the rest of the last item's range value, in key order
                    same = f"{select}{fixed} AND {column} = ? AND key {beyond} ? ORDER BY key {order} LIMIT ?"
                    rows = self.conn.execute(same, [*args, value, key, chunk]).fetchall()
                    bound: Any = value
                else:
                    bound = key
                if len(rows) < chunk:
                    rest = f"{select}{ranged} AND {column} {beyond} ? ORDER BY {column} {order}, key {order} LIMIT ?"
                    rows += self.conn.execute(rest, [*bounded_args, bound, chunk - len(rows)]).fetchall()
            for row in rows:
                yield row[0], row[1], KvRow(row[2], row[3], row[4], row[5])
            if len(rows) < chunk:
                return
            after = (rows[-1][0], rows[-1][1])
