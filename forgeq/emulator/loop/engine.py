"""The event loop: claim due events, invoke their handlers, apply Forge's rules, commit in batches.

One process, one loop, one clock. On the virtual clock, when nothing is due, time jumps to the
next due event, so a backlog with 900 s retries drains in seconds. Events due at the same time
run in an order shuffled by the seed (Forge delivers in parallel and unordered, Atlassian's "Async events API": at-least-once delivery).
"""

from __future__ import annotations

import functools
import gc
import heapq
import json
import os
import random
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeq.emulator import limits
from forgeq.emulator.app import sandbox
from forgeq.emulator.app.handlers import Handlers
from forgeq.emulator.app.manifest import Function, Manifest
from forgeq.emulator.ids import minted_uuid
from forgeq.emulator.loop import loads, retry, seeding, timeline
from forgeq.emulator.loop.clock import Clock, RealClock, VirtualClock, resumed_virtual_time, wall_time
from forgeq.emulator.loop.concurrency import KeyWaits
from forgeq.emulator.loop.invocation import RETURNED, Execution, Invocation, execute
from forgeq.emulator.loop.loads import LoadCrashes
from forgeq.emulator.loop.lookahead import Lookahead
from forgeq.emulator.loop.pushing import new_events
from forgeq.emulator.loop.timeline import AttemptReport, Notice, Observer
from forgeq.emulator.loop.watchdog import WATCHDOG
from forgeq.emulator.platform import queues
from forgeq.emulator.platform.entities import Entities
from forgeq.emulator.platform.event_limits import PlatformLimits
from forgeq.emulator.platform.quota import Quota
from forgeq.emulator.platform.site.limits import parse_product_limits
from forgeq.emulator.platform.site.stubs import Stubs
from forgeq.emulator.platform.storage import Storage, quota_for
from forgeq.emulator.products.schedule import META_KEY as SCHEDULE_KEY
from forgeq.emulator.products.schedule import Scheduler
from forgeq.emulator.safetext import safe_text
from forgeq.emulator.settings import DEFAULT_INSTALLATION, Settings
from forgeq.emulator.store import Store, schema
from forgeq.emulator.store.batch import AttemptRow, EventUpdate, LedgerRow, NewJob, WriteBatch
from forgeq.emulator.store.claims import WindowClaim
from forgeq.emulator.store.sqlite import EventRecord, dumps
from forgeq.emulator.wording import plural
from forgeq.jsontext import escape_surrogates, parse
from forgeq.runtime import PlatformRefusal

if TYPE_CHECKING:
    from forgeq.emulator.platform.site.service import Site

IDLE_POLL_SECONDS = 0.2


@dataclass(slots=True)
class CallPlan:
    """How the events of one queue or trigger are delivered: decided once, not per attempt."""

    function: Function
    delivery: str  # retry.CONSUMER_V1, CONSUMER_V2, TRIGGER or SCHEDULED: which rules and arguments
    method: str | None  # a v1 resolver's method
    call: Callable[..., Any]  # the handler (a resolver's entry point for plain functions)
    timeout: float | None  # timeoutSeconds, or None when timeouts are not enforced
    lane: bool  # a v2 consumer: its commonest attempts may run in deliver_all's lane


