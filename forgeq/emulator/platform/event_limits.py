"""The async-events platform limits, per installation (Atlassian's "Async events API" limits; docs/fidelity.md, platform limits): checked on each push from a handler.

- 500 pushed events per minute per installation: over it, `Queue.push` raises RateLimitError
  "Too many requests." (the whole push is refused; the SDK maps the server's 429 so).
- The cyclic-invocation limit: at most 1000 push requests in the tree of invocations started by one
  initial invocation (Forge's 2026 wording); the 1001st raises InvocationLimitReachedError
  "The limit on cyclic invocation has been reached." (the SDK maps the server's 405 so).

Pushes from outside any invocation (`forgeq push`, the testing API) stand for the developer seeding
a backlog: they start new trees and are not counted against the per-minute limit (docs/fidelity.md).
retryData (4 KB) and ECO-759 are decided with the retry (retry.py). `--platform-limits off`
switches the whole group off. Minutes are fixed windows aligned to the virtual epoch, like the
storage quotas; usage is recorded as the metric `pushed_events` beside them (`forgeq inspect quota`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from forgeq.emulator import limits
from forgeq.emulator.platform.quota import ITEMS, Limit, StorageQuota

if TYPE_CHECKING:
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.loop.invocation import Invocation

PUSH = "push"
PUSHED_EVENTS = "pushed_events"
MAX_TREES_REMEMBERED = 100_000


class PlatformLimits:
    def __init__(
        self,
        engine: Emulator,
        *,
        per_minute: int = limits.PUSHED_EVENTS_PER_MINUTE,
        cyclic: int = limits.CYCLIC_INVOCATION_LIMIT,
    ) -> None:
        from forgeq.emulator.platform.storage import window_loader, window_recorder

        self.engine = engine
        self.enabled = engine.settings.platform_limits
        self.cyclic = cyclic
        self.per_minute = per_minute
        self.pushes = StorageQuota(
            "platform",
            [Limit(PUSHED_EVENTS, 60, per_minute, frozenset({PUSH}), ITEMS)],
            load=window_loader(engine),
            record=window_recorder(engine),
        )
        self._trees: dict[int, int] = {}  # root event -> push requests made in its tree

    def check_push(self, invocation: Invocation, count: int) -> None:
        """Raise the SDK's error if this push from a handler is over a platform limit; else count it."""
        if not self.enabled:
            return
        from forgeq.events import InvocationLimitReachedError, RateLimitError

        root = invocation.root
        made = self._tree_pushes(invocation) if root is not None else 0
        if root is not None and made >= self.cyclic:
            invocation.notes.append(
                f"platform limit: this invocation tree (root #{root}) already made {made} push requests, "
                f"Forge's cyclic-invocation limit is {self.cyclic}: push refused"
            )
            raise InvocationLimitReachedError("The limit on cyclic invocation has been reached.")
        refusal = self.pushes.charge(invocation.installation, PUSH, 0, invocation.now(), items=count)
        if refusal is not None:
            invocation.notes.append(
                f"platform limit: {invocation.installation} pushed {self.per_minute} events this minute "
                f"(Forge allows {self.per_minute} per minute per installation): push of {count} refused"
            )
            raise RateLimitError("Too many requests.")
        if root is not None:
            self._trees[root] = made + 1

    def check_site_event(self, invocation: Invocation) -> str | None:
        """A product event the handler's write fires counts as one push request of its invocation
        tree (forgeq's choice: Forge's loop guard counts what an invocation sets off); over the
        cyclic-invocation limit it is not delivered, and the reason is returned."""
        if not self.enabled or invocation.root is None:
            return None
        made = self._tree_pushes(invocation)
        if made >= self.cyclic:
            return (
                f"this invocation tree (root #{invocation.root}) already made {made} push requests and product events, "
                f"Forge's cyclic-invocation limit is {self.cyclic}"
            )
        self._trees[invocation.root] = made + 1
        return None

    def _tree_pushes(self, invocation: Invocation) -> int:
        root = invocation.root
        assert root is not None
        made = self._trees.get(root)
        if made is not None:
            return made
        if len(self._trees) >= MAX_TREES_REMEMBERED:
            self._trees.clear()
        if invocation.event == root and invocation.attempt == 1:
            made = 0  # the first attempt of an initial invocation: nothing in its tree has pushed yet
        else:
            pending = {
                event.job_id
                for event in self.engine.batch.new_events
                if event.root_id == root and event.job_id is not None
            }
            made = self.engine.store.tree_pushes(root) + len(pending)
        self._trees[root] = made
        return made
