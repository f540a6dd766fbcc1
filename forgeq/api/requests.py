"""The product requests of `@forge/api`, for Python handlers: requestJira, requestConfluence,
requestGraph and fetch, with `route` escaping interpolated values exactly as @forge/api's tagged
template does.

    from forgeq.api import api, route

    res = api.as_app().request_jira(route("/rest/api/3/issue/{}", key))
    if res.status == 429:
        return InvocationError(retry_after=int(res.headers.get("Retry-After", "60")),
                               retry_reason=InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED)
    issue = res.json()
    api.as_app().request_jira(route("/rest/api/3/issue/{key}", key=key), method="PUT",
                              json={"update": {"labels": [{"add": "imported"}]}})
    api.as_user().request_confluence(route("/wiki/api/v2/pages/{}", page_id))     # the site's stand-in user
    api.as_app().request_graph("query { me { user { name } } }")
    api.fetch("https://api.example.com/items", {"method": "POST", "body": "{}"})  # a declared egress domain

`route(template, *values, **named)` takes a format string where JavaScript has a tagged template:
`{}` (or `{0}`, `{name}`) marks an interpolated value. Before the first `?` or `#` of the template a
value may not hold `/`, `\\`, `?`, `#` or `..` (Forge's "Disallowing path manipulation attempt");
after it, values are encoded as `encodeURIComponent` encodes them, and a mapping or a list of
pairs as `URLSearchParams` writes them. A request path that is not a Route is refused as Forge
refuses it.

Every request is answered by forgeq's fake product site (docs/product-site.md): nothing leaves
the machine. In `async def` handlers each call, and `Response.json()` / `.text()`, is awaitable,
as the JavaScript Promises are. Every name also has its camelCase spelling (`asApp`,
`requestJira`, `statusText`, ...).
"""

from __future__ import annotations

import json as jsonlib
import math
import re
import string
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from forgeq.jsontext import compact
from forgeq.runtime import current, sdk_call

ROUTE_HELP = "You must create your route using the 'route' export from '@forge/api'.\nSee https://go.atlassian.com/forge-fetch-route for more information."
MANIPULATION = "Disallowing path manipulation attempt. For more information see: https://go.atlassian.com/product-fetch-api-route"
_DOUBLE_DOT = ("..", ".%2e", "%2e.", "%2e%2e", ".%2E", "%2E.", "%2E%2e")  # @forge/api's list, as published
_DIRECTORY = ("/", "\\")
_ENDS_PATH = ("?", "#")
_REFUSED_IN_PATH = (*_DOUBLE_DOT, *_ENDS_PATH, *_DIRECTORY)
_SUSPECT = re.compile(r"[./\\?#%]")  # a character every one of _REFUSED_IN_PATH holds: most values hold none
EGRESS_ERROR = "REQUEST_EGRESS_ALLOWLIST_ERR"


# -- errors (@forge/api's classes) -------------------------------------------------------------------


class HttpError(Exception):
    status: int | None = None


class FetchError(Exception):
    name = "FUNCTION_FETCH_ERR"


class NotAllowedError(HttpError):
    name = EGRESS_ERROR
    status = 403


class ExternalEndpointNotAllowedError(NotAllowedError):
    def __init__(self, failed_url: str) -> None:
        super().__init__(
            f"URL not included in the external fetch backend permissions: {failed_url}. Visit go.atlassian.com/forge-egress for more information."
        )


