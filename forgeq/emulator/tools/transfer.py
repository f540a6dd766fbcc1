"""A whole state as one JSON document: `forgeq export`, `forgeq import`, `forgeq reset`.

The document (docs/json.md, "Export") holds the meta table, jobs, every event with its attempts
(`timeline`) and its ledger row, the key-value store per installation and space, custom entity
items per installation and entity, quota windows, and any other table a later schema adds (an
entity index is part of the schema, not of the document: a run builds it from the items). JSON columns (bodies, values, retry data) are written as
JSON, so a fixture is readable and editable; a column whose text would not come back byte for byte
is written as text under `<name>_text` instead. Secrets (KVS space 1) are left out unless asked for.

Export streams one event per line from a consistent snapshot, so memory stays flat however large
the state; import reads the document whole, checks every row, then loads it in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from forgeq.emulator import jsoninput, limits
from forgeq.emulator.errors import InputError
from forgeq.emulator.store import Store, schema
from forgeq.emulator.store.transfer_rows import Column, TableLoad
from forgeq.jsontext import escape_surrogates, stringify

FORMAT = "forgeq-export"
FORMAT_VERSION = 1

PLAIN_SPACE = 0
SECRET_SPACE = 1
SPACE_NAMES = {PLAIN_SPACE: "plain", SECRET_SPACE: "secret"}
SPACE_NUMBERS = {name: number for number, name in SPACE_NAMES.items()}

# Tables with a shape of their own in the document; any other table goes under "tables".
SHAPED_TABLES = ("meta", "jobs", "events", "attempts", "ledger", "kvs", "entities", "quota_windows")
# A run's own bookkeeping, not state: its leases are exported as the events' pending attempts.
RUN_TABLES = ("leases",)
# Columns holding JSON text, per table.
JSON_COLUMNS = {
    "events": ("body", "extra", "retry_data"),
    "attempts": ("retry_context",),
    "ledger": ("retry_context",),
    "kvs": ("value",),
    "entities": ("value",),
    "site_objects": ("doc",),
    "site_history": ("change",),
}
STATE_NUMBERS = {name: number for number, name in schema.STATE_NAMES.items()}


def _dumps(value: Any) -> str:
    """A JSON column's text as forgeq stores it (JSON.stringify's); NaN and Infinity refused, as JSON has neither."""
    json.dumps(value, allow_nan=False)  # raises ValueError for NaN or Infinity
    return stringify(value)


def _line(value: Any) -> str:
    return escape_surrogates(json.dumps(value, ensure_ascii=False, allow_nan=False))


# -- export -----------------------------------------------------------------------------------------


def _shape(table: str, row: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A row for the document: JSON columns as JSON, NULLs left out, `drop` columns left out."""
    shaped: dict[str, Any] = {}
    json_columns = JSON_COLUMNS.get(table, ())
    for name, value in row.items():
        if value is None or name in drop:
            continue
        if name in json_columns and isinstance(value, str):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = _UNPARSED
            if parsed is not _UNPARSED and stringify(parsed) == value:  # else the column's text, as stored
                shaped[name] = parsed
            else:
                shaped[f"{name}_text"] = value
            continue
        shaped[name] = value
    return shaped


_UNPARSED = object()


