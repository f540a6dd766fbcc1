"""The fake Jira's users in bulk, an issue's watchers, and its remote links.

A mixin of `Jira` (jira.py). Watchers are kept in the issue's document (`watchers`: account ids),
and its representation's `watches` counts them; remote links are site objects (kind `remotelink`,
keyed `ISSUE-KEY/id`), as Jira's REST reference shapes them
(developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-watchers/ and
/api-group-issue-remote-links/).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forgeq.emulator.app.replies import Answer
from forgeq.emulator.platform.site import shapes
from forgeq.emulator.platform.site.calls import Call, jira_error, paging, reply, utf8
from forgeq.emulator.products.seeds import ISSUE, USER

if TYPE_CHECKING:
    from forgeq.emulator.platform.site.data import SiteData
    from forgeq.emulator.platform.site.service import Site

REMOTE_LINK = "remotelink"
REMOTE_LINK_ID_BASE = 70000
USERS_BULK_MAX = 200  # account ids one GET user/bulk reads at most (its default maxResults is 10)


class JiraPeople:
    site: Site
    data: SiteData

    def _issue(self, call: Call) -> tuple[str, dict[str, Any]]:  # provided by Jira
        raise NotImplementedError

    # -- users --------------------------------------------------------------------------------------

    def users_bulk(self, call: Call) -> Answer:
        """GET user/bulk?accountId=...: the users of those ids that exist, paged (startAt, maxResults)."""
        wanted = call.query.get("accountId") or []
        if not wanted:
            raise jira_error(400, ["The accountId query parameter needs to be provided."])
        if len(wanted) > USERS_BULK_MAX:
            raise jira_error(400, [f"The request names {len(wanted)} account ids; one request reads at most {USERS_BULK_MAX}."])
        found = []
        for account_id in dict.fromkeys(wanted):
            stored = self.site.user(call.installation, account_id)
            if stored is not None:
                found.append(shapes.user(call.installation, stored, account_id, call.version))
        start, size = paging(call, 10)
        page = found[start : start + size]
        call.identities += len(page)
        return reply(200, {
            "self": call.target, "maxResults": size, "startAt": start, "total": len(found), "isLast": start + size >= len(found), "values": page,
        })  # fmt: skip

    def assignable_users(self, call: Call) -> Answer:
        """GET user/assignable/search?project= (or issueKey=): the site's people, by `query`; every
        user of the fake site may be assigned."""
        if not (call.first("project") or call.first("issueKey") or call.first("issueId")):
            raise jira_error(400, ["One of the following parameters must be provided: project, issueKey or issueId."])
        text = (call.first("query") or "").lower()
        people = {**self.site.builtin_users(call.installation), **dict(self.data.scan(call.installation, USER))}
        found = [
            shapes.user(call.installation, person, account_id, call.version)
            for account_id, person in people.items()
            if person.get("accountType", "atlassian") == "atlassian" and (not text or text in str(person.get("displayName", "")).lower())
        ]  # fmt: skip
        start, size = paging(call, 50)
        page = found[start : start + size]
        call.identities += len(page)
        return reply(200, page)

    # -- watchers -----------------------------------------------------------------------------------

    def get_watchers(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        watchers = [w for w in doc.get("watchers") or () if isinstance(w, str)]
        shown = [shapes.user(call.installation, self.site.user(call.installation, w), w, call.version) for w in watchers]
        call.identities += len(shown)
        return reply(200, {
            "self": f"{shapes.base_url(call.installation)}/rest/api/{call.version}/issue/{key}/watchers",
            "isWatching": call.account_id in watchers, "watchCount": len(watchers), "watchers": shown,
        })  # fmt: skip

    def add_watcher(self, call: Call) -> Answer:
        """POST watchers: the body is the account id as a JSON string; no body watches as the caller."""
        key, doc = self._issue(call)
        given = call.json() if call.body_text else call.account_id
        if not isinstance(given, str) or not given:
            raise jira_error(400, ["The body must be the watcher's account id, as a JSON string."])
        if not utf8(given) or self.site.user(call.installation, given) is None:  # a lone surrogate names no one
            raise jira_error(404, [f"The user with account ID '{given.encode('utf-8', 'backslashreplace').decode()}' does not exist."])
        watchers = [w for w in doc.get("watchers") or () if isinstance(w, str)]
        if given not in watchers:
            self.data.put(call.installation, ISSUE, key, {**doc, "watchers": [*watchers, given]}, call.at, doc.get("id"))
        return reply(204)

    def remove_watcher(self, call: Call) -> Answer:
        key, doc = self._issue(call)
        given = call.first("accountId")
        if not given:
            raise jira_error(400, ["The accountId query parameter needs to be provided."])
        watchers = [w for w in doc.get("watchers") or () if isinstance(w, str)]
        if given in watchers:
            self.data.put(call.installation, ISSUE, key, {**doc, "watchers": [w for w in watchers if w != given]}, call.at, doc.get("id"))
        return reply(204)

    # -- remote links -------------------------------------------------------------------------------

    def _remote_links(self, call: Call, key: str) -> list[dict[str, Any]]:
        return [doc for _, doc in self.data.scan(call.installation, REMOTE_LINK, f"{key}/")]

    def _shown_remote(self, call: Call, key: str, link: dict[str, Any]) -> dict[str, Any]:
        return {"id": link["id"], "self": _remote_url(call, key, link["id"]), **{k: v for k, v in link.items() if k not in ("id", "self")}}

    def get_remote_links(self, call: Call) -> Answer:
        key, _ = self._issue(call)
        links = self._remote_links(call, key)
        global_id = call.first("globalId")
        if global_id is not None:
            found = next((link for link in links if link.get("globalId") == global_id), None)
            if found is None:
                raise jira_error(404, [f"No remote link with global id '{global_id}' exists on issue {key}."])
            return reply(200, self._shown_remote(call, key, found))
        return reply(200, [self._shown_remote(call, key, link) for link in sorted(links, key=lambda link: int(link["id"]))])

    def get_remote_link(self, call: Call) -> Answer:
        key, _ = self._issue(call)
        return reply(200, self._shown_remote(call, key, self._remote_link(call, key)))

    def put_remote_link(self, call: Call) -> Answer:
        """POST remotelink: a new link, or (same globalId) the link replaced: 201 or 200 {id, self}."""
        key, _ = self._issue(call)
        given = self._remote_body(call)
        existing = next((link for link in self._remote_links(call, key) if given.get("globalId") and link.get("globalId") == given["globalId"]), None)
        link_id = existing["id"] if existing is not None else REMOTE_LINK_ID_BASE + self.data.new_number()
        self.data.put(call.installation, REMOTE_LINK, f"{key}/{link_id}", {**given, "id": link_id}, call.at, str(link_id))
        self.site.record(call, ISSUE, key, {"action": "remote link updated" if existing else "remote link added", "link": link_id})
        return reply(200 if existing else 201, {"id": link_id, "self": _remote_url(call, key, link_id)})

    def update_remote_link(self, call: Call) -> Answer:
        key, _ = self._issue(call)
        link = self._remote_link(call, key)
        self.data.put(call.installation, REMOTE_LINK, f"{key}/{link['id']}", {**self._remote_body(call), "id": link["id"]}, call.at, str(link["id"]))
        self.site.record(call, ISSUE, key, {"action": "remote link updated", "link": link["id"]})
        return reply(204)

    def delete_remote_link(self, call: Call) -> Answer:
        """DELETE remotelink/{linkId}, or remotelink?globalId=."""
        key, _ = self._issue(call)
        if "linkId" in call.params:
            links = [self._remote_link(call, key)]
        else:
            global_id = call.first("globalId")
            if not global_id:
                raise jira_error(400, ["The globalId query parameter needs to be provided."])
            links = [link for link in self._remote_links(call, key) if link.get("globalId") == global_id]
            if not links:
                raise jira_error(404, [f"No remote link with global id '{global_id}' exists on issue {key}."])
        for link in links:
            self.data.delete(call.installation, REMOTE_LINK, f"{key}/{link['id']}")
            self.site.record(call, ISSUE, key, {"action": "remote link deleted", "link": link["id"]})
        return reply(204)

    def _remote_link(self, call: Call, key: str) -> dict[str, Any]:
        found = self.data.child(call.installation, REMOTE_LINK, key, call.params["linkId"])
        if found is None:
            raise jira_error(404, [f"No remote link with id '{call.params['linkId']}' exists on issue {key}."])
        return found

    @staticmethod
    def _remote_body(call: Call) -> dict[str, Any]:
        body = call.json()
        target = body.get("object") if isinstance(body, dict) else None
        if not isinstance(target, dict) or not isinstance(target.get("url"), str) or not isinstance(target.get("title"), str):
            raise jira_error(400, [], {"object": "The remote link's object must have a url and a title."})
        kept = {name: body[name] for name in ("globalId", "application", "relationship") if name in body}
        return {**kept, "object": target}


def _remote_url(call: Call, key: str, link_id: Any) -> str:
    return f"{shapes.base_url(call.installation)}/rest/api/{call.version}/issue/{key}/remotelink/{link_id}"