class NeedsAuthenticationError(HttpError):
    name = "NEEDS_AUTHENTICATION_ERR"
    status = 401

    def __init__(self, message: str, service_key: str, options: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.service_key = service_key
        self.options = options


class ProxyRequestError(HttpError):
    name = "PROXY_ERR"

    def __init__(self, status: int, error_code: str) -> None:
        super().__init__(f"Forge platform failed to process runtime HTTP request - {status} - {error_code}")
        self.status = status
        self.error_code = error_code
        self.errorCode = error_code  # noqa: N815 - Forge's own name


# -- routes ---------------------------------------------------------------------------------------


class Route:
    """A path built by `route` (or trusted as it is): the only thing product requests accept."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    @property
    def value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Route({self._value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Route) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def route(template: str, *values: Any, **named: Any) -> Route:
    """@forge/api's `route` tagged template, as a format string: `route("/rest/api/3/issue/{}", key)`."""
    mode = "path"
    result: list[str] = []
    automatic = 0
    for literal, field, spec, conversion, ends_path in _parsed(template):
        if ends_path:
            mode = "query"
        result.append(literal)
        if field is None:
            continue
        if spec or conversion:
            raise ValueError(f"route(): {{{field}}} takes no format spec or conversion; pass the value as it is")
        if field == "":
            value = values[automatic]
            automatic += 1
        elif field.isdigit():
            value = values[int(field)]
        else:
            value = named[field]
        result.append(_escape(value, mode))
    return Route("".join(result))


@lru_cache(maxsize=512)
def _parsed(template: str) -> tuple[tuple[str, str | None, str | None, str | None, bool], ...]:
    """The template's parts, each with whether its literal ends the path (a `?` or `#`)."""
    return tuple((*part, any(end in part[0] for end in _ENDS_PATH)) for part in string.Formatter().parse(template))


def assume_trusted_route(path: str) -> Route:
    return Route(path)


def route_from_absolute(url: str) -> Route:
    parts = urlsplit(url)
    return Route(parts.path + (f"?{parts.query}" if parts.query else ""))


def _escape(value: Any, mode: str) -> str:
    if mode == "path":
        if type(value) is str:
            text = value
        elif isinstance(value, Route):
            return value.value
        else:
            text = js_string(value)
        if _SUSPECT.search(text) is not None and any(part in text for part in _REFUSED_IN_PATH):
            raise ValueError(MANIPULATION)
        return text
    if isinstance(value, Route):
        return encode_uri_component(value.value)
    if isinstance(value, Mapping) or (isinstance(value, list | tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in value)):
        pairs = value.items() if isinstance(value, Mapping) else value
        return search_params(pairs)
    return encode_uri_component(js_string(value))


def js_string(value: Any) -> str:
    """What JavaScript's String(value) gives for a JSON-like Python value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value).replace("e-0", "e-")
    if isinstance(value, list | tuple):
        return ",".join("" if item is None else js_string(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def encode_uri_component(text: str) -> str:
    try:
        return quote(text, safe="-_.!~*'()")
    except UnicodeEncodeError:
        raise ValueError("URI malformed") from None  # JavaScript's URIError for a lone surrogate


def search_params(pairs: Iterable[tuple[Any, Any]]) -> str:
    """URLSearchParams' toString: application/x-www-form-urlencoded, spaces as +."""
    return "&".join(f"{_form(js_string(name))}={_form(js_string(value))}" for name, value in pairs)


def _form(text: str) -> str:
    return quote(text, safe="*-._ ").replace(" ", "+")


# -- responses ------------------------------------------------------------------------------------


class Headers:
    """Response headers, read case-insensitively as fetch's Headers are."""

    def __init__(self, headers: Mapping[str, Any] | None) -> None:
        self._headers = {str(name).lower(): str(value) for name, value in headers.items()} if headers else {}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name.lower(), default)

    def has(self, name: str) -> bool:
        return name.lower() in self._headers

    def items(self) -> Iterable[tuple[str, str]]:
        return self._headers.items()

    def __getitem__(self, name: str) -> str:
        return self._headers[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._headers

    def __repr__(self) -> str:
        return f"Headers({self._headers!r})"


class Response:
    """What a request answers: `status`, `ok`, `status_text`, `headers`, `json()`, `text()`."""

    def __init__(self, status: int, status_text: str, headers: Mapping[str, Any] | None, body: str | None, url: str = "") -> None:
        self.status = status
        self.status_text = status_text
        self.statusText = status_text  # noqa: N815 - fetch's own name
        self.headers = Headers(headers)
        self.url = url
        self._body = body
        self._value: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @sdk_call
    def json(self) -> Any:
        """The body as JSON (ValueError when it is not, as JavaScript's SyntaxError)."""
        if self._value is not None:
            return self._value
        if not self._body:
            raise ValueError("Unexpected end of JSON input")
        return jsonlib.loads(self._body)

    @sdk_call
    def text(self) -> str:
        if self._body is None and self._value is not None:
            self._body = jsonlib.dumps(self._value, separators=(",", ":"), ensure_ascii=False)
        return self._body or ""

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.status_text} {self.url}>"


# -- requests -------------------------------------------------------------------------------------


def _send(
    target: dict[str, Any], path: str, init: Mapping[str, Any] | None, method: str | None, headers_given: Mapping[str, Any] | None, body: Any, json: Any
) -> Response:
    """One request through the port; `init` is fetch's RequestInit, the keywords override it."""
    if init:
        method = method or init.get("method")
        headers_given = headers_given if headers_given is not None else init.get("headers")
        body = body if body is not None else init.get("body")
    headers = {str(k): str(v) for k, v in headers_given.items()} if headers_given else {}
    if json is not None or (body is not None and not isinstance(body, (str, bytes))):  # a tuple: no union object made per call
        body = compact(body if json is None else json)  # `json=` is always JSON, a string included
        headers.setdefault("Content-Type", "application/json")
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    if target.get("remote") != "stargate":  # requestGraph goes the platform's way: webTrigger's calls share its /graphql
        answer = current().product_request(target, path, str(method or "GET").upper(), body)
    else:
        answer = current().platform_request({"target": target, "path": path, "method": str(method or "GET").upper(), "body": body, "headers": headers, "accepts": "value"})
    response = Response(int(answer["status"]), str(answer.get("statusText") or ""), answer.get("headers"), answer.get("body"), path)
    value = answer.get("value")
    if value is not None:
        response._value = value  # the JSON value itself: nothing to parse
    return response


