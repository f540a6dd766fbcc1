"""One record per created issue, counted exactly once, with the issue's own lines.

The record and the counter change in one transaction: the record's notExists condition makes a
duplicate delivery fail it whole (CONDITIONAL_CHECK_FAILED, nothing written), and the plain "lock"
key must still hold this importer's name (forgeq's plain-key check, beyond Forge). A 429 asks for a
retry with exponential backoff.
"""

import json

from forgeq.events import InvocationError, InvocationErrorCode, Queue
from forgeq.kvs import Filter, FilterConditions, ForgeKvsAPIError, SortOrder, WhereConditions, kvs

imports = Queue(key="import-queue")
audits = Queue(key="audit-queue")
owner = "bulk-importer"


def shape(key):
    n = int(key.split("-")[1])
    return {"issueKey": key, "status": "failed" if n % 3 == 0 else "done", "attempts": n % 7}


def on_created(event, context):
    key = event["issue"]["key"]
    imports.push({"body": {"key": key}})
    audits.push({"body": {"key": key}})


def consume(event, context):
    key = event["body"]["key"]
    retry = (event.get("retryContext") or {}).get("retryCount", 0)
    try:
        if kvs.get("lock") is None:
            kvs.set("lock", owner)
        total = kvs.get("counter") or 0
        record = shape(key)
        try:
            (kvs.transact()
                .set(f"rec-{key}", record, {"entityName": "import-record",
                     "conditions": Filter().and_("issueKey", FilterConditions.not_exists())})
                .set("counter", total + 1).check("lock", {"value": owner}).delete("tmp").execute())
        except ForgeKvsAPIError as error:
            if error.code != "CONDITIONAL_CHECK_FAILED":
                raise
            print("already counted", key)
            return None
        page = (kvs.entity("import-record").query().index("by-status", partition=["failed"])
                .where(WhereConditions.greater_than(2)).sort(SortOrder.DESC).limit(20).get_many())
        print("failed with more than 2 attempts so far:", len(page.results))
    except ForgeKvsAPIError as error:
        if error.code in ("RATE_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS"):
            return InvocationError(retry_after=min(900, 10 * 2**retry),
                                   retry_reason=InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED)
        raise
    return None


def report(request, context):
    """The failed records with more than 2 attempts, most attempts first, read 7 at a time."""
    keys, cursor = [], None
    while True:
        query = (kvs.entity("import-record").query().index("by-status", partition=["failed"])
                 .where(WhereConditions.greater_than(2)).sort(SortOrder.DESC).limit(7))
        if cursor:
            query = query.cursor(cursor)
        page = query.get_many()
        keys += [item["key"] for item in page["results"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    body = {"counter": kvs.get("counter"), "failed": keys}
    return {"statusCode": 200, "headers": {"Content-Type": ["application/json"]}, "body": json.dumps(body)}
