"""The fake Jira's issue links: link types, POST/GET/DELETE /issueLink, and an issue's `issuelinks`.

A mixin of `Jira` (jira.py). A link is a site object (kind `issuelink`, keyed by its id) naming its
type and its two issues; each issue also keeps a slim entry for it in its `issuelinks` field (the
link's id, type, and the issue at its other end), which a representation widens into Jira's shape
with that issue's key, summary, status, priority and type as they are now. As Jira's REST reference
says of POST /issueLink, the outward issue is the link's "from" issue: a Blocks link with outward
DEMO-1 and inward DEMO-2 reads "DEMO-1 blocks DEMO-2", and DEMO-2 "is blocked by" DEMO-1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from forgeq.emulator.app.replies import Answer
from forgeq.emulator.platform.site import shapes
from forgeq.emulator.platform.site.calls import Call, body_object, jira_error, reply
from forgeq.emulator.products import payloads
from forgeq.emulator.products.seeds import ISSUE

if TYPE_CHECKING:
    from forgeq.emulator.platform.site.data import SiteData
    from forgeq.emulator.platform.site.service import Site

ISSUE_LINK = "issuelink"
# The link types of a new Jira Cloud site: id -> (name, inward, outward).
LINK_TYPES = {
    "10000": ("Blocks", "is blocked by", "blocks"),
    "10001": ("Cloners", "is cloned by", "clones"),
    "10002": ("Duplicate", "is duplicated by", "duplicates"),
    "10003": ("Relates", "relates to", "relates to"),
}
_SIDES = (("outwardIssue", "inward"), ("inwardIssue", "outward"))  # an issue's entry names the other end


class JiraLinks:
    site: Site
    data: SiteData

    def _new_comment(self, call: Call, key: str, doc: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:  # provided by JiraComments
        raise NotImplementedError

    # -- link types ---------------------------------------------------------------------------------

    def link_types(self, call: Call) -> Answer:
        return reply(200, {"issueLinkTypes": [_link_type(call.installation, call.version, type_id) for type_id in LINK_TYPES]})

    def link_type(self, call: Call) -> Answer:
        type_id = call.params["issueLinkTypeId"]
        if type_id not in LINK_TYPES:
            raise jira_error(404, [f"No issue link type with id '{type_id}' found."])
        return reply(200, _link_type(call.installation, call.version, type_id))

    # -- links --------------------------------------------------------------------------------------

    def create_link(self, call: Call) -> Answer:
        """POST /issueLink: 201 with no body, also when the link exists already (Jira's reference);
        a `comment` goes on the outward issue."""
        body = body_object(call)
        type_id = _type_id(body.get("type"))
        if type_id is None:
            wanted = body.get("type")
            named = wanted.get("name") or wanted.get("id") if isinstance(wanted, dict) else None
            raise jira_error(404, [f"No issue link type with name '{named}' found."] if named else ["The issue link type is required."])
        outward = self._linked_key(call, body.get("outwardIssue"))
        inward = self._linked_key(call, body.get("inwardIssue"))
        if isinstance(body.get("comment"), dict):
            self._new_comment(call, outward, self.data.get(call.installation, ISSUE, outward) or {}, body["comment"])
        links = (self.data.get(call.installation, ISSUE, outward) or {}).get("fields", {}).get("issuelinks") or []
        if any(entry.get("type") == type_id and entry.get("outwardIssue") == inward for entry in links):
            return reply(201)
        link_id = str(payloads.ISSUE_ID_BASE + self.data.new_number())
        self.data.put(call.installation, ISSUE_LINK, link_id, {"id": link_id, "type": type_id, "outward": outward, "inward": inward}, call.at, link_id)
        name, inward_text, outward_text = LINK_TYPES[type_id]
        self._relink(call, outward, {"id": link_id, "type": type_id, "outwardIssue": inward}, None, f"This issue {outward_text} {inward}", inward)
        self._relink(call, inward, {"id": link_id, "type": type_id, "inwardIssue": outward}, None, f"This issue {inward_text} {outward}", outward)
        return reply(201)

    def get_link(self, call: Call) -> Answer:
        link = self._link(call)
        shown: dict[str, Any] = {"id": link["id"], "self": _link_url(call.installation, call.version, link["id"]), "type": _link_type(call.installation, call.version, link["type"])}
        for name, end in (("inwardIssue", "inward"), ("outwardIssue", "outward")):
            shown[name] = self._linked_issue(call, link[end])
        call.objects += 2
        return reply(200, shown)

    def delete_link(self, call: Call) -> Answer:
        link = self._link(call)
        _, inward_text, outward_text = LINK_TYPES[link["type"]]
        self.data.delete(call.installation, ISSUE_LINK, link["id"])
        self._relink(call, link["outward"], None, link["id"], f"This issue {outward_text} {link['inward']}", link["inward"])
        self._relink(call, link["inward"], None, link["id"], f"This issue {inward_text} {link['outward']}", link["outward"])
        return reply(204)

    def links_shown(self, call: Call, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """An issue's stored `issuelinks` as Jira answers them (`shown_links`)."""
        return shown_links(entries, call.installation, call.version, lambda key: self.data.get(call.installation, ISSUE, key))

    # -- helpers ------------------------------------------------------------------------------------

    def _link(self, call: Call) -> dict[str, Any]:
        link_id = call.params["linkId"]
        link = self.data.get(call.installation, ISSUE_LINK, link_id)
        if link is None or any(self.data.get(call.installation, ISSUE, link[end]) is None for end in ("inward", "outward")):
            raise jira_error(404, [f"No issue link with id '{link_id}' exists."])
        return link

    def _linked_key(self, call: Call, given: Any) -> str:
        wanted = (given.get("key") or given.get("id")) if isinstance(given, dict) else None
        if not isinstance(wanted, str | int) or not str(wanted):
            raise jira_error(400, ["Both inwardIssue and outwardIssue must name an issue by key or id."])
        text = str(wanted)
        key = self.data.key_of(call.installation, ISSUE, text) if text.isdigit() else text.upper()
        if not key or self.data.get(call.installation, ISSUE, key) is None:
            raise jira_error(404, ["Issue Does Not Exist"])
        return key

    def _linked_issue(self, call: Call, key: str) -> dict[str, Any] | None:
        return linked_issue(self.data.get(call.installation, ISSUE, key), call.installation, call.version)

    def _relink(self, call: Call, key: str, added: dict[str, Any] | None, removed: str | None, text: str, other: str) -> None:
        """Add or remove one issue's entry of a link, with the "Link" change Jira writes in its history."""
        doc = self.data.get(call.installation, ISSUE, key)
        if doc is None:
            return  # deleted since the link was made: nothing of it left to change
        stored = dict(doc.get("fields") or {})
        entries = [entry for entry in stored.get("issuelinks") or () if str(entry.get("id")) != removed]
        if added is not None:
            entries.append(added)
        stored["issuelinks"] = entries
        stored["updated"] = shapes.jira_time(call.at)
        self.data.put(call.installation, ISSUE, key, {**doc, "fields": stored}, call.at, doc.get("id"))
        item = {"field": "Link", "fieldtype": "jira", "from": None, "fromString": None, "to": None, "toString": None}
        if added is not None:
            item.update({"to": other, "toString": text})
        else:
            item.update({"from": other, "fromString": text})
        self.site.record(call, ISSUE, key, {"action": "updated", "items": [item]})


def shown_links(entries: list[dict[str, Any]], installation: str, version: str, issue_of: Callable[[str], dict[str, Any] | None]) -> list[dict[str, Any]]:
    """An issue's stored `issuelinks` (slim entries) in Jira's shape, each naming the issue at its
    other end as it is now (`issue_of(key)`); links to an issue deleted since are left out."""
    shown = []
    for entry in entries:
        for name, _ in _SIDES:
            other = entry.get(name)
            issue = linked_issue(issue_of(other), installation, version) if isinstance(other, str) else None
            if issue is not None:
                link_id = str(entry.get("id"))
                link_type = _link_type(installation, version, str(entry.get("type")))
                shown.append({"id": link_id, "self": _link_url(installation, version, link_id), "type": link_type, name: issue})
    return shown


def linked_issue(doc: dict[str, Any] | None, installation: str, version: str) -> dict[str, Any] | None:
    """The issue at a link's end as Jira shows it there: id, key, and four fields."""
    if doc is None:
        return None
    stored = doc.get("fields") or {}
    fields = {"summary": stored.get("summary")}
    for name in ("status", "priority", "issuetype"):
        value = stored.get(name) if name in stored else ({"id": "3"} if name == "priority" else None)  # issue_fields' default priority
        fields[name] = shapes.widen(name, value, installation)
    return {"id": doc.get("id"), "key": doc.get("key"), "self": f"{shapes.base_url(installation)}/rest/api/{version}/issue/{doc.get('id')}", "fields": fields}


def _type_id(given: Any) -> str | None:
    if not isinstance(given, dict):
        return None
    wanted = given.get("id") or given.get("name")
    for type_id, (name, _, _) in LINK_TYPES.items():
        if wanted is not None and str(wanted) in (type_id, name):
            return type_id
    return None


def _link_type(installation: str, version: str, type_id: str) -> dict[str, Any]:
    name, inward, outward = LINK_TYPES.get(type_id, (type_id, "", ""))
    return {"id": type_id, "name": name, "inward": inward, "outward": outward, "self": f"{shapes.base_url(installation)}/rest/api/{version}/issueLinkType/{type_id}"}


def _link_url(installation: str, version: str, link_id: str) -> str:
    return f"{shapes.base_url(installation)}/rest/api/{version}/issueLink/{link_id}"