def _product(provider: str, remote: str, account_id: str | None = None) -> Any:
    target: dict[str, Any] = {"type": "fpp", "provider": provider, "remote": remote}
    if account_id is not None:
        target["accountId"] = account_id

    @sdk_call
    def request(path: Route, init: Mapping[str, Any] | None = None, *, method: str | None = None, headers: Mapping[str, Any] | None = None, body: Any = None, json: Any = None) -> Response:
        if not isinstance(path, Route):
            raise TypeError(ROUTE_HELP)
        response = _send(target, path.value, init, method, headers, body, json)
        reason = response.headers.get("forge-proxy-error")
        if reason:
            if reason == "NEEDS_AUTHENTICATION_ERR":
                raise NeedsAuthenticationError("Authentication Required", "atlassian-token-service-key")
            raise ProxyRequestError(response.status, reason)
        return response

    return request


def _graph(provider: str, account_id: str | None = None) -> Any:
    request = _product(provider, "stargate", account_id)

    @sdk_call
    def request_graph(query: str, variables: Mapping[str, Any] | None = None, headers: Mapping[str, Any] | None = None) -> Response:
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = dict(variables)
        sent = {**dict(headers or {}), "Content-Type": "application/json"}
        result: Response = request(Route("/graphql"), {"method": "POST", "headers": sent, "body": jsonlib.dumps(payload)})
        return result

    return request_graph


@sdk_call
def fetch(url: str | Route, init: Mapping[str, Any] | None = None, *, method: str | None = None, headers: Mapping[str, Any] | None = None, body: Any = None, json: Any = None) -> Response:
    """`fetch` of @forge/api: an external URL, which the manifest must declare
    (permissions.external.fetch.backend); forgeq answers it with a stub, never the network."""
    address = url.value if isinstance(url, Route) else str(url)
    response = _send({"type": "fetch"}, address, init, method, headers, body, json)
    if response.headers.get("forge-proxy-error") == EGRESS_ERROR:
        raise ExternalEndpointNotAllowedError(address)
    return response


class Requester:
    """What `api.as_app()` and `api.as_user()` return (and `api` itself, unauthenticated)."""

    def __init__(self, provider: str, account_id: str | None = None) -> None:
        self.request_jira = _product(provider, "jira", account_id)
        self.request_confluence = _product(provider, "confluence", account_id)
        self.request_bitbucket = _product(provider, "bitbucket", account_id)
        self.requestJira = self.request_jira  # noqa: N815 - Forge's own names
        self.requestConfluence = self.request_confluence  # noqa: N815
        self.requestBitbucket = self.request_bitbucket  # noqa: N815
        if provider != "none":
            self.request_graph = _graph(provider, account_id)
            self.requestGraph = self.request_graph  # noqa: N815


_REQUESTERS: dict[tuple[str, str | None], Requester] = {}


def _requester(provider: str, account_id: str | None) -> Requester:
    found = _REQUESTERS.get((provider, account_id))
    if found is None:
        if len(_REQUESTERS) > 1000:  # as_user(id) for many ids: keep the cache small
            _REQUESTERS.clear()
        found = _REQUESTERS[(provider, account_id)] = Requester(provider, account_id)
    return found


def as_app() -> Requester:
    return _requester("app", None)


def as_user(account_id: str | None = None) -> Requester:
    """As a user: the account given, or the site's stand-in user that product events name."""
    return _requester("user", account_id)


class _Api(Requester):
    """The default export of @forge/api: `api.as_app()`, `api.as_user()`, `api.fetch`, and the
    unauthenticated `api.request_jira`."""

    def __init__(self) -> None:
        super().__init__("none")
        self.fetch = fetch
        self.as_app = as_app
        self.as_user = as_user
        self.asApp = as_app  # noqa: N815 - Forge's own names
        self.asUser = as_user  # noqa: N815


api = _Api()
request_jira = api.request_jira
request_confluence = api.request_confluence
requestJira = request_jira  # noqa: N816 - Forge's own names
requestConfluence = request_confluence  # noqa: N816
asApp = as_app  # noqa: N816
asUser = as_user  # noqa: N816
assumeTrustedRoute = assume_trusted_route  # noqa: N816
routeFromAbsolute = route_from_absolute  # noqa: N816
