"""The unit of work: writes buffered while handlers run, applied in one short transaction.

The loop never holds SQLite's write lock while user code runs, so `forgeq push` from another
terminal never waits on a slow handler. A crash before `Store.commit` loses only attempts that
were not yet acknowledged; their events are still leased and run again after restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from forgeq.emulator.store import schema

if TYPE_CHECKING:
    from forgeq.emulator.store.sqlite import EventRecord

# A key's space: 0 plain, 1 secret (forgeq.runtime.PLAIN, SECRET), or a custom entity's name.
Space = int | str
# kv_writes maps (installation, space, key) to a KvRow, or to None for a delete.
KvKey = tuple[str, Space, str]
# site_writes maps (installation, kind, key) to a SiteRow, or to None for a delete (platform/site/).
SiteKey = tuple[str, str, str]
# A site_history row: (installation, kind, key, at, actor, source, change JSON).
SiteChange = tuple[str, str, str, float, str | None, str, str]
# A site_requests row, in store/site.py's REQUEST_COLUMNS order.
RequestRow = tuple[str, int | None, int | None, float, str, str, str, str, int, float | None, str | None, int | None]


class KvRow(NamedTuple):
    value: str
    # None in a buffered write: the stored row's createdAt if it is live at updated_at, else
    # updated_at. The commit's upsert resolves it, so a plain set reads nothing (storage.py).
    created_at: float | None
    updated_at: float
    expire_at: float | None


# The rows below are plain slotted classes, not dataclasses: every command that opens a state file
# imports this module, and a dataclass costs the import a generated __init__, __eq__ and __repr__
# (bench/README.md, Round 4).


class SiteRow:
    __slots__ = ("ref", "doc", "updated_at", "kept_ref")

    def __init__(self, ref: str | None, doc: str, updated_at: float, kept_ref: bool = False) -> None:
        self.ref = ref  # the object's own id where it has one (an issue's 10017)
        self.doc = doc  # JSON text
        self.updated_at = updated_at
        # A write over a stored row known to hold this ref already: the commit's upsert leaves the ref
        # (and its index) alone, which halves its cost (the common edit: an issue read, then changed).
        self.kept_ref = kept_ref


class NewEvent:
    __slots__ = (
        "installation", "kind", "target", "job_id", "body", "extra", "available_at", "enqueued_at", "root_id", "parent_id",
        "replay_of",
    )  # fmt: skip

    def __init__(
        self,
        installation: str,
        kind: str,
        target: str,
        job_id: str | None,
        body: str,
        extra: str | None,
        available_at: float,
        enqueued_at: float,
        root_id: int | None = None,
        parent_id: int | None = None,
        replay_of: int | None = None,
    ) -> None:
        self.installation = installation
        self.kind = kind
        self.target = target
        self.job_id = job_id
        self.body = body
        self.extra = extra
        self.available_at = available_at
        self.enqueued_at = enqueued_at
        self.root_id = root_id
        self.parent_id = parent_id
        self.replay_of = replay_of


class NewJob:
    __slots__ = ("job_id", "installation", "queue", "created_at", "origin")

    def __init__(self, job_id: str, installation: str, queue: str, created_at: float, origin: str) -> None:
        self.job_id = job_id
        self.installation = installation
        self.queue = queue
        self.created_at = created_at
        self.origin = origin


class EventUpdate:
    """The end of an attempt: the event's next state (success, retry, drop, block)."""

    __slots__ = (
        "event", "state", "available_at", "attempts", "retry_count", "retry_reason", "retry_data", "finished_at", "last_error",
    )  # fmt: skip

    def __init__(
        self,
        event: int,
        state: int,
        available_at: float,
        attempts: int,
        retry_count: int,
        retry_reason: str | None,
        retry_data: str | None,
        finished_at: float | None,
        last_error: str | None,
    ) -> None:
        self.event = event
        self.state = state
        self.available_at = available_at
        self.attempts = attempts
        self.retry_count = retry_count
        self.retry_reason = retry_reason
        self.retry_data = retry_data
        self.finished_at = finished_at
        self.last_error = last_error

    @classmethod
    def unstarted(cls, record: EventRecord, state: int, available_at: float, finished_at: float | None, last_error: str | None) -> EventUpdate:
        """The event in `state` with its attempts and retry fields as they were: no attempt ran
        (given back, blocked, waiting for a slot, dropped while waiting)."""
        return cls(record.id, state, available_at, record.attempts, record.retry_count, record.retry_reason, record.retry_data, finished_at, last_error)


