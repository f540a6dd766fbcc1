"""Web triggers as the platform serves them: the request object a function gets, and the HTTP
response made of what it returns (Atlassian's "Web trigger events" and "Web trigger" module pages).

The request: `{method, headers, body, path, userPath, queryParameters}`; header values and query
values are arrays of strings. The function must return `{statusCode, headers?, body?, statusText?}`
(a static web trigger: `{outputKey}`, naming one of the manifest's `response.outputs`); anything
else, a thrown error or a timeout, and the caller gets a 500. forgeq's choices where the pages are
silent (docs/fidelity.md, "Web triggers and UI resolvers"): header names arrive lower-cased, as
HTTP/2 carries them; the 500 Forge sends has an empty body, and forgeq says why in a note.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from forgeq.emulator.ids import derived_uuid
from forgeq.jsvalues import type_name

if TYPE_CHECKING:
    from forgeq.emulator.app.manifest import WebTrigger

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass
class HttpResponse:
    status_code: int
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: str = ""
    status_text: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "statusText": self.status_text, "headers": self.headers, "body": self.body}


def status_text(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def trigger_path(app_id: str, installation: str, key: str) -> str:
    """`/x1/<id>`: the web trigger's URL path, one stable id per app, installation and module key."""
    return "/x1/" + derived_uuid("webtrigger", app_id, installation, key).replace("-", "")[:25]


def build_request(
    trigger: WebTrigger,
    *,
    app_id: str,
    installation: str,
    method: str,
    body: str | None,
    headers: list[tuple[str, str]],
    query: list[tuple[str, str]],
    user_path: str = "",
) -> dict[str, Any]:
    """The request object the function receives, as the web trigger service serializes an HTTPS call."""
    merged: dict[str, list[str]] = {}
    for name, value in headers:
        merged.setdefault(name.strip().lower(), []).append(value.strip())
    if body is not None:
        if "content-type" not in merged:
            merged["content-type"] = ["application/json" if _is_json(body) else "text/plain"]
        merged.setdefault("content-length", [str(len(body.encode("utf-8", "surrogatepass")))])
    parameters: dict[str, list[str]] = {}
    for name, value in query:
        # Atlassian's example parses `apples=green,red` into two values.
        parameters.setdefault(name, []).extend(value.split(","))
    path = trigger_path(app_id, installation, trigger.key)
    if user_path and not user_path.startswith("/"):
        user_path = "/" + user_path
    request: dict[str, Any] = {
        "method": method.upper(),
        "headers": merged,
        "path": path + user_path,
        "userPath": user_path,
        "queryParameters": parameters,
    }
    if body is not None:
        request["body"] = body
    return request


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def response_of(trigger: WebTrigger, value: Any, notes: list[str]) -> tuple[HttpResponse, str | None]:
    """The HTTP response made of what the function returned, and why it is a 500 when it is Forge's.

    `notes` gets what forgeq accepted with a remark (a header value that is a string, not an array).
    """
    if trigger.response_type == "static":
        return _static(trigger, value)
    if not isinstance(value, dict):
        got = "nothing" if value is None else f"a value of type {type_name(value)}"
        return _forge_500(), f"the web trigger returned {got}, not an object with statusCode; Forge answers 500"
    code = value.get("statusCode")
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
        return _forge_500(), f"the web trigger's statusCode is {json.dumps(code)}, not an HTTP status (100-599); Forge answers 500"
    body = value.get("body")
    if body is not None and not isinstance(body, str):
        return _forge_500(), f"the web trigger's body is of type {type_name(body)}, not a string (JSON.stringify it); Forge answers 500"
    headers: dict[str, list[str]] = {}
    raw_headers = value.get("headers")
    if raw_headers is not None and not isinstance(raw_headers, dict):
        return _forge_500(), f"the web trigger's headers are of type {type_name(raw_headers)}, not an object of arrays of strings; Forge answers 500"
    for name, values in (raw_headers or {}).items():
        if isinstance(values, str):
            notes.append(f"response header '{name}' is a string; Forge documents an array of strings ([\"{values[:40]}\"])")
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            return _forge_500(), f"the web trigger's header '{name}' is not an array of strings; Forge answers 500"
        headers[str(name)] = list(values)
    text = value.get("statusText")
    return HttpResponse(code, headers, body or "", text if isinstance(text, str) else status_text(code)), None


def _static(trigger: WebTrigger, value: Any) -> tuple[HttpResponse, str | None]:
    keys = ", ".join(o.key for o in trigger.outputs)
    key = value.get("outputKey") if isinstance(value, dict) else None
    output = next((o for o in trigger.outputs if o.key == key), None)
    if output is None:
        return _forge_500(), (
            f"a static web trigger must return {{outputKey}} naming one of its outputs ({keys}), not {json.dumps(value)[:120]}; Forge answers 500"
        )
    headers = {"content-type": [output.content_type]} if output.content_type else {}
    return HttpResponse(output.status_code, headers, output.body or "", status_text(output.status_code)), None


def failed(reason: str) -> tuple[HttpResponse, str]:
    """What the caller gets when the function threw or timed out."""
    return _forge_500(), f"{reason}; Forge answers 500"


def _forge_500() -> HttpResponse:
    return HttpResponse(500, {}, "", status_text(500))



# -- webTrigger.getUrl / getUrlIds / deleteUrl of @forge/api ---------------------------------------------

# Every era of @forge/api (the sandbox's global.api included) asks the platform's GraphQL API for a
# web trigger's URL; the operations are told apart by the field they ask for.
_URL_OPERATIONS = ("createWebTriggerUrl", "webTriggerUrlsByAppContext", "deleteWebTriggerUrl")


def trigger_url(app_id: str, installation: str, key: str) -> str:
    """The web trigger's URL: stable per app, environment, installation and module key, as Forge's is
    (Atlassian's "Web trigger API"); its path is the request's `path` (build_request)."""
    host = derived_uuid("webtrigger-host", app_id, "DEVELOPMENT")
    return f"https://{host}.hello.atlassian-dev.net{trigger_path(app_id, installation, key)}"


def url_operation(body: Any) -> str | None:
    """The web trigger URL operation a GraphQL request body asks for, or None for any other request."""
    query = body.get("query") if isinstance(body, dict) else None
    if not isinstance(query, str):
        return None
    return next((name for name in _URL_OPERATIONS if name in query), None)


def url_answer(
    operation: str, variables: Any, *, app_id: str, installation: str, keys: list[str], notes: list[str]
) -> dict[str, Any]:
    """The GraphQL answer (`{data}` or `{data, errors}`) @forge/api reads for `operation`."""
    variables = variables if isinstance(variables, dict) else {}
    if operation == "createWebTriggerUrl":
        given = variables.get("input")
        key = given.get("triggerKey") if isinstance(given, dict) else None
        if key not in keys:
            message = f"webTrigger.getUrl({json.dumps(key)}): no webtrigger module with that key in manifest.yml (web triggers: {', '.join(keys) or 'none'})"
            notes.append(message)
            return {"data": {"createWebTriggerUrl": None}, "errors": [{"message": message}]}
        return {"data": {"createWebTriggerUrl": {"url": trigger_url(app_id, installation, key)}}}
    if operation == "webTriggerUrlsByAppContext":
        urls = [trigger_url(app_id, installation, key) for key in keys]
        return {"data": {"webTriggerUrlsByAppContext": [{"id": url.rsplit("/", 1)[-1], "url": url} for url in urls]}}
    # deleteWebTriggerUrl: the URL stays stable and callable (forgeq keeps no list of created URLs)
    return {"data": {"deleteWebTriggerUrl": {"success": True, "message": None}}}
