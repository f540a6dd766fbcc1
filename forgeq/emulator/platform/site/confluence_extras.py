"""The fake Confluence's page children, labels and footer comments.

A mixin of `Confluence` (confluence.py). A page's children are the pages whose `parentId` names it;
its labels live in its document (`labels`: [{prefix, name, id}]); footer comments are site objects
(kind `page-comment`, keyed `PAGE-ID/id`). Shapes from Confluence's REST references (v2's
ChildPage, Label and FooterComment; v1's label endpoints).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from forgeq.emulator.app.replies import Answer
from forgeq.emulator.platform.site import shapes
from forgeq.emulator.platform.site.calls import Call, Refused, reply
from forgeq.emulator.products import payloads
from forgeq.emulator.products.seeds import PAGE

if TYPE_CHECKING:
    from forgeq.emulator.platform.site.data import SiteData
    from forgeq.emulator.platform.site.service import Site

PAGE_COMMENT = "page-comment"
LABEL_ID_BASE = 90000
_LABEL = re.compile(r"^[^\s!#&()*,.:;<>?@\[\]^]{1,255}$")  # Confluence refuses spaces and these in a label


class ConfluenceExtras:
    site: Site
    data: SiteData

    def _page(self, call: Call, name: str = "id", v1: bool = False) -> dict[str, Any]:  # provided by Confluence
        raise NotImplementedError

    def _page_list(self, call: Call, docs: list[dict[str, Any]], shape: Any = None) -> Answer:  # provided by Confluence
        raise NotImplementedError

    @staticmethod
    def _errors(v1: bool) -> Callable[[int, str], Refused]:
        """The error answer of the API version the endpoint belongs to."""
        from forgeq.emulator.platform.site.confluence import v1_error, v2_error

        return v1_error if v1 else v2_error

    # -- children -----------------------------------------------------------------------------------

    def page_children(self, call: Call) -> Answer:
        """GET /pages/{id}/children: the pages whose parent it is, as ChildPage (paged like /pages)."""
        parent = self._page(call)
        children = [doc for _, doc in self.data.scan(call.installation, PAGE) if str(doc.get("parentId")) == str(parent["id"]) and doc.get("status", "current") == "current"]
        return self._page_list(call, children, lambda doc, position: {
            "id": str(doc["id"]), "status": doc.get("status", "current"), "title": doc.get("title"),
            "spaceId": str((doc.get("space") or {}).get("id")), "childPosition": position,
        })  # fmt: skip

    # -- labels -------------------------------------------------------------------------------------

    def labels_v2(self, call: Call) -> Answer:
        page = self._page(call)
        labels = [label for label in page.get("labels") or () if not call.first("prefix") or label.get("prefix") == call.first("prefix")]
        return self._page_list(call, labels, lambda label, _: {"id": str(label["id"]), "name": label["name"], "prefix": label["prefix"]})

    def labels_v1(self, call: Call) -> Answer:
        page = self._page(call, v1=True)
        return reply(200, _labels_v1(page.get("labels") or []))

    def add_labels_v1(self, call: Call) -> Answer:
        """POST /content/{id}/label: [{prefix, name}] or one of them; the page's labels after."""
        page = self._page(call, v1=True)
        body = call.json()
        given = body if isinstance(body, list) else [body]
        labels = list(page.get("labels") or [])
        for item in given:
            name = item.get("name") if isinstance(item, dict) else None
            prefix = item.get("prefix", "global") if isinstance(item, dict) else None
            if not isinstance(name, str) or not _LABEL.match(name) or prefix not in ("global", "my", "team"):
                raise self._errors(True)(400, f"'{name}' is not a valid label: a label is one word of at most 255 characters, without spaces or !#&()*,.:;<>?@[]^")
            if not any(label["name"] == name.lower() and label["prefix"] == prefix for label in labels):
                labels.append({"prefix": prefix, "name": name.lower(), "id": str(LABEL_ID_BASE + self.data.new_number())})
        self._save_labels(call, page, labels)
        return reply(200, _labels_v1(labels))

    def delete_label_v1(self, call: Call) -> Answer:
        """DELETE /content/{id}/label/{label}, or /content/{id}/label?name=: 204."""
        page = self._page(call, v1=True)
        name = (call.params.get("label") or call.first("name") or "").lower()
        labels = [label for label in page.get("labels") or () if label["name"] != name]
        if len(labels) == len(page.get("labels") or ()):
            raise self._errors(True)(404, f"The label '{name}' is not on the content {page['id']}.")
        self._save_labels(call, page, labels)
        return reply(204)

    def _save_labels(self, call: Call, page: dict[str, Any], labels: list[dict[str, Any]]) -> None:
        self.data.put(call.installation, PAGE, str(page["id"]), {**page, "labels": labels}, call.at, str(page["id"]))
        self.site.record(call, PAGE, str(page["id"]), {"action": "labels set", "labels": [label["name"] for label in labels]})

    # -- footer comments ----------------------------------------------------------------------------

    def _comment_shown(self, call: Call, stored: dict[str, Any], body_format: str | None) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": stored["id"], "status": "current", "title": f"Re: {stored.get('pageTitle', '')}", "pageId": stored["pageId"],
            "version": {"createdAt": stored["updated"], "message": "", "number": stored["version"], "minorEdit": False, "authorId": stored.get("authorId")},
            "body": {}, "_links": {"webui": f"/pages/{stored['pageId']}?focusedCommentId={stored['id']}"},
        }  # fmt: skip
        if body_format in ("storage", "atlas_doc_format", "view"):
            shown["body"] = {body_format: {"representation": body_format, "value": stored["body"]}}
        return shown

    def page_footer_comments(self, call: Call) -> Answer:
        page = self._page(call)
        found = [doc for _, doc in self.data.scan(call.installation, PAGE_COMMENT, f"{page['id']}/")]
        found.sort(key=lambda doc: int(doc["id"]))
        body_format = call.first("body-format")
        return self._page_list(call, found, lambda doc, _: self._comment_shown(call, doc, body_format))

    def add_footer_comment(self, call: Call) -> Answer:
        """POST /footer-comments {pageId, body: {representation, value}}: 201 the comment."""
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("pageId"), str | int):
            raise self._errors(False)(400, "pageId is required: the comment is a page's footer comment.")
        value = (body.get("body") or {}).get("value") if isinstance(body.get("body"), dict) else None
        if not isinstance(value, str) or not value.strip():
            raise self._errors(False)(400, "The comment's body can not be empty.")
        page = self.data.get(call.installation, PAGE, str(body["pageId"]))
        if page is None:
            raise self._errors(False)(404, "Not Found")
        comment_id = str(payloads.COMMENT_ID_BASE + self.data.new_number())
        stored = {
            "id": comment_id, "pageId": str(page["id"]), "pageTitle": page.get("title"), "body": value, "version": 1,
            "authorId": call.account_id, "updated": shapes.iso_time(call.at),
        }  # fmt: skip
        self.data.put(call.installation, PAGE_COMMENT, f"{page['id']}/{comment_id}", stored, call.at, comment_id)
        self.site.record(call, PAGE, str(page["id"]), {"action": "commented", "comment": comment_id})
        return reply(201, self._comment_shown(call, stored, "storage"))

    def _footer_comment(self, call: Call) -> dict[str, Any]:
        wanted = call.params["comment-id"]
        found = self.data.key_of(call.installation, PAGE_COMMENT, wanted) if wanted.isdigit() else None
        stored = self.data.get(call.installation, PAGE_COMMENT, found) if found else None
        if stored is None:
            raise self._errors(False)(404, "Not Found")
        return stored

    def get_footer_comment(self, call: Call) -> Answer:
        return reply(200, self._comment_shown(call, self._footer_comment(call), call.first("body-format")))

    def update_footer_comment(self, call: Call) -> Answer:
        """PUT /footer-comments/{id} {version: {number}, body}: the next version number, as pages."""
        stored = dict(self._footer_comment(call))
        body = call.json()
        number = (body.get("version") or {}).get("number") if isinstance(body, dict) and isinstance(body.get("version"), dict) else None
        if number != stored["version"] + 1:
            raise self._errors(False)(409, f"Version must be incremented on update. Current version is: {stored['version']}")
        value = (body.get("body") or {}).get("value") if isinstance(body.get("body"), dict) else None
        if not isinstance(value, str) or not value.strip():
            raise self._errors(False)(400, "The comment's body can not be empty.")
        stored.update(body=value, version=number, updated=shapes.iso_time(call.at))
        self.data.put(call.installation, PAGE_COMMENT, f"{stored['pageId']}/{stored['id']}", stored, call.at, stored["id"])
        self.site.record(call, PAGE, stored["pageId"], {"action": "comment edited", "comment": stored["id"]})
        return reply(200, self._comment_shown(call, stored, "storage"))

    def delete_footer_comment(self, call: Call) -> Answer:
        stored = self._footer_comment(call)
        self.data.delete(call.installation, PAGE_COMMENT, f"{stored['pageId']}/{stored['id']}")
        self.site.record(call, PAGE, stored["pageId"], {"action": "comment deleted", "comment": stored["id"]})
        return reply(204)


def _labels_v1(labels: list[dict[str, Any]]) -> dict[str, Any]:
    results = [{"prefix": label["prefix"], "name": label["name"], "id": label["id"], "label": label["name"]} for label in labels]
    return {"results": results, "start": 0, "limit": 200, "size": len(results)}

