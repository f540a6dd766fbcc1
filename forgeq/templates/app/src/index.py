"""__APP_NAME__: queue storage writes from a product trigger, retry rate limits with backoff.

A bulk import fires one `avi:jira:created:issue` per issue. The trigger does not write to storage
itself (1000 issues would hit the storage quota at once): it pushes one event per issue, and the
v2 consumer writes it. When storage answers 429, the consumer *returns* an InvocationError
(Forge ignores a raised one) with exponential backoff and jitter, capped at Forge's 900 s, and
stops after a retry limit of its own: a v2 consumer has no retry cap, only a 24 h retention window.
"""

import random

from forgeq.events import InvocationError, InvocationErrorCode, Queue, RateLimitError
from forgeq.kvs import ForgeKvsAPIError, kvs

queue = Queue(key="issue-writes")

BASE_DELAY = 20  # seconds before the first retry, doubled on each one
MAX_JITTER = 30  # seconds of random spread, so the retries of a bulk import do not collide
MAX_RETRY_AFTER = 900  # Forge clamps any longer delay to 900 s
MAX_RETRIES = 8  # about 1.5 h of backoff, then give up
# Only a rate limit goes away by waiting; INVALID_KEY, MAX_SIZE or MAX_DEPTH fail on every attempt.
RETRYABLE_CODES = {"RATE_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS"}


def backoff(retry_count):
    """Seconds to wait before the next attempt, after `retry_count` retries so far."""
    return min(BASE_DELAY * 2**retry_count + random.uniform(0, MAX_JITTER), MAX_RETRY_AFTER)


def on_issue_created(event, context):
    """Trigger for avi:jira:created:issue: queue the write instead of doing it here."""
    issue = event["issue"]
    try:
        queue.push({"body": {"issueKey": issue["key"], "summary": issue["fields"].get("summary")}})
    except RateLimitError:
        # Past 500 pushed events per minute the push throws. A trigger that throws loses the
        # event; one that returns an InvocationError is retried (at most 4 times), so spread
        # the retries over the next 15 minutes.
        return InvocationError(
            retry_after=random.uniform(60, MAX_RETRY_AFTER),
            retry_reason=InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED,
        )
    return None


def write_issue(event, context):
    """v2 consumer of `issue-writes`: one storage write per event."""
    body = event["body"]
    retry_context = event.get("retryContext")  # present only on retries
    retry_count = retry_context["retryCount"] if retry_context else 0
    try:
        kvs.set(f"issue-{body['issueKey']}", {"summary": body.get("summary")})
    except ForgeKvsAPIError as error:
        if error.code in RETRYABLE_CODES and retry_count < MAX_RETRIES:
            return InvocationError(
                retry_after=backoff(retry_count),
                retry_reason=InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED,
            )
        # A retry cannot fix it, or the limit is reached: finish the event. Raising would make
        # Forge retry for 24 h. The failure record goes to the same storage that may be refusing
        # writes (an outage longer than the backoff), so it is a best effort that never raises:
        # the log line is the record that always survives.
        print(f"giving up on {body['issueKey']} after {retry_count} retries: {error.code}")
        try:
            kvs.set(f"failed-{body['issueKey']}", {"code": error.code, "retries": retry_count})
        except ForgeKvsAPIError as record_error:
            print(f"could not record the failure of {body['issueKey']}: {record_error.code}")
    return None
