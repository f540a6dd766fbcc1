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

from forgeq.emulator.store.batch import NewEvent, SiteChange, SiteKey, SiteRow
from forgeq.emulator.store.site import write_site

PRODUCT_SEQ_KEY = "product_seq"

# (installation, kind, key) -> the object's JSON text, or None
SiteReader = Callable[[str, str, str], str | None]
# What firing a chunk makes exist on the fake site: writes (None deletes) and history rows.
SiteSeeds = tuple[dict[SiteKey, SiteRow | None], list[SiteChange]]


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
        self,
        count: int,
        build: Callable[[int], Sequence[NewEvent]],
        site: Callable[[Sequence[NewEvent], list[int], SiteReader], SiteSeeds] | None = None,
    ) -> tuple[int, list[int]]:
        """Reserve `count` product sequence numbers and insert `build(first)` in one transaction.

        `site(events, event_numbers, read)` says what the events' payloads make exist on the fake
        product site (read(installation, kind, key) gives an object's JSON as it stands); its writes go
        in the same transaction. Returns (first sequence number, event numbers). `build` and
        `site` must not touch the store.
        """
        with self.transaction() as conn:
            first = _take_numbers(conn, count)
            events = build(first)
            seqs = self._insert_events(conn, events)
            if site is not None:

                def read(installation: str, kind: str, key: str) -> str | None:
                    row = conn.execute(
                        "SELECT doc FROM site_objects WHERE installation = ? AND kind = ? AND key = ?", (installation, kind, key)
                    ).fetchone()
                    return None if row is None else str(row[0])

                writes, history = site(events, seqs, read)
                write_site(conn, writes, history)
            if len(seqs) > count:
                _set_counter(conn, first - 1 + len(seqs))
        return first, seqs

    def reserve_product_numbers(self, count: int = 1) -> int:
        """Take `count` product sequence numbers for objects the app creates on the site (an issue it
        creates is DEMO-<n>); committed at once, so a `forgeq push` in another process never mints
        the same key. Returns the first."""
        with self.transaction() as conn:
            return _take_numbers(conn, count)


def _take_numbers(conn: sqlite3.Connection, count: int) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (PRODUCT_SEQ_KEY,)).fetchone()
    if row is None:
        # A state written before the counter existed (or by the testing API): count instead.
        made = int(conn.execute("SELECT count(*) FROM events WHERE kind = 'product'").fetchone()[0])
    else:
        made = int(row[0])
    _set_counter(conn, made + count)
    return made + 1


def _set_counter(conn: sqlite3.Connection, value: int) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (PRODUCT_SEQ_KEY, str(value)),
    )
