"""The platform's HTTP answers, for Forge's own JavaScript packages running in the Node.js worker.

`@forge/events` and `@forge/kvs` send every request through `global.__forge_fetch__`; the worker
forwards each one here (bridge.py), and `answer()` serves it with the same Invocation methods the
Python SDK calls, then answers with the status and body the package expects from the cloud, so
the package raises its own error classes:

- async events: POST /webhook/queue/publish|stats|cancel/{contextAri}/... ->
  201 pushed, 413 `{errorMessage}` (PayloadTooBigError), 429 (RateLimitError),
  405 (InvocationLimitReachedError), 200 `{success, inProgress, failed}`, 204 cancelled,
  404 (JobDoesNotExistError), 400 `{message}` (InternalServerError "400 Bad Request: ...").
- KVS: POST /api/v1/get|set|delete|query, /api/v1/secret/get|set|delete, /api/v1/batch/set|get|delete,
  /api/v1/entity/get|set|delete|query, /api/v1/transaction
  -> 200 with the body @forge/kvs parses, or the error's status with `{code, message}`, which
  @forge/kvs turns into its own ForgeKvsAPIError (404 KEY_NOT_FOUND is how a missing key reads).

- product requests: `{target: {type: "fpp", provider: "app"|"user"|"none", remote: "jira"|
  "confluence"|"bitbucket"|"stargate", accountId?}, path, method, body}` (requestJira,
  requestConfluence, requestGraph at stargate /graphql) and external fetch `{target: {type:
  "fetch"}, path: the URL, method, body}` go to the fake product site (platform/site/). This is
  the call shape every era of @forge/api and the Python port (forgeq.api) send.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from forgeq.emulator import limits
from forgeq.emulator.app.replies import Answer, respond
from forgeq.jsontext import depth, parse, stringify
from forgeq.jsvalues import shown
from forgeq.kvs.entity import entity_space
from forgeq.runtime import PLAIN, SECRET, PlatformRefusal, Space

if TYPE_CHECKING:
    from forgeq.emulator.loop.invocation import Invocation

PUSH_SCHEMA = "ari:cloud:ecosystem::forge/app-event-2"
V1_PUSH_SCHEMA = "ari:cloud:ecosystem::forge/app-event"  # @forge/events 0.x-1.x
_QUEUE_PATH = re.compile(r"^/webhook/queue/(publish|stats|cancel)/")
# Product requests (remote jira, confluence, bitbucket; stargate /graphql) and external fetch go to
# the fake site (platform/site/service.py).
PRODUCT_REMOTES = ("jira", "confluence", "bitbucket")


def answer(invocation: Invocation, call: dict[str, Any]) -> Answer:
    """Serve one request of the worker within `invocation`, as the cloud answers it."""
    target = call.get("target") or {}
    kind = target.get("type") if isinstance(target, dict) else None
    if kind == "fetch" or (kind == "fpp" and target.get("remote") in PRODUCT_REMOTES):
        return invocation.engine.site.answer(invocation, call)
    path = str(call.get("path") or "")
    queue_call = _QUEUE_PATH.match(path)
    if kind == "fpp" and not queue_call and path.startswith("/graphql"):
        return _webtrigger_url(invocation, call) or invocation.engine.site.answer(invocation, call)
    try:
        body = parse(call["body"]) if call.get("body") else None
    except (TypeError, ValueError):
        return respond(400, {"code": "INVALID_REQUEST", "message": f"forgeq: the body of {path} is not JSON"})
    except RecursionError:  # deeper than Python's json reads: what the Python SDK's checks say of it
        return _too_deep(path, call["body"])
    if kind == "kvs":
        return _kvs(invocation, path, body)
    stargate = kind == "fpp" and target.get("remote") == "stargate"
    if stargate and queue_call:
        return _events(invocation, queue_call.group(1), body)
    if stargate:
        # Imported here: few apps use @forge/api's legacy storage, and start-up need not pay for it.
        from forgeq.emulator.platform import legacy_storage

        if path == legacy_storage.ENDPOINT:
            return legacy_storage.graphql(invocation.legacy_storage, body, invocation.notes)
    what = f"{call.get('method')} {path}"
    remote = target.get("remote") if isinstance(target, dict) else None
    invocation.notes.append(
        f"forgeq does not emulate this platform request ({remote or kind}: {what}); it was answered 501"
    )
    return respond(501, {"code": "NOT_EMULATED", "message": f"forgeq does not emulate {what}"})


def _webtrigger_url(invocation: Invocation, call: dict[str, Any]) -> Answer | None:
    """webTrigger.getUrl/getUrlIds/deleteUrl of @forge/api, a platform request beside the products' GraphQL."""
    try:
        body = json.loads(call["body"]) if call.get("body") else None
    except (TypeError, ValueError, RecursionError):
        return None
    from forgeq.emulator.platform import webtriggers

    operation = webtriggers.url_operation(body)
    if operation is None or not isinstance(body, dict):
        return None
    manifest = invocation.engine.manifest
    keys = [trigger.key for trigger in manifest.webtriggers]
    return respond(200, webtriggers.url_answer(
        operation, body.get("variables"), app_id=manifest.app_id, installation=invocation.installation, keys=keys, notes=invocation.notes,
    ))  # fmt: skip


