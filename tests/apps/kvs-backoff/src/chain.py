"""Pushes for the platform-limit tests. The body says what each invocation does:

- `sizes`: one push per entry, of that many events (default [1]);
- `hops`: how many generations follow (each pushed event carries hops - 1; 0 pushes nothing);
- `delay`: delayInSeconds of the pushed events.

A push refused by the platform is recorded in the key-value store as error-<eventId>-<push index>.
"""

from forgeq.events import EventsError, Queue
from forgeq.kvs import kvs

chain = Queue(key="chain")


def handler(event, context):
    body = event["body"]
    if body.get("hops", 1) <= 0:
        return None
    child = {**body, "hops": body.get("hops", 1) - 1}
    for index, size in enumerate(body.get("sizes", [1])):
        events = [{"body": child, "delayInSeconds": body.get("delay", 0)} for _ in range(size)]
        try:
            chain.push(events)
        except EventsError as error:
            kvs.set(
                f"error-{event['eventId']}-{index}",
                {"class": type(error).__name__, "message": str(error), "hops": body.get("hops", 1)},
            )
    return None