class AttemptRow(NamedTuple):
    """An attempt as the `attempts` table holds it (its columns, in order)."""

    event: int
    attempt: int
    retry_count: int
    started_at: float
    ended_at: float
    outcome: str
    reason: str | None
    error: str | None
    retry_after_asked: float | None
    retry_after_applied: float | None
    next_at: float | None
    retry_context: str | None
    quota_refusals: int
    storage_calls: int
    notes: str | None
    logs: str | None
    wall_ms: float


class LedgerRow:
    __slots__ = ("event", "dropped_at", "drop_reason", "last_error", "retry_context")

    def __init__(self, event: int, dropped_at: float, drop_reason: str, last_error: str | None, retry_context: str | None) -> None:
        self.event = event
        self.dropped_at = dropped_at
        self.drop_reason = drop_reason
        self.last_error = last_error
        self.retry_context = retry_context


# The commonest attempt, which the loop appends as a plain tuple of these columns: succeeded on its
# first delivery, with no note and no log. Its other columns are 0, NULL or "succeeded".
PLAIN_SUCCESS_COLUMNS = ("event", "attempt", "started_at", "ended_at", "quota_refusals", "storage_calls", "wall_ms")
PlainSuccess = tuple[int, int, float, float, int, int, float]


class WriteBatch:
    __slots__ = (
        "kv_writes", "jobs", "new_events", "succeeded", "updates", "released", "attempts", "ledger", "quota", "meta",
        "site_writes", "site_history", "site_requests",
    )  # fmt: skip

    def __init__(self) -> None:
        self.kv_writes: dict[KvKey, KvRow | None] = {}  # entity items too (store/entities.py)
        self.jobs: list[NewJob] = []
        self.new_events: list[NewEvent] = []
        # Events whose attempt succeeded: (attempts, finished_at, event). Their retry fields stay as they
        # are and last_error is cleared; every other change of an event's state is an EventUpdate.
        self.succeeded: list[tuple[int, float, int]] = []
        self.updates: list[EventUpdate] = []
        self.released: list[int] = []  # leases given back unstarted: the event's row stays as it was
        self.attempts: list[AttemptRow | PlainSuccess] = []  # in the order they ran
        self.ledger: list[LedgerRow] = []
        # (installation, metric, window_start) -> [window_seconds, used, refused, quota]
        self.quota: dict[tuple[str, str, float], list[Any]] = {}
        self.meta: dict[str, str] = {}
        self.site_writes: dict[SiteKey, SiteRow | None] = {}
        self.site_history: list[SiteChange] = []
        self.site_requests: list[RequestRow] = []

    def __len__(self) -> int:
        return len(self.succeeded) + len(self.updates) + len(self.new_events) + len(self.kv_writes) + len(self.ledger)

    def acknowledged(self) -> int:
        """Attempts (and unstarted state changes) this batch acknowledges: the events it takes off lease."""
        return len(self.succeeded) + len(self.updates)

    def waiting_due_by(self, at: float) -> bool:
        """Whether an event this batch makes waiting (pushed, retried, delayed) is due by `at`."""
        return any(e.available_at <= at for e in self.new_events) or any(
            u.state == schema.PENDING and u.available_at <= at for u in self.updates
        )

    def is_empty(self) -> bool:
        return not (
            self.kv_writes or self.jobs or self.new_events or self.succeeded or self.updates or self.released
            or self.attempts or self.ledger or self.quota or self.meta or self.site_writes or self.site_history or self.site_requests
        )
