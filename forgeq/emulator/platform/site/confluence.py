"""The fake Confluence: pages (get, create, update) and content properties, REST v2 and v1.

Shapes from Confluence's REST references (developer.atlassian.com/cloud/confluence/rest/v2/ and
/rest/v1/). An update must carry the next version number, as Confluence requires (409 otherwise).
Creating or updating a page fires avi:confluence:created:page / updated:page when a trigger
subscribes (service.py). docs/product-site.md lists what is served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from forgeq.emulator.app.replies import Answer
from forgeq.emulator.platform.site import shapes
from forgeq.emulator.platform.site.calls import Call, Refused, Route, reply, route
from forgeq.emulator.platform.site.confluence_extras import ConfluenceExtras
from forgeq.emulator.products import payloads
from forgeq.emulator.products.seeds import PAGE, SPACE

if TYPE_CHECKING:
    from forgeq.emulator.platform.site.service import Site

CONTENT_PROPERTY = "content-property"
PROPERTY_ID_BASE = 60000
LIST_DEFAULT, LIST_MAX = 25, 250  # a v2 listing's page: its default and largest `limit`
DEFAULT_SPACE: dict[str, Any] = {"id": 827392002, "key": payloads.DEFAULT_PROJECT_KEY, "name": f"Space {payloads.DEFAULT_PROJECT_KEY}", "type": "global", "status": "current"}


def v2_error(status: int, title: str) -> Refused:
    code = {400: "INVALID_REQUEST_PARAMETER", 404: "NOT_FOUND", 409: "CONFLICT"}.get(status, "ERROR")
    return Refused(reply(status, {"errors": [{"status": status, "code": code, "title": title, "detail": None}]}))


def v1_error(status: int, message: str) -> Refused:
    reason = {400: "Bad Request", 404: "Not Found", 409: "Conflict"}.get(status, "Error")
    return Refused(reply(status, {"statusCode": status, "data": {"authorized": True, "valid": True, "errors": [], "successful": False}, "message": message, "reason": reason}))


class Confluence(ConfluenceExtras):
    def __init__(self, site: Site) -> None:
        self.site = site
        self.data = site.data
        self.routes: list[Route] = [
            route("GET", "/wiki/api/v2/pages", self.list_pages_v2),
            route("GET", "/wiki/api/v2/pages/{id}", self.get_page_v2),
            route("PUT", "/wiki/api/v2/pages/{id}", self.update_page_v2),
            route("POST", "/wiki/api/v2/pages", self.create_page_v2),
            route("GET", "/wiki/api/v2/pages/{page-id}/properties", self.properties_v2),
            route("POST", "/wiki/api/v2/pages/{page-id}/properties", self.add_property_v2),
            route("GET", "/wiki/api/v2/pages/{page-id}/properties/{property-id}", self.get_property_v2),
            route("PUT", "/wiki/api/v2/pages/{page-id}/properties/{property-id}", self.update_property_v2),
            route("DELETE", "/wiki/api/v2/pages/{page-id}/properties/{property-id}", self.delete_property_v2),
            route("GET", "/wiki/api/v2/pages/{id}/children", self.page_children),
            route("GET", "/wiki/api/v2/pages/{id}/labels", self.labels_v2),
            route("GET", "/wiki/api/v2/pages/{id}/footer-comments", self.page_footer_comments),
            route("POST", "/wiki/api/v2/footer-comments", self.add_footer_comment),
            route("GET", "/wiki/api/v2/footer-comments/{comment-id}", self.get_footer_comment),
            route("PUT", "/wiki/api/v2/footer-comments/{comment-id}", self.update_footer_comment),
            route("DELETE", "/wiki/api/v2/footer-comments/{comment-id}", self.delete_footer_comment),
            route("GET", "/wiki/rest/api/content/{id}/label", self.labels_v1),
            route("POST", "/wiki/rest/api/content/{id}/label", self.add_labels_v1),
            route("DELETE", "/wiki/rest/api/content/{id}/label", self.delete_label_v1),
            route("DELETE", "/wiki/rest/api/content/{id}/label/{label}", self.delete_label_v1),
            route("GET", "/wiki/api/v2/spaces", self.spaces_v2),
            route("GET", "/wiki/api/v2/spaces/{id}", self.get_space_v2),
            route("GET", "/wiki/api/v2/spaces/{id}/pages", self.space_pages_v2),
            route("GET", "/wiki/rest/api/space/{spaceKey}", self.get_space_v1),
            route("GET", "/wiki/rest/api/content/{id}", self.get_content),
            route("PUT", "/wiki/rest/api/content/{id}", self.update_content),
            route("POST", "/wiki/rest/api/content", self.create_content),
            route("GET", "/wiki/rest/api/content/{id}/property", self.properties_v1),
            route("POST", "/wiki/rest/api/content/{id}/property", self.add_property_v1),
            route("GET", "/wiki/rest/api/content/{id}/property/{key}", self.get_property_v1),
            route("PUT", "/wiki/rest/api/content/{id}/property/{key}", self.update_property_v1),
            route("DELETE", "/wiki/rest/api/content/{id}/property/{key}", self.delete_property_v1),
        ]

    # -- pages --------------------------------------------------------------------------------------

    def _page(self, call: Call, name: str = "id", v1: bool = False) -> dict[str, Any]:
        found = self.data.get(call.installation, PAGE, call.params[name])
        if found is None:
            if v1:
                raise v1_error(404, f"No content found with id: ContentId{{id={call.params[name]}}}")
            raise v2_error(404, "Not Found")
        return found

    def _space(self, installation: str, key: Any = None, space_id: Any = None) -> dict[str, Any] | None:
        spaces: dict[str, dict[str, Any]] = {str(DEFAULT_SPACE["key"]): DEFAULT_SPACE, **dict(self.data.scan(installation, SPACE))}
        for space_key, space in spaces.items():
            if key == space_key or (space_id is not None and str(space_id) == str(space.get("id"))):
                return space
        return None

    def page_v2(self, call: Call, doc: dict[str, Any], body_format: str | None) -> dict[str, Any]:
        version = doc.get("version") or {}
        author = ((doc.get("history") or {}).get("createdBy") or {}).get("accountId")
        shaped: dict[str, Any] = {
            "id": str(doc.get("id")),
            "status": doc.get("status", "current"),
            "title": doc.get("title"),
            "spaceId": str((doc.get("space") or {}).get("id")),
            "parentId": doc.get("parentId"),
            "parentType": "page" if doc.get("parentId") else None,
            "position": 0,
            "authorId": author,
            "ownerId": author,
            "lastOwnerId": None,
            "createdAt": (doc.get("history") or {}).get("createdDate"),
            "version": {
                "createdAt": version.get("when"),
                "message": version.get("message", ""),
                "number": version.get("number", 1),
                "minorEdit": False,
                "authorId": (version.get("by") or {}).get("accountId"),
            },
            "body": {},
            "_links": {"webui": f"/spaces/{(doc.get('space') or {}).get('key')}/pages/{doc.get('id')}", "editui": f"/pages/resumedraft.action?draftId={doc.get('id')}"},
        }
        if body_format in ("storage", "atlas_doc_format", "view"):
            stored = (doc.get("body") or {}).get("storage") or {"value": "", "representation": "storage"}
            shaped["body"] = {body_format: {"representation": body_format, "value": stored.get("value", "")}}
        call.objects += 1
        return shaped

    def list_pages_v2(self, call: Call) -> Answer:
        """GET /pages: the site's pages, by `space-id`, `title` and `status` (current by default),
        in id order, `limit` a page (25 by default, at most 250)."""
        spaces = set(call.listed("space-id"))
        title, statuses = call.first("title"), set(call.listed("status")) or {"current"}
        found = [
            doc for _, doc in self.data.scan(call.installation, PAGE)
            if (not spaces or str((doc.get("space") or {}).get("id")) in spaces)
            and (title is None or doc.get("title") == title)
            and doc.get("status", "current") in statuses
        ]  # fmt: skip
        return self._page_list(call, found)

    def space_pages_v2(self, call: Call) -> Answer:
        space = self._space(call.installation, space_id=call.params["id"])
        if space is None:
            raise v2_error(404, "Not Found")
        found = [doc for _, doc in self.data.scan(call.installation, PAGE) if str((doc.get("space") or {}).get("id")) == str(space.get("id"))]
        return self._page_list(call, [doc for doc in found if doc.get("status", "current") in (set(call.listed("status")) or {"current"})])

    def _page_list(self, call: Call, docs: list[dict[str, Any]], shape: Callable[[dict[str, Any], int], dict[str, Any]] | None = None) -> Answer:
        """One page of a v2 listing, in id order; `_links.next` (with its `cursor`) while more are left.
        `shape(doc, position)` writes each (a page by default)."""
        limit = call.first("limit")
        size = min(int(limit), LIST_MAX) if limit and limit.isdigit() and int(limit) > 0 else LIST_DEFAULT
        cursor = call.first("cursor")
        start = int(cursor) if cursor and cursor.isdigit() else 0
        if cursor and not cursor.isdigit():
            raise v2_error(400, "The cursor is not valid.")
        docs = sorted(docs, key=lambda doc: int(doc["id"]) if str(doc.get("id")).isdigit() else 0)
        links: dict[str, str] = {"base": f"{shapes.base_url(call.installation)}/wiki"}
        if start + size < len(docs):
            kept = [(name, value) for name, values in call.query.items() if name != "cursor" for value in values]
            links["next"] = f"{call.path}?{urlencode([*kept, ('cursor', start + size)])}"
        body_format = call.first("body-format")
        shown = shape or (lambda doc, _: self.page_v2(call, doc, body_format))
        results = [shown(doc, position) for position, doc in enumerate(docs[start : start + size], start=start)]
        return reply(200, {"results": results, "_links": links})

    # -- spaces -------------------------------------------------------------------------------------

    def _spaces(self, installation: str) -> list[dict[str, Any]]:
        return [DEFAULT_SPACE, *(space for key, space in self.data.scan(installation, SPACE) if key != DEFAULT_SPACE["key"])]

    def space_v2(self, call: Call, space: dict[str, Any]) -> dict[str, Any]:
        call.objects += 1
        return {
            "id": str(space.get("id")), "key": space.get("key"), "name": space.get("name"), "type": space.get("type", "global"),
            "status": space.get("status", "current"), "authorId": None, "createdAt": None, "homepageId": None, "description": None,
            "icon": None, "_links": {"webui": f"/spaces/{space.get('key')}"},
        }  # fmt: skip

    def spaces_v2(self, call: Call) -> Answer:
        """GET /spaces: every space, or those `keys` and `ids` name."""
        keys, ids = set(call.listed("keys")), set(call.listed("ids"))
        found = [s for s in self._spaces(call.installation) if (not keys or s.get("key") in keys) and (not ids or str(s.get("id")) in ids)]
        return reply(200, {"results": [self.space_v2(call, space) for space in found], "_links": {"base": f"{shapes.base_url(call.installation)}/wiki"}})

    def get_space_v2(self, call: Call) -> Answer:
        space = self._space(call.installation, space_id=call.params["id"])
        if space is None:
            raise v2_error(404, "Not Found")
        return reply(200, self.space_v2(call, space))

    def get_space_v1(self, call: Call) -> Answer:
        space = self._space(call.installation, key=call.params["spaceKey"])
        if space is None:
            raise v1_error(404, f"No space with key : {call.params['spaceKey']}")
        call.objects += 1
        return reply(200, {
            "id": space.get("id"), "key": space.get("key"), "name": space.get("name"), "type": space.get("type", "global"),
            "status": space.get("status", "current"),
            "_links": {"webui": f"/spaces/{space.get('key')}", "self": f"{shapes.base_url(call.installation)}/wiki/rest/api/space/{space.get('key')}"},
        })  # fmt: skip

    def get_page_v2(self, call: Call) -> Answer:
        return reply(200, self.page_v2(call, self._page(call), call.first("body-format")))

    def create_page_v2(self, call: Call) -> Answer:
        body = _object(call, v1=False)
        space = self._space(call.installation, space_id=body.get("spaceId"))
        if space is None:
            raise v2_error(400, "Provided value {spaceId} for 'spaceId' is not the correct type. Expected type is ContentId")
        if not isinstance(body.get("title"), str) or not body["title"].strip():
            raise v2_error(400, "Title is required for page creation.")
        given: dict[str, Any] = body["body"] if isinstance(body.get("body"), dict) else {}
        doc = self._new_page(call, space, body["title"], str(given.get("value", "")), body.get("parentId"), body.get("status", "current"))
        return reply(200, self.page_v2(call, doc, "storage"))

    def update_page_v2(self, call: Call) -> Answer:
        doc = self._page(call)
        body = _object(call, v1=False)
        number = ((body.get("version") or {}) if isinstance(body.get("version"), dict) else {}).get("number")
        given = body.get("body") if isinstance(body.get("body"), dict) else None
        updated = self._update_page(call, doc, number, body.get("title"), None if given is None else str(given.get("value", "")), v1=False)
        return reply(200, self.page_v2(call, updated, "storage"))

    def _new_page(self, call: Call, space: dict[str, Any], title: str, value: str, parent: Any, status: str) -> dict[str, Any]:
        number = self.data.new_number()
        page_id = str(payloads.PAGE_ID_BASE + number)
        when = shapes.iso_time(call.at)
        by = {"accountId": call.account_id}
        doc = {
            "id": page_id, "type": "page", "status": status, "title": title, "space": space, "parentId": parent,
            "history": {"latest": True, "createdBy": by, "createdDate": when},
            "version": {"by": by, "when": when, "number": 1, "message": ""},
            "body": {"storage": {"value": value, "representation": "storage"}},
        }  # fmt: skip
        self.data.put(call.installation, PAGE, page_id, doc, call.at, page_id)
        self.site.record(call, PAGE, page_id, {"action": "created", "version": 1})
        self.site.fire(call, "avi:confluence:created:page", lambda: self._event(call, doc))
        return doc

    def _update_page(self, call: Call, doc: dict[str, Any], number: Any, title: Any, value: str | None, v1: bool) -> dict[str, Any]:
        current = int((doc.get("version") or {}).get("number", 1))
        if not isinstance(number, int) or isinstance(number, bool) or number != current + 1:
            message = f"Version must be incremented when updating a page. Current Version: [{current}]. Provided version: [{number}]"
            raise v1_error(409, message) if v1 else v2_error(409, message)
        updated = dict(doc)
        if isinstance(title, str) and title.strip():
            updated["title"] = title
        if value is not None:
            updated["body"] = {"storage": {"value": value, "representation": "storage"}}
        updated["version"] = {"by": {"accountId": call.account_id}, "when": shapes.iso_time(call.at), "number": number, "message": ""}
        self.data.put(call.installation, PAGE, str(doc["id"]), updated, call.at, str(doc["id"]))
        self.site.record(call, PAGE, str(doc["id"]), {"action": "updated", "version": number})
        self.site.fire(call, "avi:confluence:updated:page", lambda: {**self._event(call, updated), "updateTrigger": "edit_page"})
        return updated

    def _event(self, call: Call, doc: dict[str, Any]) -> dict[str, Any]:
        keep = ("id", "type", "status", "title", "space", "history", "version")
        return {
            "atlassianId": call.account_id or self.site.app_account_id,
            "eventCreatedDate": shapes.iso_time(call.at),
            "suppressNotifications": False,
            "content": {name: doc.get(name) for name in keep},
        }

    # -- v1 content ---------------------------------------------------------------------------------

    def content_v1(self, call: Call, doc: dict[str, Any]) -> dict[str, Any]:
        space = doc.get("space") or {}
        shaped: dict[str, Any] = {
            "id": str(doc.get("id")),
            "type": doc.get("type", "page"),
            "status": doc.get("status", "current"),
            "title": doc.get("title"),
            "space": {"id": space.get("id"), "key": space.get("key"), "name": space.get("name"), "type": space.get("type", "global"), "status": "current"},
            "history": doc.get("history"),
            "version": {**(doc.get("version") or {}), "minorEdit": False},
            "_links": {"webui": f"/spaces/{space.get('key')}/pages/{doc.get('id')}", "self": f"{shapes.base_url(call.installation)}/wiki/rest/api/content/{doc.get('id')}"},
        }
        if "body.storage" in call.listed("expand") or call.method != "GET":
            stored = (doc.get("body") or {}).get("storage") or {"value": "", "representation": "storage"}
            shaped["body"] = {"storage": {"value": stored.get("value", ""), "representation": "storage"}}
        call.objects += 1
        return shaped

    def get_content(self, call: Call) -> Answer:
        return reply(200, self.content_v1(call, self._page(call, v1=True)))

    def create_content(self, call: Call) -> Answer:
        body = _object(call, v1=True)
        if body.get("type", "page") != "page":
            raise v1_error(400, f"forgeq's fake Confluence creates pages only, not {body.get('type')!r}")
        space = self._space(call.installation, key=(body.get("space") or {}).get("key") if isinstance(body.get("space"), dict) else None)
        if space is None:
            raise v1_error(400, "Could not find space with key: " + str((body.get("space") or {}).get("key")))
        if not isinstance(body.get("title"), str) or not body["title"].strip():
            raise v1_error(400, "A page must have a title.")
        storage = ((body.get("body") or {}).get("storage") or {}) if isinstance(body.get("body"), dict) else {}
        ancestors = body.get("ancestors") if isinstance(body.get("ancestors"), list) else []
        parent = ancestors[-1].get("id") if ancestors and isinstance(ancestors[-1], dict) else None
        doc = self._new_page(call, space, body["title"], str(storage.get("value", "")), parent, body.get("status", "current"))
        return reply(200, self.content_v1(call, doc))

    def update_content(self, call: Call) -> Answer:
        doc = self._page(call, v1=True)
        body = _object(call, v1=True)
        number = (body.get("version") or {}).get("number") if isinstance(body.get("version"), dict) else None
        storage = ((body.get("body") or {}).get("storage")) if isinstance(body.get("body"), dict) else None
        value = str(storage.get("value", "")) if isinstance(storage, dict) else None
        return reply(200, self.content_v1(call, self._update_page(call, doc, number, body.get("title"), value, v1=True)))

    # -- content properties -------------------------------------------------------------------------

    def _properties(self, call: Call, page_id: str) -> list[dict[str, Any]]:
        return [doc for _, doc in self.data.scan(call.installation, CONTENT_PROPERTY, f"{page_id}/")]

    def _property_by_id(self, call: Call) -> tuple[str, dict[str, Any]]:
        page = self._page(call, "page-id")
        for found in self._properties(call, str(page["id"])):
            if str(found.get("id")) == call.params["property-id"]:
                return str(page["id"]), found
        raise v2_error(404, "Not Found")

    def _save_property(self, call: Call, page_id: str, key: str, value: Any, number: int, existing: dict[str, Any] | None) -> dict[str, Any]:
        property_id = str(existing["id"]) if existing else str(PROPERTY_ID_BASE + self.data.new_number())
        doc = {"id": property_id, "key": key, "value": value, "version": {"number": number, "when": shapes.iso_time(call.at), "message": "", "authorId": call.account_id}}
        self.data.put(call.installation, CONTENT_PROPERTY, f"{page_id}/{key}", doc, call.at, property_id)
        self.site.record(call, PAGE, page_id, {"action": "property set", "property": key})
        return doc

    def properties_v2(self, call: Call) -> Answer:
        page = self._page(call, "page-id")
        return reply(200, {"results": self._properties(call, str(page["id"])), "_links": {}})

    def add_property_v2(self, call: Call) -> Answer:
        page = self._page(call, "page-id")
        body = _object(call, v1=False)
        key = body.get("key")
        if not isinstance(key, str) or not key:
            raise v2_error(400, "Property key is required.")
        if self.data.get(call.installation, CONTENT_PROPERTY, f"{page['id']}/{key}") is not None:
            raise v2_error(409, f"A property with key '{key}' already exists.")
        return reply(200, self._save_property(call, str(page["id"]), key, body.get("value"), 1, None))

    def get_property_v2(self, call: Call) -> Answer:
        return reply(200, self._property_by_id(call)[1])

    def update_property_v2(self, call: Call) -> Answer:
        page_id, found = self._property_by_id(call)
        body = _object(call, v1=False)
        number = (body.get("version") or {}).get("number") if isinstance(body.get("version"), dict) else None
        current = int(found["version"]["number"])
        if number != current + 1:
            raise v2_error(409, f"Version must be incremented when updating a property. Current Version: [{current}]. Provided version: [{number}]")
        return reply(200, self._save_property(call, page_id, str(body.get("key") or found["key"]), body.get("value"), current + 1, found))

    def delete_property_v2(self, call: Call) -> Answer:
        page_id, found = self._property_by_id(call)
        self.data.delete(call.installation, CONTENT_PROPERTY, f"{page_id}/{found['key']}")
        self.site.record(call, PAGE, page_id, {"action": "property deleted", "property": found["key"]})
        return reply(204)

    def properties_v1(self, call: Call) -> Answer:
        page = self._page(call, v1=True)
        results = self._properties(call, str(page["id"]))
        return reply(200, {"results": results, "start": 0, "limit": 10, "size": len(results), "_links": {}})

    def add_property_v1(self, call: Call) -> Answer:
        page = self._page(call, v1=True)
        body = _object(call, v1=True)
        key = body.get("key")
        if not isinstance(key, str) or not key:
            raise v1_error(400, "A content property needs a key.")
        if self.data.get(call.installation, CONTENT_PROPERTY, f"{page['id']}/{key}") is not None:
            raise v1_error(409, f"Cannot add a new property with key '{key}' because a property with that key already exists.")
        return reply(200, self._save_property(call, str(page["id"]), key, body.get("value"), 1, None))

    def _property_v1(self, call: Call) -> tuple[str, dict[str, Any]]:
        page = self._page(call, v1=True)
        found = self.data.get(call.installation, CONTENT_PROPERTY, f"{page['id']}/{call.params['key']}")
        if found is None:
            raise v1_error(404, f"Cannot find property with key: {call.params['key']}")
        return str(page["id"]), found

    def get_property_v1(self, call: Call) -> Answer:
        return reply(200, self._property_v1(call)[1])

    def update_property_v1(self, call: Call) -> Answer:
        page_id, found = self._property_v1(call)
        body = _object(call, v1=True)
        number = (body.get("version") or {}).get("number") if isinstance(body.get("version"), dict) else None
        current = int(found["version"]["number"])
        if number != current + 1:
            raise v1_error(409, f"Version must be incremented when updating a property. Current Version: [{current}]. Provided version: [{number}]")
        return reply(200, self._save_property(call, page_id, found["key"], body.get("value"), current + 1, found))

    def delete_property_v1(self, call: Call) -> Answer:
        page_id, found = self._property_v1(call)
        self.data.delete(call.installation, CONTENT_PROPERTY, f"{page_id}/{found['key']}")
        self.site.record(call, PAGE, page_id, {"action": "property deleted", "property": found["key"]})
        return reply(204)


def _object(call: Call, v1: bool) -> dict[str, Any]:
    body = call.json()
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise v1_error(400, "The request body must be a JSON object.") if v1 else v2_error(400, "The request body must be a JSON object.")
    return body
