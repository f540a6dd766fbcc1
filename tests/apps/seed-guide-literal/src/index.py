"""The seed guide's reference implementation (index.jsx), ported to Python line by line.

The bugs are the guide's own and are kept on purpose (the guide's bugs A1-A5, listed in lint's rules: forgeq lint --rules): `kvs` is never imported,
`retry_delay` is assigned only on retries, every error is retried, and the producer pushes the
v2 event shape with a fractional delay to a v1 resolver consumer. The trigger (the guide's
`onIssueCreated`) is wired in the manifest so that lint sees it as one. Do not fix this file.
"""

# ruff: noqa: F821, F841 - the guide's bugs, kept on purpose

import random

from forgeq.events import InvocationError, InvocationErrorCode, Queue
from forgeq.resolver import Resolver

storage_async_queue = Queue(key="storage-async-queue")
async_resolver = Resolver()


# Product event handling
def on_issue_created(event, context):
    # A batch job that created 1000+ of issues will call
    # kvs.set 1000+ times and hit the operation limits.
    # This pushes it to the queue instead to let onIssueCreated handle it.

    body = {
        "issueKey": event["issue"]["key"],
    }

    storage_async_queue.push({"body": body, "delayInSeconds": 0.5})

    return True


# Async event handler
@async_resolver.define("event-listener")
def event_listener(request):
    payload = request["payload"]
    context = request["context"]

    # If `payload.retryContext` exists, this event is a retry event
    if payload.get("retryContext"):
        base_delay = 20
        random_jitter = random.random() * 100

        # Exponential backoff with jitter
        retry_delay = (base_delay * (2 ** payload["retryContext"]["retryCount"])) + random_jitter

    # Store issue key by calling a Storage API
    try:
        kvs.set("most-recent-issue-created", payload["issueKey"])
    except Exception as error:
        # Return an InvocationError to trigger a retry
        # Only a maximum of 4 retries are allowed
        return InvocationError(
            {
                "retryAfter": retry_delay,
                "retryReason": InvocationErrorCode.FUNCTION_RETRY_REQUEST,
                "retryData": {
                    "issueKey": payload["issueKey"],
                },
            }
        )


handler = async_resolver.get_definitions()
