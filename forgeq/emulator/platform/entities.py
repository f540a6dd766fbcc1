"""Forge's Custom Entity Store: typed items of the entities the manifest declares, queried by index.

An entity item is a key-value pair in a space of its own (the entity's name), so it goes through
the same path as a plain key (platform/storage.py): validated, charged to the installation's
storage quota, read through this run's unacknowledged writes, written into the WriteBatch and
committed with the attempt's outcome. This module adds what is particular to entities:

- `Entities.declared(name)`: the entity as `app.storage.entities` declares it, or Forge's error.
- `Entities.check_item(name, value)`: the value checked against the declared attribute types.
- `Entities.query(session, request)`: a query by index (where, filters, sort, limit, cursor),
  read through the entity's SQLite index (store/entities.py).
Conditions (a query's where and filters, a transaction's conditions) are in conditions.py.

The Python API other platform code calls (the legacy `storage.entity()` of @forge/api included),
all through `invocation.storage` (a StorageSession), raising ForgeKvsAPIError as @forge/kvs does:

    session.get(key, options, space="import-record")          # the value, None when missing
    session.set(key, value, options, space="import-record")   # options: ttl, keyPolicy, returnValue
    session.delete(key, space="import-record")
    session.entity_query({"entityName": "import-record", "indexName": "by-status",
                          "partition": ["failed"], "range": {"condition": "GREATER_THAN", "values": [2]},
                          "filters": {"and": [{"property": "issueKey", "condition": "BEGINS_WITH", "values": ["DEMO"]}]},
                          "sort": "DESC", "limit": 20, "cursor": None})
                                      # -> {"results": [{key, value, ...}], "nextCursor": str (absent on the last page)}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from forgeq.emulator import limits
from forgeq.emulator.platform import quota as quotas
from forgeq.emulator.platform.storage import (
    KvsFailure,
    check_key,
    check_metadata_fields,
    check_value,
    iso,
    item,
)
from forgeq.jsontext import escape_surrogates
from forgeq.jsvalues import shown, type_name

# The entities' declarations (app/entities.py), conditions (conditions.py) and index scans
# (store/entity_scans.py) are imported where an attempt first reaches an entity: most apps declare
# none, and a run's start-up need not pay for them.
if TYPE_CHECKING:
    from forgeq.emulator.app.entities import Entity
    from forgeq.emulator.app.manifest import Manifest
    from forgeq.emulator.platform.conditions import Clause
    from forgeq.emulator.platform.storage import StorageSession
    from forgeq.emulator.store import Store
    from forgeq.emulator.store.entity_scans import EntityScan, IndexShape

SORTS = ("ASC", "DESC")
CURSOR_PREFIX = "fq1e."
_SCAN_CHUNK = 200


# -- the service ----------------------------------------------------------------------------------------


class _Page:
    """A query's plan: what to walk and what to sift. A plain class: a dataclass costs its module's
    import a generated __init__, __eq__ and __repr__ (bench/README.md, Round 4)."""

    __slots__ = ("scan", "range_attribute", "range_kind", "filters", "fingerprint")

    def __init__(
        self,
        scan: EntityScan,
        range_attribute: str | None,
        range_kind: str | None,  # the where value's kind, for an index on an `any` attribute
        filters: tuple[str, tuple[Clause, ...]] | None,
        fingerprint: str,
    ) -> None:
        self.scan = scan
        self.range_attribute = range_attribute
        self.range_kind = range_kind
        self.filters = filters
        self.fingerprint = fingerprint


class Host(Protocol):
    """What the service works over: the engine (Emulator) in a run, a plain reader for `inspect`."""

    manifest: Manifest
    store: Store

    def flush(self) -> None:
        """Commit this run's pending writes, so that a query of the database sees them."""
        ...


