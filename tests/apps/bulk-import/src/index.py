"""The trigger queues one write per created issue; the consumer writes it, retrying a storage 429."""

from forgeq.events import InvocationError, Queue
from forgeq.kvs import ForgeKvsAPIError, kvs

writes = Queue(key="issue-writes")


def on_issue_created(event, context):
    issue = event["issue"]
    writes.push({"body": {"issueKey": issue["key"], "summary": issue["fields"]["summary"]}})


def write_issue(event, context):
    body = event["body"]
    try:
        kvs.set(f"issue-{body['issueKey']}", {"summary": body["summary"]})
    except ForgeKvsAPIError:
        retry_count = event.get("retryContext", {}).get("retryCount", 0)
        return InvocationError(retry_after=min(900, 30 * 2**retry_count), retry_reason="FUNCTION_UPSTREAM_RATE_LIMITED")
    return None
