"""Conditions of `@forge/kvs`: WhereConditions, FilterConditions, Filter and Sort.

    WhereConditions.greater_than(2)          # {"condition": "GREATER_THAN", "values": [2]}
    Filter().and_("status", FilterConditions.equal_to("failed")).and_("owner", FilterConditions.exists())

WhereConditions bound an index's range attribute (and `kvs.query().where("key", ...)`, which takes
only begins_with); FilterConditions test any declared attribute. `Filter().and_(...)` and `.or_(...)`
stand for JavaScript's `and` / `or`, which are Python keywords (`getattr(f, "and")` works too).
Every condition also has Forge's camelCase name (`greaterThan`, `notExists`, ...).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from forgeq.jsvalues import spread, truthy
from forgeq.kvs.errors import ForgeKvsError


def _condition(name: str, *values: Any) -> dict[str, Any]:
    return {"condition": name, "values": list(values)}


class WhereConditions:
    """Conditions on the index's range attribute (the key for `by-key`), and `begins_with` on `key` for kvs.query()."""

    @staticmethod
    def begins_with(value: Any = None, *_: Any) -> dict[str, Any]:
        return _condition("BEGINS_WITH", value)

    @staticmethod
    def between(low: Any = None, high: Any = None, *_: Any) -> dict[str, Any]:
        return _condition("BETWEEN", low, high)

    @staticmethod
    def equal_to(value: Any = None, *_: Any) -> dict[str, Any]:
        return _condition("EQUAL_TO", value)

    @staticmethod
    def greater_than(value: Any = None, *_: Any) -> dict[str, Any]:
        return _condition("GREATER_THAN", value)

    @staticmethod
    def greater_than_equal_to(value: Any = None, *_: Any) -> dict[str, Any]:
        return _condition("GREATER_THAN_EQUAL_TO", value)

    @staticmethod
    def less_than(value: Any = None, *_: Any) -> dict[str, Any]:
        return _condition("LESS_THAN", value)

    @staticmethod
    def less_than_equal_to(value: Any = None, *_: Any) -> dict[str, Any]:
        return _condition("LESS_THAN_EQUAL_TO", value)

    beginsWith = begins_with  # noqa: N815 - Forge's own names
    equalTo = equal_to  # noqa: N815
    greaterThan = greater_than  # noqa: N815
    greaterThanEqualTo = greater_than_equal_to  # noqa: N815
    lessThan = less_than  # noqa: N815
    lessThanEqualTo = less_than_equal_to  # noqa: N815


class FilterConditions(WhereConditions):
    """Conditions of a Filter: those of WhereConditions, and contains, not_equal_to, exists, ..."""

    @staticmethod
    def contains(value: Any = None, *_: Any) -> dict[str, Any]:
        return _condition("CONTAINS", value)

    @staticmethod
    def not_contains(value: Any = None, *_: Any) -> dict[str, Any]:
        return _condition("NOT_CONTAINS", value)

    @staticmethod
    def not_equal_to(value: Any = None, *_: Any) -> dict[str, Any]:
        return _condition("NOT_EQUAL_TO", value)

    @staticmethod
    def exists(*_: Any) -> dict[str, Any]:
        return _condition("EXISTS", True)

    @staticmethod
    def not_exists(*_: Any) -> dict[str, Any]:
        return _condition("NOT_EXISTS", True)

    notContains = not_contains  # noqa: N815 - Forge's own names
    notEqualTo = not_equal_to  # noqa: N815
    notExists = not_exists  # noqa: N815


class Sort(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


SortOrder = Sort  # the name some of Forge's documentation uses


class Filter:
    """`new Filter()` of @forge/kvs: conditions joined by `and_` or by `or_` (not both).

    As the package's FilterBuilder: `and_` / `or_` on a new Filter() start a new filter of that kind
    (the Filter() itself stays empty); on that one they add to it. A condition is spread into
    `{property, ...condition}` as JavaScript spreads it; the package's JSON of a filter is `{items}`.
    """

    def __init__(self, operator: str | None = None) -> None:
        self._operator = operator
        self._items: list[dict[str, Any]] = []

    def _add(self, operator: str, field: Any, condition: Any) -> Filter:
        if self._operator is None:
            return Filter(operator)._add(operator, field, condition)
        if self._operator != operator:
            raise ForgeKvsError(
                f"a Filter joins its conditions with '{self._operator}'; start another Filter() to use '{operator}'"
            )
        self._items.append({"property": field, **spread(condition)})
        return self

    def and_(self, field: Any = None, condition: Any = None, *_: Any) -> Filter:
        return self._add("and", field, condition)

    def or_(self, field: Any = None, condition: Any = None, *_: Any) -> Filter:
        return self._add("or", field, condition)

    def filters(self) -> list[dict[str, Any]]:
        return self._items

    def operator(self) -> str:
        return "and" if self._operator == "and" else "or"  # `this instanceof AndFilterBuilder ? 'and' : 'or'`

    def as_request(self) -> dict[str, list[dict[str, Any]]]:
        """`{"and": [...]}` or `{"or": [...]}`, as the package sends it."""
        return {self.operator(): self.filters()}

    def to_json(self) -> dict[str, Any]:
        return {"items": self._items}

    toJSON = to_json  # noqa: N815 - JSON.stringify's name


setattr(Filter, "and", Filter.and_)  # noqa: B010 - reachable as getattr(f, "and"), JavaScript's name
setattr(Filter, "or", Filter.or_)  # noqa: B010


def conditions_request(conditions: Any) -> Any:
    """buildConditionsRequest of @forge/kvs: a Filter as the request carries it (`{"and": [...]}`);
    nothing for a falsy one; a Filter without conditions is ForgeKvsError, as the package refuses it;
    anything else is the TypeError its `filter.filters()` throws. Beyond the package, the request's own
    `{"and": [...]}` or `{"or": [...]}` is taken as it is."""
    if not truthy(conditions):
        return None
    if isinstance(conditions, Filter):
        if not conditions.filters():
            raise ForgeKvsError("Builder must have at least one condition set")
        return conditions.as_request()
    if is_raw_filter(conditions):
        return conditions
    raise TypeError("filter.filters is not a function")


def is_raw_filter(value: Any) -> bool:
    """Whether `value` is a request's own `{"and": [...]}` or `{"or": [...]}` (beyond the package)."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("and", "or")
