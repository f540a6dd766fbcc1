"""The summary printed when a run goes idle or stops, computed from the state file.

Two blocks, each labelled: this run (the attempts it made, the events it finished, the drops and
quota refusals in its span) and the whole state (what `inspect --json` counts). Drops and losses
come first in each. Outcome names are the timeline's (succeeded, retry, error, timeout, dropped,
lost), so the live status, the timeline and the summary count the same things.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forgeq.emulator.store import Store, schema
from forgeq.emulator.store.sqlite import fold_finished

# What a quota_windows metric is, for a person: the push limit is not storage.
PUSH_METRIC = "pushed_events"
PRODUCT_METRICS = ("jira_", "confluence_")  # the site's rate limits (platform/site/limits.py)
# The loop's counts of its run: attempts by outcome, by error, and events finished by (kind, final
# outcome, attempts) (Emulator.outcomes, .errors, .finished; None: read from the attempt rows).
RunCounts = tuple[Mapping[str, int], Mapping[str | None, int], Mapping[tuple[str, str, int], int] | None]


def summarize(
    store: Store,
    since_attempt: int,
    virtual_start: float,
    virtual_end: float,
    wall_seconds: float,
    *,
    run: RunCounts | None = None,
    quota_found: dict[tuple[str, str, float], tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """`run`: the loop's own counts of this run (Emulator.outcomes, .errors, .finished), which spare
    reading them back from the run's attempt rows. `quota_found`: the quota windows open when the
    run started (Store.open_quota_windows), whose earlier use is not the run's."""
    finished = run[2] if run is not None else None
    raw = store.summary_counts(since_attempt, virtual_start, this_run=run is None, finished=finished is None)
    if run is not None:
        outcomes, errors, _ = run
        raw["outcomes"] = {outcome: count for outcome, count in outcomes.items() if count}
        raw["errors"] = sorted(errors.items(), key=lambda item: (-item[1], str(item[0])))[:5]
    if finished is not None:
        raw["finished"], raw["histogram"] = fold_finished((*key, count) for key, count in finished.items())
    return {
        "run": _run_block(store, raw, virtual_start, virtual_end, wall_seconds, quota_found),
        "state": _state_block(store, raw),
    }


def _run_block(
    store: Store,
    raw: dict[str, Any],
    virtual_start: float,
    virtual_end: float,
    wall_seconds: float,
    quota_found: dict[tuple[str, str, float], tuple[int, int]] | None,
) -> dict[str, Any]:
    finished = {"queue": 0, "trigger": 0, "product": 0}
    for kind, outcome, count in raw["finished"]:
        if outcome == "succeeded" and kind not in schema.CALL_KINDS:
            finished["queue" if kind == "queue" else "product" if kind == "product" else "trigger"] += count
    attempts = sum(raw["outcomes"].values())
    return {
        "dropped": sum(count for lost, _reason, count in raw["drops_run"] if not lost),
        "lost": sum(count for lost, _reason, count in raw["drops_run"] if lost),
        "drop_reasons": _reasons(raw["drops_run"]),
        "succeeded": finished,
        "attempts": attempts,
        "outcomes": raw["outcomes"],
        "attempts_histogram": {str(attempts): count for attempts, count in raw["histogram"]},
        "top_errors": [{"error": error, "count": count} for error, count in raw["errors"]],
        "limits": _limits(store.quota_peaks(since=virtual_start, found=quota_found)),
        "virtual_seconds": round(virtual_end - virtual_start, 3),
        "wall_seconds": round(wall_seconds, 3),
        "attempts_per_second": round(attempts / wall_seconds, 1) if wall_seconds > 0 else None,
    }


def _state_block(store: Store, raw: dict[str, Any]) -> dict[str, Any]:
    queue = dict.fromkeys(("pushed", "succeeded", "retried", "dropped", "pending", "cancelled", "blocked"), 0)
    triggers = dict.fromkeys(("invocations", "succeeded", "retried", "lost", "pending", "blocked"), 0)
    products = dict.fromkeys(("fired", "delivered", "pending"), 0)  # product events, before fan-out to triggers
    calls = dict.fromkeys(schema.CALL_KINDS, 0)  # `forgeq webtrigger` and `forgeq invoke`: answered, never queued
    for kind, state, retried, count in raw["by_kind_state"]:
        if kind in calls:
            calls[kind] += count
            continue
        if kind == "product":
            products["fired"] += count
            products["delivered" if state == schema.FANNED_OUT else "pending"] += count
            continue
        bucket = queue if kind == "queue" else triggers
        bucket["pushed" if kind == "queue" else "invocations"] += count
        if retried:
            bucket["retried"] += count
        if state == schema.SUCCEEDED:
            bucket["succeeded"] += count
        elif state == schema.DROPPED:
            bucket["dropped" if kind == "queue" else "lost"] += count
        elif state == schema.CANCELLED and kind == "queue":
            bucket["cancelled"] += count
        elif state == schema.BLOCKED:
            bucket["blocked"] += count
        else:
            bucket["pending"] += count
    ledger = store.ledger_totals()  # dropped or lost events put back on their queue by `forgeq replay`
    queue["replayed"] = ledger["dropped_replayed"]
    triggers["replayed"] = ledger["lost_replayed"]
    return {
        "path": str(store.path),
        "events": queue,
        "triggers": triggers,
        "products": products,
        "calls": calls,
        "drop_reasons": _reasons(raw["drops_state"]),
        "limits": _limits(store.quota_peaks()),
    }


def _reasons(rows: list[tuple[int, str, int]]) -> list[dict[str, Any]]:
    return [{"fate": "lost" if lost else "dropped", "reason": reason, "count": count} for lost, reason, count in rows]


def _limits(peaks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fullest window per installation and metric: the push limit, the storage quotas, and the
    products' rate limits (`jira_points`, `jira_burst ...`, `confluence_...`: platform/site/limits.py)."""
    return [{**peak, "limit": _limit_kind(peak["metric"])} for peak in peaks]


def _limit_kind(metric: str) -> str:
    if metric == PUSH_METRIC:
        return "push limit"
    return "product rate limit" if metric.startswith(PRODUCT_METRICS) else "storage quota"
