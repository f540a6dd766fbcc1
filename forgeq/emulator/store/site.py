"""The fake product site in the state: objects, their history, and the requests handlers made.

A mixin of `Store` (see sqlite.py). The site (forgeq/emulator/platform/site/) keeps Jira issues,
comments, properties, projects, users and Confluence pages as JSON documents in `site_objects`,
keyed by (installation, kind, key); `ref` is the object's own id where it has one. What the loop's
attempts write arrives through `WriteBatch.site_writes`, `site_history` and `site_requests`, and
is written by `Store.commit` in the attempt's own transaction; `forgeq push` writes what a product
event names in the transaction of its chunk (`write_site`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from forgeq.emulator.store.batch import RequestRow, SiteChange, SiteKey, SiteRow
from forgeq.emulator.store.rows import RowStatement

REQUEST_COLUMNS = (
    "installation", "event", "attempt", "at", "product", "principal", "method", "path", "status", "retry_after", "reason", "points",
)  # fmt: skip
_OBJECT_COLUMNS = "installation, kind, key, ref, doc, updated_at"
_UPSERT = (
    f"INSERT INTO site_objects({_OBJECT_COLUMNS}) VALUES {{values}} "
    "ON CONFLICT(installation, kind, key) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at"
)
_HISTORY_COLUMNS = ("installation", "kind", "key", "at", "actor", "source", "change")
# A batch's site rows, many a statement (store/rows.py). Its writes hold one row an object (a dict
# by key), so no upsert meets its own object twice; history and request rows keep their order.
_UPSERT_ROWS = RowStatement(_UPSERT + ", ref = excluded.ref", "(?, ?, ?, ?, ?, ?)")
_KEPT_REF_ROWS = RowStatement(_UPSERT, "(?, ?, ?, ?, ?, ?)")  # SQLite maintains an index whenever SET names its column
_HISTORY_ROWS = RowStatement(f"INSERT INTO site_history({', '.join(_HISTORY_COLUMNS)}) VALUES {{values}}", f"({', '.join('?' * len(_HISTORY_COLUMNS))})")
_REQUEST_ROWS = RowStatement(f"INSERT INTO site_requests({', '.join(REQUEST_COLUMNS)}) VALUES {{values}}", f"({', '.join('?' * len(REQUEST_COLUMNS))})")


def write_site(
    conn: sqlite3.Connection,
    writes: dict[SiteKey, SiteRow | None],
    history: Sequence[SiteChange] = (),
    requests: Sequence[RequestRow] = (),
) -> None:
    """Apply site writes (None deletes), history rows and request rows inside a transaction."""
    if writes:
        deletes = [slot for slot, row in writes.items() if row is None]
        upserts = [(*slot, row.ref, row.doc, row.updated_at) for slot, row in writes.items() if row is not None and not row.kept_ref]
        kept = [(*slot, row.ref, row.doc, row.updated_at) for slot, row in writes.items() if row is not None and row.kept_ref]
        if deletes:
            conn.executemany("DELETE FROM site_objects WHERE installation = ? AND kind = ? AND key = ?", deletes)
        if upserts:
            _UPSERT_ROWS.run(conn, upserts)
        if kept:
            _KEPT_REF_ROWS.run(conn, kept)
    if history:
        _HISTORY_ROWS.run(conn, history)
    if requests:
        _REQUEST_ROWS.run(conn, requests)


class SiteStore:
    conn: sqlite3.Connection

    # -- objects ------------------------------------------------------------------------------------

    def site_get(self, installation: str, kind: str, key: str) -> SiteRow | None:
        row = self.conn.execute(
            "SELECT ref, doc, updated_at FROM site_objects WHERE installation = ? AND kind = ? AND key = ?",
            (installation, kind, key),
        ).fetchone()
        return None if row is None else SiteRow(row[0], row[1], row[2])

    def site_key_of(self, installation: str, kind: str, ref: str) -> str | None:
        """The key of the object whose own id is `ref` (an issue's key from its id)."""
        row = self.conn.execute(
            "SELECT key FROM site_objects WHERE installation = ? AND kind = ? AND ref = ?", (installation, kind, ref)
        ).fetchone()
        return None if row is None else str(row[0])

    def site_scan(self, installation: str, kind: str, prefix: str = "") -> list[tuple[str, SiteRow]]:
        """Every object of `kind` whose key starts with `prefix`, in key order."""
        if prefix:
            cursor = self.conn.execute(
                "SELECT key, ref, doc, updated_at FROM site_objects WHERE installation = ? AND kind = ? AND key >= ? AND key < ? ORDER BY key",
                (installation, kind, prefix, prefix + "\U0010ffff"),
            )
        else:
            cursor = self.conn.execute(
                "SELECT key, ref, doc, updated_at FROM site_objects WHERE installation = ? AND kind = ? ORDER BY key",
                (installation, kind),
            )
        return [(row[0], SiteRow(row[1], row[2], row[3])) for row in cursor]

    def site_counts(self, installation: str | None = None) -> dict[str, dict[str, int]]:
        """{installation: {kind: objects}}."""
        where = " WHERE installation = ?" if installation is not None else ""
        counts: dict[str, dict[str, int]] = {}
        for inst, kind, count in self.conn.execute(
            f"SELECT installation, kind, count(*) FROM site_objects{where} GROUP BY installation, kind ORDER BY installation, kind",
            (installation,) if installation is not None else (),
        ):
            counts.setdefault(inst, {})[kind] = count
        return counts

    def site_history_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM site_history").fetchone()[0])

    def site_history(self, installation: str, kind: str, key: str) -> list[dict[str, Any]]:
        cursor = self.conn.execute(
            f"SELECT {', '.join(_HISTORY_COLUMNS)} FROM site_history WHERE installation = ? AND kind = ? AND key = ? ORDER BY id",
            (installation, kind, key),
        )
        return [dict(zip(_HISTORY_COLUMNS, row, strict=True)) for row in cursor]

    # -- requests -----------------------------------------------------------------------------------

    def site_requests(self, *, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Requests in the order they were made. Filters: installation, event, attempt, status,
        method, product (equal) and path (a substring)."""
        where, args = _request_filter(filters)
        tail = " LIMIT ?" if limit is not None else ""
        if limit is not None:
            args.append(limit)
        cursor = self.conn.execute(f"SELECT {', '.join(REQUEST_COLUMNS)} FROM site_requests{where} ORDER BY id{tail}", args)
        return [dict(zip(REQUEST_COLUMNS, row, strict=True)) for row in cursor]

    def site_request_count(self, **filters: Any) -> int:
        where, args = _request_filter(filters)
        return int(self.conn.execute(f"SELECT count(*) FROM site_requests{where}", args).fetchone()[0])


_REQUEST_FILTERS = ("installation", "event", "attempt", "status", "method", "product", "reason")


def _request_filter(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in filters.items():
        if value is None:
            continue
        if column == "path":
            clauses.append("instr(path, ?) > 0")
        elif column in _REQUEST_FILTERS:
            clauses.append(f"{column} = ?")
        else:
            raise ValueError(f"no request filter {column!r}")
        args.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args