class Entities:
    """The custom entities of the host's manifest (read at each call: watch mode replaces it), over its store."""

    def __init__(self, engine: Host) -> None:
        self.engine = engine
        self._noted: set[tuple[str, str]] = set()

    def declared(self, name: Any) -> Entity:
        from forgeq.emulator.app.entities import ENTITY_NAME_PATTERN

        if not isinstance(name, str):
            raise KvsFailure("INVALID_ENTITY_TYPE", f"entityName must be a string, not {type_name(name)}.")
        if len(name) < limits.ENTITY_NAME_MIN:
            raise KvsFailure(
                "ENTITY_TYPE_TOO_SHORT", f"The entity name '{name}' needs at least {limits.ENTITY_NAME_MIN} characters."
            )
        if len(name) > limits.ENTITY_NAME_MAX:
            raise KvsFailure(
                "ENTITY_TYPE_TOO_LARGE",
                f"The entity name is {len(name)} characters long; the maximum is {limits.ENTITY_NAME_MAX}.",
            )
        if not ENTITY_NAME_PATTERN.fullmatch(name):
            raise KvsFailure("INVALID_ENTITY_TYPE", f"The entity name '{name}' does not match {ENTITY_NAME_PATTERN.pattern}.")
        entity = self.engine.manifest.entities.get(name)
        if entity is None:
            declared = ", ".join(self.engine.manifest.entities) or "none"
            raise KvsFailure(
                "INVALID_ENTITY_TYPE",
                f"The entity '{name}' is not declared in the manifest (app.storage.entities declares: {declared}); "
                "declare it with its attributes and indexes.",
            )
        return entity

    def check_key(self, name: Any, key: Any) -> str:
        """The key of an item of entity `name`: Forge's key rules, EMPTY_KEY for "" (the entity's code)."""
        self.declared(name)
        if key == "":
            raise KvsFailure("EMPTY_KEY", "Key cannot be empty.")
        return check_key(key)

    def check_item(self, name: Any, value: Any, note: Callable[[str], None] | None = None) -> str:
        """The value as stored (JSON.stringify's text) once it fits the entity's declared attributes.

        The attributes are checked in that text, as the server sees what @forge/kvs sends: 3.0 is
        the integer 3, NaN is null (no value), a tuple is a list.
        """
        from forgeq.emulator.platform.conditions import fits, kind_of

        entity = self.declared(name)
        text = check_value(value) if value is not None else "null"  # null: refused below, with the entity's code
        stored = json.loads(text)
        if not isinstance(stored, dict):
            found = "array" if isinstance(stored, list) else kind_of(stored) or "null"
            raise KvsFailure(
                "INVALID_ENTITY_VALUE", f"A value of entity '{entity.name}' must be an object of its attributes, not {found}."
            )
        for attribute, held in stored.items():
            kind = entity.attributes.get(attribute)
            if kind is None:
                if note is not None and (entity.name, attribute) not in self._noted:
                    self._noted.add((entity.name, attribute))
                    note(
                        f"entity '{entity.name}': attribute '{attribute}' is not declared in the manifest; it is stored "
                        "but no index or filter can use it (Forge's behaviour here is undocumented)"
                    )
            elif not fits(kind, held):
                raise KvsFailure(
                    "INVALID_ENTITY_VALUE",
                    f"Attribute '{attribute}' of entity '{entity.name}' is of type {kind}"
                    + (" (a 32-bit signed integer)" if kind == "integer" else "")
                    + f"; {shown(held)} does not fit.",
                )
        for index in entity.indexes.values():
            _check_index_sizes(entity, index.name, index.partition, index.range, stored)
        return text

    def shapes(self) -> list[IndexShape]:
        if not self.engine.manifest.entities:
            return []
        from forgeq.emulator.store.entity_scans import IndexShape

        return [
            IndexShape(entity.name, index.partition, index.range)
            for entity in self.engine.manifest.entities.values()
            for index in entity.indexes.values()
        ]

    def sync_indexes(self) -> list[str]:
        """Create the SQLite index of every declared index the state file lacks, drop undeclared ones;
        name the indexes built ("import-record.by-status")."""
        shapes = self.shapes()
        names = [f"{entity.name}.{index.name}" for entity in self.engine.manifest.entities.values() for index in entity.indexes.values()]
        named: dict[str | None, list[str]] = {}
        for shape, label in zip(shapes, names, strict=True):
            named.setdefault(shape.sqlite_name, []).append(label)
        created, _ = self.engine.store.sync_entity_indexes(shapes)
        return [label for name, labels in named.items() if name in created for label in labels]

    # -- queries --------------------------------------------------------------------------------

    def query(self, session: StorageSession, request: Any) -> dict[str, Any]:
        """A page of a query, charged to the quota by the bytes it answers (as a KVS query is)."""
        answer, size = self.read_page(session.installation, request, session.invocation.now())
        session.charge("query", quotas.QUERY, size, "entity/query")
        return answer

    def read_page(self, installation: str, request: Any, now: float) -> tuple[dict[str, Any], int]:
        """A page of a query as of `now`, and its size in bytes (nothing charged: `query` charges)."""
        from forgeq.emulator.platform.conditions import kind_of, matches

        if not isinstance(request, dict):
            raise KvsFailure("INVALID_REQUEST", "An entity query is an object with entityName and indexName.")
        entity = self.declared(request.get("entityName"))
        page = self._plan(installation, entity, request)
        size = request.get("limit")
        size = limits.ENTITY_QUERY_DEFAULT_LIMIT if size is None else size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= limits.ENTITY_QUERY_MAX_LIMIT:
            raise KvsFailure(
                "COMPLEX_QUERY_PAGE_LIMIT_NOT_IN_RANGE",
                f"The page limit must be set between 1 and {limits.ENTITY_QUERY_MAX_LIMIT}, not {shown(size)}.",
            )
        after = _decode_cursor(request.get("cursor"), page.fingerprint)
        options = request.get("options")
        fields = check_metadata_fields(
            options.get("metadataFields") if isinstance(options, dict) else request.get("metadataFields")
        )
        engine = self.engine
        engine.flush()  # the query reads the database: this run's writes first (as a KVS query does)
        found: list[tuple[Any, str, Any]] = []
        sifting = page.filters is not None or page.range_kind is not None
        # One row ahead tells whether a next page exists; filters may skip rows, so read more at a time.
        chunk = min(_SCAN_CHUNK, (size + 1) * 4) if sifting else size + 1
        for range_value, key, row in engine.store.entity_scan(page.scan, after, now, chunk):
            if sifting:
                value = json.loads(row.value)
                if page.range_kind is not None and kind_of(value.get(page.range_attribute)) != page.range_kind:
                    continue
                if page.filters is not None and not matches(*page.filters, value):
                    continue
            found.append((range_value, key, row))
            if len(found) > size:
                break
        results = []
        for _, key, row in found[:size]:
            shaped = item(key, row, fields)
            if "EXPIRE_TIME" not in fields and row.expire_at is not None:
                shaped["expireTime"] = iso(row.expire_at)
            results.append(shaped)
        answer: dict[str, Any] = {"results": results}
        if len(found) > size:
            last_value, last_key, _ = found[size - 1]
            answer["nextCursor"] = _encode_cursor(page.fingerprint, last_value, last_key)
        return answer, sum(len(key.encode()) + len(row.value.encode()) for _, key, row in found[:size])

    def _plan(self, installation: str, entity: Entity, request: dict[str, Any]) -> _Page:
        from forgeq.emulator.app.entities import RESERVED_INDEX
        from forgeq.emulator.platform.conditions import (
            WHERE_CONDITIONS,
            clause,
            fits,
            kind_of,
            parse_conditions,
        )
        from forgeq.emulator.store.entity_scans import EntityScan, IndexShape

        name = request.get("indexName")
        if name == RESERVED_INDEX:
            partition_attributes: tuple[str, ...] = ()
            range_attribute: str | None = None
        else:
            index = entity.indexes.get(name) if isinstance(name, str) else None
            if index is None:
                declared = ", ".join([RESERVED_INDEX, *entity.indexes])
                raise KvsFailure(
                    "INVALID_ENTITY_INDEX", f"Entity '{entity.name}' has no index {shown(name)} (its indexes: {declared})."
                )
            partition_attributes, range_attribute = index.partition, index.range
        partition = request.get("partition")
        if partition is None:
            partition = []
        if not isinstance(partition, list | tuple) or len(partition) != len(partition_attributes):
            wanted = f"[{', '.join(partition_attributes)}]" if partition_attributes else "no partition"
            raise KvsFailure(
                "INVALID_ENTITY_INDEX",
                f"Index '{name}' of entity '{entity.name}' is partitioned by {wanted}: "
                f"pass one value per attribute, in that order (got {shown(partition)}).",
            )
        for attribute, value in zip(partition_attributes, partition, strict=True):
            kind = entity.attributes[attribute]
            if kind_of(value) is None or not fits(kind, value):
                raise KvsFailure(
                    "INVALID_FILTER_VALUES",
                    f"Partition value {shown(value)} does not fit '{attribute}', an attribute of type {kind}.",
                )
        bounds: tuple[tuple[str, Any], ...] = ()
        range_kind: str | None = None
        where = request.get("range")
        if where is not None:
            target = range_attribute if range_attribute is not None else "key"
            condition = clause(entity, where, WHERE_CONDITIONS, "where", attribute=target)
            bounds = _bounds(condition)
            if range_attribute is not None and entity.attributes[range_attribute] == "any":
                range_kind = kind_of(condition.values[0])
        filters = request.get("filters")
        parsed = parse_conditions(entity, filters, "filters") if filters is not None else None
        sort = request.get("sort") or "ASC"
        if sort not in SORTS:
            raise KvsFailure("INVALID_SORT_ORDER", f"sort must be ASC or DESC, not {shown(sort)}.")
        shape = IndexShape(entity.name, partition_attributes, range_attribute)
        values = tuple(int(v) if entity.attributes[a] == "integer" else v for a, v in zip(partition_attributes, partition, strict=True))
        scan = EntityScan(installation, shape, values, bounds, descending=sort == "DESC")
        described = json.dumps([entity.name, name, list(values), sort], separators=(",", ":"))
        import hashlib

        fingerprint = hashlib.sha1(described.encode("utf-8")).hexdigest()[:12]
        return _Page(scan, range_attribute, range_kind, parsed, fingerprint)


