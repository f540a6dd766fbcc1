"""Custom entities and their queries, as `@forge/kvs` 1.6 offers them (`kvs.entity(name)`).

    records = kvs.entity("import-record")
    records.set("rec-DEMO-1", {"issueKey": "DEMO-1", "status": "failed", "attempts": 3})
    records.get("rec-DEMO-1")                                   # the value; None when missing
    page = (records.query().index("by-status", partition=["failed"])
            .where(WhereConditions.greater_than(2))
            .filters(Filter().and_("issueKey", FilterConditions.begins_with("DEMO-")))
            .sort(SortOrder.DESC).limit(20).get_many())         # page.results, page.next_cursor

Like the package's builder, a query builder changes itself and returns itself. `Filter().and_(...)`
and `.or_(...)` stand for JavaScript's `and` / `or` (Python keywords); `and_filter(field, condition)`
and `or_filter` on the query are the shorthand of the legacy `storage.entity()` API.
"""

from __future__ import annotations

from typing import Any

from forgeq.jsvalues import property_error, spread, to_string, truthy
from forgeq.kvs.conditions import Filter, is_raw_filter
from forgeq.kvs.errors import ForgeKvsError
from forgeq.kvs.results import ListResult, get_options, sent, set_options
from forgeq.runtime import current, sdk_call


def entity_space(name: Any) -> str:
    """The store space of an entity request's entityName: the name; a name that is not a string is
    the empty name, which fails the name check with Forge's code (as it reaches the platform)."""
    return name if isinstance(name, str) else ""


class EntityQueryBuilder:
    """`kvs.entity(name).query(options).index(...)`: where, filters, sort, cursor, limit, then get_many /
    get_one. As the package's builder, it holds the query's options (those given to `query()` spread
    in) and sends them all, with `metadataFields` as `options` and the filter as `{operator: [...]}`."""

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options

    def where(self, condition: Any = None, *_: Any) -> EntityQueryBuilder:
        self._options["range"] = condition
        return self

    def filters(self, filter: Any = None, *_: Any) -> EntityQueryBuilder:  # noqa: A002 - Forge's own name
        if is_raw_filter(filter):
            (operator, items), = filter.items()  # beyond the package: the request's own {"and": [...]}
            self._options["filters"], self._options["filterOperator"] = items, operator
            return self
        if not isinstance(filter, Filter):
            raise property_error(filter, "filters", setting=False) or TypeError("filter.filters is not a function")
        self._options["filters"], self._options["filterOperator"] = filter.filters(), filter.operator()
        return self

    def and_filter(self, field: str, condition: Any) -> EntityQueryBuilder:
        return self._extend("and", field, condition)

    def or_filter(self, field: str, condition: Any) -> EntityQueryBuilder:
        return self._extend("or", field, condition)

    def _extend(self, operator: str, field: str, condition: Any) -> EntityQueryBuilder:
        held = self._options.get("filters") or []
        if held and self._options.get("filterOperator") != operator:
            raise ForgeKvsError(f"this query's filters are joined with '{self._options.get('filterOperator')}', not '{operator}'")
        self._options["filters"] = [*held, {"property": field, **spread(condition)}]
        self._options["filterOperator"] = operator
        return self

    def sort(self, sort: Any = None, *_: Any) -> EntityQueryBuilder:
        self._options["sort"] = sort
        return self

    def cursor(self, cursor: Any = None, *_: Any) -> EntityQueryBuilder:
        self._options["cursor"] = cursor
        return self

    def limit(self, limit: Any = None, *_: Any) -> EntityQueryBuilder:
        self._options["limit"] = limit
        return self

    def _sent(self) -> Any:
        """The request getMany posts: `{...rest, options?: {metadataFields}, filters?: {op: [...]}}`."""
        held = self._options
        rest = {name: value for name, value in held.items() if name not in ("filters", "filterOperator", "metadataFields")}
        if truthy(held.get("metadataFields")):
            rest["options"] = {"metadataFields": held["metadataFields"]}
        filters, operator = held.get("filters"), held.get("filterOperator")
        if truthy(filters) and truthy(operator) and isinstance(filters, list | tuple) and filters:
            rest["filters"] = {to_string(operator): filters}
        return sent({name: value for name, value in rest.items() if value is not None})

    @sdk_call
    def get_many(self, *_: Any) -> ListResult:
        return ListResult(current().storage.entity_query(self._sent()))

    @sdk_call
    def get_one(self, *_: Any) -> dict[str, Any] | None:
        results = current().storage.entity_query(self.limit(1)._sent())["results"]  # as the package: limit(1).getMany()
        return results[0] if results else None

    getMany = get_many  # noqa: N815 - Forge's own names
    getOne = get_one  # noqa: N815
    andFilter = and_filter  # noqa: N815 - the legacy storage API's names
    orFilter = or_filter  # noqa: N815


class EntityIndexQuery:
    """`kvs.entity(name).query(options)`: choose the index (`by-key` is always there)."""

    def __init__(self, entity: Any, options: Any) -> None:
        self._entity = entity
        self._options = options

    def index(self, name: Any = None, options: Any = None, *_: Any, partition: Any = None) -> EntityQueryBuilder:
        if partition is None and isinstance(options, dict):
            partition = options.get("partition")
        held = {**spread(self._options), "entityName": self._entity, "indexName": name, "partition": partition, "filters": []}
        return EntityQueryBuilder(held)


class Entity:
    """`kvs.entity(name)`: get, set, delete and query items of a custom entity the manifest declares."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._space = entity_space(name)

    @sdk_call
    def get(self, key: Any = None, options: Any = None, *_: Any, metadata_fields: Any = None) -> Any:
        """The value, or None when missing; with options (metadata_fields), `{key, value, createdAt, ...}`."""
        return current().storage.get(sent(key), sent(get_options(options, metadata_fields)), space=self._space)

    @sdk_call
    def set(
        self,
        key: Any = None,
        value: Any = None,
        options: Any = None,
        *_: Any,
        ttl: Any = None,
        key_policy: str | None = None,
        return_value: str | None = None,
        return_metadata_fields: Any = None,
    ) -> Any:
        return current().storage.set(
            sent(key), sent(value), sent(set_options(options, ttl, key_policy, return_value, return_metadata_fields)), space=self._space
        )

    @sdk_call
    def delete(self, key: Any = None, *_: Any) -> None:
        current().storage.delete(sent(key), space=self._space)

    def query(self, options: Any = None, *_: Any, metadata_fields: Any = None) -> EntityIndexQuery:
        if isinstance(options, dict) and "metadata_fields" in options:
            options = {**options, "metadataFields": options["metadata_fields"]}
            del options["metadata_fields"]
        if metadata_fields is not None:
            options = {**spread(options), "metadataFields": metadata_fields}
        return EntityIndexQuery(self.name, options)

    def __repr__(self) -> str:
        return f"<forgeq.kvs entity {self.name!r}>"
