"""The seed guide's consumer: kvs.set, and on a rate limit a returned InvocationError whose
retryAfter grows as 20 * 2**retryCount plus up to 100 s of jitter.

The payload is {"issueKey": ..., "padBytes": N}: the stored value carries N bytes of padding, so
a test can make each write cost several 10 KB units.
"""

import random

from forgeq.events import InvocationError, InvocationErrorCode
from forgeq.kvs import ForgeKvsAPIError, kvs
from forgeq.resolver import Resolver

resolver = Resolver()


@resolver.define("event-listener")
def event_listener(request):
    payload = request["payload"]
    retry_context = payload.get("retryContext")
    retry_delay = (
        20 * 2 ** retry_context["retryCount"] + random.random() * 100
        if retry_context
        else 20 + random.random() * 100
    )
    value = {"issueKey": payload["issueKey"]}
    if payload.get("padBytes"):
        value["pad"] = "x" * payload["padBytes"]
    try:
        kvs.set(f"issue-{payload['issueKey']}", value)
    except ForgeKvsAPIError as error:
        if error.code != "RATE_LIMIT_EXCEEDED":
            raise
        return InvocationError(
            retry_after=min(retry_delay, 900),
            retry_reason=InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED,
            retry_data={"issueKey": payload["issueKey"]},
        )
    return None


handler = resolver.get_definitions()
