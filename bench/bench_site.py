"""Product calls against storage calls: a drain whose consumer makes one GET and one PUT per event
through `forgeq.api` (the fake Jira), next to the same drain making one `kvs.get` and one `kvs.set`.

    .venv/bin/python bench/bench_site.py             # n = 10,000 events, 3 round-robin reps
    .venv/bin/python bench/bench_site.py --n 2000 --reps 2

Each measurement drains n queue events through a v2 consumer with the engine in this process
(`Emulator.run`, virtual clock, a fresh state file), limits off (`product_limits=none`,
`storage_limits=none`) so every event takes one attempt:

- `site_drain`: GET /rest/api/3/issue/DEMO-i (the whole issue: no `fields`; read as JSON), then PUT
  it with a label added. The n issues are seeded on the site beforehand, as `forgeq push
  issue-created` seeds them.
- `site_fields_drain`: the same with GET /rest/api/3/issue/DEMO-i?fields=labels.
- `kvs_drain`: `kvs.get("issue-DEMO-i")`, then `kvs.set` of it with a label added (seeded too).
- `empty_drain`: the consumer does nothing: the loop's own cost per attempt.

`--js` drains the same three consumers written in JavaScript (`js_site`, `js_kvs`, `js_empty`), as
a Forge app is: the app's own `@forge/api` and `@forge/kvs` (those of fixtures/storage-queue-js:
run `npm ci` there first) in forgeq's Node.js worker, each call a round trip over the worker's pipe.
The worker starts before the timed drain.

Rates are events/s. The target (issue #17): product calls cost no more than twice what storage
calls cost per attempt, so `site_drain` runs at 0.5x `kvs_drain` or better. `bench_site.py` also
prints each drain's CPU time per event (steadier than wall time on a shared machine) and the calls'
own cost (a drain's time per event minus `empty_drain`'s), product over storage.
`--profile site` runs one drain under cProfile instead and prints its functions by their own time.
`--only site` runs one drain and prints nothing, for counting its instructions (load-independent,
unlike its time) under valgrind; `--instructions site kvs` counts them per event (bench/README.md
has the recipe).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ensure_bytecode, fmt_stats, fresh_db_dir, print_table, summarize

MANIFEST = """app:
  id: ari:cloud:ecosystem::app/bench-site
modules:
  consumer:
    - key: c
      queue: work
      function: f
  function:
    - key: f
      handler: index.handler
"""

SITE_HANDLER = """
from forgeq.api import api, route


def handler(event, context):
    key = event["body"]["key"]
    issue = api.as_app().request_jira(route("/rest/api/3/issue/{}", key)).json()
    labels = issue["fields"]["labels"] + ["imported"]
    api.as_app().request_jira(route("/rest/api/3/issue/{}", key), method="PUT", json={"fields": {"labels": labels}})
"""

HANDLERS = {
    "site": SITE_HANDLER,
    # The same drain, its GET asking for the labels alone.
    "site_fields": SITE_HANDLER.replace('issue/{}", key)).json()', 'issue/{}?fields=labels", key)).json()', 1),
    "kvs": """
from forgeq.kvs import kvs


def handler(event, context):
    key = "issue-" + event["body"]["key"]
    value = kvs.get(key)
    kvs.set(key, {**value, "labels": value["labels"] + ["imported"]})
""",
    "empty": """
def handler(event, context):
    return None
""",
}

# The same consumers as a Forge app writes them (`--js`): ES modules, Forge's packages from npm.
JS_MANIFEST = MANIFEST.replace("modules:", "  runtime:\n    name: nodejs20.x\nmodules:", 1)
JS_HANDLERS = {
    "js_site": """import api, { route } from '@forge/api';

