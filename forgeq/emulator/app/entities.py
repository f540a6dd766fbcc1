"""`app.storage.entities` of the manifest: custom entities, their typed attributes and indexes.

Validated as `forge deploy` validates them (the schema and the StorageValidator of @forge/manifest,
plus the limits on Atlassian's "Custom entities" page), each problem with its key path so the
manifest reader can give its line:

    app:
      storage:
        entities:
          - name: import-record
            attributes:
              issueKey: {type: string}
              status:   {type: string}
              attempts: {type: integer}
            indexes:
              - issueKey                       # an index named after its attribute: range [issueKey]
              - name: by-status
                partition: [status]
                range: [attempts]
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forgeq.emulator import limits

# @forge/manifest's schema (13.7): entity names, attribute names and types.
ENTITY_NAME_PATTERN = re.compile(r"^(?![_.-])(?!.*\.{2})[a-z0-9:\-_.]*(?<![.])$")
ATTRIBUTE_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")
# The "Custom entities" page lists the characters of index names (cut short in our copy); forgeq
# takes those of entity names, in either case.
INDEX_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9:\-_.]+$")
TYPES = ("string", "integer", "float", "boolean", "any")
RESERVED_INDEX = "by-key"

_ENTITY_PROPS = {"name", "attributes", "indexes"}
_INDEX_PROPS = {"name", "range", "partition"}

Report = Callable[[str, str], None]


@dataclass(frozen=True)
class EntityIndex:
    """An index: items with every partition value equal, ordered by the range attribute, then key."""

    name: str
    partition: tuple[str, ...]
    range: str


@dataclass(frozen=True)
class Entity:
    name: str
    attributes: dict[str, str]  # attribute -> type
    indexes: dict[str, EntityIndex]
    line: int | None = None


def parse_entities(raw: Any, where: str, error: Report, line: Callable[[str], int | None]) -> dict[str, Entity]:
    """The entities declared under `where` (app.storage.entities); problems go to `error(path, message)`."""
    if raw is None:
        return {}
    if not isinstance(raw, list) or not raw:
        error(where, "must be a list with at least one entity")
        return {}
    if len(raw) > limits.MAX_ENTITIES:
        error(where, f"An app can declare at most {limits.MAX_ENTITIES} custom entities; this one declares {len(raw)}.")
    entities: dict[str, Entity] = {}
    for index, item in enumerate(raw):
        path = f"{where}[{index}]"
        entity = _entity(item, path, error, line)
        if entity is None:
            continue
        if entity.name in entities:
            error(f"{path}.name", f"Entity name '{entity.name}' is declared twice; entity names must be unique.")
            continue
        entities[entity.name] = entity
    return entities


def _entity(item: Any, path: str, error: Report, line: Callable[[str], int | None]) -> Entity | None:
    if not isinstance(item, dict):
        error(path, "must be a mapping with name, attributes and indexes")
        return None
    for prop in item:
        if prop not in _ENTITY_PROPS:
            error(f"{path}.{prop}", f"should NOT have additional property '{prop}'")
    name = item.get("name")
    if name is None:
        error(path, "should have required property 'name'")
        return None
    if not isinstance(name, str):
        error(f"{path}.name", f"must be a string, not {type(name).__name__}")
        return None
    ok = True
    if len(name) < limits.ENTITY_NAME_MIN:
        error(f"{path}.name", f"Entity name '{name}' must be at least {limits.ENTITY_NAME_MIN} characters long.")
        ok = False
    elif len(name) > limits.ENTITY_NAME_MAX:
        error(f"{path}.name", f"Entity name '{name}' exceeds maximum allowed length of {limits.ENTITY_NAME_MAX} characters.")
        ok = False
    if not ENTITY_NAME_PATTERN.fullmatch(name):
        error(
            f"{path}.name",
            f"Entity name '{name}' must match {ENTITY_NAME_PATTERN.pattern} (a-z, 0-9 and : - _ . ; not starting "
            "with _ . or -, no '..', not ending with .)",
        )
        ok = False
    attributes = _attributes(name, item.get("attributes"), f"{path}.attributes", error)
    if attributes is None:
        return None
    indexes = _indexes(name, attributes, item.get("indexes"), f"{path}.indexes", error)
    if not ok or indexes is None:
        return None
    return Entity(name, attributes, indexes, line(path))


def _attributes(entity: str, raw: Any, path: str, error: Report) -> dict[str, str] | None:
    if raw is None:
        error(path.rsplit(".", 1)[0], "should have required property 'attributes'")
        return None
    if not isinstance(raw, dict):
        error(path, "must be a mapping of attribute names to {type: ...}")
        return None
    if not raw:
        error(path, f"Entity '{entity}' must contain at least one attribute.")
        return None
    if len(raw) > limits.MAX_ENTITY_ATTRIBUTES:
        error(path, f"Entity '{entity}' contains more attributes than the allowed limit of {limits.MAX_ENTITY_ATTRIBUTES}.")
    attributes: dict[str, str] = {}
    valid = True
    for attribute, spec in raw.items():
        where = f"{path}.{attribute}"
        if not isinstance(attribute, str) or not ATTRIBUTE_PATTERN.fullmatch(attribute):
            error(where, f"attribute name '{attribute}' must match {ATTRIBUTE_PATTERN.pattern}")
            valid = False
            continue
        if len(attribute) > limits.ENTITY_ATTRIBUTE_NAME_MAX:
            error(
                where,
                f"Entity '{entity}' attribute name '{attribute}' exceeds maximum allowed length of "
                f"{limits.ENTITY_ATTRIBUTE_NAME_MAX}.",
            )
            valid = False
        if not isinstance(spec, dict) or "type" not in spec:
            error(where, "should have required property 'type' (one of string, integer, float, boolean, any)")
            valid = False
            continue
        for prop in spec:
            if prop != "type":
                error(f"{where}.{prop}", f"should NOT have additional property '{prop}'")
        kind = spec["type"]
        if kind not in TYPES:
            error(f"{where}.type", f"type must be one of {', '.join(TYPES)}, not {kind!r}")
            valid = False
            continue
        attributes[attribute] = str(kind)
    return attributes if valid else None


def _indexes(
    entity: str, attributes: dict[str, str], raw: Any, path: str, error: Report
) -> dict[str, EntityIndex] | None:
    if raw is None:
        return {}
    if not isinstance(raw, list) or not raw:
        error(path, "must be a list with at least one index")
        return None
    if len(raw) > limits.MAX_ENTITY_INDEXES:
        error(path, f"Entity '{entity}' contains more indexes than the allowed limit of {limits.MAX_ENTITY_INDEXES}.")
    indexes: dict[str, EntityIndex] = {}
    valid = True
    for number, item in enumerate(raw):
        where = f"{path}[{number}]"
        index = _index(entity, attributes, item, where, error)
        if index is None:
            valid = False
            continue
        if index.name in indexes:
            error(where, f"Entity '{entity}' declares index '{index.name}' twice; index names must be unique within an entity.")
            valid = False
            continue
        indexes[index.name] = index
    return indexes if valid else None


def _index(entity: str, attributes: dict[str, str], item: Any, where: str, error: Report) -> EntityIndex | None:
    if isinstance(item, str):
        if item not in attributes:
            error(where, f"Entity '{entity}' index '{item}' must refer to a valid attribute of the entity.")
            return None
        return EntityIndex(item, (), item)
    if not isinstance(item, dict):
        error(where, "must be an attribute name or a mapping with name, range and partition")
        return None
    for prop in item:
        if prop not in _INDEX_PROPS:
            error(f"{where}.{prop}", f"should NOT have additional property '{prop}'")
    name = item.get("name")
    valid = True
    if not isinstance(name, str):
        error(where, "should have required property 'name' (a string)")
        return None
    if name == RESERVED_INDEX:
        error(f"{where}.name", f"Entity '{entity}' cannot use reserved index name '{RESERVED_INDEX}'.")
        valid = False
    elif not limits.ENTITY_INDEX_NAME_MIN <= len(name) <= limits.ENTITY_INDEX_NAME_MAX or not INDEX_NAME_PATTERN.fullmatch(name):
        error(
            f"{where}.name",
            f"index name '{name}' must be {limits.ENTITY_INDEX_NAME_MIN}-{limits.ENTITY_INDEX_NAME_MAX} characters of "
            "a-z, A-Z, 0-9 and : - _ .",
        )
        valid = False
    ranges = _attribute_list(entity, attributes, item.get("range"), f"{where}.range", "range", error)
    partition: list[str] | None = []
    if "partition" in item:
        partition = _attribute_list(entity, attributes, item["partition"], f"{where}.partition", "partition", error)
    if ranges is None or partition is None:
        return None
    if len(ranges) != 1:
        # The schema allows a list, yet every example has one attribute, and a second one would
        # have no defined order or `where`: forgeq asks for one (docs/fidelity.md).
        error(f"{where}.range", f"forgeq: index '{name}' must have exactly one range attribute, not {len(ranges)}")
        return None
    return EntityIndex(name, tuple(partition), ranges[0]) if valid else None


def _attribute_list(
    entity: str, attributes: dict[str, str], raw: Any, where: str, role: str, error: Report
) -> list[str] | None:
    if raw is None and role == "range":
        error(where.rsplit(".", 1)[0], "should have required property 'range'")
        return None
    if not isinstance(raw, list) or not raw or not all(isinstance(a, str) for a in raw):
        error(where, f"{role} must be a list of attribute names with at least one item")
        return None
    valid = True
    for attribute in raw:
        if attribute not in attributes:
            what = f"index '{attribute}'" if role == "range" else f"index partition '{attribute}'"
            error(where, f"Entity '{entity}' {what} must refer to a valid attribute of the entity.")
            valid = False
    return list(raw) if valid else None
