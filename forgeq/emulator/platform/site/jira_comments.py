"""The fake Jira's comments and properties: an issue's comments, its properties, and Forge app properties.

A mixin of `Jira` (jira.py), which provides the issue lookups and events it uses. Shapes and error
bodies from Jira's REST reference (developer.atlassian.com/cloud/jira/platform/rest/v3/).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from forgeq.emulator.app.replies import Answer
from forgeq.emulator.platform.site import shapes
from forgeq.emulator.platform.site.calls import APP, Call, body_object, jira_error, paging, reply
from forgeq.emulator.products import payloads
from forgeq.emulator.products.seeds import COMMENT, COMMENTED, ISSUE

if TYPE_CHECKING:
    from forgeq.emulator.platform.site.data import SiteData
    from forgeq.emulator.platform.site.service import Site

ISSUE_PROPERTY = "issue-property"
APP_PROPERTY = "app-property"
MAX_PROPERTY_BYTES = 32768  # issue and app property values (Jira's REST reference)
MAX_PROPERTY_KEY = 255
COMMENTS_DEFAULT_RESULTS = 5000


class JiraComments:
    site: Site
    data: SiteData

    def _issue(self, call: Call) -> tuple[str, dict[str, Any]]:  # provided by Jira
        raise NotImplementedError

    def _users(self, installation: str, ids: set[str]) -> dict[str, dict[str, Any] | None]:  # provided by Jira
        raise NotImplementedError

    def _event(self, doc: dict[str, Any], call: Call) -> dict[str, Any]:  # provided by Jira
        raise NotImplementedError

    def _comments(self, installation: str, key: str) -> list[dict[str, Any]]:
        found = [doc for _, doc in self.data.scan(installation, COMMENT, f"{key}/")]
        return sorted(found, key=lambda c: int(c["id"]) if str(c.get("id", "")).isdigit() else 0)

    # -- comments -----------------------------------------------------------------------------------

    def get_comments(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        comments = self._comments(call.installation, key)
        if call.first("orderBy") in ("-created", "-CREATED"):
            comments.reverse()
        start, size = paging(call, COMMENTS_DEFAULT_RESULTS)
        page = comments[start : start + size]
        users = self._users(call.installation, shapes.account_ids({}, page))
        call.objects += len(page)
        return reply(
            200,
            {"startAt": start, "maxResults": size, "total": len(comments), "comments": [shapes.comment(call.installation, doc, c, users, call.version) for c in page]},
        )

    def _comment_of(self, call: Call, key: str) -> dict[str, Any]:
        found = self.data.get(call.installation, COMMENT, f"{key}/{call.params['id']}")
        if found is None:
            raise jira_error(404, [f"Can not find a comment for the id: {call.params['id']}."])
        return found

    def get_comment(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        stored = self._comment_of(call, key)
        call.objects += 1
        return reply(200, shapes.comment(call.installation, doc, stored, self._users(call.installation, shapes.account_ids({}, [stored])), call.version))

    def add_comment(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        call.issue = key
        stored = self._new_comment(call, key, doc, body_object(call))
        users = self._users(call.installation, shapes.account_ids({}, [stored]))
        return reply(201, shapes.comment(call.installation, doc, stored, users, call.version))

    def _new_comment(self, call: Call, key: str, doc: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        text = _comment_body(call, body.get("body"))
        number = self.data.new_number()
        comment_id = str(payloads.COMMENT_ID_BASE + number)
        actor = {"accountId": call.account_id} if call.account_id else None
        now = shapes.jira_time(call.at)
        stored = {"id": comment_id, "author": actor, "body": text, "updateAuthor": actor, "created": now, "updated": now, "jsdPublic": True}
        if isinstance(body.get("visibility"), dict):
            stored["visibility"] = body["visibility"]
        self.data.put(call.installation, COMMENT, f"{key}/{comment_id}", stored, call.at, comment_id)
        call.commented = True
        self.site.record(call, ISSUE, key, {"action": "commented", "comment": comment_id})
        issue = self.data.get(call.installation, ISSUE, key) or doc
        if not issue.get(COMMENTED) and issue.get("fields") is not None:
            issue = {**issue, COMMENTED: True}
            self.data.put(call.installation, ISSUE, key, issue, call.at, issue.get("id"))
        self.site.fire(call, "avi:jira:commented:issue", lambda: {**self._event(issue, call), "comment": stored})
        return stored

    def edit_comment(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        call.issue = key
        stored = {**self._comment_of(call, key)}
        stored["body"] = _comment_body(call, body_object(call).get("body"))
        stored["updated"] = shapes.jira_time(call.at)
        stored["updateAuthor"] = {"accountId": call.account_id} if call.account_id else None
        self.data.put(call.installation, COMMENT, f"{key}/{stored['id']}", stored, call.at, stored["id"])
        self.site.record(call, ISSUE, key, {"action": "comment edited", "comment": stored["id"]})
        self.site.fire(call, "avi:jira:commented:issue", lambda: {**self._event(doc, call), "comment": stored})
        users = self._users(call.installation, shapes.account_ids({}, [stored]))
        return reply(200, shapes.comment(call.installation, doc, stored, users, call.version))

    def delete_comment(self, call: Call) -> Answer:
        key, _ = self._issue(call)
        call.issue = key
        stored = self._comment_of(call, key)
        self.data.delete(call.installation, COMMENT, f"{key}/{stored['id']}")
        self.site.record(call, ISSUE, key, {"action": "comment deleted", "comment": stored["id"]})
        return reply(204)

    # -- issue properties ---------------------------------------------------------------------------

    def property_keys(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        base = f"{shapes.base_url(call.installation)}/rest/api/{call.version}/issue/{doc.get('id')}/properties"
        keys = [found["key"] for _, found in self.data.scan(call.installation, ISSUE_PROPERTY, f"{key}/")]
        return reply(200, {"keys": [{"self": f"{base}/{name}", "key": name} for name in keys]})

    def get_property(self, call: Call) -> Answer:
        key, _ = self._issue(call)
        found = self.data.get(call.installation, ISSUE_PROPERTY, f"{key}/{call.params['propertyKey']}")
        if found is None:
            raise jira_error(404, [f"The property with key '{call.params['propertyKey']}' does not exist."])
        return reply(200, found)

    def set_property(self, call: Call) -> Answer:
        key, _ = self._issue(call)
        call.issue = key
        name = call.params["propertyKey"]
        value = _property_value(call, name)
        slot = f"{key}/{name}"
        existed = self.data.get(call.installation, ISSUE_PROPERTY, slot) is not None
        self.data.put(call.installation, ISSUE_PROPERTY, slot, {"key": name, "value": value}, call.at)
        self.site.record(call, ISSUE, key, {"action": "property set", "property": name})
        return reply(200 if existed else 201)

    def delete_property(self, call: Call) -> Answer:
        key, _ = self._issue(call)
        call.issue = key
        name = call.params["propertyKey"]
        if self.data.get(call.installation, ISSUE_PROPERTY, f"{key}/{name}") is None:
            raise jira_error(404, [f"The property with key '{name}' does not exist."])
        self.data.delete(call.installation, ISSUE_PROPERTY, f"{key}/{name}")
        self.site.record(call, ISSUE, key, {"action": "property deleted", "property": name})
        return reply(204)

    # -- Forge app properties -----------------------------------------------------------------------

    def _as_app_only(self, call: Call) -> None:
        if call.principal != APP:
            raise jira_error(403, ["This API can only be accessed using asApp() requests from Forge."])

    def app_property_keys(self, call: Call) -> Answer:
        self._as_app_only(call)
        keys = [found["key"] for _, found in self.data.scan(call.installation, APP_PROPERTY)]
        base = f"{shapes.base_url(call.installation)}/rest/forge/1/app/properties"
        return reply(200, {"keys": [{"self": f"{base}/{name}", "key": name} for name in keys]})

    def get_app_property(self, call: Call) -> Answer:
        self._as_app_only(call)
        found = self.data.get(call.installation, APP_PROPERTY, call.params["propertyKey"])
        if found is None:
            raise jira_error(404, [f"Property with key not found: {call.params['propertyKey']}"])
        return reply(200, found)

    def set_app_property(self, call: Call) -> Answer:
        self._as_app_only(call)
        name = call.params["propertyKey"]
        value = _property_value(call, name)
        existed = self.data.get(call.installation, APP_PROPERTY, name) is not None
        self.data.put(call.installation, APP_PROPERTY, name, {"key": name, "value": value}, call.at)
        if existed:
            return reply(200, {"message": "Property updated.", "statusCode": 200})
        return reply(201, {"message": "Property created.", "statusCode": 201})

    def delete_app_property(self, call: Call) -> Answer:
        self._as_app_only(call)
        name = call.params["propertyKey"]
        if self.data.get(call.installation, APP_PROPERTY, name) is None:
            raise jira_error(404, [f"Property with key not found: {name}"])
        self.data.delete(call.installation, APP_PROPERTY, name)
        return reply(204)


def _comment_body(call: Call, body: Any) -> Any:
    if body is None or body == "":
        raise jira_error(400, [], {"comment": "Comment body can not be empty!"})
    if call.version == "3" and not isinstance(body, dict):
        raise jira_error(400, [], {"comment": "Comment body must be an Atlassian Document (see the Atlassian Document Format)."})
    if call.version == "2" and not isinstance(body, str):
        raise jira_error(400, [], {"comment": "Comment body must be a string in API version 2."})
    return body


def _property_value(call: Call, name: str) -> Any:
    if len(name) > MAX_PROPERTY_KEY:
        raise jira_error(400, [f"The property key can not be longer than {MAX_PROPERTY_KEY} characters."])
    text = call.body_text or ""
    if not text.strip():
        raise jira_error(400, ["The property value can not be empty."])
    if len(text) > MAX_PROPERTY_BYTES:
        raise jira_error(400, [f"The property value can not be longer than {MAX_PROPERTY_BYTES} bytes."])
    try:
        return json.loads(text)
    except ValueError:
        raise jira_error(400, ["The property value must be valid JSON."]) from None
