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

from forgeq.kvs.conditions import Filter, Sort
from forgeq.kvs.errors import ForgeKvsError
from forgeq.kvs.results import ListResult, get_options, sent, set_options
from forgeq.runtime import current, sdk_call


def entity_space(name: Any) -> str:
    """The store space of an entity request's entityName: the name; a name that is not a string is
    the empty name, which fails the name check with Forge's code (as it reaches the platform)."""
    return name if isinstance(name, str) else ""


class EntityQueryBuilder:
    """`kvs.entity(name).query().index(...)`: where, filters, sort, cursor, limit, then get_many / get_one."""

    def __init__(self, request: dict[str, Any]) -> None:
        self._request = request

    def where(self, condition: dict[str, Any]) -> EntityQueryBuilder:
        self._request["range"] = condition
        return self

    def filters(self, filter: Filter | dict[str, Any]) -> EntityQueryBuilder:  # noqa: A002 - Forge's own name
        if isinstance(filter, Filter):
            self._request["filters"] = filter.as_request() if filter.filters() else None
        else:
            self._request["filters"] = filter
        return self

    def and_filter(self, field: str, condition: dict[str, Any]) -> EntityQueryBuilder:
        return self._extend("and", field, condition)

    def or_filter(self, field: str, condition: dict[str, Any]) -> EntityQueryBuilder:
        return self._extend("or", field, condition)

    def _extend(self, operator: str, field: str, condition: dict[str, Any]) -> EntityQueryBuilder:
        held = self._request.get("filters") or {}
        if held and operator not in held:
            raise ForgeKvsError(f"this query's filters are joined with '{next(iter(held))}', not '{operator}'")
        self._request["filters"] = {operator: [*held.get(operator, []), {"property": field, **condition}]}
        return self

    def sort(self, sort: Sort | str) -> EntityQueryBuilder:
        self._request["sort"] = str(sort.value if isinstance(sort, Sort) else sort)
        return self

    def cursor(self, cursor: str) -> EntityQueryBuilder:
        self._request["cursor"] = cursor
        return self

    def limit(self, limit: int) -> EntityQueryBuilder:
        self._request["limit"] = limit
        return self

    def _sent(self) -> dict[str, Any]:
        return {name: value for name, value in self._request.items() if value is not None}

    @sdk_call
    def get_many(self) -> ListResult:
        return ListResult(current().storage.entity_query(sent(self._sent())))

    @sdk_call
    def get_one(self) -> dict[str, Any] | None:
        self._request["limit"] = 1  # as the package does: getOne() is limit(1).getMany()
        results = current().storage.entity_query(sent(self._sent()))["results"]
        return results[0] if results else None

    getMany = get_many  # noqa: N815 - Forge's own names
    getOne = get_one  # noqa: N815
    andFilter = and_filter  # noqa: N815 - the legacy storage API's names
    orFilter = or_filter  # noqa: N815


class EntityIndexQuery:
    """`kvs.entity(name).query()`: choose the index (`by-key` is always there)."""

    def __init__(self, entity: str, metadata_fields: Any) -> None:
        self._entity = entity
        self._metadata_fields = metadata_fields

    def index(self, name: str, options: dict[str, Any] | None = None, *, partition: list[Any] | None = None) -> EntityQueryBuilder:
        if partition is None and isinstance(options, dict):
            partition = options.get("partition")
        request: dict[str, Any] = {"entityName": self._entity, "indexName": name, "partition": partition}
        if self._metadata_fields is not None:
            request["options"] = {"metadataFields": [str(getattr(f, "value", f)) for f in self._metadata_fields]}
        return EntityQueryBuilder(request)


class Entity:
    """`kvs.entity(name)`: get, set, delete and query items of a custom entity the manifest declares."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._space = entity_space(name)

    @sdk_call
    def get(self, key: str, options: Any = None, *, metadata_fields: Any = None) -> Any:
        """The value, or None when missing; with options (metadata_fields), `{key, value, createdAt, ...}`."""
        return current().storage.get(sent(key), sent(get_options(options, metadata_fields)), space=self._space)

    @sdk_call
    def set(
        self,
        key: str,
        value: dict[str, Any],
        options: Any = None,
        *,
        ttl: Any = None,
        key_policy: str | None = None,
        return_value: str | None = None,
        return_metadata_fields: Any = None,
    ) -> Any:
        return current().storage.set(
            sent(key), sent(value), sent(set_options(options, ttl, key_policy, return_value, return_metadata_fields)), space=self._space
        )

    @sdk_call
    def delete(self, key: str) -> None:
        current().storage.delete(sent(key), space=self._space)

    def query(self, options: Any = None, *, metadata_fields: Any = None) -> EntityIndexQuery:
        if metadata_fields is None and isinstance(options, dict):
            metadata_fields = options.get("metadataFields", options.get("metadata_fields"))
        return EntityIndexQuery(self.name, metadata_fields)

    def __repr__(self) -> str:
        return f"<forgeq.kvs entity {self.name!r}>"