def export_state(store: Store, out: IO[str], *, include_secrets: bool = False) -> dict[str, int]:
    """Write the whole state to `out` as one JSON document; return what it holds (and left out)."""
    counts = {
        "jobs": 0,
        "events": 0,
        "attempts": 0,
        "dropped": 0,
        "keys": 0,
        "secrets": 0,
        "secrets_left_out": 0,
        "items": 0,
        "quota_windows": 0,
        "in_flight": 0,
    }
    with store.snapshot():
        tables = store.table_names()
        meta = {row["key"]: row["value"] for row in store.table_rows("meta", "key")}
        secrets_held = (
            sum(1 for row in store.table_rows("kvs") if row["space"] == SECRET_SPACE)
            if "kvs" in tables
            else 0
        )
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "schema_version": store.schema_version(),
            "secrets": "included" if include_secrets else "left out",
            "secrets_left_out": 0 if include_secrets else secrets_held,
            "event_sequence": store.event_sequence(),
            "meta": meta,
        }
        out.write("{\n" + ",\n".join(f"{_line(key)}: {_line(value)}" for key, value in header.items()))
        counts["secrets_left_out"] = 0 if include_secrets else secrets_held

        out.write(',\n"jobs": [')
        counts["jobs"] = _write_rows(out, (_shape("jobs", row) for row in store.table_rows("jobs", "job_id")))

        out.write(',\n"events": [')
        counts["events"] = _write_rows(out, _events(store, counts))

        def keys() -> Iterator[tuple[str, str, dict[str, Any]]]:
            for row in store.table_rows("kvs", "installation, space, key"):
                space = int(row["space"])
                if space == SECRET_SPACE and not include_secrets:
                    continue
                counts["secrets" if space == SECRET_SPACE else "keys"] += 1
                yield row["installation"], SPACE_NAMES.get(space, str(space)), _shape("kvs", row, ("installation", "space"))

        out.write(',\n"kvs": ')
        _write_grouped(out, keys())
        if "entities" in tables:
            out.write(',\n"entities": ')
            counts["items"] = _write_grouped(
                out,
                (
                    (row["installation"], row["entity"], _shape("entities", row, ("installation", "entity")))
                    for row in store.table_rows("entities", "installation, entity, key")
                ),
            )

        out.write(',\n"quota_windows": [')
        counts["quota_windows"] = _write_rows(
            out, (_shape("quota_windows", row) for row in store.table_rows("quota_windows"))
        )

        others = [table for table in tables if table not in SHAPED_TABLES and table not in RUN_TABLES]
        out.write(',\n"tables": {')
        for index, table in enumerate(others):
            out.write(("" if index == 0 else ",") + f"\n {_line(table)}: [")
            _write_rows(out, (_shape(table, row) for row in store.table_rows(table)))
        out.write("\n}" if others else "}")
        out.write("\n}\n")
    return counts


def _write_grouped(out: IO[str], rows: Iterable[tuple[str, str, dict[str, Any]]]) -> int:
    """`{outer: {inner: [row, ...]}}` from rows ordered by (outer, inner), one row a line."""
    open_outer: str | None = None
    open_inner: str | None = None
    written = 0
    first = True
    out.write("{")
    for outer, inner, row in rows:
        if outer != open_outer:
            if open_outer is not None:
                out.write("\n  ]\n },")
            out.write(f"\n {_line(outer)}: {{")
            open_outer, open_inner = outer, None
        if inner != open_inner:
            if open_inner is not None:
                out.write("\n  ],")
            out.write(f"\n  {_line(inner)}: [")
            open_inner, first = inner, True
        out.write(("\n   " if first else ",\n   ") + _line(row))
        first = False
        written += 1
    out.write("\n  ]\n }\n}" if open_outer is not None else "}")
    return written


def _write_rows(out: IO[str], rows: Iterable[dict[str, Any]]) -> int:
    written = 0
    for row in rows:
        out.write(("\n " if written == 0 else ",\n ") + _line(row))
        written += 1
    out.write("\n]" if written else "]")
    return written


def _events(store: Store, counts: dict[str, int]) -> Iterator[dict[str, Any]]:
    """Events merged with their attempts: both streams come ordered by event number."""
    attempts = store.attempts_by_event()
    leased = store.leased()
    pending: dict[str, Any] | None = next(attempts, None)
    for event, ledger in store.events_with_ledger():
        number = event["id"]
        timeline = []
        while pending is not None and pending["event"] <= number:
            if pending["event"] == number:
                timeline.append(_shape("attempts", pending, ("event",)))
            pending = next(attempts, None)
        if event["state"] == schema.RUNNING or number in leased:
            # An attempt in flight has not happened yet as far as the snapshot goes.
            event = {**event, "state": schema.PENDING, "lease_owner": None}
            counts["in_flight"] += 1
        shaped = _shape("events", event)
        shaped["state"] = schema.STATE_NAMES.get(event["state"], event["state"])
        if timeline:
            shaped["timeline"] = timeline
            counts["attempts"] += len(timeline)
        if ledger is not None:
            shaped["ledger"] = _shape("ledger", ledger)
            counts["dropped"] += 1
        yield shaped


# -- import -----------------------------------------------------------------------------------------


_EXPORT_LIMITS = {"max_bytes": limits.MAX_IMPORT_BYTES, "max_depth": limits.MAX_JSON_INPUT_DEPTH + limits.EXPORT_NESTING}


def read_export_file(path: Path) -> dict[str, Any]:
    """read_export of a file, its size checked before it is read."""
    return read_export(jsoninput.read_text(path, str(path), limits.MAX_IMPORT_BYTES), str(path))


