"""What `forgeq inspect kvs --entity NAME [--index INDEX --partition VALUE ...]` shows.

The items of one custom entity, in key order or in an index's order, read from the state file as
a query of the app would read them (the same planner, platform/entities.py) but without charging
any quota. Partition values come from the command line as text and are read as the declared type
of their attribute (`--partition failed --partition 3`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from forgeq.emulator.app.entities import RESERVED_INDEX
from forgeq.emulator.app.manifest import Manifest
from forgeq.emulator.errors import InputError
from forgeq.emulator.platform.entities import Entities
from forgeq.emulator.platform.storage import KvsFailure
from forgeq.emulator.store import Store

_PAGE = 100


@dataclass
class _Reader:
    """The state as `inspect` reads it: nothing pending to flush."""

    manifest: Manifest
    store: Store

    def flush(self) -> None:
        return None


def entity_counts(store: Store, installation: str) -> dict[str, int]:
    """Items per entity of an installation (what `inspect kvs` lists beside the plain keys)."""
    return store.entity_counts(installation)


def list_items(
    store: Store,
    manifest: Manifest,
    installation: str,
    entity: str,
    *,
    index: str | None,
    partition: list[str],
    prefix: str,
    limit: int,
    now: float,
) -> dict[str, Any]:
    """`{installation, entity, index, partition, range, items: [{key, value, created_at, updated_at, expire_at}]}`."""
    service = Entities(_Reader(manifest, store))
    try:
        declared = service.declared(entity)
    except KvsFailure as failure:
        hint = None if "app.storage.entities" in failure.message else _declared_hint(manifest)
        raise InputError(f"--entity {entity}: {failure.message}", hint) from None
    if index is None:
        if partition:
            raise InputError("--partition needs --index", f"the indexes of {entity}: {', '.join(declared.indexes) or 'none'}")
        rows = store.kv_scan(installation, entity, prefix, None, limit, now)
        return _answer(installation, entity, None, [], None, [(key, row) for key, row in rows])
    if prefix:
        raise InputError("--prefix lists an entity by key; leave out --index to use it")
    if index != RESERVED_INDEX and index not in declared.indexes:
        raise InputError(
            f"--index {index}: entity '{entity}' has no such index",
            f"its indexes: {', '.join([RESERVED_INDEX, *declared.indexes])}",
        )
    attributes = declared.indexes[index].partition if index in declared.indexes else ()
    if len(partition) != len(attributes):
        raise InputError(
            f"--index {index} of '{entity}' is partitioned by [{', '.join(attributes)}]: pass --partition once per attribute, in that order"
            if attributes
            else f"--index {index} of '{entity}' has no partition: leave out --partition"
        )
    values = [_typed(text, declared.attributes[name], name) for text, name in zip(partition, attributes, strict=True)]
    request: dict[str, Any] = {"entityName": entity, "indexName": index, "partition": values, "limit": min(limit, _PAGE)}
    found: list[tuple[str, Any]] = []
    try:
        while len(found) < limit:
            page, _ = service.read_page(installation, request, now)
            for item in page["results"]:
                found.append((item["key"], store.entity_get(installation, entity, item["key"])))
            if page.get("nextCursor") is None:
                break
            request["cursor"] = page["nextCursor"]
            request["limit"] = min(limit - len(found), _PAGE)
    except KvsFailure as failure:
        raise InputError(f"--index {index}: {failure.message}") from None
    ranged = declared.indexes[index].range if index in declared.indexes else None
    return _answer(installation, entity, index, values, ranged, [(key, row) for key, row in found[:limit] if row is not None])


def _answer(
    installation: str, entity: str, index: str | None, partition: list[Any], ranged: str | None, rows: list[tuple[str, Any]]
) -> dict[str, Any]:
    items = [
        {"key": key, "value": json.loads(row.value), "created_at": row.created_at, "updated_at": row.updated_at, "expire_at": row.expire_at}
        for key, row in rows
    ]
    return {"installation": installation, "entity": entity, "index": index, "partition": partition, "range": ranged, "items": items}


def _typed(text: str, kind: str, attribute: str) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "boolean":
            if text not in ("true", "false"):
                raise ValueError(text)
            return text == "true"
    except ValueError:
        raise InputError(f"--partition {text!r}: '{attribute}' is of type {kind}") from None
    if kind == "any":
        try:
            value = json.loads(text)
        except ValueError:
            return text
        return value if isinstance(value, str | int | float | bool) else text
    return text


def _declared_hint(manifest: Manifest) -> str:
    names = ", ".join(manifest.entities)
    return f"the manifest declares: {names}" if names else "the manifest declares no entities under app.storage.entities"
