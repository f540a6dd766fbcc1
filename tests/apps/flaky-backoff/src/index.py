"""A flaky downstream behind a v1 resolver consumer that answers with exponential backoff.

Every attempt rolls forgeq's seeded `random` (seeded per event and attempt, so one seed gives one
timeline): about a third of the attempts get a 429 from the "downstream" and return an
InvocationError with exponential backoff; about one in ten throws, which Forge retries with its own
backoff. An event that fails five times in a row has used its four v1 retries and is dropped.
"""

import random

from forgeq.events import InvocationError, InvocationErrorCode
from forgeq.kvs import kvs
from forgeq.resolver import Resolver

BASE_DELAY = 10  # seconds
MAX_RETRY_AFTER = 900  # Forge clamps anything longer

sync_resolver = Resolver()
audit_resolver = Resolver()


@sync_resolver.define("sync-issue")
def sync_issue(request):
    payload = request["payload"]
    retry_context = payload.get("retryContext")  # present only on retries
    retry_count = retry_context["retryCount"] if retry_context else 0
    roll = random.random()
    if roll < 0.35:
        return InvocationError(
            retry_after=min(BASE_DELAY * 2**retry_count, MAX_RETRY_AFTER),
            retry_reason=InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED,
            retry_data={"failures": retry_count + 1},
        )
    if roll < 0.45:
        raise RuntimeError("downstream answered <503 Service Unavailable>")
    kvs.set("last-sync", {"issueKey": payload.get("issueKey"), "retries": retry_count})
    return None


@audit_resolver.define("write-audit")
def write_audit(request):
    if random.random() < 0.08:
        raise ValueError("audit store rejected the entry: field 'actor' is required")
    return None


sync_handler = sync_resolver.get_definitions()
audit_handler = audit_resolver.get_definitions()