class Emulator:
    """A Forge app's async events and storage, emulated over one Store."""

    def __init__(
        self,
        manifest: Manifest,
        store: Store,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        observers: list[Observer] | None = None,
    ) -> None:
        self.manifest = manifest
        self.store = store
        self.settings = settings or Settings()
        self.clock: Clock = clock or self._default_clock()
        self.observers: list[Observer] = list(observers or [])
        self._reporting: list[Observer] = []  # the observers that take AttemptReports (_observe)
        self._every_attempt = False  # whether one of them takes the reports of plain successes too
        self._progress: list[Callable[[dict[str, int], float], None]] = []  # told the counts after each commit
        self.outcomes = dict.fromkeys(timeline.OUTCOMES, 0)  # attempts run so far, by outcome
        self.errors: dict[str | None, int] = {}  # attempts run so far that did not succeed, by error (else reason)
        # Events finished so far by (kind, final outcome, attempts): the run's summary reads them here
        # instead of joining the run's attempt rows with their events (0.25 s after a 2e5-event run).
        self.finished: dict[tuple[str, str, int], int] = {}
        # A succeeded event was delivered again (redeliver_finished): it may finish twice in one run,
        # and `finished` would count it twice, so the summary reads the state's attempt rows instead.
        self.refinished = False
        self.last_ended_at = self.clock.now()  # when the last attempt ended
        self._plans: dict[tuple[str, str], CallPlan] = {}  # per (kind, target), while handlers stay loaded
        self.batch = WriteBatch()
        self.storage = Storage(self)
        self.entities = Entities(self)  # the manifest's custom entities (platform/entities.py)
        self.quota: Quota = quota_for(self)  # settings.storage_limits (quota.py)
        self.platform = PlatformLimits(self)  # 500 pushes/min, cyclic invocations (platform_limits.py)
        # The fake Jira and Confluence behind product requests (platform/site/), made at the first
        # product request or look at it (`site`): a run whose handlers make none does not import it
        # (a fifth of `forgeq run`'s start-up).
        self._site: Site | None = None
        self._app_account_id: str | None = None
        # What the site reads when it starts, checked now as before: a bad stubs.yml or --product-limits
        # stops the run before any attempt, not at the first product request.
        Stubs.beside(manifest.path)
        parse_product_limits(self.settings.product_limits)
        self.rules = retry.RetryRules(platform_limits=self.settings.platform_limits, emulate_eco759=self.settings.emulate_eco759)
        self.handlers = Handlers(manifest)
        self.rng = random.Random(self.settings.seed)
        self.owner = f"pid {os.getpid()}"
        self.interrupted = False
        self.started = False
        self.attempts_run = 0
        self.calls_made = 0  # web trigger and UI resolver calls (calls.py)
        self.crashed: dict[int, float] = {}
        self.running_until: dict[tuple[str, str], list[float]] = {}
        self._installation_slots: dict[str, tuple[tuple[str, str]]] = {}  # _slots' answer when only the installation's slot counts
        self._install_contexts: dict[str, str] = {}  # the context's installContext ARI, per installation
        self.slot_installations = set(self.settings.installations)  # installations with a slot heap, or configured
        self.key_waits = KeyWaits(self.settings.seed, self.rules.retention_seconds)  # full concurrency keys (concurrency.py)
        self.warned: set[str] = set()
        self.scheduler = Scheduler()  # scheduledTrigger fire times (schedule.py)
        # Hooks run just before each handler call; one may return a wrapper, called as
        # wrapper(handler, *args) instead of the handler (fault injection, forgeq/emulator/tools/faults.py).
        self.before_attempt: list[Callable[[EventRecord, Invocation], Callable[..., Any] | None]] = []
        self.after_flush: list[Callable[[], None]] = []  # run after each commit of a WriteBatch
        self.late_logs: list[tuple[int, int, str]] = []  # (event, attempt, text): late_output(), written after a commit
        # Run on the loop's thread before each step, when no attempt is in flight (watch mode, watch.py).
        self.between_steps: list[Callable[[], None]] = []
        # Run while an endless run waits with nothing due, every IDLE_POLL_SECONDS (the CLI's idle banner).
        self.when_idle: list[Callable[[], None]] = []
        self.lane = True  # deliver_all's lane for the commonest attempt (off: every attempt runs in _deliver)
        self.lookahead = Lookahead(self)  # run() claims the next events in due order at once (lookahead.py)
        self.loads: LoadCrashes | None = None  # handler modules whose import killed forgeq (loads.py), from start()
        self._last_flush = wall_time()

    def _default_clock(self) -> Clock:
        if self.settings.clock == "real":
            return RealClock()
        return VirtualClock(resumed_virtual_time(self.store.get_meta("virtual_now")))

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover what a dead run left behind, then load the handlers. Idempotent."""
        if self.started:
            return
        self.started = True
        seeding.install()  # before handler modules import from `random`
        sandbox.install()  # before any handler module is imported (app/sandbox.py)
        if not self.store.in_memory:
            sandbox.keep_state_file(self.store.path)
        in_flight = self.store.flight.read() or set()  # read before reclaim_running starts a fresh log
        reclaimed, quarantined = self.store.reclaim_running(limits.QUARANTINE_AFTER_CRASHES, self.clock.now())
        if reclaimed:
            self.notify(Notice(self.clock.now(), f"recovered {plural(len(reclaimed), 'interrupted attempt')} from a run that died; they run again", "warning"))
        for seq in quarantined:
            self.notify(Notice(self.clock.now(), f"event #{seq} quarantined: in flight during {limits.QUARANTINE_AFTER_CRASHES} crashes", "error"))
        self.loads = LoadCrashes(self.store, self.manifest)
        for text in self.loads.count({mark for mark in in_flight if mark < 0}):  # a module's import killed it
            self.notify(Notice(self.clock.now(), text, "error"))
        self.loads.save()  # before importing: the same import may kill this run too
        self._load_modules()
        self.crashed = dict(self.store.crashed_pending())
        self.store.unblock()
        self._load_schedule()
        self._sync_entity_indexes()

    def _load_modules(self) -> None:
        handlers = self.handlers
        if self.loads is not None:
            handlers.skip = self.loads.left_out()
            handlers.before_import = self._importing
            handlers.after_import = self._imported
        handlers.load_all(self.manifest.loop_functions)  # the rest load when first called
        if self.loads is not None:
            self.loads.save()
        for error in handlers.errors.values():
            self.notify(Notice(self.clock.now(), f"cannot load {error.message}; its events wait", "error"))
        for warning in handlers.warnings:
            self.notify(Notice(self.clock.now(), warning, "warning"))

    def _importing(self, file: Path) -> None:
        self.store.flight.start(loads.marker(self.manifest.app_dir, file))  # a kill from here is this module's

    def _imported(self, file: Path) -> None:
        self.store.flight.release({loads.marker(self.manifest.app_dir, file)})
        if self.loads is not None:
            self.loads.survived(file)

    def reload(self) -> None:
        """Read handler modules again (watch mode); events of handlers that load now run again."""
        self.flush()
        self._load_modules_again()
        self.store.unblock()
        self._load_schedule()

    def _load_modules_again(self) -> None:
        self.handlers.unload()
        self._plans.clear()  # they hold the old modules' functions
        self.handlers = Handlers(self.manifest)
        gc.collect()  # a module's functions and its globals form cycles: free what they held now
        self._load_modules()

    def _fresh_runtime(self) -> None:
        """A handler ran out of memory: Forge ends that runtime and the next invocation starts a fresh
        one, so the app's modules load again here too, and what their globals held is freed."""
        self.notify(Notice(self.clock.now(), "a handler ran out of memory: the app's modules load again, as in Forge's fresh runtime", "warning"))
        self._load_modules_again()

    @property
    def site(self) -> Site:
        if self._site is None:
            from forgeq.emulator.platform.site.service import Site

            self._site = Site(self)
        return self._site

    @property
    def app_account_id(self) -> str:
        """The app's own account id: what ignoreSelf filters compare with."""
        if self._app_account_id is None:
            from forgeq.emulator.products.payloads import app_account_id

            self._app_account_id = app_account_id(self.manifest.app_id)
        return self._app_account_id

    def redeliver_finished(self, event: int, at: float) -> bool:
        """Deliver a succeeded event again at `at` (Store.redeliver_finished); False if it is not one."""
        again = self.store.redeliver_finished(event, at)
        self.refinished = self.refinished or again
        return again

    def replace_manifest(self, manifest: Manifest) -> None:
        """Run a changed manifest from now on (watch mode): its functions, consumers and triggers."""
        self.manifest = manifest
        self._app_account_id = None
        if self._site is not None:
            self._site.manifest_changed()
        self.warned.clear()
        self.reload()
        self._sync_entity_indexes()

    def _sync_entity_indexes(self) -> None:
        """Build the SQLite index of each custom entity index the manifest declares and the state lacks."""
        self.flush()
        built = self.entities.sync_indexes()
        if built:
            self.notify(Notice(self.clock.now(), f"built custom entity {'index' if len(built) == 1 else 'indexes'} {', '.join(built)} in the state file", "info"))

    def notify(self, notice: Notice) -> None:
        for observer in self.observers:
            observer.notice(notice)

    def _observe(self) -> None:
        """Sort the observers (checked as a run or a step starts): AttemptReports are made only for
        those that take them; the others (`--json`'s notices, the live status) read `outcomes` at each commit."""
        self._reporting = [o for o in self.observers if getattr(o, "wants_attempts", True)]
        self._every_attempt = any(getattr(o, "wants_successes", True) for o in self._reporting)
        self._progress = [o.progress for o in self.observers if isinstance(o, timeline.ProgressObserver)]

    # -- pushing from outside (testing API; the CLI uses the store directly) --------------------------

    def push(self, queue: str, events: Any, installation: str = DEFAULT_INSTALLATION, origin: str = "api") -> str:
        """Push like `Queue(key=queue).push(events)` from outside any invocation; commits at once."""
        from forgeq.events import refused, validated_push

        batch, given = validated_push(events)
        try:
            batch, texts = queues.published(self.manifest, queue, batch, texts=given)
        except PlatformRefusal as refusal:
            raise refused(refusal) from None
        pending = self.batch
        if pending.jobs or pending.new_events or pending.succeeded or pending.updates or pending.attempts or pending.kv_writes or pending.ledger or pending.quota:
            self.flush()  # the loop's writes first; the clock alone (meta) can wait for the next commit
        job_id, _ = self.store.push_job(queue, installation, self.clock.now(), origin, new_events(queue, batch, installation=installation, now=self.clock.now(), job_id=None, texts=texts))
        return job_id

    def push_from_handler(
        self, invocation: Invocation, queue: Any, events: Any, job_id: str | None = None, *, v1: bool = False, texts: list[str] | None = None
    ) -> str:
        """A publish request from a handler: the platform's checks, its limits, then the events (PlatformRefusal)."""
        events, texts = queues.published(self.manifest, queue, events, any_body=v1, texts=texts)
        self.platform.check_push(invocation, len(events))
        now = invocation.now()
        invocation.pushes += 1
        # The jobId @forge/events mints (crypto.randomUUID(), seeded per attempt as the worker seeds it).
        job_id = job_id or minted_uuid(invocation.seed(), invocation.pushes)
        self.batch.jobs.append(NewJob(job_id, invocation.installation, queue, now, "handler"))
        self.batch.new_events.extend(
            new_events(queue, events, installation=invocation.installation, now=now, job_id=job_id, root_id=invocation.root, parent_id=invocation.event, texts=texts)
        )
        if self.manifest.consumer_for(queue) is None and queue not in self.warned:
            self.warned.add(queue)
            self.notify(Notice(now, f"pushed to queue '{queue}', which no consumer listens on; its events wait", "warning"))
        return job_id

    def job_stats(self, queue: Any, job_id: Any, installation: str) -> dict[str, int]:
        """`{success, inProgress, failed}` of a job; PlatformRefusal (404) for a job the queue does not have."""
        queues.check_job(queue, job_id)
        self.flush()
        job = self.store.job(job_id)
        if job is None or job["queue"] != queue or job["installation"] != installation:
            raise PlatformRefusal(404, {"message": f"The job {job_id} was not found for the queue {queue}."})
        counts = self.store.job_state_counts(job_id)
        return {
            "success": counts.get(schema.SUCCEEDED, 0),
            "inProgress": counts.get(schema.PENDING, 0) + counts.get(schema.RUNNING, 0) + counts.get(schema.BLOCKED, 0),
            "failed": counts.get(schema.DROPPED, 0),
        }

    def cancel_job(self, queue: Any, job_id: Any, installation: str) -> None:
        self.lookahead.release()  # leased events not started are PENDING to Forge: the cancel reaches them
        self.job_stats(queue, job_id, installation)  # the same 404 as Forge for an unknown job
        self.store.cancel_job(job_id, self.clock.now())

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, *, until_idle: bool = True, stop_at: float | None = None, max_attempts: int | None = None) -> None:
        """Deliver events until idle (or, with until_idle=False, until interrupted), or until `stop_at`.

        Scheduled triggers fire when their time comes while events are queued or a stop time is
        set; with nothing queued, until_idle stops (future scheduled runs are ignored) and an
        endless run waits, its virtual clock following the wall clock meanwhile so scheduled
        triggers keep their real rhythm instead of racing ahead (docs/fidelity.md).
        """
        self.start()
        self._observe()
        try:
            with self._timeouts():
                self._run(until_idle, stop_at, max_attempts)
        finally:
            self.lookahead.release()  # leased, not started: back untouched, whatever ended the run
            self.flush()

    def _timeouts(self) -> AbstractContextManager[None]:
        """The timeout watchdog's guard for a run or a step (watchdog.py), when timeouts are enforced."""
        return WATCHDOG.guard() if self.settings.enforce_timeouts else nullcontext()

    def _run(self, until_idle: bool, stop_at: float | None, max_attempts: int | None) -> None:
        while not self.interrupted:
            for hook in self.between_steps:
                hook()
            if max_attempts is not None and self.attempts_run >= max_attempts:
                break
            if self.lookahead.step(stop_at, max_attempts) or self.step():
                continue
            self.flush()
            queued = self._next_queued_at()
            fire = self.scheduler.next_at()
            if queued is None and (fire is None or stop_at is None):
                if until_idle:
                    break
                if stop_at is not None and (self.clock.virtual or self.clock.now() >= stop_at):
                    self.clock.advance_to(stop_at)
                    break
                for hook in self.when_idle:
                    hook()
                self.clock.wait(IDLE_POLL_SECONDS)
                if fire is not None and self.clock.virtual:
                    self.clock.advance_to(min(fire, self.clock.now() + IDLE_POLL_SECONDS))
                continue
            next_due = min(t for t in (queued, fire) if t is not None)
            if stop_at is not None and next_due > stop_at:
                if self.clock.virtual or self.clock.now() >= stop_at:
                    self.clock.advance_to(stop_at)
                    break
                next_due = stop_at
            if self.clock.virtual:
                self.clock.advance_to(next_due)
            else:
                self.clock.advance_to(min(next_due, self.clock.now() + IDLE_POLL_SECONDS))

    def next_due_at(self) -> float | None:
        """The next time something is due: a queued event or a scheduled trigger's run."""
        queued, fire = self._next_queued_at(), self.scheduler.next_at()
        return fire if queued is None else queued if fire is None else min(queued, fire)

    def _next_queued_at(self) -> float | None:
        """When a queued event can next start: the earliest due time, except that the events of an
        installation whose invocation slots are all taken wait, in due order, for the first to free."""
        queued = self.store.next_due_at()
        now = self.clock.now()
        if queued is None or queued > now:
            return queued
        full = self._free_slots(now)[2]
        if not full:
            return queued
        times = [self.store.next_due_at(exclude_installations=tuple(full))]
        for installation, frees_at in full.items():
            due = self.store.next_due_at(installation=installation)
            times.append(None if due is None else max(due, frees_at))
        return min((t for t in times if t is not None), default=None)

    def _load_schedule(self) -> None:
        now = self.clock.now()
        kind = "virtual" if self.clock.virtual else "real"
        reset = self.scheduler.load(self.manifest, self.settings.installations, self.store.get_meta(SCHEDULE_KEY), now, kind)
        if reset is not None:
            keys = ", ".join(sorted(self.scheduler.next_fire))
            why = "scheduledTrigger modules changed, so every start time resets as on a Forge deploy; " if reset == "changed" else ""
            text = f"{why}scheduled triggers ({keys}) start: first run {limits.SCHEDULED_FIRST_RUN_SECONDS:g} s from now, then every interval"
            self.notify(Notice(now, text, "warning" if reset == "changed" else "info"))
        self.batch.meta[SCHEDULE_KEY] = self.scheduler.dumps()

    def _fire_schedule(self, now: float) -> None:
        for fired in self.scheduler.fire(now, self.batch):
            if fired.skipped:
                self.notify(Notice(fired.at, f"scheduledTrigger '{fired.key}': {plural(fired.skipped, 'missed run')} coalesced into this one", "warning"))

    def step(self) -> int:
        """Claim the events due now and run one attempt of each; return how many ran."""
        self._observe()
        with self._timeouts():
            return self._step()

    def _step(self) -> int:
        now = self.clock.now()
        if self.scheduler.next_fire:
            self._fire_schedule(now)
        claimable, slot_frees_at, full = self._free_slots(now)
        if not claimable:
            if slot_frees_at is None or self.store.next_due_at() is None:
                return 0
            self.clock.advance_to(slot_frees_at)  # every installation is busy: time moves to the first free slot
            return self._step()
        claimed = self._claim(now, claimable, tuple(full))
        if not claimed:
            return 0
        if len(claimed) > 1:
            self.rng.shuffle(claimed)
        self.deliver_all(claimed, now, self._release, limits.WINDOW_EVENTS)
        if len(claimed) == 1 and claimed[0].redelivered:
            self.flush()  # an event that was in flight at a crash commits alone, so a repeat crash names it
        return len(claimed)

    def _release(self, records: list[EventRecord]) -> None:
        """Give back claimed events that did not start: PENDING as before, no attempt, no crash counted."""
        self.batch.released.extend(r.id for r in records)

    def _claim(self, now: float, limit: int, busy: tuple[str, ...] = ()) -> list[EventRecord]:
        """Lease up to `limit` events due at `now`, none of the `busy` installations (no free slot).

        The acknowledgements so far are committed first only when the claim could see a difference:
        an event they make waiting is due by `now`, or events given back must be claimable again.
        Otherwise the claim finds the same events either way (acknowledged ones are still leased
        until their commit), and the commit waits for up to `limits.WINDOW_EVENTS` attempts, as in
        the look-ahead window: at a 1e5 backlog over ten installations, half the attempts run in
        plain steps, and a commit per step of 50 cost a fifth of the drain (bench/README.md).
        """
        if self.batch.released or self.batch.waiting_due_by(now):
            self.flush()
        for seq, due in sorted(self.crashed.items(), key=lambda item: (item[1], item[0])):
            if due <= now:
                claimed = self.store.claim_ids([seq], self.owner)
                del self.crashed[seq]
                if claimed:
                    return claimed
        return self.store.claim_due(now, limit, self.owner, exclude_crashed=bool(self.crashed), exclude_installations=busy)

    def flush(self, claim: WindowClaim | None = None) -> None:
        """Commit what the attempts so far did (acknowledgements, KVS writes, pushes)."""
        self._last_flush = wall_time()
        if self.clock.virtual:
            self.batch.meta["virtual_now"] = repr(self.clock.now())
        if self.batch.is_empty() and claim is None:
            self._write_late_output()
            return
        batch, self.batch = self.batch, WriteBatch()
        self.lookahead.note_flush(batch)
        self.store.commit(batch, claim)
        self._write_late_output()
        for after in self.after_flush:
            after()
        for progress in self._progress:
            progress(self.outcomes, self.last_ended_at)

    def late_output(self, invocation: Invocation, text: str) -> None:
        """What an attempt's leftover JavaScript work printed or tried after the attempt ended: shown
        now, and added to that attempt's logs once its row is committed (docs/fidelity.md)."""
        first = text.strip().splitlines()[0] if text.strip() else ""
        where = f"event #{invocation.event} attempt {invocation.attempt}" if invocation.event is not None else "an invocation"
        self.notify(Notice(self.clock.now(), f"{where} left work that ran after it ended: {first[:200]}", "warning"))
        if invocation.event is not None:
            self.late_logs.append((invocation.event, invocation.attempt, f"[forgeq: after this attempt ended]\n{text}"))

    def _write_late_output(self) -> None:
        if self.late_logs:
            self.store.append_attempt_logs(self.late_logs)
            self.late_logs = []

    # -- the events claimed at one instant -------------------------------------------------------------

    def deliver_all(
        self, claimed: list[EventRecord], now: float, give_back: Callable[[list[EventRecord]], None], ack_limit: int | None = None
    ) -> int:
        """Run one attempt of each claimed event at `now`, in order; return how many ran.

        Stopping (Ctrl-C) gives back the events not started; a second Ctrl-C raises after giving
        back those after the attempt in flight. The batch is committed every `ack_batch_seconds` of
        wall time, or once it acknowledges `ack_limit` events.

        The commonest attempt, a v2 consumer's plain-function handler returning without a word on an
        event with no retry and no concurrency key, runs here on the loop's own locals (the lane);
        every other attempt, and any the lane meets something unusual in, runs in `_deliver`.
        tests/test_performance_loop.py runs the same scenarios both ways and compares the state files.
        """
        plans = self._plans
        settings = self.settings
        ack_seconds = settings.ack_batch_seconds
        store = self.store
        lane = self.lane and self.clock.virtual and not (self.before_attempt or self._every_attempt or store.crash is not None)
        if lane:
            base_seconds, call_seconds, cap = settings.invocation_seconds, settings.storage_call_seconds, settings.concurrency
            seed = settings.seed
            running, only_slots, contexts = self.running_until, self._installation_slots, self._install_contexts
            key_waits, flight = self.key_waits, store.flight
            noted = seeding.NOTED
            outcomes, finished = self.outcomes, self.finished
            heappush = heapq.heappush
        ran = 0
        for index, record in enumerate(claimed):
            if self.interrupted and index:
                give_back(claimed[index:])  # stopping: leases not started go back untouched
                return ran
            try:
                plan = plans.get((record.kind, record.target)) if lane else None
                if plan is None or not plan.lane or record.retry_count or record.redelivered or record.extra is not None:
                    self._deliver(record, now)
                else:
                    # _deliver, _slots, _arguments and execute's caller, for the lane's attempt.
                    start = record.available_at if record.available_at > now else now
                    installation = record.installation
                    slot: tuple[str, str] | None = None
                    full = False
                    if cap > 0:
                        only = only_slots.get(installation)
                        if only is None:
                            only = only_slots[installation] = ((installation, ""),)
                        slot = only[0]
                        ends = running.get(slot)
                        if ends and len(ends) >= cap and self._full_until(slot, cap, start) is not None:
                            self._deliver(record, now)  # the installation's slots are full: delayed there
                            full = True
                    if not full:
                        attempt = record.attempts + 1
                        invocation = Invocation(self, installation, record.id, record.root_id, start, attempt)
                        if key_waits.waiting and (waited := key_waits.started(record.id, start)) is not None:
                            invocation.notes.append(waited)
                        try:
                            body = parse(record.body)
                        except (ValueError, RecursionError) as error:
                            self._undecodable(record, start, error)
                            body = _UNDELIVERABLE
                        if body is not _UNDELIVERABLE:
                            context = contexts.get(installation)
                            if context is None:
                                context = contexts[installation] = f"ari:cloud:jira::site/{installation}"
                            event = {"body": body, "queueName": record.target, "jobId": record.job_id, "eventId": record.event_id}
                            noted.attempt = (seed, record.id, attempt)
                            flight.start(record.id)
                            execution = execute(plan.call, (event, {"installContext": context, "installation": {"id": installation}, "environmentType": "DEVELOPMENT"}), invocation, plan.timeout)
                            self.attempts_run += 1
                            if execution.result is RETURNED and not (invocation.notes or execution.logs):
                                ended = start + base_seconds + invocation.storage_calls * call_seconds + invocation.extra_seconds
                                if slot is not None:
                                    ends = running.get(slot)
                                    if ends is None:
                                        ends = running[slot] = []
                                        self.slot_installations.add(installation)
                                    heappush(ends, ended)
                                self.last_ended_at = ended
                                batch = self.batch
                                batch.succeeded.append((attempt, ended, record.id))
                                batch.attempts.append((record.id, attempt, start, ended, invocation.quota_refusals, invocation.storage_calls, execution.wall_ms))
                                outcomes[timeline.SUCCEEDED] += 1
                                done = (record.kind, timeline.SUCCEEDED, attempt)
                                finished[done] = finished.get(done, 0) + 1
                            elif self._settle(record, plan, invocation, execution, start, () if slot is None else (slot,)):
                                del plan, execution  # this frame's references to the app's module, so it can be freed
                                self._fresh_runtime()
            except BaseException:  # a second Ctrl-C: the attempt in flight is redelivered, the rest given back
                give_back(claimed[index + 1 :])
                raise
            ran += 1
            if (ack_limit is not None and self.batch.acknowledged() >= ack_limit) or wall_time() - self._last_flush >= ack_seconds:
                self.flush()
        return ran

    # -- one delivery --------------------------------------------------------------------------------

    def _deliver(self, record: EventRecord, now: float) -> None:
        plan = self._plans.get((record.kind, record.target))
        if plan is None:
            if record.kind == "product":
                self._fan_out(record, now)
                return
            plan = self._plan(record, now)
            if plan is None:
                return
        virtual = self.clock.virtual
        start = max(now, record.available_at) if virtual else self.clock.now()
        slots = self._slots(record, start)
        if slots is None:
            return
        attempt = record.attempts + 1
        invocation = Invocation(self, record.installation, record.id, record.root_id, start, attempt)
        if self.key_waits.waiting and (waited := self.key_waits.started(record.id, start)) is not None:
            invocation.notes.append(waited)
        try:
            args = self._arguments(record, plan.delivery, plan.method)
        except (ValueError, RecursionError) as error:
            self._undecodable(record, start, error)
            return
        seeding.NOTED.attempt = (self.settings.seed, record.id, attempt)  # seeding.seed_next, inlined: Invocation.seed()'s string
        call = plan.call
        if self.before_attempt:
            for hook in self.before_attempt:
                wrapper = hook(record, invocation)
                if wrapper is not None:
                    call = functools.partial(wrapper, call)
        store = self.store
        store.flight.start(record.id)  # from here a crash interrupts this attempt (store/flight.py)
        execution = execute(call, args, invocation, plan.timeout)
        if store.crash is not None:
            store.crash.hit("attempt")  # FORGEQ_CRASH_AT=attempt:N (the crash harness)
        self.attempts_run += 1
        if self._settle(record, plan, invocation, execution, start, slots):
            del plan, call, execution  # this frame's references to the app's module, so it can be freed
            self._fresh_runtime()

    def _settle(
        self, record: EventRecord, plan: CallPlan, invocation: Invocation, execution: Execution, start: float, slots: Sequence[tuple[str, str]]
    ) -> bool:
        """What an attempt that ran did: its end on the clock, its slots, its rows and reports. True
        when it ran out of memory: the caller lets go of the app's functions, then loads them again
        (_fresh_runtime)."""
        virtual = self.clock.virtual
        attempt = invocation.attempt
        result = execution.result
        if result is RETURNED and virtual:
            settings = self.settings
            ended = start + settings.invocation_seconds + invocation.storage_calls * settings.storage_call_seconds + invocation.extra_seconds
        elif result.kind == "timeout":
            ended = start + plan.function.timeout_seconds
        elif virtual:
            settings = self.settings
            ended = start + settings.invocation_seconds + invocation.storage_calls * settings.storage_call_seconds + invocation.extra_seconds
        else:
            ended = self.clock.now()
        for slot in slots:
            ends = self.running_until.get(slot)
            if ends is None:
                ends = self.running_until[slot] = []
            heapq.heappush(ends, ended)
            if not slot[1]:
                self.slot_installations.add(slot[0])
        self.last_ended_at = ended
        if result is RETURNED and not (invocation.notes or record.redelivered or execution.logs or self._every_attempt):
            # The commonest attempt, written as two tuples: no Decision, no AttemptRow, no report.
            batch = self.batch
            batch.succeeded.append((attempt, ended, record.id))
            if record.retry_count:
                batch.attempts.append(AttemptRow(
                    record.id, attempt, record.retry_count, start, ended, timeline.SUCCEEDED, None, None, None, None, None,
                    _retry_context(record), invocation.quota_refusals, invocation.storage_calls, None, None, execution.wall_ms,
                ))  # fmt: skip
            else:
                batch.attempts.append((record.id, attempt, start, ended, invocation.quota_refusals, invocation.storage_calls, execution.wall_ms))
            self.outcomes[timeline.SUCCEEDED] += 1
            finished = (record.kind, timeline.SUCCEEDED, attempt)
            self.finished[finished] = self.finished.get(finished, 0) + 1
            return False
        self._end_attempt(record, plan.delivery, invocation, execution, start, ended)
        return result.kind == "out-of-memory"

    def _undecodable(self, record: EventRecord, at: float, error: ValueError | RecursionError) -> None:
        """A stored body nested deeper than forgeq can decode: undeliverable."""
        self._undeliverable(record, at, f"forgeq cannot decode the event ({type(error).__name__}: {safe_text(str(error), limits.MAX_QUOTED_CHARS)})")

    def _undeliverable(self, record: EventRecord, at: float, why: str) -> None:
        """An event no handler can be given: dropped to the ledger (replayable), never retried."""
        self.batch.updates.append(EventUpdate.unstarted(record, schema.DROPPED, record.available_at, at, why))
        self.batch.ledger.append(LedgerRow(record.id, at, "undeliverable", why, _retry_context(record)))
        self.notify(Notice(at, f"event #{record.id} dropped: {why}", "error"))

    def _plan(self, record: EventRecord, now: float) -> CallPlan | None:
        """How the events of the record's (kind, target) are delivered, or None once it is blocked.

        Decided once per target while the manifest and the handlers stay as they are (reload()
        forgets the plans), instead of looking up consumer, function and handler per attempt.
        """
        route = self._route(record)
        if route is None:
            return None
        function, delivery, method = route
        handler = self.handlers.get(function.key)
        if handler is None:
            failure = self.handlers.errors.get(function.key)
            self._block(record, f"cannot load {failure.message}" if failure else f"handler of function '{function.key}' cannot be loaded")
            return None
        plan = CallPlan(
            function,
            delivery,
            method,
            getattr(handler.call, "forge_call", handler.call),  # a resolver: its plain functions run without an event loop
            function.timeout_seconds if self.settings.enforce_timeouts else None,
            delivery == retry.CONSUMER_V2,
        )
        self._plans[(record.kind, record.target)] = plan
        return plan

    def _route(self, record: EventRecord) -> tuple[Function, str, str | None] | None:
        """(function, delivery kind, resolver method) for the event, or None once it is blocked."""
        manifest = self.manifest
        if record.kind == "queue":
            consumer = manifest.consumer_for(record.target)
            if consumer is None:
                self._block(record, f"no consumer listens on queue '{record.target}'")
                return None
            delivery = retry.CONSUMER_V1 if consumer.version == 1 else retry.CONSUMER_V2
            key, method = consumer.function, consumer.method
        elif record.kind == "trigger":
            trigger = next((t for t in manifest.triggers if t.key == record.target), None)
            if trigger is None:
                self._block(record, f"no trigger module '{record.target}' in the manifest")
                return None
            delivery, key, method = retry.TRIGGER, trigger.function, None
        elif record.kind == "scheduled":
            scheduled = next((s for s in manifest.scheduled_triggers if s.key == record.target), None)
            if scheduled is None:
                self._block(record, f"no scheduledTrigger module '{record.target}' in the manifest")
                return None
            delivery, key, method = retry.SCHEDULED, scheduled.function, None
        else:
            self._block(record, f"unknown event kind '{record.kind}'")
            return None
        function = manifest.functions.get(key)
        if function is None:
            self._block(record, f"function '{key}' is not in the manifest")
            return None
        return function, delivery, method

    def _block(self, record: EventRecord, why: str) -> None:
        self.batch.updates.append(EventUpdate.unstarted(record, schema.BLOCKED, record.available_at, None, why))
        if why not in self.warned:
            self.warned.add(why)
            # Stamped now, when the loop found it: the event's due time may be long past.
            self.notify(Notice(self.clock.now(), f"{why}: its events wait (they run once it is fixed)", "warning"))

    def _slots(self, record: EventRecord, start: float) -> Sequence[tuple[str, str]] | None:
        """The invocation slots the attempt takes, or None when one is full and the event was delayed.

        Two kinds of slot, both on the virtual clock: the installation's `settings.concurrency`
        (forgeq's model of Forge running a backlog in parallel, docs/fidelity.md), whose full slot
        delays the event to when one frees, and Forge's concurrency keys (Atlassian's "Concurrency" page for async events; docs/fidelity.md), whose full slot
        makes the event wait with Forge's internal backoff (concurrency.py). No retry used.
        """
        extra = record.extra
        if not extra or '"concurrency"' not in extra:  # the installation's slot alone (or no slot at all)
            cap = self.settings.concurrency if self.clock.virtual else 0
            if cap <= 0:
                return ()
            only = self._installation_slots.get(record.installation)
            if only is None:
                only = self._installation_slots[record.installation] = ((record.installation, ""),)
            ends = self.running_until.get(only[0])
            if not ends or len(ends) < cap or self._full_until(only[0], cap, start) is None:
                return only
        slots: list[tuple[str, str]] = []
        limits_by_slot: list[tuple[tuple[str, str], int]] = []
        if self.settings.concurrency > 0 and self.clock.virtual:
            limits_by_slot.append(((record.installation, ""), self.settings.concurrency))
        if record.extra and '"concurrency"' in record.extra:
            concurrency = json.loads(record.extra).get("concurrency")
            key = concurrency.get("key") if isinstance(concurrency, dict) else None
            limit = concurrency.get("limit") if isinstance(concurrency, dict) else None
            if isinstance(key, str) and key and isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1:
                limits_by_slot.append(((record.installation, "key:" + key), limit))
            elif (warning := f"concurrency {json.dumps(concurrency)} ignored: it needs a key (a non-empty string) and a limit (an integer of 1 or more); @forge/events does not check it on push") not in self.warned:
                self.warned.add(warning)
                self.notify(Notice(start, f"event #{record.id}: {warning}", "warning"))
        for slot, limit in limits_by_slot:
            free_at = self._full_until(slot, limit, start)
            if free_at is None:
                slots.append(slot)
                continue
            if slot[1]:  # a concurrency key
                deferral = self.key_waits.defer(record.id, slot[1][len("key:") :], limit, start, record.enqueued_at)
                if deferral.drop_reason is not None:
                    self.batch.updates.append(EventUpdate.unstarted(record, schema.DROPPED, record.available_at, start, record.last_error))
                    self.batch.ledger.append(LedgerRow(record.id, start, deferral.drop_reason, record.last_error, _retry_context(record)))
                    self.notify(Notice(start, f"event #{record.id} dropped ({deferral.waited}): {deferral.drop_reason}", "error"))
                    return None
                free_at = deferral.next_at
            self.batch.updates.append(EventUpdate.unstarted(record, schema.PENDING, free_at, None, record.last_error))
            return None
        return slots

    def _full_until(self, slot: tuple[str, str], limit: int, at: float) -> float | None:
        """When the first invocation in `slot` ends, if `limit` of them are running at `at`."""
        ends = self.running_until.get(slot)
        if not ends:
            return None
        while ends and ends[0] <= at:
            heapq.heappop(ends)
        return ends[0] if len(ends) >= limit else None

    def _free_slots(self, now: float) -> tuple[int, float | None, dict[str, float]]:
        """(claimable now, when a slot frees, {installation with every slot taken: when one frees}).

        The loop claims no more than the installations can start, and none of a full installation's
        events: they wait in due order (re-delaying them one claim at a time made a backlog on one
        installation quadratic while another had free slots).
        """
        cap = self.settings.concurrency
        if cap <= 0 or not self.clock.virtual:
            return self.settings.ack_batch_events, None, {}
        running = self.running_until
        free = 0
        first_end: float | None = None
        full: dict[str, float] = {}
        for installation in self.slot_installations:  # _full_until inlined: once per instant and installation
            ends = running.get((installation, ""))
            if not ends:
                free += cap
                continue
            while ends and ends[0] <= now:
                heapq.heappop(ends)
            if len(ends) < cap:
                free += cap - len(ends)
                continue
            full[installation] = busy_until = ends[0]
            if first_end is None or busy_until < first_end:
                first_end = busy_until
        return min(free, self.settings.ack_batch_events), first_end, full

    def _arguments(self, record: EventRecord, delivery: str, method: str | None) -> tuple[Any, ...]:
        body = parse(record.body)
        install_context = self._install_contexts.get(record.installation)
        if install_context is None:
            install_context = self._install_contexts[record.installation] = f"ari:cloud:jira::site/{record.installation}"
        context = {
            "installContext": install_context,
            "installation": {"id": record.installation},
            "environmentType": "DEVELOPMENT",
        }
        retry_context = None
        if record.retry_count:
            retry_context = {
                "retryCount": record.retry_count,
                "retryReason": record.retry_reason,
                "retryData": parse(record.retry_data) if record.retry_data else None,
            }
        if delivery == retry.CONSUMER_V1:
            payload = body
            if retry_context is not None and isinstance(payload, dict):
                payload = {**payload, "retryContext": retry_context}
            call = {"functionKey": method, "payload": payload, "jobId": record.job_id}
            # The backend runtime payload: @forge/resolver takes installContext, installation, the
            # principal's accountId and license from it (an async event has no user; a development
            # environment has no license).
            runtime_payload = {"installContext": context["installContext"], "installation": context["installation"]}
            return ({"call": call, "context": {**context, "jobId": record.job_id}}, runtime_payload)
        if delivery == retry.CONSUMER_V2:
            event: dict[str, Any] = {"body": body, "queueName": record.target, "jobId": record.job_id, "eventId": record.event_id}
            if record.extra:
                event.update(parse(record.extra))
            if retry_context is not None:
                elapsed = (self.clock.now() - record.enqueued_at) * 1000
                retry_context["retentionWindow"] = {
                    "startTime": _iso(record.enqueued_at),
                    "remainingTimeMs": max(0, int(self.rules.retention_seconds * 1000 - elapsed)),
                }
                event["retryContext"] = retry_context
            return (event, context)
        if delivery == retry.TRIGGER:
            if retry_context is not None and isinstance(body, dict):
                body = {**body, "retryContext": retry_context}
            return (body, context)
        return (body, {**context, "principal": None})

    def _end_attempt(self, record: EventRecord, delivery: str, invocation: Invocation, execution: Any, start: float, ended: float) -> None:
        result = execution.result
        body_bytes = len(record.body) if record.body.isascii() else len(record.body.encode())
        try:
            decision = retry.decide(delivery, result, retry_count=record.retry_count, ended_at=ended, enqueued_at=record.enqueued_at, body_bytes=body_bytes, rules=self.rules)
        except Exception as odd:  # noqa: BLE001 - what the handler did fits no rule: its attempt fails, the loop goes on
            if os.environ.get("FORGEQ_DEBUG"):
                raise
            result = retry.Result("raised", error=f"forgeq could not take what the handler did: {type(odd).__name__}: {safe_text(str(odd), limits.MAX_QUOTED_CHARS)}")
            decision = retry.decide(delivery, result, retry_count=record.retry_count, ended_at=ended, enqueued_at=record.enqueued_at, body_bytes=body_bytes, rules=self.rules)
        notes = [escape_surrogates(note) for note in invocation.notes + decision.notes]  # a handler's text may hold a lone surrogate
        refused = None
        if invocation.requests:  # it made product requests: the site is loaded
            from forgeq.emulator.platform.site.service import site_refusal

            refused = site_refusal(invocation.requests, decision.retry_after_asked, decision.retry_after_applied, result.kind not in ("retry-request", "returned"))
        if refused is not None and refused.note is not None:
            notes.append(refused.note)
        if record.redelivered:
            notes.insert(0, "redelivered: in flight when forgeq was killed or crashed, so it runs again (no retry used)")
        attempt = record.attempts + 1
        outcome = _outcome(result.kind, decision.outcome)
        retry_context = _retry_context(record)
        error = result.error
        if decision.outcome == retry.RETRY:
            assert decision.next_at is not None
            update = EventUpdate(record.id, schema.PENDING, decision.next_at, attempt, record.retry_count + 1, decision.reason, decision.retry_data_json, None, error)
        elif decision.outcome == retry.SUCCEEDED:
            update = EventUpdate(record.id, schema.SUCCEEDED, record.available_at, attempt, record.retry_count, record.retry_reason, record.retry_data, ended, None)
        else:
            last_error = error or (f"returned InvocationError ({decision.reason})" if result.kind == "retry-request" else None)
            if refused is not None and last_error is not None:
                last_error += f"; {refused.last}"
            update = EventUpdate(record.id, schema.DROPPED, record.available_at, attempt, record.retry_count, record.retry_reason, record.retry_data, ended, last_error)
            self.batch.ledger.append(LedgerRow(record.id, ended, decision.drop_reason or decision.outcome, last_error, retry_context))
        self.batch.updates.append(update)
        logs = execution.logs
        self.batch.attempts.append(
            AttemptRow(
                record.id, attempt, record.retry_count, start, ended, outcome, decision.reason, error,
                decision.retry_after_asked, decision.retry_after_applied, decision.next_at, retry_context,
                invocation.quota_refusals, invocation.storage_calls, "\n".join(notes) or None, logs or None, execution.wall_ms,
            )
        )  # fmt: skip
        self.outcomes[outcome] += 1
        if outcome in _FINAL:
            finished = (record.kind, outcome, attempt)
            self.finished[finished] = self.finished.get(finished, 0) + 1
        if outcome != timeline.SUCCEEDED:
            cause = error if error is not None else decision.reason
            self.errors[cause] = self.errors.get(cause, 0) + 1
        if self._reporting:
            report = AttemptReport(
                record.id, record.event_id, record.installation, record.kind, record.target, record.job_id, attempt, record.retry_count,
                start, ended, outcome, decision.reason, error, decision.retry_after_asked, decision.retry_after_applied,
                decision.next_at, decision.drop_reason, invocation.quota_refusals, invocation.storage_calls, notes, logs,
                bool(record.redelivered), execution.wall_ms, invocation.requests,
            )  # fmt: skip
            for observer in self._reporting:
                observer.attempt(report)

    def _fan_out(self, record: EventRecord, now: float) -> None:
        """A product event reaches each subscribed trigger whose filters let it through (fanout.py)."""
        from forgeq.emulator.products import fanout

        payload = json.loads(record.body)
        routes = fanout.deliveries(self.manifest, record.target, payload, self.app_account_id)
        filtered: list[str] = []
        for route in routes:
            key, verdict = route.trigger.key, route.verdict
            for unchecked in verdict.unchecked:
                if (warning := f"trigger '{key}': {unchecked}; forgeq delivers without this check") not in self.warned:
                    self.warned.add(warning)
                    self.notify(Notice(now, warning, "warning"))
            if not verdict.delivered:
                filtered.append(f"trigger '{key}' filtered it out: {verdict.reason}")
                self.notify(Notice(now, f"product event #{record.id} ({record.target}) filtered out for trigger '{key}': {verdict.reason}"))
                continue
            for note in verdict.notes:
                self.notify(Notice(now, f"product event #{record.id} ({record.target}) delivered to trigger '{key}': {note}"))
            self.batch.new_events.extend(
                new_events(key, [{"body": payload}], installation=record.installation, now=now, job_id=None, kind="trigger", root_id=record.root_id, parent_id=record.id)
            )
        if not routes and record.target not in self.warned:
            self.warned.add(record.target)
            self.notify(Notice(now, f"no trigger subscribes to {record.target}; those events are not delivered", "warning"))
        self.batch.updates.append(EventUpdate(record.id, schema.FANNED_OUT, record.available_at, 0, 0, None, None, now, "; ".join(filtered) or None))