def _bounds(clause: Clause) -> tuple[tuple[str, Any], ...]:
    values = clause.values
    if clause.condition == "BETWEEN":
        return ((">=", values[0]), ("<=", values[1]))
    if clause.condition == "BEGINS_WITH":
        prefix = values[0]
        upper = _after_prefix(prefix)
        return ((">=", prefix),) + ((("<", upper),) if upper is not None else ())
    operator = {"EQUAL_TO": "=", "GREATER_THAN": ">", "GREATER_THAN_EQUAL_TO": ">=", "LESS_THAN": "<", "LESS_THAN_EQUAL_TO": "<="}
    return ((operator[clause.condition], values[0]),)


def _after_prefix(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix` (None: there is none)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = last + 1 if not 0xD800 <= last + 1 <= 0xDFFF else 0xE000
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None


def _check_index_sizes(entity: Entity, index: str, partition: tuple[str, ...], range_attribute: str, value: dict[str, Any]) -> None:
    held = [value.get(a) for a in partition]
    if partition and all(v is not None for v in held):
        size = sum(len(escape_surrogates(json.dumps(v, ensure_ascii=False)).encode()) for v in held)
        if size > limits.ENTITY_PARTITION_VALUE_BYTES:
            raise KvsFailure(
                "INVALID_ENTITY_VALUE",
                f"The partition values of index '{index}' of entity '{entity.name}' take {size} bytes; "
                f"the maximum is {limits.ENTITY_PARTITION_VALUE_BYTES}.",
            )
    ranged = value.get(range_attribute)
    if ranged is not None:
        size = len(escape_surrogates(json.dumps(ranged, ensure_ascii=False)).encode())
        if size > limits.ENTITY_RANGE_VALUE_BYTES:
            raise KvsFailure(
                "INVALID_ENTITY_VALUE",
                f"The range value of index '{index}' of entity '{entity.name}' takes {size} bytes; "
                f"the maximum is {limits.ENTITY_RANGE_VALUE_BYTES}.",
            )


def _encode_cursor(fingerprint: str, value: Any, key: str) -> str:
    text = escape_surrogates(json.dumps([fingerprint, value, key], separators=(",", ":"), ensure_ascii=False))
    return CURSOR_PREFIX + base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_cursor(cursor: Any, fingerprint: str) -> tuple[Any, str] | None:
    if cursor is None:
        return None
    failure = KvsFailure(
        "INVALID_CURSOR",
        "The cursor is not one this query returned (cursors are not stable: reuse one only with the query that gave it).",
    )
    if not isinstance(cursor, str) or not cursor.startswith(CURSOR_PREFIX):
        raise failure
    text = cursor[len(CURSOR_PREFIX) :]
    try:
        held = json.loads(base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True))
    except (binascii.Error, ValueError):
        raise failure from None
    if not isinstance(held, list) or len(held) != 3 or held[0] != fingerprint or not isinstance(held[2], str):
        raise failure
    return held[1], held[2]
