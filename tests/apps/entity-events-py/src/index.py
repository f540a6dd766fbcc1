import json

from forgeq.events import InvocationError, InvocationErrorCode, Queue
from forgeq.kvs import Filter, FilterConditions, ForgeKvsAPIError, Sort, SortOrder, WhereConditions, kvs

ingest_queue = Queue({"key": "ingest"})


def bulk(event, context):
    body = event["body"]
    batch = []
    for n in range(body["from"], body["to"]):
        batch.append({"body": {"n": n}, "concurrency": {"key": f"src-{n % 3}", "limit": 3}})
        if len(batch) == 50:
            ingest_queue.push(batch)
            batch = []
    if batch:
        ingest_queue.push(batch)


def shape(n):
    rec = {"source": f"src-{n % 3}", "kind": ["alpha", "beta", "gamma", "delta"][n % 4], "seq": n,
           "weight": (n % 11) * 0.5 - 2, "flagged": n % 5 == 0, "label": f"L{n % 17:02d}-{n}"}
    if n % 6 == 0:
        rec["extra"] = "text" if n % 12 == 0 else n
    return rec


def bump(tx, name, read):
    current = read["value"] if read else 0
    cond = (Filter().and_("value", FilterConditions.equalTo(current)) if read
            else Filter().and_("value", FilterConditions.notExists()))
    return tx.set(name, {"value": current + 1, "owner": "ingest"}, entity_name="counter", conditions=cond)


def ingest(event, context):
    n = event["body"]["n"]
    counters = kvs.entity("counter")
    try:
        for _ in range(20):
            total, per_source = counters.get("total"), counters.get(f"src-{n % 3}")
            tx = kvs.transact().set(f"rec-{n}", shape(n), {"entityName": "event-record",
                                    "conditions": Filter().and_("seq", FilterConditions.not_exists())})
            tx = bump(bump(tx, "total", total), f"src-{n % 3}", per_source)
            if n % 7 == 0:
                tx = tx.check("gate", {"entityName": "counter", "conditions": Filter().and_("value", FilterConditions.less_than(0))})
            try:
                tx.execute()
                return
            except ForgeKvsAPIError as error:
                if error.code != "CONDITIONAL_CHECK_FAILED":
                    raise
                if n % 7 == 0:
                    rejected = counters.get("rejected")
                    try:
                        rtx = kvs.transact().set(f"rej-{n}", {"value": n, "owner": "gate"}, {
                            "entityName": "counter", "conditions": Filter().and_("owner", FilterConditions.not_exists())})
                        bump(rtx, "rejected", rejected).execute()
                        return
                    except ForgeKvsAPIError as again:
                        if again.code != "CONDITIONAL_CHECK_FAILED":
                            raise
                        if counters.get(f"rej-{n}"):
                            return
                        continue
                if kvs.entity("event-record").get(f"rec-{n}"):
                    return
        raise RuntimeError(f"counter kept moving for {n}")
    except ForgeKvsAPIError as error:
        if error.code in ("RATE_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS"):
            retry = (event.get("retryContext") or {}).get("retryCount", 0)
            return InvocationError(retry_after=min(900, 5 * 2**retry),
                                   retry_reason=InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED)
        raise


def everything(build, limit):
    keys, cursor, pages = [], None, 0
    while True:
        q = build().limit(limit)
        if cursor:
            q = q.cursor(cursor)
        page = q.getMany()
        keys += [r["key"] for r in page["results"]]
        cursor = page.next_cursor
        pages += 1
        if not cursor or pages > 1000:
            return keys


def query(request, context):
    records = lambda: kvs.entity("event-record").query()  # noqa: E731
    W, F = WhereConditions, FilterConditions
    out = {}
    out["src1_desc"] = everything(lambda: records().index("by-source-seq", {"partition": ["src-1"]}).where(W.between(10, 200)).sort(Sort.DESC), 7)
    out["src2_gt"] = everything(lambda: records().index("by-source-seq", partition=["src-2"]).where(W.greater_than(100)), 9)
    out["src0_lte"] = everything(lambda: records().index("by-source-seq", partition=["src-0"]).where(W.lessThanEqualTo(60)).sort("DESC"), 4)
    out["src0_gte"] = everything(lambda: records().index("by-source-seq", partition=["src-0"]).where(W.greater_than_equal_to(60)), 13)
    out["src0_lt"] = everything(lambda: records().index("by-source-seq", partition=["src-0"]).where(W.less_than(33)), 5)
    out["src0_eq"] = everything(lambda: records().index("by-source-seq", partition=["src-0"]).where(W.equal_to(33)), 5)
    out["label_prefix"] = everything(lambda: records().index("label").where(W.begins_with("L03-")), 6)
    out["label_prefix_desc"] = everything(lambda: records().index("label").where(W.beginsWith("L1")).sort(SortOrder.DESC), 11)
    out["kind_weight"] = everything(lambda: records().index("by-kind-flag-weight", partition=["beta", False]).where(W.between(-1, 1.5)), 3)
    out["kind_weight_flag"] = everything(lambda: records().index("by-kind-flag-weight", partition=["alpha", True]).sort(Sort.DESC), 3)
    out["bykey_prefix"] = everything(lambda: records().index("by-key").where(W.begins_with("rec-1")), 8)
    out["bykey_between"] = everything(lambda: records().index("by-key").where(W.between("rec-2", "rec-4")).sort(Sort.DESC), 8)
    out["f_and"] = everything(lambda: records().index("by-source-seq", partition=["src-1"]).filters(
        Filter().and_("kind", F.equal_to("beta")).and_("weight", F.greater_than(0)).and_("label", F.contains("-1"))), 4)
    out["f_or"] = everything(lambda: records().index("by-key").filters(
        Filter().or_("flagged", F.equal_to(True)).or_("extra", F.exists()).or_("weight", F.less_than_equal_to(-2))), 10)
    out["f_not"] = everything(lambda: records().index("by-key").filters(
        Filter().and_("kind", F.not_equal_to("alpha")).and_("label", F.not_contains("7")).and_("extra", F.not_exists())
        .and_("seq", F.greater_than_equal_to(5)).and_("seq", F.less_than(250))), 10)
    out["f_between_begins"] = everything(lambda: records().index("label").where(W.begins_with("L0")).filters(
        Filter().and_("weight", F.between(0, 2)).and_("source", F.begins_with("src-2"))), 3)
    out["f_lt_any"] = everything(lambda: records().index("by-key").filters(
        Filter().and_("extra", F.less_than(100)).and_("extra", F.greater_than_equal_to(0))), 10)
    out["f_any_str"] = everything(lambda: records().index("by-key").filters(Filter().and_("extra", F.equal_to("text"))), 10)
    one = records().index("by-source-seq", partition=["src-0"]).sort(Sort.DESC).get_one()
    out["getone"] = one["key"] if one else None
    # The counters through a query (the tests inject 429s into reads, writes and transactions, not queries).
    held, cursor = {}, None
    while True:
        page = kvs.entity("counter").query().index("by-key").limit(100)
        page = (page.cursor(cursor) if cursor else page).get_many()
        held.update({item["key"]: item["value"]["value"] for item in page.results})
        cursor = page["nextCursor"]
        if cursor is None:
            break
    out["counters"] = {name: held.get(name, 0) for name in ["total", "src-0", "src-1", "src-2", "rejected"]}
    return {"statusCode": 200, "headers": {"Content-Type": ["application/json"]}, "body": json.dumps(out)}
