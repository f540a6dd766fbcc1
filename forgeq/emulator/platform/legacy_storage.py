"""The legacy `storage` API of @forge/api (2.x-7.x; implemented in @forge/storage), over the same store as @forge/kvs.

`import { storage, startsWith } from '@forge/api'` was how Forge apps stored data until @forge/kvs
replaced it (Atlassian: https://developer.atlassian.com/platform/forge/storage-reference/kvs-migration-from-legacy/).
It reaches the same key-value store: a key written by one is read by the other. Every call is one
KVS call of the invocation's StorageSession (storage.py), so the same key and value rules, quotas,
unacknowledged-write buffering and fault injection apply.

`LegacyStorage` serves both languages: the Python mirror (forgeq.api.storage, through the port) and
the GraphQL requests that every @forge/storage version sends to `/forge/entities/graphql`
(`graphql()` below; the operations of its gql-queries.js are told apart by the field they ask for):

    appStoredEntity(key, encrypted)                  get / getSecret: {key, value}, value null when missing
    appStoredEntities(where, after, first)           query().where('key', startsWith(p)).cursor(c).limit(n).getMany()
    appStoredEntitiesForCleanup(...)                 the same, from a cleanup function
    appStorage.setAppStoredEntity(input)             set / setSecret: {success, errors}
    appStorage.deleteAppStoredEntity(input)          delete / deleteSecret
    appStoredCustomEntity(key, entityName)           storage.entity(name).get: {key, value, entityName}
    appStoredCustomEntities(entityName, indexName,   storage.entity(name).query().index(...)...getMany():
      range, filters, partition, sort, cursor, limit)  {edges: [{node: {key, value}}], cursor}
    appStorageCustomEntity.set/deleteAppStoredCustomEntity(input)   storage.entity(name).set / delete

Errors, as @forge/storage turns them into `APIError`: a refused request (a key, a value, a limit) is a
GraphQL error `{message, extensions: {errorType, statusCode}}` with @forge/kvs's code and message,
so `APIError.message` is that message; a query's error comes in the top-level `errors`, a
mutation's in its `errors` with `success: false`. Over the storage quota the gateway answers HTTP
429, which @forge/storage reports as "Unknown error. Received status code '429'" (docs/fidelity.md).
A listed page gives every result a cursor, and the last result's is `nextCursor` even on the last
page: the next query then finds nothing, as on Forge. Custom entities are the ones `kvs.entity()`
reaches (platform/entities.py): the same declarations, items, queries and errors; an entity
query's page has its `cursor` only when more items follow.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forgeq.api.storage import APIError
from forgeq.emulator.app.replies import Answer, respond
from forgeq.emulator.platform.storage import encode_cursor
from forgeq.jsvalues import shown
from forgeq.kvs import ForgeKvsAPIError
from forgeq.runtime import PLAIN, SECRET

if TYPE_CHECKING:
    from forgeq.runtime import StorageSession

ENDPOINT = "/forge/entities/graphql"
_FIELD = re.compile(
    r"\b(appStoredEntitiesForCleanup|appStoredEntities|appStoredEntity|setAppStoredEntity|deleteAppStoredEntity"
    r"|appStoredCustomEntities|appStoredCustomEntity|setAppStoredCustomEntity|deleteAppStoredCustomEntity)\s*\("
)
_MUTATIONS = {
    "setAppStoredEntity": "appStorage",
    "deleteAppStoredEntity": "appStorage",
    "setAppStoredCustomEntity": "appStorageCustomEntity",
    "deleteAppStoredCustomEntity": "appStorageCustomEntity",
}


def refusal(code: str, message: str, status: int) -> APIError:
    """The APIError @forge/storage raises for a refused call: the server's message, or, for an
    HTTP-level refusal (429), its own words for the status."""
    said = f"Unknown error. Received status code '{status}'" if status == 429 else message
    return APIError(said, code=code, status=status, server_message=message)


@dataclass
class LegacyStorage:
    """The legacy API over one invocation's StorageSession. Methods raise forgeq.api.storage.APIError."""

    session: StorageSession

    def get(self, key: Any, encrypted: bool = False) -> Any:
        """The value, or None when the key does not exist (undefined in JavaScript)."""
        return self._kvs(lambda: self.session.get(key, None, space=SECRET if encrypted else PLAIN))

    def set(self, key: Any, value: Any, encrypted: bool = False) -> None:
        self._kvs(lambda: self.session.set(key, value, None, space=SECRET if encrypted else PLAIN))

    def delete(self, key: Any, encrypted: bool = False) -> None:
        self._kvs(lambda: self.session.delete(key, space=SECRET if encrypted else PLAIN))

    def list(self, where: Any = None, cursor: Any = None, limit: Any = None) -> dict[str, Any]:
        """`{"results": [{key, value}], "nextCursor": the last result's cursor, or None}`, with each result's cursor."""
        condition = _condition(where)
        page = self._kvs(lambda: self.session.query(condition, cursor, limit, None))
        results = [{"key": found["key"], "value": found["value"]} for found in page["results"]]
        cursors = [encode_cursor(found["key"]) for found in results]
        return {"results": results, "cursors": cursors, "nextCursor": cursors[-1] if cursors else None}

    def entity_get(self, name: Any, key: Any) -> Any:
        """`storage.entity(name).get(key)`: the item's value, or None when it is missing."""
        return self._kvs(lambda: self.session.get(key, None, space=_entity(name)))

    def entity_set(self, name: Any, key: Any, value: Any) -> None:
        self._kvs(lambda: self.session.set(key, value, None, space=_entity(name)))

    def entity_delete(self, name: Any, key: Any) -> None:
        self._kvs(lambda: self.session.delete(key, space=_entity(name)))

    def entity_list(self, request: dict[str, Any]) -> dict[str, Any]:
        """A page of `storage.entity(name).query()...getMany()`: `{"results": [{key, value}], "nextCursor": str | None}`.

        `request` is what @forge/storage sends (entityName, indexName, range, filters, partition,
        sort, cursor, limit): the body of @forge/kvs's entity query.
        """
        page = self._kvs(lambda: self.session.entity_query(request))
        results = [{"key": found["key"], "value": found["value"]} for found in page["results"]]
        return {"results": results, "nextCursor": page.get("nextCursor")}

    @staticmethod
    def _kvs(work: Callable[[], Any]) -> Any:
        try:
            return work()
        except ForgeKvsAPIError as error:
            raise refusal(error.code, error.message, error.status) from None


