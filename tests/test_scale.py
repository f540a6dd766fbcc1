"""Scale (reliability.md L1): a backlog drains with flat memory, and `inspect queue` counts from
indexes. The measuring harness is tests/scalekit.py (also a command that prints the figures)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import scalekit
from conftest import write_app

from forgeq.emulator.app.manifest import load_manifest
from forgeq.emulator.loop.engine import Emulator
from forgeq.emulator.settings import Settings
from forgeq.emulator.store import Store, schema

pytestmark = pytest.mark.timeout(1800)


def test_peak_memory_does_not_grow_with_the_backlog(tmp_path: Path) -> None:
    small, large = scalekit.measure(2_000, tmp_path), scalekit.measure(20_000, tmp_path)
    print(small.line())
    print(large.line())
    assert small.succeeded == 2_000 and large.succeeded == 20_000
    assert large.peak_rss_mb < small.peak_rss_mb * 1.25, "ten times the backlog must not need more memory"


@pytest.mark.slow
def test_a_million_event_backlog_drains_in_flat_memory(tmp_path: Path) -> None:
    results = [scalekit.measure(n, tmp_path) for n in (10_000, 100_000, 1_000_000)]
    for result in results:
        print(result.line())
    assert [r.succeeded for r in results] == [10_000, 100_000, 1_000_000]
    # The backlog is never held in memory; what grows with the state file is SQLite's page cache,
    # bounded at 16 MiB (store/sqlite.py) plus its per-page overhead: 1e4 -> 1e6 adds at most that,
    # and 1e5 -> 1e6 (the cache full at both) next to nothing.
    assert results[-1].peak_rss_mb < results[0].peak_rss_mb + 24, "more than the page cache's growth"
    assert results[-1].peak_rss_mb < results[1].peak_rss_mb * 1.25, "ten times the backlog must not need more memory"
    assert results[-1].peak_rss_mb < results[0].peak_rss_mb * 1.5, "the performance issue's target"


MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/counts
modules:
  consumer:
    - key: a
      queue: alpha
      function: f
    - key: b
      queue: beta
      function: f
  function:
    - key: f
      handler: index.handler
"""

HANDLER = """
from forgeq.events import InvocationError


def handler(event, context):
    body = event["body"]
    retry = (event.get("retryContext") or {}).get("retryCount", 0)
    if body["n"] % 3 == 0 and retry < body["n"] % 5:
        return InvocationError(retry_after=60 * (1 + body["n"] % 4))
    if body["n"] % 11 == 0:
        raise ValueError("fails every time")
    return None
"""


def test_queue_counts_agree_with_a_plain_count(tmp_path: Path) -> None:
    """The two-pass index query against counting every row in Python, at several moments of a run."""
    manifest = write_app(tmp_path / "app", MANIFEST, {"src/index.py": HANDLER})
    store = Store(tmp_path / "state.db")
    emulator = Emulator(load_manifest(manifest), store, Settings(seed=5))
    jobs = []
    for queue in ("alpha", "beta", "nobody-listens"):
        for first in range(0, 120, 40):
            events = [{"body": {"n": n}, "delayInSeconds": (n * 37) % 900} for n in range(first, first + 40)]
            jobs.append(emulator.push(queue, events))
    emulator.cancel_job("beta", jobs[4], "site-1")
    emulator.start()
    checked = 0
    for stop in (0, 120, 900, 3600, 6 * 3600, 2 * 86400):
        emulator.run(until_idle=False, stop_at=emulator.clock.now() + stop)
        emulator.flush()
        now = emulator.clock.now()
        for installation in (None, "site-1", "site-9"):
            assert store.queue_counts(now, installation) == _plain_counts(store, now, installation)
            checked += 1
        assert store.queue_counts(now, kind=None) == _plain_counts(store, now, None, kind=None)
    assert checked == 18
    final = store.queue_counts(emulator.clock.now())
    assert {name for counts in final.values() for name, n in counts.items() if n} >= {
        "succeeded",
        "dropped",
        "cancelled",
        "blocked",
    }


def _plain_counts(
    store: Store, now: float, installation: str | None, kind: str | None = "queue"
) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(
            ("pending", "delayed", "running", "retrying", "succeeded", "dropped", "cancelled", "blocked"), 0
        )
    )
    for row in store.conn.execute(
        "SELECT kind, installation, target, state, retry_count, available_at FROM events"
    ):
        row_kind, site, target, state, retries, available_at = row
        if (kind and row_kind != kind) or (installation and site != installation):
            continue
        if state == schema.PENDING:
            name = "retrying" if retries > 0 else "delayed" if available_at > now else "pending"
        else:
            name = schema.STATE_NAMES[state]
        counts[target][name] = counts[target].get(name, 0) + 1
    return dict(counts)
