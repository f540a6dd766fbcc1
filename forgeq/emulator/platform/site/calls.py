"""One product request as the site serves it, and the routes that serve them.

A `Call` is what a handler asked for (requestJira, requestConfluence, requestGraph or fetch),
normalised from the worker's or the Python port's call: the product, who asks (the app, a user, or
nobody), the method, the path and its query, the body. A `Route` maps a method and a path template
of Atlassian's REST reference (`/rest/api/{version}/issue/{issueIdOrKey}`) to the function that
answers it; the template names the endpoint in rate limits, the timeline and the docs.
"""

from __future__ import annotations

import json
import json.scanner
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from forgeq.emulator.app.replies import Answer, respond
from forgeq.runtime import STATUS_TEXT

APP = "app"
USER = "user"
NOBODY = "none"
# The reason phrases of what the products (and stubs) answer, beyond the platform's own.
REASONS = {**STATUS_TEXT, 401: "Unauthorized", 403: "Forbidden", 410: "Gone", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass(slots=True)
class Call:
    installation: str
    product: str  # jira | confluence | graphql | fetch | bitbucket
    principal: str  # app | user | none
    account_id: str | None  # who acts: the app's account, the user's, or None (unauthenticated)
    method: str
    target: str  # the path as sent (with its query), or the URL for fetch
    path: str  # without the query, percent-decoded per segment
    query: dict[str, list[str]]
    body_text: str | None
    at: float  # the emulator's time of the call
    invocation: Any  # the Invocation making the call (the loop's; typed loosely: platform never imports the loop)
    params: dict[str, str] = field(default_factory=dict)  # the route's path parameters
    template: str | None = None  # the route's path template, once routed
    objects: int = 0  # core objects returned (issues, comments, projects, pages): rate-limit points
    identities: int = 0  # identity objects returned (users): rate-limit points
    issue: str | None = None  # the issue a write touches (per-issue write limits)
    commented: bool = False  # the call added a comment (the issue is flagged as commented)
    reason: str | None = None  # why it was not the site that answered: stub, egress, not served, a RateLimit-Reason
    notes: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        """Where history says a change came from: "event #5 try 2"."""
        return f"event #{self.invocation.event} try {self.invocation.attempt}"

    @property
    def version(self) -> str:
        version = self.params.get("version", "3")
        return "3" if version == "latest" else version

    def first(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def listed(self, name: str) -> list[str]:
        """A query parameter that may repeat and hold comma-separated lists (`fields`, `expand`)."""
        return [part.strip() for value in self.query.get(name, ()) for part in value.split(",") if part.strip()]

    def json(self) -> Any:
        """The body as JSON; BadBody (400 in the product's own shape) when it is not."""
        text = self.body_text
        if not text:
            return None
        try:
            try:
                value, end = _STRICT_SCAN(text, 0)  # the compact text a port sends: json's scanner alone reads it
            except StopIteration:  # not a JSON value at 0 (whitespace first, or not JSON): decode says which
                return _STRICT.decode(text)
            return value if end == len(text) else _STRICT.decode(text)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json reads
            raise BadBody(text) from None


def utf8(text: Any) -> bool:
    """Whether a text can go into a URL or the state file: no lone surrogate (anything else passes)."""
    if not isinstance(text, str) or text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def reply(status: int, value: Any = None) -> Answer:
    """The site's answer with its body as a JSON value: `Site.answer` writes it as text for the
    worker, and hands the value itself to the Python port (no text made, none parsed back)."""
    headers = {"content-type": "application/json"} if value is not None else {}
    return {"status": status, "statusText": REASONS.get(status, ""), "headers": headers, "body": None, "value": value}


def respond_text(status: int, body: Any) -> Answer:
    """An answer with its body as text already (the worker's form), and the site's reason phrase."""
    return respond(status, body) | {"statusText": REASONS.get(status, "")}


class Refused(Exception):
    """An answer other than the endpoint's success (a 400, 404, ...), raised to end the handler."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.get("status"))
        self.answer = answer


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JSON.parse refuses NaN and Infinity; Python's json takes them


_STRICT = json.JSONDecoder(parse_constant=_not_json)  # made once: json.loads makes one per call given parse_constant
_STRICT_SCAN = json.scanner.make_scanner(_STRICT)  # type: ignore[arg-type]


class BadBody(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text[:80])


def split_target(target: str) -> tuple[str, dict[str, list[str]]]:
    """(decoded path, query) of a path or URL as sent."""
    if "?" not in target and "%" not in target and "#" not in target and "://" not in target:
        return target, {}  # most product paths: nothing to split or decode
    if target[:1] == "/" and target[:2] != "//" and "#" not in target and target.isprintable():
        path, _, query = target.partition("?")  # what urlsplit answers for such a path, without its layers
        if "%" in path:
            path = "/".join(unquote(segment) for segment in path.split("/"))
        if not query:
            return path, {}
        if "%" in query or "+" in query:
            return path, parse_qs(query, keep_blank_values=True)
        found: dict[str, list[str]] = {}  # what parse_qs answers for a query with nothing to decode
        for part in query.split("&"):
            if part:
                name, _, value = part.partition("=")
                found.setdefault(name, []).append(value)
        return path, found
    parts = urlsplit(target)
    path = "/".join(unquote(segment) for segment in parts.path.split("/"))
    return path, parse_qs(parts.query, keep_blank_values=True)


Handler = Callable[[Call], Answer]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str]
    dashed: bool  # a parameter's name holds a `-`, spelt `_` in the pattern's group


_PARAMETER = re.compile(r"\{([A-Za-z][A-Za-z0-9-]*)\}")


def route(method: str, template: str, handler: Handler) -> Route:
    parts = []
    position = 0
    for match in _PARAMETER.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        name = match.group(1)
        parts.append(r"(?P<version>2|3|latest)" if name == "version" else f"(?P<{name.replace('-', '_')}>[^/]+)")
        position = match.end()
    parts.append(re.escape(template[position:]))
    pattern = re.compile("^" + "".join(parts) + "/?$")
    return Route(method, template, handler, pattern, any("_" in name for name in pattern.groupindex))


def by_method(routes: Iterable[Route]) -> dict[str, list[Route]]:
    grouped: dict[str, list[Route]] = {}
    for candidate in routes:
        grouped.setdefault(candidate.method, []).append(candidate)
    return grouped


def find(routes: Iterable[Route], call: Call) -> Route | None:
    """The first of `routes` (one method's) whose template matches the call's path; it sets the
    call's path parameters and template."""
    for candidate in routes:
        match = candidate.pattern.match(call.path)
        if match is not None:
            params = match.groupdict()
            call.params = {name.replace("_", "-"): value for name, value in params.items()} if candidate.dashed else params
            call.template = candidate.template
            return candidate
    return None


# -- Jira's error body and paging, shared by its endpoints (jira.py, jira_comments.py, jira_search.py)


def jira_error(status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None) -> Refused:
    """Jira's error answer, `{"errorMessages": [...], "errors": {field: message}}`, to raise."""
    return Refused(reply(status, {"errorMessages": messages or [], "errors": errors or {}}))


def body_object(call: Call) -> dict[str, Any]:
    """The request body as a JSON object (an empty one when there is no body); Jira's 400 otherwise."""
    body = call.json()
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise jira_error(400, ["The request body must be a JSON object."])
    return body


def paging(call: Call, default: int) -> tuple[int, int]:
    """(startAt, maxResults) of an offset-paged listing."""
    start_text, size_text = call.first("startAt"), call.first("maxResults")
    start = int(start_text) if start_text and start_text.isdigit() else 0
    size = int(size_text) if size_text and size_text.isdigit() and int(size_text) > 0 else default
    return start, size
