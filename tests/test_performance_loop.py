"""The hot path's shortcuts change nothing a user can see: the loop's look-ahead window gives the
same timeline as plain steps, the resolver's direct call the same results as its coroutine, the
fast UUIDs the same ids, and `forgeq inspect queue` without typer the same output (and none of
typer, rich, yaml or the loop in its imports)."""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import write_app

from forgeq.emulator import limits
from forgeq.emulator.app.manifest import load_manifest
from forgeq.emulator.ids import derived_uuid, derived_uuid_reference, event_uuid
from forgeq.emulator.loop.engine import Emulator
from forgeq.emulator.loop.pushing import new_events
from forgeq.emulator.products.firing import fire_product_events
from forgeq.emulator.settings import Settings
from forgeq.emulator.store import Store
from forgeq.emulator.store.batch import WriteBatch
from forgeq.emulator.store.claims import WindowClaim
from forgeq.emulator.store.inspection import Selection
from forgeq.events import InvocationError
from forgeq.resolver import Resolver, ResolverError

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "fixtures" / "storage-queue" / "manifest.yml"

CHAIN_MANIFEST = """app:
  id: ari:cloud:ecosystem::app/chain
modules:
  consumer:
    - key: c
      queue: work
      function: f
  scheduledTrigger:
    - key: tick
      function: t
      interval: fiveMinute
  function:
    - key: f
      handler: index.handler
    - key: t
      handler: index.tick
"""
# Retries, delays and pushes that land inside a window's span, concurrency keys, errors, and a
# scheduled trigger: everything that can make a window give back its events.
CHAIN_SOURCE = """
import random
from forgeq.events import InvocationError, Queue
from forgeq.kvs import kvs

q = Queue(key="work")


def handler(event, context):
    body = event["body"]
    n = body["n"]
    r = random.random()
    try:
        kvs.set(f"k{n % 50}", {"n": n})
    except Exception:
        return InvocationError(retry_after=random.uniform(0.01, 3))
    if body.get("depth", 0) < 3 and r < 0.5:
        extra = {"delayInSeconds": random.choice([0, 0, 0.05, 0.1, 0.3, 1.5])}
        if r < 0.2:
            extra["concurrency"] = {"key": "ck", "limit": 2}
        q.push({"body": {"n": n * 7 + 1, "depth": body.get("depth", 0) + 1}, **extra})
    if r > 0.9:
        raise RuntimeError("boom")
    if r > 0.8:
        return InvocationError(retry_after=random.uniform(0.01, 2))


def tick(request, context):
    q.push([{"body": {"n": 1000 + i}} for i in range(3)])
"""

CANCEL_MANIFEST = """app:
  id: ari:cloud:ecosystem::app/cancel
modules:
  consumer:
    - key: c
      queue: work
      function: f
  function:
    - key: f
      handler: index.handler
"""
CANCEL_SOURCE = """
from forgeq.events import Queue
from forgeq.kvs import kvs

q = Queue(key="work")


def handler(event, context):
    body = event["body"]
    if body["kind"] == "spawn":
        job = q.push([{"body": {"kind": "child", "n": i}, "delayInSeconds": 1 + i * 0.01} for i in range(30)])
        kvs.set("job", job.job_id)
    elif body["kind"] == "cancel":
        q.cancel(kvs.get("job"))
    else:
        kvs.set(f"child-{body['n']}", 1)
"""


def dump(db: Path) -> dict[str, list[dict[str, Any]]]:
    """Everything a run leaves in the state file, less wall-clock durations and the lease owner."""
    conn = sqlite3.connect(db)
    out = {}
    for table, order in (
        ("events", "id"),
        ("attempts", "id"),
        ("ledger", "event"),
        ("kvs", "installation, space, key"),
        ("quota_windows", "installation, metric, window_start"),
        ("jobs", "job_id"),
        ("meta", "key"),
    ):
        cursor = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor]
        for row in rows:
            row.pop("wall_ms", None)
            row.pop("lease_owner", None)
        out[table] = rows
    conn.close()
    return out


def run_both(make: Any, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any], int, int, int]:
    """Run the same scenario with plain steps and with the look-ahead window; return both dumps,
    the windows the second run leased, the attempts it ran, and how many of them ran in windows.

    The plain steps run twice, every attempt in `Emulator._deliver` and then the commonest in
    `deliver_all`'s lane, and must write the same rows."""
    dumps = []
    windows = attempts = in_windows = 0
    for lookahead, lane in ((False, False), (False, True), (True, True)):
        folder = tmp_path / (("window" if lookahead else "plain") + ("-lane" if lane else ""))
        folder.mkdir()
        engine = make(folder)
        engine.lookahead.enabled = lookahead
        engine.lane = lane
        engine.step_scenario()
        engine.flush()
        windows, attempts, in_windows = engine.lookahead.claims, engine.attempts_run, engine.lookahead.ran
        engine.store.close()
        dumps.append(dump(folder / "state.db"))
    assert dumps[1] == dumps[0], "the lane's attempts must write what _deliver writes"
    return dumps[0], dumps[2], windows, attempts, in_windows


