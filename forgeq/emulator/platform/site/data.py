"""The site's objects as the loop sees them: this run's unacknowledged writes over the state file.

Like the key-value store (platform/storage.py), a read sees the attempt's own writes at once
(`WriteBatch.site_writes`) while the loop still commits in batches; a scan merges them over the
rows in the state file instead of committing first. History rows and request rows wait in the
same batch, so an attempt that a crash interrupts leaves no trace on the site, as it left none in
the store: its event runs again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forgeq.emulator.products.seeds import ISSUE, dumps
from forgeq.emulator.store.batch import SiteKey, SiteRow, WriteBatch
from forgeq.jsontext import parse

if TYPE_CHECKING:
    from forgeq.emulator.loop.engine import Emulator


class SiteData:
    def __init__(self, engine: Emulator) -> None:
        self.engine = engine
        # Rows read from the state file during the current batch: a consumer that reads an issue
        # and then edits it reads it once. Dropped with the batch (Emulator.flush makes a new one),
        # so a `forgeq push` running beside the loop is seen from the next batch on.
        self._read: dict[SiteKey, SiteRow | None] = {}
        self._read_batch: WriteBatch | None = None
        # Issues parsed during the current batch, with the row each was parsed from: a GET and the
        # PUT after it parse the issue once. Shared, so readers of an issue never change its
        # objects (an edit copies what it changes) nor hand them to a handler (shapes.issue_fields
        # copies them into the representation).
        self._issues: dict[SiteKey, tuple[SiteRow, dict[str, Any]]] = {}

    def get(self, installation: str, kind: str, key: str) -> dict[str, Any] | None:
        """The object, or None. An issue is shared: see `_issues`."""
        slot = (installation, kind, key)
        batch = self.engine.batch
        if self._read_batch is not batch:
            self._read, self._issues, self._read_batch = {}, {}, batch
        if slot in batch.site_writes:
            row = batch.site_writes[slot]
        elif slot in self._read:
            row = self._read[slot]
        else:
            row = self._read[slot] = self.engine.store.site_get(installation, kind, key)
        if row is None:
            return None
        if kind != ISSUE:
            found: dict[str, Any] = parse(row.doc)  # text forgeq wrote (compact): json's scanner alone reads it
            return found
        parsed = self._issues.get(slot)
        if parsed is not None and parsed[0] is row:
            return parsed[1]
        doc: dict[str, Any] = parse(row.doc)
        self._issues[slot] = (row, doc)
        return doc

    def child(self, installation: str, kind: str, parent: str, wanted: str) -> dict[str, Any] | None:
        """An object kept under its parent's key by a numeric id (`DEMO-1/80017`: a worklog, a
        remote link), or None; an id that is not a number names none."""
        return self.get(installation, kind, f"{parent}/{wanted}") if wanted.isdigit() else None

    def pending(self, installation: str, kind: str, key: str) -> dict[str, Any] | None:
        """The object as this run's unacknowledged writes left it, or None if they did not touch it."""
        row = self.engine.batch.site_writes.get((installation, kind, key))
        if row is None:
            return None
        doc: dict[str, Any] = parse(row.doc)
        return doc

    def key_of(self, installation: str, kind: str, ref: str) -> str | None:
        """The key of the object whose own id is `ref` (an issue's key from its id)."""
        for (inst, pending_kind, key), row in self.engine.batch.site_writes.items():
            if inst == installation and pending_kind == kind and row is not None and row.ref == ref:
                return key
        stored = self.engine.store.site_key_of(installation, kind, ref)
        if stored is not None and (installation, kind, stored) in self.engine.batch.site_writes:
            return None  # deleted, or given another id, by this run (not yet committed)
        return stored

    def scan(self, installation: str, kind: str, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        """Every object of `kind` whose key starts with `prefix`, in key order."""
        found = {key: row for key, row in self.engine.store.site_scan(installation, kind, prefix)}
        for (inst, pending_kind, key), pending in self.engine.batch.site_writes.items():
            if inst == installation and pending_kind == kind and key.startswith(prefix):
                if pending is None:
                    found.pop(key, None)
                else:
                    found[key] = pending
        return [(key, parse(found[key].doc)) for key in sorted(found)]

    def put(self, installation: str, kind: str, key: str, doc: dict[str, Any], at: float, ref: str | None = None) -> None:
        slot = (installation, kind, key)
        batch = self.engine.batch
        writes = batch.site_writes
        if slot in writes:
            before = writes[slot]
            kept = before is not None and before.kept_ref and before.ref == ref
        else:
            read = self._read.get(slot) if self._read_batch is batch else None  # the stored row, read in this batch
            kept = read is not None and read.ref == ref
        writes[slot] = SiteRow(ref, dumps(doc), at, kept)

    def delete(self, installation: str, kind: str, key: str) -> None:
        self.engine.batch.site_writes[(installation, kind, key)] = None

    def note(self, installation: str, kind: str, key: str, at: float, actor: str | None, source: str, change: dict[str, Any]) -> None:
        self.engine.batch.site_history.append((installation, kind, key, at, actor, source, dumps(change)))

    def new_number(self) -> int:
        """A product sequence number for an object the app creates (its key and id derive from it)."""
        return self.engine.store.reserve_product_numbers(1)
