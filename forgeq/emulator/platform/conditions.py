"""Forge's conditions on custom entity attributes: a query's `where` and `filters`, a transaction's
`conditions`, as @forge/kvs sends them (`{"condition": "GREATER_THAN", "values": [2]}`, joined by
`{"and": [...]}` or `{"or": [...]}`), checked against the entity's declared attributes and tested
on an item's value.

A value compares only with values of its own kind (numbers with numbers, strings with strings,
booleans for equality); an attribute that is missing or null is absent: it fails every condition
but NOT_EXISTS, NOT_EQUAL_TO and NOT_CONTAINS (docs/fidelity.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from forgeq.emulator import limits
from forgeq.emulator.app.entities import Entity
from forgeq.emulator.platform.storage import KvsFailure
from forgeq.jsvalues import shown

WHERE_CONDITIONS = ("BEGINS_WITH", "BETWEEN", "EQUAL_TO", "GREATER_THAN", "GREATER_THAN_EQUAL_TO", "LESS_THAN", "LESS_THAN_EQUAL_TO")
FILTER_CONDITIONS = (*WHERE_CONDITIONS, "CONTAINS", "NOT_CONTAINS", "NOT_EQUAL_TO", "EXISTS", "NOT_EXISTS")
OPERATORS = ("and", "or")
_MISSING = object()


# -- values ---------------------------------------------------------------------------------------------


def kind_of(value: Any) -> str | None:
    """The JSON kind of a scalar: "string", "number", "boolean"; None for anything else."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number" if not isinstance(value, float) or math.isfinite(value) else None
    if isinstance(value, str):
        return "string"
    return None


_TYPE_KINDS = {"string": ("string",), "integer": ("number",), "float": ("number",), "boolean": ("boolean",),
               "any": ("string", "number", "boolean")}  # fmt: skip


def fits(kind: str, value: Any) -> bool:
    """Whether `value` may be stored in an attribute of type `kind` (None stands for no value)."""
    if value is None or kind == "any":
        return True
    if kind_of(value) not in _TYPE_KINDS[kind]:
        return False
    if kind == "integer":
        return float(value).is_integer() and limits.ENTITY_INTEGER_MIN <= value <= limits.ENTITY_INTEGER_MAX
    return True


# -- conditions (query filters, transaction conditions) ---------------------------------------------------


@dataclass(frozen=True)
class Clause:
    attribute: str
    condition: str
    values: tuple[Any, ...]


def _values(raw: Any, condition: str, what: str) -> tuple[Any, ...]:
    if not isinstance(raw, list | tuple):
        raise KvsFailure("INVALID_FILTER_VALUES", f"{what}: values must be a list.")
    if condition == "BETWEEN":
        if len(raw) < 2:
            raise KvsFailure("INSUFFICIENT_FILTER_VALUES", f"{what}: BETWEEN needs two values, not {len(raw)}.")
        if len(raw) > 2:
            raise KvsFailure("INVALID_FILTER_VALUES", f"{what}: BETWEEN takes two values, not {len(raw)}.")
    elif condition not in ("EXISTS", "NOT_EXISTS") and len(raw) != 1:
        raise KvsFailure("INVALID_FILTER_VALUES", f"{what}: {condition} takes one value, not {len(raw)}.")
    return tuple(raw)


def clause(entity: Entity, raw: Any, allowed: tuple[str, ...], what: str, attribute: str | None = None) -> Clause:
    if not isinstance(raw, dict):
        raise KvsFailure("INVALID_FILTER_CONDITION", f"{what} must be an object with property, condition and values.")
    if attribute is None:
        attribute = raw.get("property")
        if not isinstance(attribute, str) or attribute not in entity.attributes:
            raise KvsFailure(
                "INVALID_ENTITY_ATTRIBUTE",
                f"{what}: {shown(attribute)} is not an attribute of entity '{entity.name}' "
                f"(it declares {', '.join(entity.attributes)}).",
            )
    condition = raw.get("condition")
    if condition not in allowed:
        raise KvsFailure(
            "INVALID_FILTER_CONDITION", f"{what}: condition {shown(condition)} is not one of {', '.join(allowed)}."
        )
    values = _values(raw.get("values"), str(condition), what)
    kind = entity.attributes.get(attribute, "string")  # the key is a string
    if condition not in ("EXISTS", "NOT_EXISTS"):
        for value in values:
            if condition in ("BEGINS_WITH", "CONTAINS", "NOT_CONTAINS"):
                good = isinstance(value, str) and kind in ("string", "any")
            else:
                good = kind_of(value) is not None and (kind == "any" or kind_of(value) in _TYPE_KINDS[kind])
            if not good:
                raise KvsFailure(
                    "INVALID_FILTER_VALUES",
                    f"{what}: {condition} {shown(value)} does not fit '{attribute}', an attribute of type {kind}.",
                )
    return Clause(attribute, str(condition), values)


