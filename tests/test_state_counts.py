"""Counts by state (store/counts.py) against a plain count(*) over the rows, on a real state file
holding an event in every state; and a schema-5 state file, read as it is and brought up to schema 6.

Schema 6 keeps no index holding a succeeded event's state (a success writes one index entry): the
succeeded are all events less the others, so every reader is checked against the rows themselves.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_app

from forgeq.emulator.store import Store, counts, schema
from forgeq.emulator.store.inspection import STATE_FILTERS, Selection
from forgeq.emulator.store.sqlite import QUEUE_COUNT_NAMES
from forgeq.testing import ForgeApp

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/state-counts
modules:
  consumer:
    - key: worker
      queue: work
      function: work-fn
  trigger:
    - key: created
      function: created-fn
      events: [avi:jira:created:issue]
  webtrigger:
    - key: hook
      function: hook-fn
  function:
    - key: work-fn
      handler: index.work
    - key: created-fn
      handler: index.created
    - key: hook-fn
      handler: index.hook
"""

HANDLERS = """
from forgeq.events import InvocationError


def work(event, context):
    n = event["body"]["n"]
    retry = (event.get("retryContext") or {}).get("retryCount", 0)
    if n % 3 == 0 and retry == 0:
        return InvocationError(retry_after=30)
    if n % 7 == 0:
        raise ValueError("fails every time")
    return None


def created(event, context):
    return None


def hook(request, context):
    return {"statusCode": 200, "headers": {}, "body": "ok"}
"""

# Schema 5's two indexes that schema 6 changed, and the one it added.
SCHEMA_5_INDEXES = (
    "CREATE INDEX events_due ON events(available_at, id) WHERE state = 0",
    "CREATE INDEX events_by_target ON events(kind, target, state, retry_count, available_at)",
)


@pytest.fixture(scope="module")
def every_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForgeApp]:
    """An app whose state file holds events retried then succeeded, dropped, cancelled, blocked,
    fanned out (product), answered (web trigger), leased, retrying, delayed and due."""
    root = tmp_path_factory.mktemp("counts")
    manifest = write_app(root / "app", MANIFEST, {"src/index.py": HANDLERS})
    app = ForgeApp(manifest, store=root / "state.db", seed=3)
    app.push_many("work", [{"n": n} for n in range(1, 43)])
    app.push_many("work", [{"n": n} for n in range(1, 5)], installation="site-2")
    app.push("nobody-listens", [{"body": {"n": 1}}, {"body": {"n": 2}}])
    cancelled = app.push("work", [{"body": {"n": 50}, "delayInSeconds": 600}, {"body": {"n": 51}, "delayInSeconds": 600}])
    app.emulator.cancel_job("work", cancelled, app.installation)
    app.push_product_event("issue-created", count=3)
    assert app.webtrigger("hook").status_code == 200
    app.run_until_idle()
    app.push("work", [{"body": {"n": 62}, "delayInSeconds": 900}])
    app.push("work", [{"body": {"n": 63}, "delayInSeconds": 5}])
    app.advance(10)  # n=63's first attempt asks for a retry in 30 s
    app.push("work", [{"body": {"n": 61}}, {"body": {"n": 64}}])  # due, one leased below
    waiting = [row[0] for row in app.store.conn.execute("SELECT id FROM events WHERE state = 0 AND retry_count = 0 ORDER BY id")]
    app.store.claim_ids(waiting[-1:], "another-run")
    try:
        yield app
    finally:
        app.close()


def _shown_rows(conn: sqlite3.Connection, now: float) -> list[tuple[str, str, str, str, bool]]:
    """(kind, installation, target, state as shown, retried) for every event, decided in Python."""
    leased = {n for (n,) in conn.execute(schema.LEASED_EVENTS)}
    rows = []
    for seq, kind, installation, target, state, retries, due in conn.execute(
        "SELECT id, kind, installation, target, state, retry_count, available_at FROM events"
    ):
        if state == schema.PENDING:
            name = "running" if seq in leased else "retrying" if retries else "delayed" if due > now else "pending"
        else:
            name = schema.STATE_NAMES[state]
        rows.append((kind, installation, target, name, retries > 0))
    return rows


def _plain_queue_counts(
    rows: list[tuple[str, str, str, str, bool]], installation: str | None, kind: str | None
) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for row_kind, site, target, name, _ in rows:
        if (kind and row_kind != kind) or (installation and site != installation):
            continue
        bucket = found.setdefault(target, dict.fromkeys(QUEUE_COUNT_NAMES, 0))
        bucket[name] = bucket.get(name, 0) + 1
    return found


def test_the_state_file_holds_every_state(every_state: ForgeApp) -> None:
    shown = Counter(row[3] for row in _shown_rows(every_state.store.conn, every_state.now))
    assert set(shown) == {"pending", "delayed", "running", "retrying", "succeeded", "dropped", "cancelled", "blocked", "delivered", "answered"}
    retried_then_succeeded = every_state.store.conn.execute(
        f"SELECT count(*) FROM events WHERE state = {schema.SUCCEEDED} AND retry_count > 0"
    ).fetchone()[0]
    assert retried_then_succeeded > 0