export const handler = async (event) => {
  const key = event.body.key;
  const issue = await (await api.asApp().requestJira(route`/rest/api/3/issue/${key}`)).json();
  const labels = [...issue.fields.labels, 'imported'];
  await api.asApp().requestJira(route`/rest/api/3/issue/${key}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ fields: { labels } }),
  });
};
""",
    "js_kvs": """import { kvs } from '@forge/kvs';

export const handler = async (event) => {
  const key = `issue-${event.body.key}`;
  const value = await kvs.get(key);
  await kvs.set(key, { ...value, labels: [...value.labels, 'imported'] });
};
""",
    "js_empty": """export const handler = async () => {};
""",
}
JS_MODULES = Path(__file__).resolve().parent.parent / "fixtures" / "storage-queue-js" / "node_modules"


def js_unavailable() -> str | None:
    """Why the JavaScript drains cannot run here, or None."""
    if shutil.which("node") is None:
        return "Node.js is not installed"
    if not (JS_MODULES / "@forge" / "api").is_dir():
        return f"run `npm ci` in {JS_MODULES.parent} first"
    return None


CPU_PER_EVENT: dict[str, float] = {}  # the last drain's CPU seconds per event, by kind (the machine is shared: CPU time is steadier than wall)


def _drain(kind: str, n: int, db_path: Path, profiler: Any = None, drain: bool = True, counted: bool = False) -> float:
    """n / the drain's wall seconds; `profiler` (cProfile's Profile) is enabled around the drain
    alone; `drain=False` sets the drain up (seeds, pushes) and stops there. `counted`: run under
    valgrind, so the loop commits a window at a time, as at full speed, rather than every
    `ack_batch_seconds` of a 50x slower run."""
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.products import seeds
    from forgeq.emulator.products.firing import fire_product_events
    from forgeq.emulator.settings import Settings
    from forgeq.emulator.store import Store
    from forgeq.emulator.store.site import write_site

    app = db_path.parent / "app"
    (app / "src").mkdir(parents=True)
    if kind.startswith("js_"):
        (app / "manifest.yml").write_text(JS_MANIFEST)
        (app / "src" / "index.js").write_text(JS_HANDLERS[kind])
        (app / "package.json").write_text('{"type": "module"}\n')
        (app / "node_modules").symlink_to(JS_MODULES, target_is_directory=True)
    else:
        (app / "manifest.yml").write_text(MANIFEST)
        (app / "src" / "index.py").write_text(HANDLERS[kind])
    store = Store(db_path)
    settings = Settings(product_limits="none", storage_limits="none")
    if counted:
        settings.ack_batch_seconds = 3600.0
    engine = Emulator(load_manifest(app / "manifest.yml"), store, settings)
    if kind.removeprefix("js_").startswith("site"):
        # The issues a `forgeq push issue-created --count n` would seed, without its product events
        # (they would add a fan-out per event to the drain).
        seed_db = db_path.parent / "seed.db"
        fire_product_events(Store(seed_db), "issue-created", count=n, now=engine.clock.now(), installation="site-1")
        seeded = Store(seed_db)
        writes = {("site-1", seeds.ISSUE, key): row for key, row in seeded.site_scan("site-1", seeds.ISSUE)}
        with store.transaction() as conn:
            write_site(conn, writes)
    elif kind.removeprefix("js_") == "kvs":
        for start in range(0, n, 500):
            for i in range(start, min(start + 500, n)):
                engine.batch.kv_writes[("site-1", 0, f"issue-DEMO-{i + 1}")] = _kv_row(i + 1)
            engine.flush()
    for start in range(0, n, 50):
        engine.push("work", [{"body": {"key": f"DEMO-{i + 1}"}} for i in range(start, min(start + 50, n))])
    if not drain:
        store.close()
        return 0.0
    try:
        engine.start()  # the Node.js worker, for a JavaScript app: started before the timed drain
        if engine.handlers.errors:
            raise RuntimeError(next(iter(engine.handlers.errors.values())).message)
        if profiler is not None:
            profiler.enable()
        started, cpu = time.perf_counter(), time.process_time()
        engine.run(until_idle=True)
        elapsed = time.perf_counter() - started
        CPU_PER_EVENT[kind] = (time.process_time() - cpu) / n  # for JavaScript, this process's share alone
        if profiler is not None:
            profiler.disable()
        assert engine.attempts_run == n, (kind, engine.attempts_run)  # one attempt each: none failed
    finally:
        engine.handlers.close()
        store.close()
    return n / elapsed


def _kv_row(i: int) -> object:
    import json

    from forgeq.emulator.store.batch import KvRow

    value = json.dumps({"issueKey": f"DEMO-{i}", "status": "new", "labels": []}, separators=(",", ":"))
    return KvRow(value, 1.0, 1.0, None)


def site_drain(n: int, db_path: Path) -> float:
    return _drain("site", n, db_path)


def site_fields_drain(n: int, db_path: Path) -> float:
    return _drain("site_fields", n, db_path)


def kvs_drain(n: int, db_path: Path) -> float:
    return _drain("kvs", n, db_path)


def empty_drain(n: int, db_path: Path) -> float:
    return _drain("empty", n, db_path)


BENCHES: dict[str, Callable[[int, Path], float]] = {
    "empty_drain": empty_drain,
    "kvs_drain": kvs_drain,
    "site_drain": site_drain,
    "site_fields_drain": site_fields_drain,
}
JS_BENCHES: dict[str, Callable[[int, Path], float]] = {
    f"{kind}_drain": lambda n, db_path, kind=kind: _drain(kind, n, db_path) for kind in ("js_empty", "js_kvs", "js_site")
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--profile", choices=[name.removesuffix("_drain") for name in (*BENCHES, *JS_BENCHES)], help="cProfile one drain of this kind instead")
    parser.add_argument("--top", type=int, default=30, help="with --profile: how many functions, by their own time")
    parser.add_argument("--only", choices=[name.removesuffix("_drain") for name in BENCHES], help="one drain of this kind, nothing printed (for valgrind)")
    parser.add_argument("--set-up-only", action="store_true", help="with --only: seed and push, do not drain")
    parser.add_argument(
        "--instructions", nargs="+", choices=[name.removesuffix("_drain") for name in BENCHES], metavar="KIND",
        help="count each drain's instructions per event with valgrind instead (under a minute a kind)",
    )
    parser.add_argument("--js", action="store_true", help="drain the JavaScript consumers instead (default --n 2000)")
    args = parser.parse_args()
    if args.js:
        return _js(args.n if args.n != parser.get_default("n") else 2_000, args.reps)
    if args.instructions:
        ensure_bytecode()  # each count reads bytecode, as bench/instructions.py's do
        for kind in args.instructions:
            print(f"{kind}_drain: {instructions_per_event(kind):,.0f} instructions per event")
        return 0
    if args.profile:
        return _profile(args.profile, args.n, args.top)
    if args.only:
        with fresh_db_dir() as folder:
            _drain(args.only, args.n, Path(folder) / "state.db", drain=not args.set_up_only, counted=True)
        return 0
    rates: dict[str, list[float]] = {name: [] for name in BENCHES}
    cpus: dict[str, list[float]] = {name: [] for name in BENCHES}
    for _ in range(args.reps):
        for name, measure in BENCHES.items():
            with fresh_db_dir() as folder:
                rates[name].append(measure(args.n, Path(folder) / "state.db"))
            cpus[name].append(CPU_PER_EVENT[name.removesuffix("_drain")])
    rows = []
    for name in BENCHES:
        stats = summarize(rates[name])
        cpu = sorted(cpus[name])
        rows.append([name, f"{args.n:,}", fmt_stats(stats, "events/s"), f"{cpu[len(cpu) // 2] * 1e6:.1f} us [{cpu[0] * 1e6:.1f}..{cpu[-1] * 1e6:.1f}]"])
    print_table(["bench", "n", "median [min..max]", "CPU per event"], rows)
    print()
    for name in ("site_drain", "site_fields_drain"):
        ratios = sorted(s / k for s, k in zip(rates[name], rates["kvs_drain"], strict=True))
        print(f"{name} / kvs_drain per rep: {', '.join(f'{r:.3f}x' for r in ratios)} (target >= 0.5x: product calls cost at most twice what storage calls cost per attempt)")
    cpu = sorted(s / k for s, k in zip(cpus["kvs_drain"], cpus["site_drain"], strict=True))
    print(f"site_drain by CPU time (kvs_drain's CPU per event / site_drain's) per rep: {', '.join(f'{r:.3f}x' for r in cpu)}")
    calls = []
    for empty, kvs, site in zip(rates["empty_drain"], rates["kvs_drain"], rates["site_drain"], strict=True):
        calls.append((1 / site - 1 / empty) / max(1 / kvs - 1 / empty, 1e-9))
    print(f"the calls alone (time per event minus empty_drain's), product / storage per rep: {', '.join(f'{c:.2f}x' for c in sorted(calls))}")
    return 0


def _js(n: int, reps: int) -> int:
    """`--js`: the JavaScript drains, round-robin, and js_site's rate over js_kvs's per rep."""
    why = js_unavailable()
    if why is not None:
        print(f"skipped: {why}")
        return 0
    rates: dict[str, list[float]] = {name: [] for name in JS_BENCHES}
    for _ in range(reps):
        for name, measure in JS_BENCHES.items():
            with fresh_db_dir() as folder:
                rates[name].append(measure(n, Path(folder) / "state.db"))
    rows = [[name, f"{n:,}", fmt_stats(summarize(rates[name]), "events/s"), f"{1e6 / summarize(rates[name]).median:,.0f} us"] for name in JS_BENCHES]
    print_table(["bench", "n", "median [min..max]", "wall per event"], rows)
    print()
    ratios = sorted(s / k for s, k in zip(rates["js_site_drain"], rates["js_kvs_drain"], strict=True))
    print(f"js_site_drain / js_kvs_drain per rep: {', '.join(f'{r:.3f}x' for r in ratios)} (target >= 0.5x)")
    calls = sorted(
        (1 / site - 1 / empty) / max(1 / kvs - 1 / empty, 1e-9)
        for empty, kvs, site in zip(rates["js_empty_drain"], rates["js_kvs_drain"], rates["js_site_drain"], strict=True)
    )
    print(f"the calls alone (time per event minus js_empty_drain's), product / storage per rep: {', '.join(f'{c:.2f}x' for c in calls)}")
    return 0


def instructions_per_event(kind: str, small: int = 300, large: int = 1300) -> float:
    """A drain's instructions per event, by valgrind (bench/README.md, "Product calls against storage
    calls"): `--only KIND` at two sizes, less the same with `--set-up-only` (the seeding and the push)."""
    from bench.instructions import _count

    def count(n: int, *extra: str) -> int:
        return _count([sys.executable, str(Path(__file__).resolve()), "--only", kind, "--n", str(n), *extra])

    drained = count(large) - count(small)
    set_up = count(large, "--set-up-only") - count(small, "--set-up-only")
    return (drained - set_up) / (large - small)


def _profile(kind: str, n: int, top: int) -> int:
    import cProfile
    import pstats

    import forgeq.emulator.loop.engine  # noqa: F401 - imported before the profile starts

    profiler = cProfile.Profile()
    with fresh_db_dir() as folder:
        rate = _drain(kind, n, Path(folder) / "state.db", profiler)
    print(f"{kind}: n={n:,}, {rate:,.0f} events/s under cProfile, {CPU_PER_EVENT[kind] * 1e6:.1f} us CPU per event")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
