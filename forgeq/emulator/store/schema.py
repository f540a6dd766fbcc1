"""The schema, versioned with PRAGMA user_version. Event states are small integers for the hot path."""

from __future__ import annotations

SCHEMA_VERSION = 6  # 2: the leases table (a lease no longer rewrites the event's row); 3: custom entities;
# 4: the fake product site; 5: a lease row per run, not per event (store/claims.py); 6: a success
# writes one index entry (events_due's), not three (the counts' indexes below)

PENDING = 0  # waiting for available_at: new, delayed or retrying
RUNNING = 1  # leased by a run of schema 1 (a lease is now in `leases`); reclaimed like a lease
SUCCEEDED = 2
DROPPED = 3  # in the ledger: retries exhausted, retention over, lost by a trigger, quarantined
CANCELLED = 4
FANNED_OUT = 5  # a product event, delivered to each subscribed trigger
BLOCKED = 6  # its handler cannot be loaded; runs once it loads
ANSWERED = 7  # a web trigger or UI resolver call (`forgeq webtrigger`, `forgeq invoke`): one attempt, never queued

# SQL over `events e`: an event in flight is leased in `leases` (its row still says PENDING) or,
# in a state file a schema-1 run left behind, RUNNING. Waiting events are PENDING and not leased.
LEASED_EVENTS = "SELECT j.value FROM leases l, json_each(l.events) j"
LEASED = f"e.id IN ({LEASED_EVENTS})"
IN_FLIGHT = f"(e.state = {RUNNING} OR (e.state = {PENDING} AND {LEASED}))"
WAITING = f"e.state = {PENDING} AND e.id NOT IN ({LEASED_EVENTS})"
# The WHERE clause of the events_running index, word for word: a query that says it may read that
# small index, where `state = 6` alone makes SQLite scan the whole table.
RUNNING_OR_BLOCKED = "state IN (1, 6)"
# The WHERE clause of the events_by_target index, word for word (the same reason): the events that
# are neither waiting nor succeeded, a few next to the history.
NOT_PENDING_OR_SUCCEEDED = "state NOT IN (0, 2)"


def shown_state(alias: str = "") -> str:
    """The state to show for an event row: RUNNING while leased (SQL; `alias` is "e." or "")."""
    return f"CASE WHEN {alias}state = {PENDING} AND {alias}id IN ({LEASED_EVENTS}) THEN {RUNNING} ELSE {alias}state END"


STATE_NAMES = {
    PENDING: "pending",
    RUNNING: "running",
    SUCCEEDED: "succeeded",
    DROPPED: "dropped",
    CANCELLED: "cancelled",
    FANNED_OUT: "delivered",
    BLOCKED: "blocked",
    ANSWERED: "answered",
}
# Rows that record a call of the app's own pushers, not an event: written answered, with one attempt.
CALL_KINDS = ("webtrigger", "resolver")

# events_by_job holds job_id only: with (job_id, state) every acknowledgement moved an entry keyed by
# a random job id (one more page written per attempt, about 20% of the drain rate: bench/README.md).
# A state file made before keeps its (job_id, state) index; both serve the same queries.
#
# The counts by state (store/counts.py) read three indexes, none of which a success writes but
# events_due: events_by_kind holds every event by (kind, target, retry_count), written at a push and
# a retry; events_due (covering: kind, target and retry_count after the claim's order) the waiting
# ones (and `state`: SQLite 3.40 counts the column of a partial index's WHERE as covered only when
# the index holds it); events_by_target the others that are not succeeded (dropped, cancelled,
# blocked, fanned out, answered, running of schema 1). Succeeded = all - waiting - the others.
# Until schema 6, events_by_target held every event with its state, and each acknowledgement moved
# its entry: 7% of a drain's instructions (bench/README.md, "Round 5").
DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    installation TEXT NOT NULL,
    queue TEXT NOT NULL,
    created_at REAL NOT NULL,
    cancelled_at REAL,
    origin TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    installation TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    job_id TEXT,
    body TEXT NOT NULL,
    extra TEXT,
    state INTEGER NOT NULL,
    available_at REAL NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_count INTEGER NOT NULL DEFAULT 0,
    retry_reason TEXT,
    retry_data TEXT,
    crashes INTEGER NOT NULL DEFAULT 0,
    redelivered INTEGER NOT NULL DEFAULT 0,
    root_id INTEGER,
    parent_id INTEGER,
    replay_of INTEGER,
    lease_owner TEXT,
    finished_at REAL,
    last_error TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS events_event_id ON events(event_id);
CREATE INDEX IF NOT EXISTS events_due ON events(available_at, id, kind, target, retry_count, state) WHERE state = 0;
CREATE INDEX IF NOT EXISTS events_by_target ON events(kind, target, state, retry_count) WHERE state NOT IN (0, 2);
CREATE INDEX IF NOT EXISTS events_by_kind ON events(kind, target, retry_count);
CREATE INDEX IF NOT EXISTS events_by_job ON events(job_id);
CREATE INDEX IF NOT EXISTS events_running ON events(state) WHERE state IN (1, 6);
CREATE INDEX IF NOT EXISTS events_by_root ON events(root_id) WHERE parent_id IS NOT NULL;

-- The loop's leases: the events of its current window, in flight as far as a crash goes
-- (Store.reclaim_running). A lease is not a state change: the event's own row and its indexes are
-- written once per attempt, at its acknowledgement. One row per run (owner) holds its leased event
-- numbers as a JSON array, rewritten by each commit: a row per event cost an insert at the claim
-- and a delete at the acknowledgement, about 6% of a drain (bench/README.md, "Findings").
CREATE TABLE IF NOT EXISTS leases (
    owner TEXT PRIMARY KEY,
    events TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    event INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    retry_count INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    error TEXT,
    retry_after_asked REAL,
    retry_after_applied REAL,
    next_at REAL,
    retry_context TEXT,
    quota_refusals INTEGER NOT NULL DEFAULT 0,
    storage_calls INTEGER NOT NULL DEFAULT 0,
    notes TEXT,
    logs TEXT,
    wall_ms REAL
);
CREATE INDEX IF NOT EXISTS attempts_by_event ON attempts(event, attempt);

