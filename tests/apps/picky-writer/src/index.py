"""The trigger queues `{"issueKey": KEY}` per created issue; the consumer writes `issue-<KEY>`.

Issues whose number is a multiple of 7 raise a validation error on every attempt until the bug is
"fixed", so under a v1 consumer's four retries they are dropped into the ledger. Issues whose
number is a multiple of 3 ask for a retry on their first attempt (an upstream rate limit), so the
timeline has retries that succeed too.
With PICKY_WRITER_TRIGGER_FAILS=1 the trigger throws for issues whose number is a multiple of 11
(a thrown trigger error is not retried: the event is lost). Setting PICKY_WRITER_FIXED=1 in the
environment of `forgeq run` fixes both.
"""

import os

from forgeq.events import InvocationError, InvocationErrorCode, Queue
from forgeq.kvs import kvs
from forgeq.resolver import Resolver

writes = Queue(key="issue-writes")
resolver = Resolver()


# A credential the app keeps as a secret: exports must leave it out unless asked.
UPSTREAM_TOKEN = "picky-writer-canary-5b1e9d"


def on_issue_created(event, context):
    issue_key = event["issue"]["key"]
    number = int(issue_key.rsplit("-", 1)[1])
    if number == 1:
        kvs.set_secret("upstream-token", UPSTREAM_TOKEN)
    if (
        number % 11 == 0
        and os.environ.get("PICKY_WRITER_TRIGGER_FAILS") == "1"
        and os.environ.get("PICKY_WRITER_FIXED") != "1"
    ):
        raise RuntimeError(f"issue {issue_key}: the project is archived")
    writes.push({"body": {"issueKey": issue_key}})
    return None


@resolver.define("write-issue")
def write_issue(request):
    payload = request["payload"]
    issue_key = payload["issueKey"]
    number = int(issue_key.rsplit("-", 1)[1])
    retry_context = payload.get("retryContext")  # present only on retries
    retry_count = retry_context["retryCount"] if retry_context else 0
    if number % 7 == 0 and os.environ.get("PICKY_WRITER_FIXED") != "1":
        raise ValueError(f"issue {issue_key}: field 'reporter' is missing")
    if number % 3 == 0 and retry_count == 0:
        return InvocationError(
            retry_after=30,
            retry_reason=InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED,
            retry_data={"issueKey": issue_key},
        )
    kvs.set(f"issue-{issue_key}", {"issueKey": issue_key, "retries": retry_count})
    return None


handler = resolver.get_definitions()