def read_export(text: str, source: str) -> dict[str, Any]:
    """Parse an export; refuse anything that is not one, naming the problem."""
    try:
        document = jsoninput.parse(text, source, **_EXPORT_LIMITS)
    except jsoninput.InvalidJson as error:
        detail = error.message.removeprefix(f"{source}: invalid JSON").removeprefix(" at ").lstrip(": ")
        raise InputError(f"{source} is not a forgeq export: not JSON ({detail})") from None
    if not isinstance(document, dict):
        raise InputError(
            f"{source} is not a forgeq export: the document is a JSON {type(document).__name__}, not an object"
        )
    if document.get("format") != FORMAT:
        found = f"'format' is {document['format']!r}" if "format" in document else "it has no 'format' key"
        raise InputError(
            f'{source} is not a forgeq export: {found} (an export starts with "format": "{FORMAT}")'
        )
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"{source}: 'format_version' must be a whole number of 1 or more, not {version!r}")
    if version > FORMAT_VERSION:
        raise InputError(
            f"{source} was exported by a newer forgeq (format {version}; this one reads {FORMAT_VERSION})",
            "upgrade forgeq",
        )
    return document


class _Rows:
    """Turns document rows into table rows, naming the path of the first problem."""

    def __init__(self, source: str, table: str, columns: list[Column]) -> None:
        self.source = source
        self.table = table
        self.columns = columns
        self.names = [c.name for c in columns]

    def fail(self, path: str, message: str) -> InputError:
        return InputError(f"{self.source}: {path}: {message}")

    def row(
        self, item: Any, path: str, fixed: dict[str, Any] | None = None, skip: tuple[str, ...] = ()
    ) -> tuple[Any, ...]:
        if not isinstance(item, dict):
            raise self.fail(path, f"expected an object, found {type(item).__name__}")
        values: dict[str, Any] = dict(fixed or {})
        json_columns = JSON_COLUMNS.get(self.table, ())
        for key, value in item.items():
            if key in skip:
                continue
            name = key
            if key.endswith("_text") and key[:-5] in json_columns:
                name = key[:-5]
                if not isinstance(value, str):
                    raise self.fail(f"{path}.{key}", "must be a string (the column's text)")
            elif key in json_columns:
                try:
                    value = _dumps(value)
                except ValueError:
                    raise self.fail(
                        f"{path}.{key}", "holds NaN or Infinity, which JSON cannot carry"
                    ) from None
            elif self.table == "events" and key == "state":
                value = _state_number(value, lambda m: self.fail(f"{path}.state", m))
            elif isinstance(value, dict | list):
                raise self.fail(f"{path}.{key}", f"must be a single value, not a JSON {type(value).__name__}")
            if name not in self.names:
                raise self.fail(
                    f"{path}.{key}", f"no such column in table {self.table} (it has {', '.join(self.names)})"
                )
            values[name] = value
        result = []
        for column in self.columns:
            value = values.get(column.name, column.default)
            if value is None and column.not_null:
                raise self.fail(path, f"'{column.name}' is missing")
            result.append(value)
        return tuple(result)


def _state_number(value: Any, fail: Any) -> int:
    if isinstance(value, str) and value in STATE_NUMBERS:
        number = STATE_NUMBERS[value]
        return schema.PENDING if number == schema.RUNNING else number
    if isinstance(value, int) and not isinstance(value, bool) and value in schema.STATE_NAMES:
        return schema.PENDING if value == schema.RUNNING else value
    raise fail(f"{value!r} is not a state (one of {', '.join(STATE_NUMBERS)})")


def _list(document: dict[str, Any], key: str, source: str) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise InputError(f"{source}: '{key}' must be a list, not {type(value).__name__}")
    return value


