"""A crash harness for forgeq: kill -9 `forgeq run` at random instants (or at deterministic crash
points), restart it until idle, and score every event the way Jepsen's queue checker does.

The app under test (written by `write_app`) journals each attempt from inside its handlers, with
one `os.write` per line on an O_APPEND descriptor (a finished write survives SIGKILL: the page
cache is the kernel's, not the process's). A line is `KEY RETRYCOUNT PID`: KEY is the `k` field
of the event body, unique per event. The scorer compares three sources:

- what was pushed and acknowledged (push returned), recorded by the harness;
- the journal: what handler code actually ran, in which process;
- the state file after the final drain: events, attempts, ledger.

and sorts events into Jepsen's categories:

- lost: pushed and acknowledged, yet neither succeeded nor in the dropped-event ledger; or marked
  succeeded with no journal line (acknowledged without running);
- unexplained duplicate: the same attempt (KEY, retryCount) journalled twice with no crash of the
  first process in between (same pid, or a pid that was not killed);
- unmarked redelivery: an attempt that ran again after a crash whose timeline row lacks the
  "redelivered" note;
- unexpected: a journal line for an event the state never held (a "ghost": delivered, yet its
  push was rolled back);
- phantom: an acknowledged attempt row with no journal line (acknowledged without running);
- explained redeliveries: attempts interrupted by a kill that ran again (the contract allows these).

Run it from the repository:

    .venv/bin/python tests/crashkit.py --cycles 200 --seed 1          # random kill -9 instants
    .venv/bin/python tests/crashkit.py --sweep --events 40            # every deterministic crash point

tests/test_crash.py runs short versions in CI and the long ones behind `-m slow`.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CRASH_EXIT_CODE = 99  # forgeq.emulator.store.crashpoints.CRASH_EXIT_CODE
QUEUES = ("work", "legacy")

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/crashkit
modules:
  consumer:
    - key: work-consumer
      queue: work
      function: work
    - key: leaf-consumer
      queue: leaf
      function: leaf
    - key: legacy-consumer
      queue: legacy
      resolver:
        function: legacy
        method: listener
  function:
    - key: work
      handler: index.work
    - key: leaf
      handler: index.leaf
    - key: legacy
      handler: legacy.handler
"""

JOURNAL_MODULE = """
import os
import time

_FD = os.open(os.environ["CRASHKIT_JOURNAL"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def note(key, retry_count):
    os.write(_FD, f"{key} {retry_count} {os.getpid()}\\n".encode())


def pause(body):
    ms = body.get("ms", 0)
    if ms:
        time.sleep(ms / 1000)
"""

INDEX_MODULE = """
from forgeq.events import InvocationError, Queue

from journal import note, pause

leaf_queue = Queue(key="leaf")


def work(event, context):
    body = event["body"]
    retry_count = (event.get("retryContext") or {}).get("retryCount", 0)
    note(body["k"], retry_count)
    pause(body)
    if retry_count < body.get("retries", 0):
        return InvocationError(retry_after=body.get("after", 5))
    if retry_count < body.get("raises", 0):
        raise RuntimeError("crashkit: a thrown error (retried with forgeq's backoff)")
    if body.get("child"):
        leaf_queue.push({"body": {"k": body["k"] + "/c"}})
    return None


def leaf(event, context):
    retry_count = (event.get("retryContext") or {}).get("retryCount", 0)
    note(event["body"]["k"], retry_count)
    return None
"""

LEGACY_MODULE = """
from forgeq.events import InvocationError
from forgeq.resolver import Resolver

from journal import note, pause

resolver = Resolver()


@resolver.define("listener")
def listener(request):
    payload = request["payload"]
    retry_count = (payload.get("retryContext") or {}).get("retryCount", 0)
    note(payload["k"], retry_count)
    pause(payload)
    if retry_count < payload.get("retries", 0):
        return InvocationError(retry_after=payload.get("after", 3))
    return None


handler = resolver.get_definitions()
"""


