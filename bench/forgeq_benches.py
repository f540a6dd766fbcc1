"""forgeq's own measurements, registered with the harness (bench/run.py) next to the baselines.

Every figure here is produced by forgeq itself: its engine in this process (drains), or the
`forgeq` console script in a child process (push, run, start-up, memory). Workloads match the
baselines' (bench/baselines.py): the same n, the same ~90 B bodies, and the same quota pressure,
expressed with forgeq's own options: `installations_for(n)` installations (one per 10k events)
and a write quota of `writes_per_window_for(n)` units per minute each (`--storage-limits
2025,write_units=W`; 4000, Forge's figure, from 10k events up), so a write is refused for 60% of
first deliveries and the demo app's backoff (20 * 2^retryCount + rand(0..100) s) retries it.

The app is the bundled demo (fixtures/storage-queue, the seed guide's pattern): a v1 resolver
consumer doing one `kvs.set` per event, and a trigger that queues that write per
`avi:jira:created:issue`. Platform limits (500 pushed events per minute) stay on except where a
row says otherwise.

Add a row: append a `Bench` to FORGEQ_BENCHES (bench/README.md, "Adding forgeq's measurements").
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import baselines, bench_entities, bench_kvs, bench_site, simple
from bench.common import ensure_bytecode, median_startup, run_command
from bench.registry import (
    DRAIN_N,
    PUSH_N,
    RSS_LARGE_N,
    RSS_MEDIUM_N,
    RSS_SMALL_N,
    STARTUP_N,
    Bench,
    Compare,
    Sizes,
    Target,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_MANIFEST = REPO_ROOT / "fixtures" / "storage-queue" / "manifest.yml"
QUEUE = baselines.QUEUE_NAME  # the demo's queue: storage-async-queue
PUSH_CHUNK = 50  # Forge's most events per push (Atlassian's "Async events API" limits; docs/fidelity.md, platform limits)

# Extra drain sizes: 1e3 in both modes, and 1e5 in full mode (1e4 in quick mode).
DRAIN_1K = Sizes(quick=1_000, full=1_000)
DRAIN_LARGE_N = Sizes(quick=10_000, full=100_000)
KVS_N = Sizes(quick=5_000, full=20_000)
ENTITY_N = Sizes(quick=10_000, full=100_000)  # items of the entity queried
SITE_N = Sizes(quick=2_000, full=10_000)
JS_SITE_N = Sizes(quick=500, full=2_000)  # a JavaScript attempt costs about 25x a Python one
# The simple workload (bench/simple.py): 2e4 and 2e5 events (5e4 in quick mode).
SIMPLE_N = Sizes(quick=20_000, full=20_000)
SIMPLE_LARGE_N = Sizes(quick=50_000, full=200_000)


def forgeq_argv(*args: str) -> list[str]:
    """argv for the installed `forgeq` console script, preferring the one next to this interpreter."""
    script = Path(sys.executable).parent / "forgeq"
    if script.exists():
        return [str(script), *args]
    found = shutil.which("forgeq")
    if found is None:
        raise FileNotFoundError("no `forgeq` script: run `uv sync` in the repo first")
    return [found, *args]


def needs_library(module: str) -> Callable[[], str | None]:
    """An `unavailable` check: skip the bench until `module` can be imported."""

    def check() -> str | None:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        return None if found else f"{module} is not importable yet"

    return check


def needs_cli(*args: str) -> Callable[[], str | None]:
    """An `unavailable` check: skip the bench until `forgeq <args>` exits 0 (e.g. `push --help`)."""

    def check() -> str | None:
        try:
            result = run_command(forgeq_argv(*args), check=False)
        except FileNotFoundError as error:
            return str(error)
        return None if result.returncode == 0 else f"`forgeq {' '.join(args)}` exits {result.returncode}"

    return check


# -- the workload, in forgeq's terms ------------------------------------------------------------------


def sites_for(n: int) -> list[str]:
    return [f"site-{k}" for k in range(1, baselines.installations_for(n) + 1)]


def storage_limits_for(n: int) -> str:
    return f"2025,write_units={baselines.writes_per_window_for(n)}"


def body(index: int) -> dict[str, Any]:
    """The baseline's body (baselines.make_body): the demo consumer reads `issueKey`."""
    return {"issueKey": f"PROJ-{index}", "event": "avi:jira:created:issue", "actorId": "557058:f5c7e1d2"}