def _too_deep(path: str, text: str) -> Answer:
    """The answer to a request nesting deeper than json.loads goes: the same the Python SDK's
    request gets, with the depth counted as it counts it (the request's own levels left out)."""
    from forgeq.emulator.platform.queues import too_deep
    from forgeq.emulator.platform.storage import MAX_DEPTH

    levels = depth(text)
    if _QUEUE_PATH.match(path):
        return respond(400, {"message": too_deep(levels - 2)})  # {payload: [event]}
    inside = 2 if path.startswith("/api/v1/batch/") else 1  # [{key, value}] or {key, value}
    return respond(400, {"code": "MAX_DEPTH", "message": f"The value is nested {levels - inside} levels deep; the maximum is {MAX_DEPTH}."})


# -- async events ---------------------------------------------------------------------------------------


def _events(invocation: Invocation, action: str, body: Any) -> Answer:
    """publish, stats, cancel: the checks and answers of platform/queues.py, the limits of event_limits.py."""
    from forgeq.events import EventsError, InvocationLimitReachedError, PayloadTooBigError, RateLimitError

    if not isinstance(body, dict):
        return respond(400, {"message": "the request body must be an object"})
    queue, job_id = body.get("queueName"), body.get("jobId")
    try:
        if action == "stats":
            return respond(200, invocation.job_stats(queue, job_id))
        if action == "cancel":
            invocation.cancel_job(queue, job_id)
            return respond(204)
        if not isinstance(job_id, str) or not job_id:
            return respond(400, {"message": "jobId cannot be empty."})
        if body.get("schema") == PUSH_SCHEMA:
            invocation.push(queue, body.get("payload"), job_id=job_id)
        elif body.get("schema") == V1_PUSH_SCHEMA:
            invocation.push(queue, _v1_events(body), job_id=job_id, v1=True)
        else:
            return respond(400, {"message": f"forgeq does not know the push schema {shown(body.get('schema'))}"})
        return respond(201)
    except PlatformRefusal as refusal:
        return respond(refusal.status, refusal.body)
    except RateLimitError:
        return respond(429, {"message": "Too many requests."})
    except InvocationLimitReachedError:
        return respond(405, {"message": "The limit on cyclic invocation has been reached."})
    except PayloadTooBigError as error:
        return respond(413, {"errorMessage": str(error)})
    except EventsError as error:  # a 1.x push's own checks (_v1_events)
        return respond(400, {"message": str(error)})