def _object(value: Any, path: str, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{source}: '{path}' must be an object, not {type(value).__name__}")
    return value


def plan_import(store: Store, document: dict[str, Any], source: str) -> tuple[list[TableLoad], int]:
    """Check every row of the document against the state's tables; return what to load."""
    version = document.get("schema_version", 1)
    if isinstance(version, int) and version > store.schema_version():
        raise InputError(
            f"{source} holds a schema {version} state; this forgeq reads {store.schema_version()}",
            "upgrade forgeq",
        )
    loads: list[TableLoad] = []

    meta = _object(document.get("meta", {}), "meta", source)
    for key, value in meta.items():
        if value is not None and not isinstance(value, str):
            raise InputError(f"{source}: meta.{key}: must be a string, not {type(value).__name__}")
    loads.append(TableLoad("meta", ["key", "value"], list(meta.items())))

    jobs = _Rows(source, "jobs", store.table_columns("jobs"))
    loads.append(
        TableLoad(
            "jobs",
            jobs.names,
            [jobs.row(item, f"jobs[{i}]") for i, item in enumerate(_list(document, "jobs", source))],
        )
    )

    events = _Rows(source, "events", store.table_columns("events"))
    attempts = _Rows(source, "attempts", store.table_columns("attempts"))
    ledger = _Rows(source, "ledger", store.table_columns("ledger"))
    event_rows, attempt_rows, ledger_rows = [], [], []
    for i, item in enumerate(_list(document, "events", source)):
        path = f"events[{i}]"
        row = events.row(item, path, skip=("timeline", "ledger"))
        event_rows.append(row)
        number = row[events.names.index("id")]
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise events.fail(f"{path}.id", f"must be an event number of 1 or more, not {number!r}")
        timeline = item.get("timeline", [])
        if not isinstance(timeline, list):
            raise events.fail(f"{path}.timeline", "must be a list of attempts")
        for j, attempt in enumerate(timeline):
            attempt_rows.append(attempts.row(attempt, f"{path}.timeline[{j}]", {"event": number}))
        if item.get("ledger") is not None:
            ledger_rows.append(ledger.row(item["ledger"], f"{path}.ledger", {"event": number}))
    loads.append(TableLoad("events", events.names, event_rows))
    loads.append(TableLoad("attempts", attempts.names, attempt_rows))
    loads.append(TableLoad("ledger", ledger.names, ledger_rows))

    kvs = _Rows(source, "kvs", store.table_columns("kvs"))
    kv_rows = []
    for installation, spaces in _object(document.get("kvs", {}), "kvs", source).items():
        for space_name, rows in _object(spaces, f"kvs.{installation}", source).items():
            space = SPACE_NUMBERS.get(space_name, int(space_name) if space_name.isdigit() else None)
            if space is None:
                raise InputError(
                    f"{source}: kvs.{installation}.{space_name}: not a space (plain, secret, or a number)"
                )
            if not isinstance(rows, list):
                raise InputError(f"{source}: kvs.{installation}.{space_name}: must be a list of keys")
            for j, item in enumerate(rows):
                kv_rows.append(
                    kvs.row(
                        item,
                        f"kvs.{installation}.{space_name}[{j}]",
                        {"installation": installation, "space": space},
                    )
                )
    loads.append(TableLoad("kvs", kvs.names, kv_rows))

    if "entities" in document:
        items = _Rows(source, "entities", store.table_columns("entities"))
        item_rows = []
        for installation, entities in _object(document["entities"], "entities", source).items():
            for entity, rows in _object(entities, f"entities.{installation}", source).items():
                if not isinstance(rows, list):
                    raise InputError(f"{source}: entities.{installation}.{entity}: must be a list of items")
                for j, item in enumerate(rows):
                    item_rows.append(
                        items.row(item, f"entities.{installation}.{entity}[{j}]", {"installation": installation, "entity": entity})
                    )
        loads.append(TableLoad("entities", items.names, item_rows))

    quota = _Rows(source, "quota_windows", store.table_columns("quota_windows"))
    loads.append(
        TableLoad(
            "quota_windows",
            quota.names,
            [
                quota.row(item, f"quota_windows[{i}]")
                for i, item in enumerate(_list(document, "quota_windows", source))
            ],
        )
    )

    existing = store.table_names()
    for table, rows in _object(document.get("tables", {}), "tables", source).items():
        if table not in existing or table in SHAPED_TABLES or table in RUN_TABLES:
            raise InputError(f"{source}: tables.{table}: no such table in this forgeq's state")
        other = _Rows(source, table, store.table_columns(table))
        if not isinstance(rows, list):
            raise InputError(f"{source}: tables.{table}: must be a list of rows")
        loads.append(
            TableLoad(
                table, other.names, [other.row(item, f"tables.{table}[{i}]") for i, item in enumerate(rows)]
            )
        )

    sequence = document.get("event_sequence", 0)
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
        raise InputError(f"{source}: 'event_sequence' must be a whole number, not {sequence!r}")
    return loads, sequence


def import_state(
    store: Store, document: dict[str, Any], source: str, *, replace: bool = False
) -> dict[str, int]:
    loads, sequence = plan_import(store, document, source)
    return store.load(loads, sequence, replace=replace, source=source)


def reset_state(store: Store) -> dict[str, int]:
    return store.wipe()
