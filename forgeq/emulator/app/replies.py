"""How forgeq answers a request of the Node.js worker: an HTTP-like reply, as the cloud would send it.

The worker (worker/worker.cjs) turns each reply into a `Response` for the package that asked:
`{status, statusText, headers, body}`, the body as text. The platform services (platform/api.py)
build their answers with `respond`; the bridge answers a request made while no invocation runs.
"""

from __future__ import annotations

from typing import Any

from forgeq.jsontext import stringify
from forgeq.runtime import STATUS_TEXT

Answer = dict[str, Any]


def respond(status: int, body: Any = None) -> Answer:
    # JSON.stringify's text: a lone surrogate in a stored value is escaped, so that the worker's
    # Response (UTF-8) hands it to the package intact rather than as U+FFFD.
    text = None if body is None else body if isinstance(body, str) else stringify(body)
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
