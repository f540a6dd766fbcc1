"""The summary printed when a run goes idle or stops, computed from the state file.

Counts cover the whole state (so they agree with `inspect --json`); attempts and errors cover
this run.
"""

from __future__ import annotations

from typing import Any

from forgeq.emulator.store import Store, schema


def summarize(store: Store, since_attempt: int, virtual_start: float, virtual_end: float, wall_seconds: float) -> dict[str, Any]:
    raw = store.summary_counts(since_attempt)
    queue = {name: 0 for name in ("pushed", "succeeded", "retried", "dropped", "pending", "cancelled", "blocked")}
    triggers = {name: 0 for name in ("invocations", "succeeded", "retried", "lost", "pending")}
    products = {name: 0 for name in ("fired", "delivered", "pending")}  # product events, before fan-out to triggers
    for kind, state, retried, count in raw["by_kind_state"]:
        if kind == "queue":
            queue["pushed"] += count
            if retried:
                queue["retried"] += count
            if state == schema.SUCCEEDED:
                queue["succeeded"] += count
            elif state == schema.DROPPED:
                queue["dropped"] += count
            elif state == schema.CANCELLED:
                queue["cancelled"] += count
            elif state == schema.BLOCKED:
                queue["blocked"] += count
            else:
                queue["pending"] += count
        elif kind == "product":
            products["fired"] += count
            products["delivered" if state == schema.FANNED_OUT else "pending"] += count
        elif kind in ("trigger", "scheduled"):
            triggers["invocations"] += count
            if retried:
                triggers["retried"] += count
            if state == schema.SUCCEEDED:
                triggers["succeeded"] += count
            elif state == schema.DROPPED:
                triggers["lost"] += count
            else:
                triggers["pending"] += count
    ledger = store.ledger_totals()  # dropped or lost events put back on their queue by `forgeq replay`
    queue["replayed"] = ledger["dropped_replayed"]
    triggers["replayed"] = ledger["lost_replayed"]
    return {
        "events": queue,
        "triggers": triggers,
        "products": products,
        "attempts": sum(raw["outcomes"].values()),
        "outcomes": raw["outcomes"],
        "attempts_histogram": {str(attempts): count for attempts, count in raw["histogram"]},
        "drain_virtual_seconds": round(virtual_end - virtual_start, 3),
        "drain_wall_seconds": round(wall_seconds, 3),
        "top_errors": [{"error": error, "count": count} for error, count in raw["errors"]],
        "drop_reasons": [{"reason": reason, "count": count} for reason, count in raw["drop_reasons"]],
        # the fullest window per installation and metric (storage quotas, pushed events), whole state
        "quota_peaks": store.quota_peaks(),
    }