def write_app(root: Path) -> Path:
    """The harness app: a v2 queue (retries, thrown errors, child pushes), its child queue, a v1 queue."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "manifest.yml").write_text(textwrap.dedent(MANIFEST).lstrip())
    (root / "src" / "journal.py").write_text(textwrap.dedent(JOURNAL_MODULE).lstrip())
    (root / "src" / "index.py").write_text(textwrap.dedent(INDEX_MODULE).lstrip())
    (root / "src" / "legacy.py").write_text(textwrap.dedent(LEGACY_MODULE).lstrip())
    return root / "manifest.yml"


def event_body(key: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A random event: mostly plain; some retry, throw, push a child, or run out of v1 retries."""
    roll = rng.random()
    if roll < 0.25:
        queue = "legacy"
        body: dict[str, Any] = {"k": key}
        if rng.random() < 0.3:
            body["retries"] = rng.choice([1, 2, 5])  # 5 > Forge's 4 v1 retries: dropped to the ledger
    else:
        queue = "work"
        body = {"k": key}
        if roll < 0.40:
            body["retries"] = rng.randint(1, 3)
        elif roll < 0.45:
            body["raises"] = 1
        elif roll < 0.55:
            body["child"] = True
    if rng.random() < 0.2:
        body["ms"] = rng.choice([1, 3, 10])
    return queue, body


@dataclass
class Process:
    pid: int
    crashed: bool  # killed with SIGKILL, or ended at a deterministic crash point
    code: int | None


@dataclass
class Score:
    cycles: int = 0  # runs killed with SIGKILL
    runs: int = 0  # runs started (a run that went idle before its kill ran to the end)
    events: int = 0  # events pushed by the harness and acknowledged
    all_events: int = 0  # with the ones handlers pushed
    attempts: int = 0
    kills: int = 0
    lost: list[str] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)
    unmarked: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    redeliveries: int = 0
    quarantined: int = 0
    dropped: int = 0
    integrity_ok: int = 0
    integrity_checks: int = 0
    partial_jobs: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not (
                self.lost
                or self.unexplained
                or self.unmarked
                or self.unexpected
                or self.phantom
                or self.partial_jobs
                or self.tracebacks
            )
            and self.integrity_ok == self.integrity_checks
        )

    def line(self) -> str:
        return (
            f"{self.cycles} kill -9 cycles ({self.runs or self.cycles} runs), {self.events} events ({self.all_events} with handler pushes, {self.attempts} attempts): "
            f"{len(self.lost)} lost, {len(self.unexplained)} unexplained duplicates, "
            f"{self.redeliveries} redeliveries = interrupted attempts ({len(self.unmarked)} unmarked), "
            f"{len(self.unexpected)} unexpected, {len(self.phantom)} phantom acks, {self.dropped} in the ledger "
            f"({self.quarantined} quarantined), integrity_check ok {self.integrity_ok}/{self.integrity_checks}"
        )

    def details(self) -> str:
        parts = []
        for name in (
            "lost",
            "unexplained",
            "unmarked",
            "unexpected",
            "phantom",
            "partial_jobs",
            "tracebacks",
        ):
            items = getattr(self, name)
            if items:
                parts.append(f"{name}: {items[:10]}")
        return "; ".join(parts)


