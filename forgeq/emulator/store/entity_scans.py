"""What a custom entity's index orders by and one walk over it: made by platform/entities.py, read
by the Store's EntityStore (store/entities.py). A module of its own so that the Store does not build
these classes in every command's start-up, where most apps declare no entities (bench/README.md,
Round 4)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IndexShape:
    """What an index orders by: equal `partition` attributes, then `range` (None: the key), then the key."""

    entity: str
    partition: tuple[str, ...]
    range: str | None

    @property
    def sqlite_name(self) -> str | None:
        if self.range is None:
            return None  # by-key: the table's primary key
        definition = "\x1f".join((self.entity, *self.partition, "\x1e", self.range))
        digest = hashlib.sha1(definition.encode("utf-8")).hexdigest()[:8]
        return f"ces:{self.entity}:{digest}"


@dataclass(frozen=True)
class EntityScan:
    """One ordered walk over an entity's items, for a page of a query (built by platform/entities.py)."""

    installation: str
    shape: IndexShape
    partition_values: tuple[Any, ...]
    bounds: tuple[tuple[str, Any], ...]  # (operator, value) on the range value (the key for by-key)
    descending: bool = False
