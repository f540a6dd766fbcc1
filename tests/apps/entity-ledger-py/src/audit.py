"""An async v1 resolver consumer in Forge's camelCase names: a tally per status, kept exact by
optimistic conditions (the count it read, or notExists), re-read and retried on a conflict."""

from forgeq.events import InvocationError, InvocationErrorCode
from forgeq.kvs import Filter, FilterConditions, ForgeKvsAPIError, kvs
from forgeq.resolver import Resolver

resolver = Resolver()


@resolver.define("tally")
async def tally(request):
    payload = request["payload"]
    key = payload["key"]
    status = "failed" if int(key.split("-")[1]) % 3 == 0 else "done"
    try:
        for _ in range(10):
            seen = await kvs.entity("tally").get(f"seen-{key}")
            if seen is not None:
                return None  # a duplicate delivery: already tallied
            held = await kvs.entity("tally").get(status)
            count = held["count"] if held else 0
            unchanged = (Filter().and_("count", FilterConditions.equalTo(count)) if held
                         else Filter().and_("count", FilterConditions.notExists()))
            try:
                await (kvs.transact()
                       .set(status, {"status": status, "count": count + 1}, {"entityName": "tally", "conditions": unchanged})
                       .set(f"seen-{key}", {"status": status}, {"entityName": "tally",
                            "conditions": Filter().and_("status", FilterConditions.notExists())})
                       .execute())
                return None
            except ForgeKvsAPIError as error:
                if error.code != "CONDITIONAL_CHECK_FAILED":
                    raise
        raise RuntimeError(f"the tally of {status} kept moving")
    except ForgeKvsAPIError as error:
        if error.code in ("RATE_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS"):
            retry = (payload.get("retryContext") or {}).get("retryCount", 0)
            return InvocationError({"retryAfter": 15 * 2**retry,
                                    "retryReason": InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED})
        raise


handler = resolver.getDefinitions()