def _entity(name: Any) -> str:
    """An entity's name as a space; anything else is refused as the Custom Entity Store refuses it."""
    if not isinstance(name, str):
        raise refusal("INVALID_ENTITY_TYPE", f"entityName must be a string, not {type(name).__name__}.", 400)
    return name


def _condition(where: Any) -> list[dict[str, Any]] | None:
    """The KVS where clause of a legacy one: [{field: 'key', condition: 'STARTS_WITH', value}]."""
    if where is None or where == []:
        return None
    if not isinstance(where, list) or not all(isinstance(clause, dict) for clause in where):
        raise refusal("QUERY_WHERE_INVALID", "where must be a list of conditions.", 400)
    converted = []
    for clause in where:
        condition = clause.get("condition")
        if condition != "STARTS_WITH":
            raise refusal(
                "INVALID_FILTER_CONDITION",
                f"The only condition the key-value store supports is STARTS_WITH (startsWith), not {shown(condition)}.",
                400,
            )
        converted.append({"property": clause.get("field"), "condition": "BEGINS_WITH", "values": [clause.get("value")]})
    return converted


# -- the GraphQL endpoint, for @forge/storage in the Node.js worker ----------------------------------------


def graphql(storage: LegacyStorage, body: Any, notes: list[str]) -> Answer:
    """Answer one request of @forge/storage to /forge/entities/graphql as the platform does."""
    query = body.get("query") if isinstance(body, dict) else None
    found = _FIELD.search(query) if isinstance(query, str) else None
    if found is None:
        notes.append(f"forgeq does not emulate this storage GraphQL request ({str(query)[:80]!r}); it was answered 501")
        return respond(501, {"errors": [{"message": "forgeq does not emulate this storage GraphQL request"}]})
    field = found.group(1)
    variables = body.get("variables") or {}
    given = variables.get("input") if field in _MUTATIONS else variables
    given = given if isinstance(given, dict) else {}
    encrypted = bool(given.get("encrypted"))
    try:
        if "Custom" in field:
            return _custom_entity(storage, field, given)
        if field == "appStoredEntity":
            key = given.get("key")
            return respond(200, {"data": {field: {"key": key, "value": storage.get(key, encrypted)}}})
        if field in ("appStoredEntities", "appStoredEntitiesForCleanup"):
            page = storage.list(given.get("where"), given.get("cursor"), given.get("limit"))
            edges = [{"node": node, "cursor": cursor} for node, cursor in zip(page["results"], page["cursors"], strict=True)]
            return respond(200, {"data": {field: {"edges": edges}}})
        if field == "setAppStoredEntity":
            storage.set(given.get("key"), given.get("value"), encrypted)
        else:
            storage.delete(given.get("key"), encrypted)
        return respond(200, {"data": {_MUTATIONS[field]: {field: {"success": True, "errors": []}}}})
    except APIError as error:
        return _refused(field, error)


def _custom_entity(storage: LegacyStorage, field: str, given: dict[str, Any]) -> Answer:
    name, key = given.get("entityName"), given.get("key")
    if field == "appStoredCustomEntity":
        return respond(200, {"data": {field: {"key": key, "value": storage.entity_get(name, key), "entityName": name}}})
    if field == "appStoredCustomEntities":
        request = {part: value for part, value in given.items() if part != "contextAri"}
        page = storage.entity_list(request)
        edges = [{"node": node, "cursor": None} for node in page["results"]]
        more = page["nextCursor"] is not None
        listed = {"edges": edges, "pageInfo": {"hasNextPage": more, "hasPreviousPage": False}, "totalCount": None,
                  "cursor": page["nextCursor"]}  # fmt: skip
        return respond(200, {"data": {field: listed}})
    if field == "setAppStoredCustomEntity":
        storage.entity_set(name, key, given.get("value"))
    else:
        storage.entity_delete(name, key)
    return respond(200, {"data": {_MUTATIONS[field]: {field: {"success": True, "errors": []}}}})


def _refused(field: str, error: APIError) -> Answer:
    problem = {"message": error.server_message, "extensions": {"errorType": error.code, "statusCode": error.status}}
    if error.status == 429:
        return respond(429, {"errors": [problem]})
    if field in _MUTATIONS:
        return respond(200, {"data": {_MUTATIONS[field]: {field: {"success": False, "errors": [problem]}}}})
    return respond(200, {"data": {field: None}, "errors": [problem]})
