"""Product events in the state: numbered, inserted a chunk per transaction (a mixin of `Store`).

Payload ids and keys (DEMO-1, DEMO-2, ...) come from a product sequence number that must stay
unique when several `forgeq push` processes fire at once. The number is taken inside the same
IMMEDIATE transaction that inserts the chunk, from a counter in the meta table, so two pushes
never mint the same key and a push that died mid-way leaves whole chunks only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager

from forgeq.emulator.store.batch import NewEvent

PRODUCT_SEQ_KEY = "product_seq"


class ProductStore:
    """Statements for firing product events (forgeq/emulator/products/firing.py)."""

    conn: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by Store
        raise NotImplementedError

    @staticmethod
    def _insert_events(
        conn: sqlite3.Connection, events: Iterable[NewEvent]
    ) -> list[int]:  # provided by Store
        raise NotImplementedError

    def insert_product_chunk(
        self, count: int, build: Callable[[int], Sequence[NewEvent]]
    ) -> tuple[int, list[int]]:
        """Reserve `count` product sequence numbers and insert `build(first)` in one transaction.

        Returns (first sequence number, event numbers). `build` must not touch the store.
        """
        with self.transaction() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (PRODUCT_SEQ_KEY,)).fetchone()
            if row is None:
                # A state written before the counter existed (or by the testing API): count instead.
                made = int(conn.execute("SELECT count(*) FROM events WHERE kind = 'product'").fetchone()[0])
            else:
                made = int(row[0])
            first = made + 1
            events = build(first)
            seqs = self._insert_events(conn, events)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (PRODUCT_SEQ_KEY, str(made + max(count, len(seqs)))),
            )
        return first, seqs
