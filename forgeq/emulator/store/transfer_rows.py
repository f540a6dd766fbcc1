"""What export and import pass between tools/transfer.py and the Store's StateTransfer
(store/transfer.py): a module of its own so that the Store does not build these classes in every
command's start-up (bench/README.md, Round 4)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class Column:
    name: str
    not_null: bool
    default: Any  # the declared default as a Python value (None when there is none)


@dataclass
class TableLoad:
    """Rows to insert into one table: `columns` names the values of every row, in order."""

    table: str
    columns: list[str]
    rows: Iterable[tuple[Any, ...]]