def seed_backlog(db_path: Path, n: int, sites: list[str] | None = None) -> None:
    """Queue n events on a fresh state file, outside any timed span (the RSS and start-up rows).

    Jobs of 50 events, round-robin over the installations, as drain_in_process pushes them and as
    the baselines spread events (index % installations). Not one installation's whole backlog
    first: the loop would then re-delay that installation's waiting events at every step (see
    bench/README.md, "Findings"), which is a different workload.
    """
    from forgeq.emulator import limits
    from forgeq.emulator.ids import derived_uuid
    from forgeq.emulator.store import Store
    from forgeq.emulator.store.batch import NewEvent, NewJob

    sites = sites or sites_for(n)
    now = limits.VIRTUAL_EPOCH
    store = Store(db_path)
    try:
        for chunk in range(0, n, 10_000):
            events: list[NewEvent] = []
            jobs: list[NewJob] = []
            for start in range(chunk, min(n, chunk + 10_000), PUSH_CHUNK):
                site = sites[(start // PUSH_CHUNK) % len(sites)]
                job_id = derived_uuid("job", "bench", start)
                jobs.append(NewJob(job_id, site, QUEUE, now, "bench"))
                events.extend(
                    NewEvent(
                        site,
                        "queue",
                        QUEUE,
                        job_id,
                        json.dumps(body(i), separators=(",", ":")),
                        None,
                        now,
                        now,
                    )
                    for i in range(start, min(n, start + PUSH_CHUNK))
                )
            store.insert_events(events, jobs)
    finally:
        store.close()


class _Sink:
    """A write-only text stream: the timeline printer's output, as if redirected to a file."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("w", encoding="utf-8")

    def write(self, text: str) -> int:
        return self.file.write(text)

    def flush(self) -> None:
        self.file.flush()

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        self.file.close()


def drain_in_process(n: int, db_path: Path, *, timeline: bool = False) -> dict[str, float]:
    """Push n events (50 per push, round-robin over the installations), then run until idle.

    The observer is what `forgeq run` attaches: the `--quiet` status (drops as they happen, the
    status at the end), or with `timeline` the live timeline (one line per attempt), both written
    to a file next to the state file.
    """
    from forgeq.cli.render import StatusPrinter, TimelinePrinter
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.settings import Settings
    from forgeq.emulator.store import Store

    sites = sites_for(n)
    sink = _Sink(db_path.with_suffix(".timeline.txt"))
    store = Store(db_path)
    printer = TimelinePrinter(sink) if timeline else StatusPrinter(sink, store.waiting_count, live=False)  # type: ignore[arg-type]
    settings = Settings(seed=0, storage_limits=storage_limits_for(n), installations=sites)
    engine = Emulator(load_manifest(DEMO_MANIFEST), store, settings, observers=[printer])
    engine.start()
    try:
        started = time.perf_counter()
        for start in range(0, n, PUSH_CHUNK):
            site = sites[(start // PUSH_CHUNK) % len(sites)]
            engine.push(
                QUEUE,
                [{"body": body(i)} for i in range(start, min(n, start + PUSH_CHUNK))],
                installation=site,
            )
        pushed = time.perf_counter()
        engine.run(until_idle=True)
        printer.close()
        finished = time.perf_counter()
        totals = store.totals()
    finally:
        store.close()
        sink.close()
    if store_pending(db_path):
        raise RuntimeError("the drain left events pending")
    return {
        "events_per_second": n / (finished - started),
        "push_seconds": pushed - started,
        "drain_seconds": finished - pushed,
        "attempts_per_event": totals["attempts"] / n,
        "dropped": totals["dropped"],
        "windows": engine.lookahead.claims,
    }


def store_pending(db_path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(db_path)
    try:
        return int(conn.execute("SELECT count(*) FROM events WHERE state IN (0, 1)").fetchone()[0])
    finally:
        conn.close()


# -- the measure functions ((n, fresh db path) -> figure) -------------------------------------------


def forgeq_drain(n: int, db_path: Path) -> float:
    """Events/s: push n events through Emulator.push, then drain them with the `--quiet` observer."""
    return drain_in_process(n, db_path)["events_per_second"]


def forgeq_drain_logged(n: int, db_path: Path) -> float:
    """forgeq_drain with the live timeline (every attempt, one line each) written to a file."""
    return drain_in_process(n, db_path, timeline=True)["events_per_second"]


def forgeq_push_cli(n: int, db_path: Path) -> float:
    """Events/s of one `forgeq push --queue Q --body JSON --count n` (the whole command, start-up included)."""
    ensure_bytecode()
    argv = forgeq_argv(
        "push", "--queue", QUEUE, "--body", json.dumps(body(0)), "--count", str(n),
        "--manifest", str(DEMO_MANIFEST), "--db", str(db_path), "--json",
    )  # fmt: skip
    result = run_command(argv)
    if json.loads(result.stdout)["count"] != n:
        raise RuntimeError(f"forgeq push reported {result.stdout[:200]}")
    return n / result.wall_seconds


HANDLER_PUSH_MANIFEST = """app:
  id: ari:cloud:ecosystem::app/bench-handler-push
modules:
  consumer:
    - key: pusher
      queue: seed
      function: push
  function:
    - key: push
      handler: index.push
"""
HANDLER_PUSH_SOURCE = """from forgeq.events import Queue

sink = Queue(key="sink")


def push(event, context):
    first = event["body"]["first"]
    sink.push([{"body": {"issueKey": f"PROJ-{i}", "event": "avi:jira:created:issue", "actorId": "557058:f5c7e1d2"}} for i in range(first, first + 50)])
"""


def forgeq_push_handler(n: int, db_path: Path) -> float:
    """Events/s pushed by `Queue.push` from handlers: n/50 invocations each push 50 events to a queue
    no consumer reads (so only the pushes are measured); the platform's 500 events/min is off."""
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.settings import Settings
    from forgeq.emulator.store import Store

    app = db_path.parent / "app"
    (app / "src").mkdir(parents=True)
    (app / "manifest.yml").write_text(HANDLER_PUSH_MANIFEST)
    (app / "src" / "index.py").write_text(HANDLER_PUSH_SOURCE)
    store = Store(db_path)
    engine = Emulator(
        load_manifest(app / "manifest.yml"),
        store,
        Settings(seed=0, platform_limits=False, storage_limits="none"),
    )
    seeds = [{"body": {"first": first}} for first in range(0, n, PUSH_CHUNK)]
    for start in range(0, len(seeds), PUSH_CHUNK):
        engine.push("seed", seeds[start : start + PUSH_CHUNK])
    engine.start()
    try:
        started = time.perf_counter()
        engine.run(until_idle=True)
        elapsed = time.perf_counter() - started
        pushed = store.conn.execute("SELECT count(*) FROM events WHERE target = 'sink'").fetchone()[0]
    finally:
        store.close()
    if pushed != n:
        raise RuntimeError(f"handlers pushed {pushed} events, expected {n}")
    return n / elapsed


def forgeq_fanout(n: int, db_path: Path) -> float:
    """Product events/s end to end through the CLI: `forgeq push issue-created --count n`, then
    `forgeq run --until-idle --quiet`; each event reaches the demo's trigger, which queues a write
    for the consumer (platform limit on: the trigger's pushes beyond 500/min are retried)."""
    manifest = str(DEMO_MANIFEST)
    pushed = run_command(
        forgeq_argv(
            "push", "issue-created", "--count", str(n), "--manifest", manifest, "--db", str(db_path), "--json"
        )
    )
    ran = run_command(
        forgeq_argv(
            "run",
            manifest,
            "--until-idle",
            "--quiet",
            "--db",
            str(db_path),
            "--storage-limits",
            storage_limits_for(n),
        )
    )
    if store_pending(db_path):
        raise RuntimeError("forgeq run left events pending")
    return n / (pushed.wall_seconds + ran.wall_seconds)


def forgeq_rss(n: int, db_path: Path) -> float:
    """Peak RSS (MB) of `forgeq run --until-idle --quiet` draining a backlog of n queued events.

    One installation whose write quota admits 40% of the backlog per minute (the baselines' retry
    pressure), so the three sizes differ only in the backlog.
    """
    seed_backlog(db_path, n, sites=["site-1"])
    argv = forgeq_argv(
        "run", str(DEMO_MANIFEST), "--until-idle", "--quiet", "--db", str(db_path),
        "--storage-limits", f"2025,write_units={max(1, int(n * 0.4))}",
    )  # fmt: skip
    result = run_command(argv)
    if store_pending(db_path):
        raise RuntimeError("forgeq run left events pending")
    return result.peak_rss_mb


def forgeq_startup_help(n: int, db_path: Path) -> float:
    """Median wall seconds of 10 fresh `forgeq --help`."""
    return median_startup(forgeq_argv("--help"))


def forgeq_startup_inspect(n: int, db_path: Path) -> float:
    """Median wall seconds of 10 fresh `forgeq inspect queue` on a state file holding 1000 events."""
    seed_backlog(db_path, 1000)
    return median_startup(forgeq_argv("inspect", "queue", "--db", str(db_path)))


# -- baselines at the extra sizes -----------------------------------------------------------------------

EXTRA_BASELINES: list[Bench] = [
    Bench(
        "raw_drain_50_1k",
        partial(baselines.raw_sqlite_drain, batch=50),
        "events/s",
        DRAIN_1K,
        "raw_drain_50 at 1e3 events",
    ),
    Bench("huey_drain_1k", baselines.huey_drain, "events/s", DRAIN_1K, "huey_drain at 1e3 events"),
    Bench("huey_drain_retrying_1k", baselines.huey_drain_retrying, "events/s", DRAIN_1K, "huey_drain_retrying at 1e3 events"),
    Bench(
        "raw_drain_50_large",
        partial(baselines.raw_sqlite_drain, batch=50),
        "events/s",
        DRAIN_LARGE_N,
        "raw_drain_50 at 1e5 events (1e4 in quick mode)",
        max_reps=3,
    ),
    Bench(
        "huey_drain_large",
        baselines.huey_drain,
        "events/s",
        DRAIN_LARGE_N,
        "huey_drain at 1e5 events (1e4 quick)",
        max_reps=3,
    ),
    Bench(
        "huey_drain_retrying_large",
        baselines.huey_drain_retrying,
        "events/s",
        DRAIN_LARGE_N,
        "huey_drain_retrying at 1e5 events (1e4 quick)",
        max_reps=3,
    ),
]

# "1.5x huey on the same workload": huey_drain_retrying runs the raw loop's workload (quota, backoff,
# retries); huey_drain (one delivery per event, no quota) is printed beside it, without a target.
DRAIN_TARGETS = (
    Compare("raw_drain_50", Target(">=", 0.5)),
    Compare("huey_drain_retrying", Target(">=", 1.5)),
    Compare("huey_drain"),
)
FORGEQ = needs_library("forgeq.emulator")


def _simple_rows(size: str, sizes: Sizes, about: str) -> list[Bench]:
    """The simple workload at one size: raw sqlite3 and forgeq's CLI, each as push + drain and drain alone."""
    return [
        Bench(f"raw_simple{size}", simple.raw_simple_loop, "events/s", sizes, f"raw sqlite3, {about}: n / (push + drain)", figure="total"),
        Bench(f"raw_simple{size}_drain", simple.raw_simple_loop, "events/s", sizes, "the same run: n / drain", figure="drain"),
        Bench(
            f"forgeq_simple{size}",
            simple.forgeq_simple_cli,
            "events/s",
            sizes,
            "`forgeq push --count n` + `forgeq run --until-idle --quiet --storage-limits none`: n / (both commands)",
            compare=(Compare(f"raw_simple{size}", Target(">=", 0.5)),),
            unavailable=needs_cli("push", "--help"),
            figure="total",
        ),
        Bench(
            f"forgeq_simple{size}_run",
            simple.forgeq_simple_cli,
            "events/s",
            sizes,
            "the same run: n / `forgeq run` (the whole command, start-up included)",
            compare=(Compare(f"raw_simple{size}_drain", Target(">=", 0.5)),),
            unavailable=needs_cli("push", "--help"),
            figure="drain",
        ),
    ]


SIMPLE_BENCHES: list[Bench] = [
    *_simple_rows("", SIMPLE_N, "one kvs.set per event"),
    *_simple_rows("_large", SIMPLE_LARGE_N, "the same at 2e5 events (5e4 quick)"),
    Bench("pure_simple", simple.pure_simple_loop, "events/s", SIMPLE_N, "plain Python in memory (heap, dict, list): n / (push + drain)", figure="total"),
    Bench("pure_simple_drain", simple.pure_simple_loop, "events/s", SIMPLE_N, "the same run: n / drain", figure="drain"),
    Bench(
        "forgeq_simple_memory",
        simple.forgeq_simple_memory,
        "events/s",
        SIMPLE_N,
        "ForgeApp, in-memory store: push_many + run_until_idle, n / both",
        compare=(Compare("pure_simple", Target(">=", 0.25)),),
        unavailable=FORGEQ,
        figure="total",
    ),
    Bench(
        "forgeq_simple_memory_drain",
        simple.forgeq_simple_memory,
        "events/s",
        SIMPLE_N,
        "the same run: n / run_until_idle",
        compare=(Compare("pure_simple_drain", Target(">=", 0.25)),),
        unavailable=FORGEQ,
        figure="drain",
    ),
]

FORGEQ_BENCHES: list[Bench] = [
    *EXTRA_BASELINES,
    Bench(
        "forgeq_drain_1k",
        forgeq_drain,
        "events/s",
        DRAIN_1K,
        "forgeq: demo app, push n (Emulator.push, 50 per push) + run until idle, --quiet observer, quota and retries on",
        compare=(
            Compare("raw_drain_50_1k", Target(">=", 0.5)),
            Compare("huey_drain_retrying_1k", Target(">=", 1.5)),
            Compare("huey_drain_1k"),
        ),
        unavailable=FORGEQ,
    ),
    Bench(
        "forgeq_drain",
        forgeq_drain,
        "events/s",
        DRAIN_N,
        "the same at the baselines' n",
        compare=DRAIN_TARGETS,
        unavailable=FORGEQ,
    ),
    Bench(
        "forgeq_drain_large",
        forgeq_drain,
        "events/s",
        DRAIN_LARGE_N,
        "the same at 1e5 events (1e4 quick), 10 installations",
        compare=(
            Compare("raw_drain_50_large", Target(">=", 0.5)),
            Compare("huey_drain_retrying_large", Target(">=", 1.5)),
            Compare("huey_drain_large"),
        ),
        max_reps=3,
        unavailable=FORGEQ,
    ),
    Bench(
        "forgeq_drain_logged",
        forgeq_drain_logged,
        "events/s",
        DRAIN_N,
        "forgeq_drain printing the live timeline (every attempt) to a file",
        compare=(Compare("forgeq_drain", Target(">=", 0.75)),),
        unavailable=FORGEQ,
    ),
    Bench(
        "forgeq_push_cli",
        forgeq_push_cli,
        "events/s",
        PUSH_N,
        "one `forgeq push --queue Q --count n` child process, start-up included",
        compare=(Compare("raw_push", Target(">=", 0.75)),),
        unavailable=needs_cli("push", "--help"),
    ),
    Bench(
        "forgeq_push_handler",
        forgeq_push_handler,
        "events/s",
        PUSH_N,
        "Queue.push of 50 events from each of n/50 handler invocations (platform limits off)",
        compare=(Compare("raw_push"),),
        unavailable=FORGEQ,
    ),
    Bench(
        "forgeq_fanout",
        forgeq_fanout,
        "events/s",
        DRAIN_N,
        "`forgeq push issue-created --count n` + `forgeq run --until-idle --quiet` (trigger -> queue -> consumer)",
        compare=(Compare("raw_drain_50"),),
        unavailable=needs_cli("push", "--list"),
    ),
    Bench(
        "forgeq_rss_small",
        forgeq_rss,
        "MB",
        RSS_SMALL_N,
        "peak RSS of `forgeq run --until-idle --quiet` over a backlog of n",
        unavailable=FORGEQ,
    ),
    Bench(
        "forgeq_rss_medium",
        forgeq_rss,
        "MB",
        RSS_MEDIUM_N,
        "same, bigger backlog",
        compare=(Compare("forgeq_rss_small"),),
        unavailable=FORGEQ,
    ),
    Bench(
        "forgeq_rss_large",
        forgeq_rss,
        "MB",
        RSS_LARGE_N,
        "same, 1e6 backlog in full mode; 2 reps at most",
        compare=(Compare("forgeq_rss_small", Target("<=", 1.5)),),
        max_reps=2,
        unavailable=FORGEQ,
    ),
    Bench(
        "forgeq_startup_help",
        forgeq_startup_help,
        "s",
        STARTUP_N,
        "median wall of 10 fresh `forgeq --help` (click's plain help: typer's rich help cost 4-5x)",
        compare=(Compare("startup_typer", Target("<=", 1.5)),),
        unavailable=needs_cli("--help"),
    ),
    Bench(
        "forgeq_startup_inspect",
        forgeq_startup_inspect,
        "s",
        STARTUP_N,
        "median wall of 10 fresh `forgeq inspect queue` (state file with 1000 events)",
        compare=(Compare("startup_typer", Target("<=", 1.5)),),
        unavailable=needs_cli("inspect", "queue", "--help"),
    ),
    *SIMPLE_BENCHES,
    # bench/bench_kvs.py (storage calls through forgeq.kvs), registered as it is.
    Bench(
        "raw_kvs",
        bench_kvs.raw_kvs,
        "events/s",
        KVS_N,
        "raw sqlite3: n/2 upserts (50 per txn) then n/2 selects; unit: calls/s",
    ),
    Bench(
        "kvs_none",
        bench_kvs.kvs_none,
        "events/s",
        KVS_N,
        "forgeq.kvs set then get from handler context, --storage-limits none; unit: calls/s",
        compare=(Compare("raw_kvs"),),
        unavailable=FORGEQ,
    ),
    Bench(
        "kvs_2025",
        bench_kvs.kvs_2025,
        "events/s",
        KVS_N,
        "the same under the 2025 quotas; unit: calls/s",
        compare=(Compare("raw_kvs"),),
        unavailable=FORGEQ,
    ),
    # bench/bench_entities.py (queries of a custom entity by index), registered as it is.
    Bench(
        "raw_entity_query",
        bench_entities.raw_entity_query,
        "events/s",
        ENTITY_N,
        "raw sqlite3: 200 two-page queries over n items with real columns and a composite index; unit: queries/s",
    ),
    Bench(
        "entity_query",
        bench_entities.entity_query,
        "events/s",
        ENTITY_N,
        "kvs.entity().query().index(partition).where(between) over n items, two pages; unit: queries/s (1e5 items: < 10 ms a query)",
        compare=(Compare("raw_entity_query"),),
        unavailable=FORGEQ,
    ),
    Bench(
        "js_entity_query",
        bench_entities.js_entity_query,
        "events/s",
        ENTITY_N,
        "the same queries from a JavaScript handler through the real @forge/kvs; unit: queries/s (1e5 items: < 10 ms a query)",
        compare=(Compare("raw_entity_query"),),
        unavailable=bench_entities.js_unavailable,
    ),
    # bench/bench_site.py (product calls through forgeq.api against storage calls), issue #17.
    Bench(
        "kvs_drain",
        bench_site.kvs_drain,
        "events/s",
        SITE_N,
        "a v2 consumer making one kvs.get and one kvs.set per event, limits off, engine in process",
        unavailable=FORGEQ,
    ),
    Bench(
        "site_drain",
        bench_site.site_drain,
        "events/s",
        SITE_N,
        "the same consumer making one GET and one PUT of a Jira issue through forgeq.api instead",
        compare=(Compare("kvs_drain", Target(">=", 0.5)),),
        unavailable=FORGEQ,
    ),
    # The same two drains with the consumers in JavaScript (the app's own @forge/api and @forge/kvs).
    Bench(
        "js_kvs_drain",
        bench_site.JS_BENCHES["js_kvs_drain"],
        "events/s",
        JS_SITE_N,
        "the kvs.get and kvs.set consumer in JavaScript, through the app's own @forge/kvs in the Node.js worker",
        unavailable=bench_site.js_unavailable,
    ),
    Bench(
        "js_site_drain",
        bench_site.JS_BENCHES["js_site_drain"],
        "events/s",
        JS_SITE_N,
        "the GET and PUT consumer in JavaScript, through the app's own @forge/api",
        compare=(Compare("js_kvs_drain", Target(">=", 0.5)),),
        unavailable=bench_site.js_unavailable,
    ),
]