class Harness:
    """One app, one state file, one journal; spawns `forgeq run` processes and scores the result."""

    def __init__(self, root: Path, seed: int = 0) -> None:
        self.root = root
        self.manifest = write_app(root)
        self.db = root / ".forgeq" / "state.db"
        self.journal = root / "journal.txt"
        self.rng = random.Random(seed)
        self.seed = seed
        self.pushed: dict[str, int] = {}  # key -> event number, for every acknowledged push
        self.jobs: dict[str, int] = {}  # job id -> events in it
        self.processes: list[Process] = []
        self.integrity: list[str] = []
        self.stderr: list[str] = []
        self._next_key = 0
        self._store: Any = None
        self._lock = threading.Lock()

    # -- pushing -------------------------------------------------------------------------------

    def _open_store(self) -> Any:
        if self._store is None:
            from forgeq.emulator.store import Store

            self._store = Store(self.db)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def push(self, count: int, *, delay_spread: float = 0.0) -> int:
        """Push `count` events in jobs of at most 50 (as a Forge app must); record what was acknowledged."""
        from forgeq.emulator import limits
        from forgeq.emulator.loop.pushing import new_events

        store = self._open_store()
        pushed = 0
        while pushed < count:
            size = min(50, count - pushed)
            with self._lock:
                by_queue: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for _ in range(size):
                    key = f"e{self._next_key}"
                    self._next_key += 1
                    queue, body = event_body(key, self.rng)
                    event: dict[str, Any] = {"body": body}
                    if delay_spread:
                        event["delayInSeconds"] = round(self.rng.uniform(0, delay_spread), 3)
                    by_queue[queue].append(event)
            for queue, events in by_queue.items():
                saved = store.get_meta("virtual_now")
                now = max(float(saved), limits.VIRTUAL_EPOCH) if saved else limits.VIRTUAL_EPOCH
                job_id, seqs = store.push_job(
                    queue,
                    "site-1",
                    now,
                    "crashkit",
                    new_events(queue, events, installation="site-1", now=now, job_id=None),
                )
                with self._lock:  # acknowledged: the push returned
                    self.jobs[job_id] = len(seqs)
                    for event, seq in zip(events, seqs, strict=True):
                        self.pushed[event["body"]["k"]] = seq
            pushed += size
        return pushed

    # -- running -------------------------------------------------------------------------------

    def command(self, db: Path | None = None) -> list[str]:
        """`forgeq run --until-idle`; `db`: another name for the state file (a link, a bind mount)."""
        return [
            sys.executable,
            "-m",
            "forgeq",
            "run",
            str(self.manifest),
            "--until-idle",
            "--quiet",
            "--seed",
            str(self.seed),
            *(["--db", str(db)] if db is not None else []),
        ]

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, "CRASHKIT_JOURNAL": str(self.journal), "NO_COLOR": "1", "PYTHONPATH": str(REPO)}
        env.pop("FORGEQ_DB", None)
        env.pop("FORGEQ_CRASH_AT", None)
        env.update(extra or {})
        return env

    def spawn(self, extra_env: dict[str, str] | None = None, db: Path | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command(db),
            cwd=self.root,
            env=self.environment(extra_env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def _finish(self, proc: subprocess.Popen[bytes], killed: bool) -> Process:
        _, err = proc.communicate()
        text = err.decode(errors="replace")
        self.stderr.append(text)
        code = proc.returncode
        crashed = killed or code == CRASH_EXIT_CODE or code == -signal.SIGKILL
        record = Process(proc.pid, crashed, code)
        self.processes.append(record)
        if not crashed and code != 0:
            raise AssertionError(f"forgeq run exited {code}: {text.strip()[-2000:]}")
        return record

    def kill_cycle(self, after: float, pushes_during: int = 0, from_first_attempt: bool = False) -> Process:
        """Start a run, push while it runs, kill -9 it `after` seconds later (if it is still running).

        With `from_first_attempt`, the seconds count from the run's first journalled attempt, so
        the kill lands while events are being delivered rather than while Python starts.
        """
        size = self.journal.stat().st_size if self.journal.exists() else 0
        proc = self.spawn()
        if from_first_attempt:
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if self.journal.exists() and self.journal.stat().st_size > size:
                    break
                time.sleep(0.005)
        stop = threading.Event()
        pusher = None
        if pushes_during:

            def push_while_running() -> None:
                done = 0
                while not stop.is_set() and done < pushes_during:
                    done += self.push(min(25, pushes_during - done))
                    stop.wait(0.02)

            pusher = threading.Thread(target=push_while_running)
            pusher.start()
        killed = False
        try:
            proc.wait(timeout=after)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
        stop.set()
        if pusher is not None:
            pusher.join()
        record = self._finish(proc, killed)
        self.check_integrity()
        return record

    def run_with(self, env: dict[str, str], timeout: float = 120) -> Process:
        proc = self.spawn(env)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        record = self._finish(proc, killed=False)
        self.check_integrity()
        return record

    def race(self, names: Iterable[Path], timeout: float = 120) -> list[int]:
        """Start a run through each name of the state file at once; their exit codes. The run lock is
        on the file itself, so only one may deliver at a time: the others are refused (exit 3)."""
        procs = [self.spawn(db=name) for name in names]
        codes = []
        for proc in procs:
            _, err = proc.communicate(timeout=timeout)
            self.stderr.append(err.decode(errors="replace"))
            self.processes.append(Process(proc.pid, False, proc.returncode))
            codes.append(proc.returncode)
        self.check_integrity()
        return codes

    def drain(self, timeout: float = 300) -> None:
        """Run until idle with no kill; the last process must exit 0."""
        record = self.run_with({}, timeout)
        if record.crashed or record.code != 0:
            raise AssertionError(f"the final drain did not finish cleanly: {record}")

    def check_integrity(self) -> None:
        if not self.db.exists():
            return
        conn = sqlite3.connect(self.db)
        try:
            self.integrity.append(str(conn.execute("PRAGMA integrity_check").fetchone()[0]))
        finally:
            conn.close()

    # -- scoring -------------------------------------------------------------------------------

    def read_journal(self) -> list[tuple[str, int, int]]:
        if not self.journal.exists():
            return []
        lines = []
        for raw in self.journal.read_text().splitlines():
            key, retry_count, pid = raw.split()
            lines.append((key, int(retry_count), int(pid)))
        return lines

    def score(self, cycles: int) -> Score:
        self.close()
        score = Score(cycles=cycles, events=len(self.pushed), kills=sum(p.crashed for p in self.processes))
        score.integrity_checks = len(self.integrity)
        score.integrity_ok = sum(1 for result in self.integrity if result == "ok")
        score.tracebacks = [text[-500:] for text in self.stderr if "Traceback" in text]
        crashed_pids = {p.pid for p in self.processes if p.crashed}

        conn = sqlite3.connect(self.db)
        events: dict[str, tuple[int, int, str | None]] = {}
        by_seq: dict[int, str] = {}
        for seq, key, state, drop_reason in conn.execute(
            "SELECT e.id, json_extract(e.body, '$.k'), e.state, l.drop_reason FROM events e LEFT JOIN ledger l ON l.event = e.id"
        ):
            events[key] = (seq, state, drop_reason)
            by_seq[seq] = key
        attempts: dict[tuple[str, int], list[str | None]] = defaultdict(list)
        for seq, retry_count, notes in conn.execute("SELECT event, retry_count, notes FROM attempts"):
            attempts[(by_seq[seq], retry_count)].append(notes)
        job_sizes = dict(
            conn.execute(
                "SELECT job_id, count(*) FROM events WHERE job_id IS NOT NULL GROUP BY job_id"
            ).fetchall()
        )
        conn.close()
        score.all_events = len(events)
        score.attempts = sum(len(v) for v in attempts.values())

        journal = self.read_journal()
        runs: dict[tuple[str, int], list[int]] = defaultdict(list)
        for key, retry_count, pid in journal:
            runs[(key, retry_count)].append(pid)
            if key not in events:
                score.unexpected.append(key)
        journalled_keys = {key for key, _ in runs}

        succeeded, dropped = 2, 3  # forgeq.emulator.store.schema
        for key, seq in self.pushed.items():
            row = events.get(key)
            if row is None or row[0] != seq:
                score.lost.append(f"{key}: not in the state file")
            elif row[1] == dropped and row[2] is not None:
                score.dropped += 1
                score.quarantined += row[2] == "quarantined"
            elif row[1] != succeeded:
                score.lost.append(f"{key}: state {row[1]} after the final drain")
            elif key not in journalled_keys:
                score.lost.append(f"{key}: succeeded without running")
        for job_id, size in self.jobs.items():
            if job_sizes.get(job_id) != size:
                score.partial_jobs.append(f"{job_id}: {job_sizes.get(job_id)} of {size} events")

        for (key, retry_count), pids in runs.items():
            for earlier, later in zip(pids, pids[1:], strict=False):
                if earlier == later or earlier not in crashed_pids:
                    score.unexplained.append(f"{key} retry {retry_count}: ran in pid {earlier} then {later}")
            if len(pids) > 1:
                score.redeliveries += len(pids) - 1
                rows = attempts.get((key, retry_count), [])
                if rows and not any(n and "redelivered" in n for n in rows):
                    score.unmarked.append(f"{key} retry {retry_count}")
            rows = attempts.get((key, retry_count), [])
            if len(rows) > 1:
                score.unexplained.append(f"{key} retry {retry_count}: acknowledged {len(rows)} times")
        for key, retry_count in attempts:
            if (key, retry_count) not in runs:
                score.phantom.append(f"{key} retry {retry_count}")
        return score


# -- the two experiments -------------------------------------------------------------------------------


def random_kills(
    root: Path,
    *,
    seed: int,
    cycles: int,
    events: int,
    pushes_during: int = 25,
    per_cycle: int = 300,
    window: tuple[float, float] = (0.3, 1.5),
    mid_delivery: float = 0.3,
) -> Score:
    """Push `events`; then until `cycles` runs have been killed: push `per_cycle` more (a backlog
    to be busy with), start a run, push while it runs, kill -9 it at a seeded random instant (a run
    that went idle first is not counted). Then drain and score."""
    harness = Harness(root, seed)
    kill_rng = random.Random(f"kills:{seed}")
    harness.push(events, delay_spread=30)
    kills = runs = 0
    while kills < cycles and runs < cycles * 4:
        harness.push(per_cycle)
        # Three runs in four count from their first attempt (kills land mid-delivery); the fourth
        # from the start of the process (kills land during start-up and recovery too).
        if runs % 4 == 3:
            record = harness.kill_cycle(kill_rng.uniform(*window), pushes_during=pushes_during)
        else:
            record = harness.kill_cycle(
                kill_rng.uniform(0.0, mid_delivery), pushes_during=pushes_during, from_first_attempt=True
            )
        runs += 1
        kills += record.code == -signal.SIGKILL
    harness.drain()
    score = harness.score(kills)
    score.runs = runs
    return score


def crash_point(root: Path, point: str, n: int, *, events: int = 40, seed: int = 0) -> tuple[bool, Score]:
    """Run once with FORGEQ_CRASH_AT=point:n, then drain. Returns (the crash point was reached, score)."""
    harness = Harness(root, seed)
    harness.push(events, delay_spread=60)
    first = harness.run_with({"FORGEQ_CRASH_AT": f"{point}:{n}"})
    harness.drain()
    return first.crashed, harness.score(1)


def sweep(
    base: Path,
    points: Iterable[str],
    *,
    events: int = 40,
    limit: int = 1000,
    numbers: Iterable[int] | None = None,
) -> list[tuple[str, int, Score]]:
    """SQLite's fault-point loop: move the crash one step later until a run ends without reaching it."""
    results = []
    for point in points:
        for n in numbers if numbers is not None else range(1, limit + 1):
            reached, score = crash_point(base / f"{point}-{n}", point, n, events=events)
            if not reached:
                break
            results.append((point, n, score))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=20, help="kill -9 cycles (random instants)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the events and the kill instants")
    parser.add_argument("--events", type=int, default=2000, help="events pushed before the first cycle")
    parser.add_argument("--during", type=int, default=25, help="events pushed while each run is running")
    parser.add_argument("--per-cycle", type=int, default=300, help="events pushed before each run")
    parser.add_argument("--sweep", action="store_true", help="sweep the deterministic crash points instead")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="crashkit-"))
    started = time.perf_counter()
    failed = False
    if args.sweep:
        results = sweep(
            base,
            ("claim", "commit", "committed", "attempt"),
            events=args.events if args.events != 2000 else 40,
        )
        for point, n, score in results:
            if not score.ok:
                failed = True
                print(f"{point}:{n}: {score.line()} -- {score.details()}")
        per_point = defaultdict(int)
        for point, _, _ in results:
            per_point[point] += 1
        bad = sum(1 for *_, s in results if not s.ok)
        print(
            f"{len(results)} crash points swept ({', '.join(f'{p} 1-{c}' for p, c in per_point.items())}): "
            f"{len(results) - bad} recovered with 0 lost and 0 unexplained duplicates, {bad} failed "
            f"({time.perf_counter() - started:.0f} s)"
        )
    else:
        score = random_kills(
            base / "app",
            seed=args.seed,
            cycles=args.cycles,
            events=args.events,
            pushes_during=args.during,
            per_cycle=args.per_cycle,
        )
        print(f"seed {args.seed}: {score.line()} ({time.perf_counter() - started:.0f} s)")
        if not score.ok:
            failed = True
            print(score.details())
    if args.keep:
        print(f"kept {base}")
    else:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