def parse_conditions(entity: Entity, raw: Any, what: str) -> tuple[str, tuple[Clause, ...]]:
    """`{"and": [...]}` or `{"or": [...]}` (what Filter builds) as (operator, clauses), or Forge's error."""
    if not isinstance(raw, dict):
        raise KvsFailure("INVALID_FILTER_CONDITION", f"{what} must be an object: {{\"and\": [...]}} or {{\"or\": [...]}}.")
    present = [operator for operator in OPERATORS if raw.get(operator) is not None]
    if len(present) == 2:
        raise KvsFailure(
            "INVALID_FILTER_OPERATORS_COMBINATION", f'{what}: filter operators "and" and "or" cannot be present at the same level.'
        )
    if not present or not raw[present[0]]:
        raise KvsFailure("EMPTY_FILTER_OPERATOR", f'{what}: filter operators "and" and "or" cannot be empty.')
    operator = present[0]
    items = raw[operator]
    if not isinstance(items, list | tuple):
        raise KvsFailure("INVALID_FILTER_CONDITION", f'{what}: "{operator}" must be a list of conditions.')
    if len(items) > limits.ENTITY_QUERY_MAX_CONDITIONS:
        raise KvsFailure(
            "INVALID_FILTER_CONDITION",
            f"{what}: {len(items)} conditions; a query takes at most {limits.ENTITY_QUERY_MAX_CONDITIONS}.",
        )
    return operator, tuple(clause(entity, item, FILTER_CONDITIONS, f"{what} {operator}[{i}]") for i, item in enumerate(items))


def _compare(left: Any, right: Any) -> int | None:
    """-1, 0, 1 for two values of one kind (numbers with numbers, strings with strings), else None."""
    kind = kind_of(left)
    if kind is None or kind != kind_of(right):
        return None
    if kind == "boolean":
        return 0 if left == right else None
    return int(left > right) - int(left < right)


def _holds(clause: Clause, found: Any) -> bool:
    condition = clause.condition
    if condition == "EXISTS":
        return found is not _MISSING
    if condition == "NOT_EXISTS":
        return found is _MISSING
    if condition in ("NOT_EQUAL_TO", "NOT_CONTAINS"):
        positive = Clause(clause.attribute, condition.removeprefix("NOT_"), clause.values)
        return not _holds(positive, found)
    if found is _MISSING:
        return False
    value = clause.values[0]
    if condition == "CONTAINS":
        if isinstance(found, str):
            return isinstance(value, str) and value in found
        return isinstance(found, list) and any(_compare(element, value) == 0 for element in found)
    if condition == "BEGINS_WITH":
        return isinstance(found, str) and isinstance(value, str) and found.startswith(value)
    if condition == "BETWEEN":
        low, high = _compare(found, clause.values[0]), _compare(found, clause.values[1])
        return low is not None and high is not None and low >= 0 and high <= 0
    order = _compare(found, value)
    if order is None:
        return False
    return {
        "EQUAL_TO": order == 0,
        "GREATER_THAN": order > 0,
        "GREATER_THAN_EQUAL_TO": order >= 0,
        "LESS_THAN": order < 0,
        "LESS_THAN_EQUAL_TO": order <= 0,
    }[condition]


def matches(operator: str, clauses: tuple[Clause, ...], value: Any) -> bool:
    """Whether an item's value meets the conditions. A missing item is one without attributes;
    an attribute holding null counts as absent."""
    attributes = value if isinstance(value, dict) else {}

    def found(clause: Clause) -> Any:
        held = attributes.get(clause.attribute, _MISSING)
        return _MISSING if held is None else held

    test = all if operator == "and" else any
    return test(_holds(clause, found(clause)) for clause in clauses)
