"""Which trigger modules receive a product event: subscription by event type, then filters (the manifest reference and Atlassian's product events pages).

The loop calls `deliveries` when it claims a product event (kind 'product'), and turns each
delivered verdict into one `trigger` row. Filters are applied the way Forge applies them before
invoking a function: a filtered-out event never invokes the trigger and uses no retry.

forgeq's choice where Forge is silent (docs/fidelity.md): a trigger-level `filter` and the `filter`
of an `events` entry in object form both apply; an event reaches the trigger only if both let it
through. A trigger that lists one event type twice is invoked once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forgeq.emulator.app.manifest import Manifest, Trigger
from forgeq.emulator.products.payloads import FilterVerdict, filter_verdict


@dataclass(frozen=True)
class Delivery:
    trigger: Trigger
    verdict: FilterVerdict

    @property
    def delivered(self) -> bool:
        return self.verdict.delivered


def deliveries(manifest: Manifest, event_type: str, payload: Any, app_account_id: str) -> list[Delivery]:
    """One Delivery per trigger subscribed to `event_type`, in manifest order."""
    found: dict[str, Delivery] = {}
    body = payload if isinstance(payload, dict) else {}
    for trigger, event in manifest.triggers_for(event_type):
        earlier = found.get(trigger.key)
        if earlier is not None and earlier.delivered:
            continue
        verdict = _combined(trigger.filter, event.filter, body, app_account_id)
        if earlier is None or verdict.delivered:
            found[trigger.key] = Delivery(trigger, verdict)
    return list(found.values())


def _combined(
    trigger_filter: dict[str, Any] | None,
    event_filter: dict[str, Any] | None,
    payload: dict[str, Any],
    app_account_id: str,
) -> FilterVerdict:
    outer = filter_verdict(trigger_filter, payload, app_account_id=app_account_id)
    if not outer.delivered or not event_filter:
        return outer
    inner = filter_verdict(event_filter, payload, app_account_id=app_account_id)
    return FilterVerdict(
        inner.delivered, inner.reason, outer.notes + inner.notes, outer.unchecked + inner.unchecked
    )
