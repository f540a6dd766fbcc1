"""Model-based test of the queue (reliability.md §4): Hypothesis drives pushes, steps of the loop,
clock jumps, scripted handler outcomes, job cancellations and crashes (the connection dropped with
its unacknowledged batch, the file reopened, recovery run) against a plain-Python model, on a real
SQLite file. After every step the committed state must match the model exactly.

The model does not re-implement Forge's retry rules (tests/test_retry_rules.py does): it takes the
decision of each attempt from the attempt report, and checks the bookkeeping around it: what is
committed when, what a crash undoes, what may run when.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import write_app
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from forgeq.emulator import limits
from forgeq.emulator.app.manifest import load_manifest
from forgeq.emulator.loop.engine import Emulator
from forgeq.emulator.settings import Settings
from forgeq.emulator.store import Store
from forgeq.events import InvocationError

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/model
modules:
  consumer:
    - key: c
      queue: work
      function: f
  function:
    - key: f
      handler: index.handler
"""

PENDING, RUNNING, SUCCEEDED, DROPPED, CANCELLED = 0, 1, 2, 3, 4


@dataclass
class ModelEvent:
    job: str
    state: int = PENDING
    retry_count: int = 0
    due: float = 0.0
    crashes: int = 0
    redelivered: bool = False


class QueueModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="forgeq-model-"))
        self.manifest = write_app(
            self.root / "app", MANIFEST, {"src/index.py": "def handler(event, context):\n    return None\n"}
        )
        self.db = self.root / "state.db"
        self.events: dict[int, ModelEvent] = {}
        self.pending_changes: dict[
            int, ModelEvent
        ] = {}  # attempted since the last commit: what the commit will make them
        self.outcome: tuple[str, float] = ("ok", 0.0)
        self.jobs: list[str] = []
        self.seen_retry_counts: dict[int, int] = {}
        self.crash_count = 0
        self.emulator: Emulator | None = None
        self._open()

    # -- the system under test ----------------------------------------------------------------

    def _open(self) -> None:
        emulator = Emulator(load_manifest(self.manifest), Store(self.db), Settings(seed=1))
        emulator.observers.append(self)
        emulator.before_attempt.append(self._before_attempt)
        emulator.after_flush.append(self._committed)
        emulator.start()
        self.emulator = emulator

    @property
    def emu(self) -> Emulator:
        assert self.emulator is not None
        return self.emulator

    def _before_attempt(self, record: Any, invocation: Any) -> Any:
        model = self.events[record.id]
        now = self.emu.clock.now()
        assert record.id not in self.pending_changes, (
            f"#{record.id} attempted twice before its first attempt was committed"
        )
        assert model.state == PENDING, f"#{record.id} ran while {model.state} in the model"
        assert model.due <= now + 1e-9, f"#{record.id} due at {model.due} ran at {now}"
        assert record.available_at == pytest.approx(model.due)
        assert record.retry_count == model.retry_count
        assert bool(record.redelivered) == model.redelivered, (
            f"#{record.id}: redelivered flag {record.redelivered}"
        )
        kind, after = self.outcome

        def scripted(handler: Any, *args: Any) -> Any:
            if kind == "retry":
                return InvocationError(retry_after=after)
            if kind == "raise":
                raise RuntimeError("scripted failure")
            return None

        return scripted

    # observer protocol
    def attempt(self, report: Any) -> None:
        model = self.events[report.seq]
        assert report.redelivered == model.redelivered
        if report.redelivered:
            assert report.notes and report.notes[0].startswith("redelivered:")
        after = ModelEvent(
            model.job, model.state, model.retry_count, model.due, 0, False
        )  # an acknowledged attempt clears the crash count
        if report.outcome == "succeeded":
            after.state = SUCCEEDED
        elif report.outcome == "dropped":
            after.state = DROPPED
        else:
            assert report.next_at is not None and report.next_at >= report.started_at
            after.retry_count += 1
            after.due = report.next_at
        self.pending_changes[report.seq] = after

    def notice(self, notice: Any) -> None:
        pass

    def _committed(self) -> None:
        self.events.update(self.pending_changes)
        self.pending_changes.clear()

    # -- rules -------------------------------------------------------------------------------------

    @initialize(n=st.integers(1, 8))
    def first_push(self, n: int) -> None:
        self.push(n, 0)

    @rule(n=st.integers(1, 8), delay=st.sampled_from([0, 0, 0.5, 30, 900]))
    def push(self, n: int, delay: float) -> None:
        now = self.emu.clock.now()
        job = self.emu.push("work", [{"body": {"i": i}, "delayInSeconds": delay} for i in range(n)])
        self.jobs.append(job)
        for record in self.emu.store.events(job_id=job, limit=100):
            self.events[record.id] = ModelEvent(job, due=now + delay)

    @rule(jump=st.booleans())
    def step(self, jump: bool) -> None:
        """One claim-and-deliver step; with `jump`, the virtual clock first moves to the next due event."""
        if jump:
            due = self.emu.store.next_due_at()
            if due is not None:
                self.emu.clock.advance_to(due)
        self.emu.step()

    @rule()
    def step_then_crash(self) -> None:
        """The interesting crash: attempts ran, their acknowledgement had not been committed."""
        self.step(True)
        self.crash_and_reopen()

    @rule()
    def flush(self) -> None:
        self.emu.flush()

    @rule(seconds=st.sampled_from([0.5, 30, 61, 900, 3600, 30000]))
    def advance(self, seconds: float) -> None:
        self.emu.clock.advance_to(self.emu.clock.now() + seconds)

    @rule(kind=st.sampled_from(["ok", "ok", "retry", "raise"]), after=st.sampled_from([1, 30, 900]))
    def handler_outcome(self, kind: str, after: float) -> None:
        self.outcome = (kind, float(after))

    @precondition(lambda self: bool(self.jobs))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        job = data.draw(st.sampled_from(self.jobs))
        self.emu.cancel_job("work", job, "site-1")  # flushes first: nothing in flight after it
        assert not self.pending_changes
        for event in self.events.values():
            if event.job == job and event.state == PENDING:
                event.state = CANCELLED

    @rule()
    def crash_and_reopen(self) -> None:
        """kill -9: the unacknowledged batch vanishes; the file is reopened and recovery runs."""
        in_flight = list(self.pending_changes)
        self.pending_changes.clear()
        self.emu.store.close()  # the batch in memory is never committed
        self.crash_count += 1
        for seq in in_flight:
            event = self.events[seq]
            event.crashes += 1
            if event.crashes >= limits.QUARANTINE_AFTER_CRASHES:
                event.state = DROPPED
            else:
                event.redelivered = True
        self._open()

    # -- invariants ---------------------------------------------------------------------------------

    @invariant()
    def committed_state_matches_the_model(self) -> None:
        conn = sqlite3.connect(self.db)
        try:
            rows = {
                r[0]: r[1:]
                for r in conn.execute(
                    "SELECT id, CASE WHEN id IN (SELECT value FROM leases, json_each(leases.events)) THEN ? ELSE state END, retry_count, "
                    "available_at, crashes FROM events",
                    (RUNNING,),
                )
            }
            ledger = dict(conn.execute("SELECT event, drop_reason FROM ledger").fetchall())
            attempts = Counter(conn.execute("SELECT event, retry_count FROM attempts").fetchall())
        finally:
            conn.close()
        assert len(rows) == len(self.events), "every push is counted once"
        for seq, model in self.events.items():
            state, retry_count, available_at, crashes = rows[seq]
            if seq in self.pending_changes:
                assert state == RUNNING, f"#{seq} attempted but not committed must still be leased"
            else:
                assert state == model.state, f"#{seq}: state {state}, model {model.state}"
                assert retry_count == model.retry_count
                if state == PENDING:
                    assert available_at == pytest.approx(model.due)
            assert crashes == model.crashes
            assert retry_count >= self.seen_retry_counts.get(seq, 0), "retryCount never decreases"
            self.seen_retry_counts[seq] = retry_count
        dropped = {
            seq for seq, m in self.events.items() if m.state == DROPPED and seq not in self.pending_changes
        }
        assert set(ledger) == dropped
        assert all(reason for reason in ledger.values()), "every ledger entry carries a reason"
        assert not attempts or max(attempts.values()) == 1, "no attempt is acknowledged twice"

    def teardown(self) -> None:
        if self.emulator is not None:
            self.emulator.store.close()
        shutil.rmtree(self.root, ignore_errors=True)


QueueModel.TestCase.settings = settings(
    max_examples=50, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_queue_matches_the_model = QueueModel.TestCase


class LongQueueModel(QueueModel):
    pass


LongQueueModel.TestCase.settings = settings(
    max_examples=400, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_queue_matches_the_model_long = pytest.mark.timeout(1800)(pytest.mark.slow(LongQueueModel.TestCase))  # 400 examples: minutes on a loaded machine
