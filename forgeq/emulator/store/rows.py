"""Many rows in one statement: a batch's writes as multi-row VALUES instead of one step a row.

`executemany` runs its statement once a row: each run is a step of SQLite's virtual machine with
its halt and reset, and the sqlite3 module drops and takes back the GIL around it. One statement
over 128 rows (`INSERT ... VALUES (...), (...)`, `UPDATE ... FROM (VALUES ...)`) costs about half
as much a row (bench/README.md, "Round 5"). The statements come in a few sizes (128, 32, 8 rows),
so SQLite and the sqlite3 module's statement cache prepare each once; fewer than 8 rows left run
through `executemany`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any

SIZES = (128, 32, 8)


class RowStatement:
    """`template` holds `{values}` where the rows go, each `row` (a parenthesised list of `?`).

    `single`: the statement for one row, the same parameters in the same order; by default the
    template with one row. An UPDATE ... FROM gives its plain form: `since`, the SQLite version the
    template needs (`UPDATE ... FROM` came in 3.33.0), runs `single` a row at a time on an older
    library. `key`: the place in a row of the id an UPDATE matches; rows naming one id twice run a
    row at a time too, so that the last holds, as it does with executemany (a join would pick one)."""

    __slots__ = ("single", "template", "row", "key", "many", "_sql")

    def __init__(
        self, template: str, row: str, *, single: str | None = None, since: tuple[int, int, int] = (3, 7, 11), key: int | None = None
    ) -> None:
        self.template = template
        self.row = row
        self.single = single if single is not None else template.format(values=row)
        self.key = key
        self.many = sqlite3.sqlite_version_info >= since
        self._sql: dict[int, str] = {}

    def sql(self, size: int) -> str:
        text = self._sql.get(size)
        if text is None:
            text = self._sql[size] = self.template.format(values=", ".join([self.row] * size))
        return text

    def run(self, conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Every row, in order, inside the caller's transaction."""
        start, count = 0, len(rows)
        key = self.key
        if self.many and (key is None or len({row[key] for row in rows}) == count):
            for size in SIZES:
                if count - start >= size:
                    sql = self.sql(size)
                    while count - start >= size:
                        conn.execute(sql, list(chain.from_iterable(rows[start : start + size])))
                        start += size
        if start < count:
            conn.executemany(self.single, rows[start:] if start else rows)