def test_every_count_reader_agrees_with_a_plain_count(every_state: ForgeApp) -> None:
    store, now = every_state.store, every_state.now
    rows = _shown_rows(store.conn, now)
    for kind in ("queue", "trigger", "product", "webtrigger", None):
        for installation in (None, every_state.installation, "site-2", "site-9"):
            assert store.queue_counts(now, installation, kind) == _plain_queue_counts(rows, installation, kind), (kind, installation)

    plain = {
        (kind, state, bool(retried)): n
        for kind, state, retried, n in store.conn.execute("SELECT kind, state, retry_count > 0, count(*) FROM events GROUP BY 1, 2, 3")
    }
    by_kind_state = store.summary_counts(0, 0.0)["by_kind_state"]
    assert {(kind, state, retried): n for kind, state, retried, n in by_kind_state} == plain
    assert len(by_kind_state) == len(plain)

    totals = store.report_data().totals
    queue = Counter(name for kind, _, _, name, _ in rows if kind == "queue")
    assert totals["pushed"] == sum(queue.values())
    assert totals["retried"] == sum(1 for kind, *_, retried in rows if kind == "queue" and retried)
    assert (totals["succeeded"], totals["dropped"], totals["cancelled"], totals["blocked"]) == (
        queue["succeeded"], queue["dropped"], queue["cancelled"], queue["blocked"],
    )  # fmt: skip
    assert totals["waiting"] == queue["pending"] + queue["delayed"] + queue["retrying"] + queue["running"]
    assert totals["trigger_invocations"] == sum(1 for row in rows if row[0] == "trigger")

    assert store.waiting_count() == sum(1 for row in rows if row[3] in ("pending", "delayed", "retrying", "running"))
    for name in STATE_FILTERS:
        if name == "lost":
            continue
        for queue_name in (None, "work", "nobody-listens", "created"):
            expected = sum(1 for _, _, target, shown, _ in rows if shown == name and queue_name in (None, target))
            assert store.count_events(Selection(queue=queue_name, states=(name,), now=now)) == expected, (name, queue_name)

    assert every_state.queues() == _plain_queue_counts(rows, None, "queue")  # the testing API
    for made in every_state.jobs():
        states = Counter(state for (state,) in store.conn.execute("SELECT state FROM events WHERE job_id = ?", (made.job_id,)))
        assert (made.success, made.failed, made.cancelled) == (states[schema.SUCCEEDED], states[schema.DROPPED], states[schema.CANCELLED])
    for job in store.find_jobs(Selection(now=now), 100):
        stats = store.job_state_counts(job["job_id"])
        plain_job = dict(store.conn.execute("SELECT state, count(*) FROM events WHERE job_id = ? GROUP BY state", (job["job_id"],)).fetchall())
        assert stats == plain_job and job["events"] == sum(plain_job.values())
        assert job["success"] == plain_job.get(schema.SUCCEEDED, 0) and job["failed"] == plain_job.get(schema.DROPPED, 0)


def _traced_plans(conn: sqlite3.Connection, now: float) -> list[str]:
    """The query plans of the counts' statements, as SQLite would run them on this file."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        counts.target_counts(conn, now, QUEUE_COUNT_NAMES, None, "queue")
        counts.target_counts(conn, now, QUEUE_COUNT_NAMES, None, None)
        counts.kind_state_counts(conn)
    finally:
        conn.set_trace_callback(None)
    plans = []
    for sql in statements:
        if sql.startswith("SELECT"):
            plans.append(" / ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")))
    return plans


def test_a_schema_5_state_file_reads_the_same_and_is_brought_to_schema_6(every_state: ForgeApp, tmp_path: Path) -> None:
    store, now = every_state.store, every_state.now
    expected = (store.queue_counts(now), store.queue_counts(now, kind=None), counts.kind_state_counts(store.conn))
    old = tmp_path / "schema5.db"
    with sqlite3.connect(old) as copy:
        store.conn.backup(copy)
    conn = sqlite3.connect(old)
    for index in ("events_due", "events_by_target", "events_by_kind"):
        conn.execute(f"DROP INDEX {index}")
    for statement in SCHEMA_5_INDEXES:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()

    # Read-only, as schema 5 left it: the same answers from schema 5's indexes.
    reader = sqlite3.connect(f"{old.as_uri()}?mode=ro", uri=True)
    found = (
        counts.target_counts(reader, now, QUEUE_COUNT_NAMES, None, "queue"),
        counts.target_counts(reader, now, QUEUE_COUNT_NAMES, None, None),
        counts.kind_state_counts(reader),
    )
    reader.close()
    assert found == expected

    migrated = Store(old)
    try:
        assert migrated.conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 6
        made = {name: sql for name, sql in migrated.conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")}
        for name in ("events_due", "events_by_target", "events_by_kind"):
            assert f"CREATE INDEX IF NOT EXISTS {name} ON {made[name].split(' ON ', 1)[1]}" in schema.DDL, name
        leased = migrated.conn.execute("SELECT events FROM leases").fetchone()  # the other run's lease is kept
        assert leased is not None
        assert (migrated.queue_counts(now), migrated.queue_counts(now, kind=None), counts.kind_state_counts(migrated.conn)) == expected
        plans = _traced_plans(migrated.conn, now)
    finally:
        migrated.close()
    # Each pass reads one index, covering, or the leases and their events by number; only the
    # backlog's rows (events_due) and the leased are grouped by a sort.
    assert len(plans) == 11
    for plan in plans:
        leases = plan.startswith("SCAN l / SCAN j") and "SEARCH e USING INTEGER PRIMARY KEY" in plan
        assert leases or "COVERING INDEX events_" in plan, plan
        if not leases and "events_due" not in plan:
            assert "TEMP B-TREE" not in plan, plan
    joined = "\n".join(plans)
    assert joined.count("events_by_kind") == 3 and joined.count("events_by_target") == 3 and joined.count("events_due") == 3, joined
