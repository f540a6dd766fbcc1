"""The loop's look-ahead window: claim the next events in due order once, run them at their own times.

`Emulator.step()` claims the events due *now*. On the virtual clock, jittered retries fall at
distinct instants, so in a retry storm each step runs one attempt and pays two transactions (the
acknowledgement commit and the claim). The window instead leases the next `limits.WINDOW_EVENTS`
(200) waiting events in (available_at, id) order in the same transaction as the commit, then replays,
in memory, exactly what `run()` and `step()` would have done with them: at each instant it takes
the events `step()` would have claimed (the first `claimable` due, in the same order, shuffled by
the same RNG calls), jumps the clock where `run()` would have jumped it, and runs each attempt at
its own due time. The timeline is the same for a given seed; only the number of transactions
changes (tests/test_performance_loop.py compares both ways on the same runs).

The window holds only while it is provably the loop's view of the queue:

- `rest_min`: the earliest due time left PENDING after the claim; the window holds every PENDING
  event due before it, and those due at it sort after the window by id.
- `produced_min`: the earliest due time of anything the window's attempts made PENDING since (a
  retry, a push, an event delayed for a full slot). Such an event may sort before a window event,
  so the window is trusted only for instants before it.

When a step cannot be proved the same (an event made by the window is due, a scheduledTrigger
run is due, the run must stop, a job is cancelled), the window gives back what it has not started
(PENDING, untouched) and the plain `step()` takes over.

It is off (plain steps only) on the real clock, in watch mode (between-step hooks), with fault
injection's after-flush hook, while events interrupted by a crash wait to run again, and when
`enabled` is False.

Crash safety: the window's events are leased (in the run's row of `leases`) like a claim's. A kill marks as
interrupted (redelivered, one crash counted) only those whose attempt started, as the flight log
(store/flight.py) records; the rest go back to waiting untouched (docs/fidelity.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from forgeq.emulator import limits
from forgeq.emulator.store import schema
from forgeq.emulator.store.batch import WriteBatch
from forgeq.emulator.store.claims import WindowClaim
from forgeq.emulator.store.sqlite import EventRecord

if TYPE_CHECKING:
    from forgeq.emulator.loop.engine import Emulator

# Why a window ended.
_DONE = "done"  # every leased event ran, or the window could not be proved: claim the next
_OUTER = "outer"  # run() must decide (stop, interrupt, max attempts, scheduled run, plain step)


class Lookahead:
    def __init__(self, engine: Emulator) -> None:
        self.engine = engine
        self.enabled = True
        self.limit = limits.WINDOW_EVENTS  # events leased per window
        self.window: list[EventRecord] = []
        self.rest_min = math.inf
        self.produced_min = math.inf
        self._scanned: WriteBatch | None = None
        self._scanned_updates = 0
        self._scanned_events = 0
        self.claims = 0  # windows leased (for tests and benchmarks)
        self.ran = 0  # attempts run inside windows (the rest ran in plain steps)

    def usable(self) -> bool:
        engine = self.engine
        if not (self.enabled and engine.clock.virtual) or engine.crashed or engine.between_steps or engine.after_flush:
            return False
        fire = engine.scheduler.next_at() if engine.scheduler.next_fire else None
        if fire is not None and fire <= engine.clock.now():
            return False
        claimable, _, full = engine._free_slots(engine.clock.now())
        return not (claimable and full)  # some installations full, others free: step() claims around them

    # -- what the window's attempts make PENDING ----------------------------------------------------

    def note_flush(self, batch: WriteBatch) -> None:
        """Called by Emulator.flush with the batch about to be committed."""
        if self.window:
            self._scan(batch)
        self._scanned = None

    def _scan(self, batch: WriteBatch) -> None:
        if batch is not self._scanned:
            self._scanned, self._scanned_updates, self._scanned_events = batch, 0, 0
        low = self.produced_min
        updates = batch.updates
        for index in range(self._scanned_updates, len(updates)):
            update = updates[index]
            if update.state == schema.PENDING and update.available_at < low:
                low = update.available_at
        events = batch.new_events
        for index in range(self._scanned_events, len(events)):
            if events[index].available_at < low:
                low = events[index].available_at
        self._scanned_updates, self._scanned_events = len(updates), len(events)
        self.produced_min = low

    # -- the window ----------------------------------------------------------------------------------

    def step(self, stop_at: float | None, max_attempts: int | None) -> int:
        """Run windows until run() has to decide something; return the events run (0: use step())."""
        if not self.usable():
            return 0
        ran = 0
        while True:
            claim = WindowClaim(math.inf if stop_at is None else stop_at, self.limit, self.engine.owner)
            self.engine.flush(claim)
            if not claim.rows:
                return ran
            self.claims += 1
            self.window = [EventRecord(*row) for row in claim.rows]
            self.rest_min, self.produced_min = claim.rest_min, math.inf
            self._scanned = None
            moved = self.engine.clock.now()
            done, why = self._run_window(stop_at, max_attempts)
            self.release()
            ran += done
            self.ran += done
            if why == _OUTER or (not done and self.engine.clock.now() == moved):
                return ran

    def release(self) -> None:
        """Give back the leased events not started: PENDING as before, no attempt, no crash counted."""
        if not self.window:
            return
        self.engine._release(self.window)
        self.window.clear()  # in place: _run_window holds the same list and stops when it is empty

    def _run_window(self, stop_at: float | None, max_attempts: int | None) -> tuple[int, str]:
        """Mirror run() + step() over the window; return (events run, why it ended)."""
        engine = self.engine
        clock = engine.clock
        scheduler = engine.scheduler
        window = self.window
        ran = 0
        while window:
            # run(): the checks before each step.
            if engine.interrupted or (max_attempts is not None and engine.attempts_run >= max_attempts):
                return ran, _OUTER
            now = clock.now()
            fire = scheduler.next_at() if scheduler.next_fire else None
            if fire is not None and fire <= now:
                return ran, _OUTER  # step() fires the scheduledTrigger first
            # step(): how many may start now; when none, time moves to the first free slot.
            claimable, slot_frees_at, full = engine._free_slots(now)
            if claimable and full:
                return ran, _OUTER  # step() claims none of the full installations' events
            if not claimable:
                if slot_frees_at is None:
                    return ran, _OUTER
                clock.advance_to(slot_frees_at)
                continue
            self._scan(engine.batch)
            produced = self.produced_min
            due = 0
            while due < claimable and due < len(window) and window[due].available_at <= now:
                due += 1
            if due == claimable:
                if window[due - 1].available_at >= produced:
                    return ran, _DONE  # a new event may sort among these
            elif now >= produced or now >= self.rest_min:
                return ran, _DONE  # step() would claim a due event the window does not hold
            if due == 0:
                # step() claims nothing; run() jumps the clock to the next due event.
                next_due = window[0].available_at
                if next_due > produced or (fire is not None and fire < next_due):
                    return ran, _DONE if fire is None or fire >= next_due else _OUTER
                clock.advance_to(next_due)
                continue
            claimed = window[:due]
            del window[:due]
            if len(claimed) > 1:
                engine.rng.shuffle(claimed)
            done = engine.deliver_all(claimed, now, self._give_back)
            ran += done
            if done < len(claimed):
                return ran, _OUTER  # stopping: the rest went back to the window, released with it
        return ran, _DONE

    def _give_back(self, records: list[EventRecord]) -> None:
        """Events claimed from the window and not started: back at its front, in their order."""
        self.window[:0] = records