def demo_engine(folder: Path, n: int, sites: int, write_units: int, seed: int) -> Emulator:
    installations = [f"site-{k}" for k in range(1, sites + 1)]
    settings = Settings(
        seed=seed, storage_limits=f"2025,write_units={write_units}", installations=installations
    )
    engine = Emulator(load_manifest(DEMO), Store(folder / "state.db"), settings)
    for start in range(0, n, 50):
        events = [{"body": {"issueKey": f"P-{i}"}} for i in range(start, start + 50)]
        engine.push("storage-async-queue", events, installation=installations[(start // 50) % sites])
    engine.step_scenario = lambda: engine.run(until_idle=True)  # type: ignore[attr-defined]
    return engine


def test_window_gives_the_same_timeline_under_quota_pressure(tmp_path: Path) -> None:
    plain, window, windows, attempts, _ = run_both(lambda f: demo_engine(f, 1500, 2, 300, seed=5), tmp_path)
    assert len(plain["attempts"]) > 1500, "the quota must have refused writes, or nothing was retried"
    assert window == plain
    assert 0 < windows < attempts / 10, "the windows must each have run many attempts"


def skewed_engine(folder: Path, stop_after: float | None) -> Emulator:
    """Three installations, most of the backlog on site-1: its slots fill while the others' are free."""
    installations = ["site-1", "site-2", "site-3"]
    settings = Settings(seed=9, storage_limits="2025,write_units=200", installations=installations)
    engine = Emulator(load_manifest(DEMO), Store(folder / "state.db"), settings)
    for start in range(0, 900, 50):
        site = "site-1" if start < 600 else installations[(start // 50) % 3]
        engine.push("storage-async-queue", [{"body": {"issueKey": f"P-{i}"}} for i in range(start, start + 50)], installation=site)
    stop = None if stop_after is None else engine.clock.now() + stop_after
    engine.step_scenario = lambda: engine.run(until_idle=stop is None, stop_at=stop)  # type: ignore[attr-defined]
    return engine


@pytest.mark.parametrize("stop_after", [None, 200.0])
def test_window_gives_the_same_timeline_while_one_installation_is_full(tmp_path: Path, stop_after: float | None) -> None:
    plain, window, windows, attempts, in_windows = run_both(lambda f: skewed_engine(f, stop_after), tmp_path)
    assert len(plain["attempts"]) > 900 if stop_after is None else len(plain["attempts"]) > 300
    assert {row["installation"] for row in plain["events"]} == {"site-1", "site-2", "site-3"}
    assert window == plain
    assert 0 < windows < attempts / 10, "the windows must each have run many attempts"
    # Plain steps run only the other installations' events due while a window holds the full one's.
    assert in_windows > 0.8 * attempts, "a full installation must not send the loop back to plain steps"


def chain_engine(folder: Path, stop_after: float | None) -> Emulator:
    app = folder / "app"
    manifest = write_app(app, CHAIN_MANIFEST, {"src/index.py": CHAIN_SOURCE})
    settings = Settings(seed=11, storage_limits="2025,write_units=150", concurrency=4)
    engine = Emulator(load_manifest(manifest), Store(folder / "state.db"), settings)
    for start in range(0, 150, 50):
        engine.push(
            "work", [{"body": {"n": i}, "delayInSeconds": (i % 7) * 0.05} for i in range(start, start + 50)]
        )
    if stop_after is None:
        engine.step_scenario = lambda: engine.run(until_idle=True)  # type: ignore[attr-defined]
    else:
        engine.step_scenario = lambda: engine.run(until_idle=False, stop_at=engine.clock.now() + stop_after)  # type: ignore[attr-defined]
    return engine


@pytest.mark.parametrize("stop_after", [None, 900.0])
def test_window_gives_the_same_timeline_when_attempts_make_events_due_inside_it(
    tmp_path: Path, stop_after: float | None
) -> None:
    plain, window, windows, attempts, _ = run_both(lambda f: chain_engine(f, stop_after), tmp_path)
    assert len(plain["attempts"]) > 1000
    assert {row["outcome"] for row in plain["attempts"]} >= {"succeeded", "retry", "error"}
    assert any(row["target"] == "work" and row["parent_id"] is not None for row in plain["events"])
    assert window == plain
    assert windows < attempts


def test_window_gives_the_same_timeline_for_product_events_and_max_attempts(tmp_path: Path) -> None:
    def make(folder: Path) -> Emulator:
        store = Store(folder / "state.db")
        fire_product_events(
            store,
            "issue-created",
            count=300,
            now=limits.VIRTUAL_EPOCH,
            installation="site-1",
            manifest=load_manifest(DEMO),
        )
        store.close()
        engine = Emulator(
            load_manifest(DEMO),
            Store(folder / "state.db"),
            Settings(seed=9, storage_limits="2025,write_units=100"),
        )

        def scenario() -> None:
            engine.run(until_idle=True, max_attempts=377)
            engine.run(until_idle=True, max_attempts=engine.attempts_run + 10)
            engine.run(until_idle=True)

        engine.step_scenario = scenario  # type: ignore[attr-defined]
        return engine

    plain, window, *_ = run_both(make, tmp_path)
    assert {row["kind"] for row in plain["events"]} == {"product", "trigger", "queue"}
    assert window == plain


def test_a_job_cancelled_by_a_handler_reaches_the_events_a_window_holds(tmp_path: Path) -> None:
    def make(folder: Path) -> Emulator:
        manifest = write_app(folder / "app", CANCEL_MANIFEST, {"src/index.py": CANCEL_SOURCE})
        engine = Emulator(
            load_manifest(manifest), Store(folder / "state.db"), Settings(seed=1, storage_limits="none")
        )
        engine.push(
            "work", [{"body": {"kind": "spawn"}}, {"body": {"kind": "cancel"}, "delayInSeconds": 1.1}]
        )
        engine.step_scenario = lambda: engine.run(until_idle=True)  # type: ignore[attr-defined]
        return engine

    plain, window, windows, *_ = run_both(make, tmp_path)
    states = [row["state"] for row in plain["events"] if row["parent_id"] is not None]
    assert 2 in states and 4 in states, (
        "some children ran before the cancel, some were cancelled"
    )  # SUCCEEDED, CANCELLED
    assert windows > 0
    assert window == plain


def test_commit_leases_the_next_window_in_due_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    now = limits.VIRTUAL_EPOCH
    events = [{"body": {"n": i}, "delayInSeconds": delay} for i, delay in enumerate([5, 1, 3, 1, 9, 7])]
    store.push_job(
        "work", "site-1", now, "test", new_events("work", events, installation="site-1", now=now, job_id=None)
    )
    claim = WindowClaim(until=now + 7, limit=3, owner="test")
    store.commit(WriteBatch(), claim)
    assert [(row[0], row[8] - now) for row in claim.rows] == [(2, 1.0), (4, 1.0), (3, 3.0)]
    assert claim.rest_min == now + 5
    leases = dict(store.conn.execute("SELECT owner, events FROM leases").fetchall())
    assert leases == {"test": "[2, 3, 4]"}
    states = dict(store.conn.execute("SELECT id, state FROM events").fetchall())
    assert states == dict.fromkeys(range(1, 7), 0), "a lease leaves the event's row as it was"
    counts = store.queue_counts(now)["work"]
    assert (counts["running"], counts["delayed"]) == (3, 3), "inspect counts the leased events as running"
    job = store.find_jobs(Selection(now=now), 10)[0]
    assert (job["running"], job["delayed"], job["in_progress"]) == (3, 3, 6)
    running = store.find_events(Selection(states=("running",), now=now), 10)
    assert [r.id for r in running] == [2, 3, 4]
    assert store.count_events(Selection(states=("delayed",), now=now)) == 3
    second = WindowClaim(until=now + 9, limit=3, owner="test")
    store.commit(WriteBatch(), second)
    assert [row[0] for row in second.rows] == [1, 6, 5], "a leased event is not leased twice"
    assert second.rest_min == math.inf
    store.close()


def test_derived_uuids_match_the_uuid_module() -> None:
    for n in range(5000):
        assert derived_uuid("event", n) == derived_uuid_reference("event", n)
    assert derived_uuid("job", 7, "x", 1) == derived_uuid_reference("job", 7, "x", 1)


def test_event_ids_are_version_4_uuids_that_sort_as_the_events_were_pushed() -> None:
    ids = [event_uuid(n) for n in range(1, 3000)] + [event_uuid(2**40 + 1)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for text in ids[:50] + ids[-1:]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert event_uuid(17).startswith("00000000-0011-4")
    for n in (*range(1, 3000, 37), 2**48 + 5):  # the rest is derived_uuid("event", n)'s, as before
        assert event_uuid(n)[14:] == derived_uuid("event", n)[14:]


def test_parse_is_json_loads() -> None:
    """jsontext.parse reads a stored text as json.loads does, and fails as it does."""
    from forgeq.jsontext import parse

    for text in ('{"a":[1,2.5,"é"],"b":null}', ' {"a":1}', '{"a":1} ', '"x"', "1e400", "[]", '{"a":1}{}', "", "x", "{", "NaN"):
        try:
            expected: Any = json.loads(text)
        except json.JSONDecodeError as error:
            with pytest.raises(json.JSONDecodeError) as raised:
                parse(text)
            assert str(raised.value) == str(error)
            continue
        assert parse(text) == expected or (expected != expected and parse(text) != parse(text))  # NaN


def test_compact_json_is_json_dumps_text_and_errors() -> None:
    from forgeq.jsontext import compact

    cyclic: list[Any] = []
    cyclic.append(cyclic)
    values: list[Any] = [
        {"issueKey": "PROJ-1", "n": [1, 2.5, None, True, False]}, "naïve \"q\" ✓\n\u2028", 1e-07, 10**30, -0.0, [],
        {}, {1: "int key", None: "none key", 2.5: "float key"}, float("nan"), [float("inf")], {"x": object()}, object(), cyclic, (1, 2),
    ]
    for value in values:
        for allow_nan in (True, False):
            for default in (None, str):
                try:
                    expected: Any = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan, default=default)
                except (TypeError, ValueError) as error:
                    expected = (type(error), str(error))
                try:
                    got: Any = compact(value, allow_nan=allow_nan, default=default)
                except (TypeError, ValueError) as error:
                    got = (type(error), str(error))
                assert got == expected, (value, allow_nan, default)
    assert compact({"after": "a cycle failed"}) == '{"after":"a cycle failed"}'


def test_compact_tree_is_compact_for_values_without_cycles() -> None:
    from forgeq.jsontext import compact, compact_tree

    values: list[Any] = [
        {"id": "10001", "fields": {"labels": ["a", "naïve \"q\" ✓\n\u2028"], "n": [1, 2.5, None, True, False, 1e-07, 10**30, -0.0]}},
        "bare", 3, None, [], {}, {1: "int key", None: "none key"}, float("nan"), (1, 2), {"x": object()}, object(),
    ]
    for value in values:
        try:
            expected: Any = compact(value)
        except TypeError as error:
            expected = (type(error), str(error))
        try:
            got: Any = compact_tree(value)
        except TypeError as error:
            got = (type(error), str(error))
        assert got == expected, value
    assert compact_tree({"after": "a refusal"}) == '{"after":"a refusal"}'


def test_the_retry_context_written_out_is_the_json_of_its_dict() -> None:
    from forgeq.emulator.loop.engine import _retry_context
    from forgeq.emulator.store.sqlite import dumps

    datas: list[Any] = [None, {"issueKey": "PROJ-1"}, [1, 2.5, None, True], "naïve \"quoted\" ✓", 0, False, {"n": {"deep": [{}]}}, 1e-07]
    for reason in (None, "FUNCTION_UPSTREAM_RATE_LIMITED", "a \"custom\" reason ✓"):
        for data in datas:
            record = SimpleNamespace(retry_count=3, retry_reason=reason, retry_data=None if data is None else dumps(data))
            expected = dumps({"retryCount": 3, "retryReason": reason, "retryData": data})
            assert _retry_context(record) == expected  # type: ignore[arg-type]
    assert _retry_context(SimpleNamespace(retry_count=0, retry_reason=None, retry_data=None)) is None  # type: ignore[arg-type]


def test_the_resolvers_direct_call_returns_what_its_coroutine_returns() -> None:
    resolver = Resolver()
    resolver.define("plain", lambda request: {"seen": request["payload"], "skip": None, "when": 3.5})
    resolver.define("retry", lambda request: InvocationError(retry_after=30))

    async def later(request: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"async": request["context"]["jobId"]}

    resolver.define("async", later)
    definitions = resolver.get_definitions()
    direct = definitions.forge_call  # type: ignore[attr-defined]

    def event(key: str) -> dict[str, Any]:
        return {
            "call": {"functionKey": key, "payload": {"k": 1}, "jobId": "j1"},
            "context": {"installContext": "x"},
        }

    loop = asyncio.new_event_loop()
    try:
        assert (
            direct(event("plain"))
            == loop.run_until_complete(definitions(event("plain")))
            == {"seen": {"k": 1}, "skip": None, "when": 3.5}
        )
        retried = direct(event("retry"))  # an object result goes through JSON, as @forge/resolver's does
        assert retried == loop.run_until_complete(definitions(event("retry"))) == {"_retry": True, "retryOptions": {"retryAfter": 30}}
        pending = direct(event("async"))
        assert asyncio.iscoroutine(pending)
        assert (
            loop.run_until_complete(pending)
            == loop.run_until_complete(definitions(event("async")))
            == {"async": "j1"}
        )
        with pytest.raises(ResolverError):
            direct(event("missing"))
        with pytest.raises(ResolverError):
            loop.run_until_complete(definitions(event("missing")))
    finally:
        loop.close()


RANDOM_MANIFEST = """app:
  id: ari:cloud:ecosystem::app/draws
modules:
  consumer:
    - key: c
      queue: work
      function: f
  function:
    - key: f
      handler: index.handler
"""
RANDOM_SOURCE = """
import random
from random import choice, getstate
from forgeq.events import InvocationError
from forgeq.kvs import kvs


def handler(event, context):
    body = event["body"]
    attempt = (event.get("retryContext") or {}).get("retryCount", 0) + 1
    if body["how"] == "none" or (body["how"] == "late" and attempt == 1):
        pass  # draws nothing: its seed must not leak into the next attempt's draws
    elif body["how"] == "own":
        random.seed(5)  # the handler's own seed wins
        kvs.set(f"d{body['n']}-{attempt}", [random.random(), random.randint(1, 10**6)])
    else:
        state = list(getstate()[1][:3])
        kvs.set(f"d{body['n']}-{attempt}", [random.random(), choice("abcdefgh"), random.getrandbits(40), state])
    if attempt == 1 and body["how"] in ("late", "retry"):
        return InvocationError(retry_after=1)
"""


def test_random_is_seeded_per_attempt_as_before_though_only_at_the_first_draw(tmp_path: Path) -> None:
    """Each attempt draws what `random.seed("seed:event:attempt")` gives, whether or not earlier
    attempts drew; a handler's own random.seed wins; getstate() already shows the attempt's seed."""
    from forgeq.testing import ForgeApp

    app = ForgeApp(write_app(tmp_path, RANDOM_MANIFEST, {"src/index.py": RANDOM_SOURCE}), seed=11)
    try:
        hows = ["none", "draw", "late", "own", "retry", "draw", "none", "draw"]
        app.push("work", [{"body": {"n": n, "how": how}} for n, how in enumerate(hows)])
        app.run_until_idle()
        stored = app.kvs.as_dict()
        seqs = {event.body["n"]: event.seq for event in app.events("work")}
    finally:
        app.close()

    def expected(n: int, attempt: int) -> list[Any]:
        import random

        rng = random.Random(f"11:{seqs[n]}:{attempt}")
        state = list(rng.getstate()[1][:3])
        return [rng.random(), rng.choice("abcdefgh"), rng.getrandbits(40), state]

    own = random_module_seeded_5()
    assert stored == {
        "d1-1": expected(1, 1),
        "d2-2": expected(2, 2),
        "d3-1": own,
        "d4-1": expected(4, 1),
        "d4-2": expected(4, 2),
        "d5-1": expected(5, 1),
        "d7-1": expected(7, 1),
    }


def random_module_seeded_5() -> list[Any]:
    import random

    rng = random.Random(5)
    return [rng.random(), rng.randint(1, 10**6)]


def _forgeq(
    args: list[str], cwd: Path, *, typer_path: bool = False, importtime: bool = False
) -> subprocess.CompletedProcess[str]:
    if typer_path:
        argv = [
            sys.executable,
            "-c",
            "import sys; from forgeq.cli import main; sys.argv[0] = 'forgeq'; main()",
            *args,
        ]
    else:
        argv = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "forgeq", *args]
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": str(cwd)}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def copy_demo(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    shutil.copytree(DEMO.parent, app, ignore=shutil.ignore_patterns(".forgeq", "__pycache__", "tests"))
    return app


def test_inspect_queue_without_typer_prints_what_the_typer_command_prints(tmp_path: Path) -> None:
    app = copy_demo(tmp_path)
    assert _forgeq(["push", "issue-created", "--count", "3"], app).returncode == 0
    assert (
        _forgeq(
            [
                "push",
                "--queue",
                "storage-async-queue",
                "--body",
                '{"issueKey": "A-1"}',
                "--count",
                "4",
                "--installation",
                "site-2",
            ],
            app,
        ).returncode
        == 0
    )
    for args in (
        ["inspect", "queue"],
        ["inspect", "queue", "--json"],
        ["inspect", "queue", "-i", "site-2"],
        ["inspect", "queue", "--installation=site-2", "--json"],
        ["inspect", "queue", "--manifest", "manifest.yml", "--db", ".forgeq/state.db"],
        ["inspect", "queue", "--db", "missing.db"],
        ["inspect", "queue", "-m", "nowhere/manifest.yml"],
        ["inspect", "queue", "--no-such-option"],
    ):
        fast, slow = _forgeq(args, app), _forgeq(args, app, typer_path=True)
        usage = fast.stderr.replace("python -m forgeq", "forgeq")  # click names the program after argv[0]
        assert (fast.returncode, fast.stdout, usage) == (slow.returncode, slow.stdout, slow.stderr), args
    shown = _forgeq(["inspect", "queue"], app).stdout.splitlines()
    assert shown[1].split() == [
        "queue",
        "pending",
        "delayed",
        "running",
        "retrying",
        "succeeded",
        "dropped",
        "cancelled",
        "blocked",
    ]
    assert shown[2].split()[:2] == ["storage-async-queue", "4"]


def test_inspect_queue_imports_neither_typer_rich_yaml_nor_the_loop(tmp_path: Path) -> None:
    app = copy_demo(tmp_path)
    assert (
        _forgeq(["push", "--queue", "storage-async-queue", "--body", '{"issueKey": "A-1"}'], app).returncode
        == 0
    )
    done = _forgeq(["inspect", "queue"], app, importtime=True)
    assert done.returncode == 0 and "storage-async-queue" in done.stdout
    imported = {
        line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    assert "forgeq.emulator.store.sqlite" in imported, "the importtime listing must be there to mean anything"
    heavy = {
        name
        for name in imported
        if name.split(".")[0] in ("typer", "rich", "yaml", "pydantic", "sqlite_utils")
    }
    assert not heavy and "forgeq.emulator.loop.engine" not in imported, sorted(heavy)


@pytest.mark.slow  # 16 fresh interpreters; the parameter check below is the quick guard
def test_run_and_push_without_typer_print_what_the_typer_commands_print(tmp_path: Path) -> None:
    """The launcher parses `run` and `push` and calls their bodies; typer's app, given the same
    arguments, must do exactly the same (wall times aside), errors included."""
    wall = re.compile(r"[0-9.]+s wall(, [0-9]+ attempts/s)?| \([0-9]+/s\)|\"(wall_seconds|attempts_per_second)\": [0-9.]+")
    runs = []
    for typer_path in (False, True):
        app = copy_demo(tmp_path / ("typer" if typer_path else "launcher"))
        outputs = []
        for args in (
            ["push", "issue-created", "-n", "5", "--json"],
            ["push", "--queue", "storage-async-queue", "--body", '{"issueKey": "A-1"}', "--count=3", "-i", "site-2", "--delay", "30"],
            ["push", "--queue", "bad queue!"],
            ["run", "--until-idle", "--quiet", "--seed", "3", "--installations", "2", "--storage-limits", "2025,write_units=4"],
            ["run", "-m", "manifest.yml", "--until-idle", "--json", "--product-call-ms", "50"],
            ["run", "manifest.yml", "--until-idle", "--for", "1h", "--no-eco759", "-q", "--clock", "sundial"],
            ["run", "manifest.yml", "-m", "other.yml"],
            ["run", "--seed", "x"],
        ):
            done = _forgeq(args, app, typer_path=typer_path)
            stdout, stderr = (text.replace(str(app), "APP") for text in (done.stdout, done.stderr))
            outputs.append((args, done.returncode, wall.sub("WALL", stdout), stderr.replace("python -m forgeq", "forgeq")))
        runs.append(outputs)
    assert runs[0] == runs[1]
    assert [code for _, code, _, _ in runs[0]] == [0, 0, 2, 0, 0, 2, 2, 2]


def test_the_launchers_run_and_push_take_the_typer_commands_parameters() -> None:
    """Every option the launcher takes is declared to typer, for the same parameter, with the same default."""
    import inspect

    from forgeq.cli import commands
    from forgeq.cli import push as push_body
    from forgeq.cli import run as run_body
    from forgeq.launcher import COMMANDS

    for name, declared, body in (("run", commands.run, run_body.run), ("push", commands.push, push_body.push)):
        typed = inspect.signature(declared, eval_str=True).parameters
        plain = inspect.signature(body).parameters
        assert [(p.name, p.default) for p in typed.values()] == [(p.name, p.default) for p in plain.values()], name
        spellings: dict[str, str] = {}
        arguments: set[str] = set()
        for parameter in typed.values():
            info = parameter.annotation.__metadata__[0]
            decls = [d for d in (info.default, *(getattr(info, "param_decls", None) or ())) if isinstance(d, str)]
            if type(info).__name__ == "ArgumentInfo":
                arguments.add(parameter.name)
            for decl in decls:
                for spelling in decl.split("/"):
                    spellings[spelling.strip()] = parameter.name
        for spelling, (parameter_name, _) in COMMANDS[name].items():
            if spelling:
                assert spellings.get(spelling) == parameter_name, (name, spelling)
            else:
                assert parameter_name in arguments, (name, parameter_name)


def test_run_imports_neither_typer_nor_rich_and_a_defaults_file_goes_to_typer(tmp_path: Path) -> None:
    app = copy_demo(tmp_path)
    assert _forgeq(["push", "issue-created", "--count", "3"], app).returncode == 0
    done = _forgeq(["run", "--until-idle", "--quiet"], app, importtime=True)
    assert done.returncode == 0 and "this run: " in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "forgeq.emulator.loop.engine" in imported, "the importtime listing must be there to mean anything"
    assert not {name for name in imported if name.split(".")[0] in ("typer", "rich", "pydantic", "click")}
    (app / "forgeq.toml").write_text("[run]\nseed = 7\n", encoding="utf-8")  # per-app defaults: typer applies them
    done = _forgeq(["run", "--until-idle", "--quiet"], app, importtime=True)
    assert done.returncode == 0 and any(line.split("|")[-1].strip() == "typer" for line in done.stderr.splitlines())


def test_a_backlog_on_one_installation_waits_in_due_order_while_another_is_idle(tmp_path: Path) -> None:
    """With --installations 2 and every event on site-1, site-1's slots fill while site-2's stay free.
    Its events must wait in due order, not be leased and re-delayed one claim at a time (which
    reordered them and made the drain quadratic): the run is the one a single installation gives."""
    runs = []
    for sites in (1, 2):
        folder = tmp_path / f"sites-{sites}"
        folder.mkdir()
        settings = Settings(seed=3, installations=[f"site-{k}" for k in range(1, sites + 1)])
        engine = Emulator(load_manifest(DEMO), Store(folder / "state.db"), settings)
        for start in range(0, 600, 50):
            engine.push(
                "storage-async-queue",
                [{"body": {"issueKey": f"P-{i}"}} for i in range(start, start + 50)],
                installation="site-1",
            )
        engine.run(until_idle=True)
        engine.flush()
        engine.store.close()
        attempts = dump(folder / "state.db")["attempts"]
        runs.append(([(a["event"], a["started_at"], a["outcome"]) for a in attempts], engine.clock.now()))
    (one, one_end), (two, two_end) = runs
    assert len(one) >= 600 and {outcome for _, _, outcome in one} <= {"succeeded", "retry"}
    assert two == one
    assert two_end == one_end


FINISH_MANIFEST = """app:
  id: ari:cloud:ecosystem::app/finish
modules:
  trigger:
    - key: on-created
      function: t
      events: [avi:jira:created:issue]
  consumer:
    - key: c
      queue: work
      function: f
  function:
    - key: t
      handler: index.trigger
    - key: f
      handler: index.handler
"""
# Events that end every way: succeeded at their first attempt or after retries, dropped after
# retries, and trigger events lost to a thrown error.
FINISH_SOURCE = """
from forgeq.events import InvocationError, Queue

q = Queue(key="work")


def trigger(event, context):
    number = int(event["issue"]["key"].split("-")[1])
    if number % 7 == 0:
        raise RuntimeError("lost")
    q.push({"body": {"n": number}})


def handler(event, context):
    n = event["body"]["n"]
    if n % 5 == 0:
        raise RuntimeError("always")
    if n % 3 == 0 and event.get("retryContext", {}).get("retryCount", 0) < n % 4:
        return InvocationError(retry_after=1)
"""


def test_the_loops_counts_of_finished_events_are_what_the_state_says(tmp_path: Path) -> None:
    from forgeq.emulator.tools.summary import summarize

    manifest = load_manifest(write_app(tmp_path / "app", FINISH_MANIFEST, {"src/index.py": FINISH_SOURCE}))
    store = Store(tmp_path / "state.db")
    fire_product_events(store, "issue-created", count=120, now=limits.VIRTUAL_EPOCH, installation="site-1", manifest=manifest)
    engine = Emulator(manifest, store, Settings(seed=3))
    engine.run(until_idle=True, max_attempts=40)
    since = store.conn.execute("SELECT max(id) FROM attempts").fetchone()[0]  # a second run: only its own attempts count
    engine = Emulator(manifest, store, Settings(seed=3))
    engine.run(until_idle=True)
    start, end = limits.VIRTUAL_EPOCH, engine.clock.now()
    from_loop = summarize(store, since, start, end, 1.0, run=(engine.outcomes, engine.errors, engine.finished))
    from_state = summarize(store, since, start, end, 1.0)
    store.close()
    run = from_loop["run"]
    assert run["succeeded"]["queue"] and run["succeeded"]["trigger"] and run["dropped"] and run["lost"]
    assert len(run["attempts_histogram"]) > 2
    assert run == from_state["run"]


ARGUMENTS_SOURCE = """
from forgeq.kvs import kvs


def handler(event, context):
    kvs.set(event["eventId"], {"event": event, "context": context, "types": [type(event).__name__, type(context).__name__]})
"""


def test_the_lane_gives_a_handler_the_arguments_deliver_gives_it(tmp_path: Path) -> None:
    """The lane builds a v2 consumer's (event, context) itself: what the handler receives must be
    what `_deliver` gives it, on two installations (ids aside: each run mints its own)."""
    from forgeq.testing import ForgeApp

    seen = []
    for lane in (False, True):
        manifest = write_app(tmp_path / f"lane-{lane}", CANCEL_MANIFEST, {"src/index.py": ARGUMENTS_SOURCE})
        with ForgeApp(manifest, storage_limits="none", seed=3, installations=["site-1", "site-2"]) as app:
            app.emulator.lane = lane
            app.push("work", [{"body": {"n": i, "nested": {"a": [1, None, True]}}} for i in range(5)], installation="site-1")
            app.push("work", [{"body": {"text": "\u00e9t\u00e9"}}], installation="site-2")
            app.run_until_idle()
            rows = app.emulator.store.conn.execute("SELECT installation, value FROM kvs").fetchall()
        masked = sorted(
            (installation, re.sub(r'"(eventId|jobId)":"[^"]*"', r'"\1":"-"', value)) for installation, value in rows
        )
        seen.append(masked)
    assert len(seen[0]) == 6 and '"installContext":"ari:cloud:jira::site/site-2"' in seen[0][-1][1]
    assert seen[1] == seen[0]


@pytest.mark.parametrize("many", [True, False])
def test_a_row_statement_writes_what_executemany_writes(tmp_path: Path, many: bool) -> None:
    """store/rows.py: a batch's rows as multi-row statements of 128, 32 and 8 rows and the rest one
    at a time, in order; an INSERT and an UPDATE ... FROM (VALUES ...) leave what executemany leaves
    (many=False: the fallback for an SQLite older than the template needs)."""
    from forgeq.emulator.store.rows import RowStatement

    insert = RowStatement("INSERT INTO t(id, text, at) VALUES {values} ON CONFLICT(id) DO UPDATE SET text = excluded.text", "(?, ?, ?)")
    update = RowStatement(
        "UPDATE t SET at = v.column1, text = text || v.column2 FROM (VALUES {values}) AS v WHERE t.id = v.column3",
        "(?, ?, ?)",
        single="UPDATE t SET at = ?, text = text || ? WHERE id = ?",
        since=(3, 33, 0),
        key=2,
    )
    insert.many = update.many = many and update.many
    for count in (0, 1, 7, 8, 9, 41, 128, 200, 331):
        rows = [(i * 7 % 1000, f"é{i}", i / 3) for i in range(count)]
        changes = [(i / 7, "-x", i * 7 % 1000) for i in range(0, count, 2)]
        tables = []
        for way in ("executemany", "rows"):
            conn = sqlite3.connect(tmp_path / f"{way}-{count}-{many}.db", isolation_level=None)
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, text TEXT, at REAL)")
            conn.execute("INSERT INTO t VALUES (0, 'kept', 0.5)")
            conn.execute("BEGIN")
            if way == "executemany":
                conn.executemany(insert.single, rows)
                conn.executemany(update.single, changes)
            else:
                insert.run(conn, rows)
                update.run(conn, changes)
            conn.execute("COMMIT")
            tables.append(conn.execute("SELECT id, text, at FROM t ORDER BY id").fetchall())
            conn.close()
        assert tables[1] == tables[0], count
        assert len(tables[0]) == len({row[0] for row in rows} | {0})


@pytest.mark.parametrize("count", [3, 8, 41, 170])
def test_a_batch_of_site_rows_commits_what_one_row_at_a_time_does(tmp_path: Path, count: int) -> None:
    """store/site.py writes a batch's site objects, history and requests many rows a statement;
    the state file holds what the one-row statements write, in the same order (ids included)."""
    from forgeq.emulator.store import site
    from forgeq.emulator.store.batch import SiteRow

    tables = []
    for many in (False, True):
        statements = (site._UPSERT_ROWS, site._KEPT_REF_ROWS, site._HISTORY_ROWS, site._REQUEST_ROWS)
        saved = [statement.many for statement in statements]
        for statement in statements:
            statement.many = many
        try:
            store = Store(tmp_path / f"state-{many}.db")
            with store.transaction() as conn:  # what a push seeds: objects to overwrite, one to delete
                site.write_site(conn, {("site-1", "issue", f"DEMO-{i}"): SiteRow(str(10000 + i), '{"v":0}', 1.0) for i in range(0, count, 2)})
            batch = WriteBatch()
            for i in range(count):
                batch.site_writes[("site-1", "issue", f"DEMO-{i}")] = SiteRow(str(10000 + i), f'{{"v":{i}}}', 2.0 + i, kept_ref=i % 3 == 0)
                batch.site_history.append(("site-1", "issue", f"DEMO-{i}", 2.0 + i, None, f"event #{i} try 1", f'{{"n":{i}}}'))
                batch.site_requests.append(("site-1", i, 1, 2.0 + i, "jira", "app", "PUT", f"/rest/api/3/issue/DEMO-{i}", 204, None, None, None))
            batch.site_writes[("site-1", "issue", "DEMO-0")] = None
            store.commit(batch)
            tables.append([store.conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall() for table in ("site_objects", "site_history", "site_requests")])
            store.close()
        finally:
            for statement, was in zip(statements, saved, strict=True):
                statement.many = was
    assert tables[1] == tables[0]
    objects, history, requests = tables[0]
    assert len(objects) == count - 1 and len(history) == len(requests) == count
    assert [row[2] for row in requests] == list(range(count))
