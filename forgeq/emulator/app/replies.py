"""How forgeq answers a request of the Node.js worker: an HTTP-like reply, as the cloud would send it.

The worker (worker/worker.cjs) turns each reply into a `Response` for the package that asked:
`{status, statusText, headers, body}`, the body as text. The platform services (platform/api.py)
build their answers with `respond`; the bridge answers a request made while no invocation runs.
"""

from __future__ import annotations

import json
from typing import Any

Answer = dict[str, Any]

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
}


def respond(status: int, body: Any = None) -> Answer:
    text = (
        None
        if body is None
        else body
        if isinstance(body, str)
        else json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    )
    headers = {"content-type": "application/json"} if text else {}
    return {"status": status, "statusText": STATUS_TEXT.get(status, ""), "headers": headers, "body": text}


def no_invocation(call: dict[str, Any]) -> Answer:
    """A request made outside any invocation (at module load): the platform has no context for it."""
    return respond(
        500,
        {
            "code": "NO_INVOCATION",
            "message": f"forgeq: {call.get('method')} {call.get('path')} was made while no Forge invocation was running "
            "(at module load time); make platform calls from a handler",
        },
    )