CREATE TABLE IF NOT EXISTS ledger (
    event INTEGER PRIMARY KEY,
    dropped_at REAL NOT NULL,
    drop_reason TEXT NOT NULL,
    last_error TEXT,
    retry_context TEXT,
    replayed_as INTEGER
);

CREATE TABLE IF NOT EXISTS kvs (
    installation TEXT NOT NULL,
    space INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expire_at REAL,
    PRIMARY KEY (installation, space, key)
) WITHOUT ROWID;

-- Custom entity items (store/entities.py). Each index the manifest declares is a partial
-- expression index on this table, created when a run starts (Store.sync_entity_indexes).
CREATE TABLE IF NOT EXISTS entities (
    installation TEXT NOT NULL,
    entity TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expire_at REAL,
    PRIMARY KEY (installation, entity, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS quota_windows (
    installation TEXT NOT NULL,
    metric TEXT NOT NULL,
    window_start REAL NOT NULL,
    window_seconds REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    quota INTEGER,
    PRIMARY KEY (installation, metric, window_start)
) WITHOUT ROWID;

-- The fake product site (platform/site/): per installation, Jira issues, comments, properties,
-- projects, users and Confluence pages as JSON documents. `ref` is the object's own id where it
-- has one (an issue's 10017, a page's 40017), for lookups by id. Written by Store.commit from
-- WriteBatch.site_writes, and by `forgeq push` when a product event names an object. A rowid table:
-- documents of a few KB would overflow the pages of a WITHOUT ROWID table's b-tree (SQLite advises
-- WITHOUT ROWID for small rows only), and a read by key cost several page reads.
CREATE TABLE IF NOT EXISTS site_objects (
    id INTEGER PRIMARY KEY,
    installation TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    ref TEXT,
    doc TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS site_objects_by_key ON site_objects(installation, kind, key);
CREATE INDEX IF NOT EXISTS site_objects_by_ref ON site_objects(installation, kind, ref) WHERE ref IS NOT NULL;

-- What happened to each site object, oldest first: who changed it, from where, and what changed.
CREATE TABLE IF NOT EXISTS site_history (
    id INTEGER PRIMARY KEY,
    installation TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    at REAL NOT NULL,
    actor TEXT,
    source TEXT NOT NULL,
    change TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS site_history_by_object ON site_history(installation, kind, key, id);

-- Every product request a handler made (requestJira, requestConfluence, requestGraph, fetch).
CREATE TABLE IF NOT EXISTS site_requests (
    id INTEGER PRIMARY KEY,
    installation TEXT NOT NULL,
    event INTEGER,
    attempt INTEGER,
    at REAL NOT NULL,
    product TEXT NOT NULL,
    principal TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    retry_after REAL,
    reason TEXT,
    points INTEGER
);
CREATE INDEX IF NOT EXISTS site_requests_by_event ON site_requests(event, attempt);
"""

# Views for reading a state file with other tools (sqlite3, sqlite-utils, Datasette): state names
# instead of numbers, ISO 8601 UTC times instead of epoch seconds (docs/state-file.md). forgeq never
# reads them; a state file gets them when it is created or next opened for writing.
_ISO = "strftime('%Y-%m-%dT%H:%M:%fZ', {0}, 'unixepoch')"
_STATE = "CASE " + " ".join(f"WHEN {{0}} = {number} THEN '{name}'" for number, name in STATE_NAMES.items()) + " END"
VIEWS = {
    "events_view": (
        f"SELECT e.id AS seq, e.event_id, e.installation, e.kind, e.target AS queue, e.job_id, "
        f"{_STATE.format(shown_state('e.'))} AS state, e.attempts, e.retry_count, e.retry_reason, "
        f"{_ISO.format('e.enqueued_at')} AS pushed_at, {_ISO.format('e.available_at')} AS due_at, "
        f"{_ISO.format('e.finished_at')} AS finished_at, e.last_error, e.body, e.parent_id AS parent, e.replay_of FROM events e"
    ),
    "attempts_view": (
        f"SELECT a.event AS seq, a.attempt, a.retry_count, {_ISO.format('a.started_at')} AS started_at, "
        f"{_ISO.format('a.ended_at')} AS ended_at, a.outcome, a.reason, a.error, a.retry_after_asked, a.retry_after_applied, "
        f"{_ISO.format('a.next_at')} AS next_at, a.retry_context, a.quota_refusals, a.storage_calls, a.notes, a.logs, a.wall_ms "
        "FROM attempts a"
    ),
    "ledger_view": (
        f"SELECT l.event AS seq, e.target AS queue, e.installation, {_ISO.format('l.dropped_at')} AS dropped_at, "
        "l.drop_reason, l.last_error, l.retry_context, l.replayed_as FROM ledger l JOIN events e ON e.id = l.event"
    ),
    "kvs_view": (
        f"SELECT installation, key, value, {_ISO.format('created_at')} AS created_at, {_ISO.format('updated_at')} AS updated_at, "
        f"{_ISO.format('expire_at')} AS expire_at FROM kvs WHERE space = 0"
    ),
    "quota_view": (
        f"SELECT installation, metric, {_ISO.format('window_start')} AS window_start, window_seconds, used, quota, refused "
        "FROM quota_windows"
    ),
}