_REASON_JSON: dict[str | None, str] = {None: "null"}
_UNDELIVERABLE = object()  # deliver_all's lane: the body could not be decoded
_FINAL = frozenset((timeline.SUCCEEDED, timeline.DROPPED, timeline.LOST))  # an attempt that ends its event


def _retry_context(record: EventRecord) -> str | None:
    """The retryContext the event's next attempt carries (JSON), or None before its first retry.

    Written out, not parsed and dumped again: retry_data is stored as compact JSON already (the
    same text `dumps` of the dict gives; tests/test_performance_loop.py compares them).
    """
    if not record.retry_count:
        return None
    reason = _REASON_JSON.get(record.retry_reason)
    if reason is None:
        reason = dumps(record.retry_reason)
        if len(_REASON_JSON) < 64:  # the codes a run uses are few; a handler's own strings are not cached past that
            _REASON_JSON[record.retry_reason] = reason
    return f'{{"retryCount":{record.retry_count},"retryReason":{reason},"retryData":{record.retry_data or "null"}}}'


def _outcome(result_kind: str, decision: str) -> str:
    if decision == retry.DROPPED:
        return "dropped"
    if decision == retry.LOST:
        return "lost"
    if decision == retry.SUCCEEDED:
        return "succeeded"
    return {"retry-request": "retry", "raised": "error", "timeout": "timeout"}.get(result_kind, "error")


def _iso(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