def _v1_events(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A push of @forge/events 0.x-1.x: the payloads themselves (any JSON), one delay for all of them."""
    from forgeq.events import NoEventsToPushError, PayloadTooBigError, TooManyEventsError, to_json

    payloads = body.get("payload")
    if not isinstance(payloads, list) or not payloads:
        raise NoEventsToPushError("No events pushed.")
    if len(payloads) > limits.MAX_EVENTS_PER_PUSH:
        raise TooManyEventsError(f"This push contains more than the {limits.MAX_EVENTS_PER_PUSH} events allowed.")
    if len(to_json(payloads).encode("utf-8")) > limits.MAX_PUSH_BYTES:
        raise PayloadTooBigError(f"The maximum payload size is {limits.MAX_PUSH_BYTES // 1024}KB.")
    delay = body.get("delayInSeconds")
    return [{"body": payload, **({"delayInSeconds": delay} if delay else {})} for payload in payloads]


# -- KVS ------------------------------------------------------------------------------------------


def _kvs(invocation: Invocation, path: str, body: Any) -> Answer:
    from forgeq.kvs import ForgeKvsAPIError

    operation = path.removeprefix("/api/v1/")
    request = body if isinstance(body, dict) else {}
    space: Space = PLAIN
    if operation.startswith("secret/"):
        space = SECRET
    elif operation.startswith("entity/"):
        space = entity_space(request.get("entityName"))  # a non-string name fails the name check
    operation = operation.split("/", 1)[1] if space != PLAIN else operation
    session = invocation.storage
    try:
        if operation == "transaction":
            session.transact(body)
            return respond(200)
        if operation == "query" and type(space) is str:
            page = session.entity_query(request)
            return respond(200, _page(page))
        if operation == "get" and space == PLAIN and request.get("options") is None:
            text = session.get_text(request.get("key"))
            if text is None:
                return respond(404, {"code": "KEY_NOT_FOUND", "message": "The key does not exist."})
            if text.isascii():  # forgeq's own compact JSON: {key, value} as respond would write it
                return respond(200, f'{{"key":{stringify(request["key"])},"value":{text}}}')
            return respond(200, {"key": request.get("key"), "value": parse(text)})  # stringify escapes a lone surrogate
        if operation == "get":
            options = request.get("options")
            value = session.get(request.get("key"), options, space=space)
            if value is None:
                return respond(404, {"code": "KEY_NOT_FOUND", "message": "The key does not exist."})
            if options is None:
                value = {"key": request.get("key"), "value": value}
            if type(space) is str:
                value["entityName"] = space
            return respond(200, value)
        if operation == "set":
            result = session.set(
                request.get("key"), request.get("value"), request.get("options"), space=space
            )
            return respond(200, result)
        if operation == "delete":
            session.delete(request.get("key"), space=space)
            return respond(204)
        if operation == "query" and space == PLAIN:
            options = request.get("options")
            fields = options.get("metadataFields") if isinstance(options, dict) else None
            page = session.query(request.get("where"), request.get("after"), request.get("limit"), fields)
            return respond(200, _page(page))
        if operation in ("batch/set", "batch/get", "batch/delete") and space == PLAIN:
            method = {
                "batch/set": session.batch_set,
                "batch/get": session.batch_get,
                "batch/delete": session.batch_delete,
            }[operation]
            return respond(200, method(body))
    except ForgeKvsAPIError as error:
        return respond(error.status, {"code": error.code, "message": error.message})
    invocation.notes.append(f"forgeq does not emulate the KVS request {path}; it was answered 501")
    return respond(501, {"code": "NOT_EMULATED", "message": f"forgeq does not emulate {path}"})


def _page(page: dict[str, Any]) -> dict[str, Any]:
    """A query's page as the server answers it: `data`, and `cursor` unless it is the last page."""
    found: dict[str, Any] = {"data": page["results"]}
    if page.get("nextCursor") is not None:
        found["cursor"] = page["nextCursor"]
    return found
