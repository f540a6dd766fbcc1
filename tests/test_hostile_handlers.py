"""Hostile handlers: what a Python handler can do to the process it shares with forgeq costs its own
attempt (or its module's load), with a note, and the loop goes on (forgeq/emulator/app/sandbox.py).

One real `forgeq run --until-idle` in a subprocess, with its address space capped, delivers one event
to each hostile handler (which misbehaves on its first delivery and succeeds on its retry) beside a
healthy queue: memory kept in a global until it runs out, os._exit, signals to its own process,
closing every descriptor, fork, threads and exit hooks that outlive it, stdout floods, recursion.
The import-time cases get a run each.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import V2_MANIFEST, forgeq, write_app

from forgeq.emulator.limits import VIRTUAL_EPOCH
from forgeq.emulator.loop.pushing import new_events
from forgeq.emulator.store import Store

pytestmark = pytest.mark.timeout(300)

HOSTILE = """
import atexit
import json
import os
import signal
import sys
import threading
import time

from forgeq.kvs import kvs

JOURNAL = os.environ["HOSTILE_JOURNAL"]
KEPT = []


def note(kind, **fields):
    with open(JOURNAL, "a") as journal:
        journal.write(json.dumps({"kind": kind, "pid": os.getpid(), **fields}) + "\\n")


def keeps_memory_until_it_runs_out():
    while True:
        KEPT.append(bytearray(10**7))


def exits_the_process():
    os._exit(0)


def exits_and_swallows_it():
    try:
        os._exit(3)
    except BaseException:
        pass


def kills_its_process():
    os.kill(os.getpid(), signal.SIGKILL)


def terminates_its_process():
    os.kill(os.getpid(), signal.SIGTERM)


def interrupts_its_process():
    signal.raise_signal(signal.SIGINT)


def signals_its_group():
    os.killpg(0, signal.SIGTERM)


def aborts():
    os.abort()


def takes_the_signals():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.alarm(0)


def closes_every_descriptor():
    os.closerange(3, 65536)


def closes_descriptors_one_by_one():
    for fd in range(0, 1024):
        try:
            os.close(fd)
        except OSError:
            pass


def closes_descriptors_as_files():
    for fd in range(3, 1024):
        try:
            os.fdopen(fd).close()
        except (OSError, ValueError):
            pass


def lowers_the_recursion_limit():
    sys.setrecursionlimit(60)


def recurses_forever():
    def again(n):
        return again(n + 1)
    return again(0)


def forks():
    child = os.fork()
    if child == 0:
        try:
            kvs.set("from-the-child", 1)
            note("forked-child", sdk="worked")
        except Exception as error:
            note("forked-child", sdk=type(error).__name__)
        return None  # back into forgeq's code, in the child: it must end there
    os.waitpid(child, 0)


def forks_and_lingers():
    child = os.fork()
    if child == 0:
        note("lingering-child")
        time.sleep(120)
        os._exit(0)


def starts_a_thread():
    threading.Thread(target=time.sleep, args=(120,), name="left-running").start()


def registers_an_exit_hook():
    atexit.register(time.sleep, 120)


def floods_stdout_past_the_capture():
    for _ in range(5):
        os.write(1, b"y" * 10**6)


def make(kind):
    def handler(event, context):
        retry_count = (event.get("retryContext") or {}).get("retryCount", 0)
        note(kind, retry=retry_count)
        if retry_count == 0:
            return globals()[kind]()
        return None
    return handler


def healthy(event, context):
    note("healthy")
"""

# kind: what its first attempt must show (the retry then succeeds)
KINDS: dict[str, dict[str, Any]] = {
    "keeps_memory_until_it_runs_out": {"outcome": "error", "error": "MemoryError", "reason": "FUNCTION_OUT_OF_MEMORY"},
    "exits_the_process": {"outcome": "error", "error": "the handler called os._exit(0): refused"},
    "exits_and_swallows_it": {"outcome": "error", "error": "the handler called os._exit(3): refused"},
    "kills_its_process": {"outcome": "error", "error": "sent SIGKILL to forgeq's own process: refused"},
    "terminates_its_process": {"outcome": "error", "error": "sent SIGTERM to forgeq's own process"},
    "interrupts_its_process": {"outcome": "error", "error": "raised SIGINT in forgeq's own process"},
    "signals_its_group": {"outcome": "error", "error": "sent SIGTERM to forgeq's process group"},
    "aborts": {"outcome": "error", "error": "os.abort()"},
    "takes_the_signals": {"outcome": "succeeded", "notes": "SIGTERM handler in place: forgeq's own is back"},
    "closes_every_descriptor": {"outcome": "succeeded", "notes": "forgeq's own"},
    "closes_descriptors_one_by_one": {"outcome": "succeeded", "notes": "refused, it is forgeq's"},
    "closes_descriptors_as_files": {"outcome": "succeeded", "notes": "as a file: refused"},
    "lowers_the_recursion_limit": {"outcome": "succeeded"},
    "recurses_forever": {"outcome": "error", "error": "RecursionError"},
    "forks": {"outcome": "succeeded"},
    "forks_and_lingers": {"outcome": "succeeded"},
    "starts_a_thread": {"outcome": "succeeded"},
    "registers_an_exit_hook": {"outcome": "succeeded"},
    "floods_stdout_past_the_capture": {"outcome": "succeeded"},
}
HEALTHY = 10
ADDRESS_SPACE = 512 * 1024 * 1024  # enough for forgeq; the memory hog runs out long before the machine does


def _manifest() -> str:
    consumers, functions = [], []
    for index, kind in enumerate([*KINDS, "healthy"]):
        consumers.append(f"    - key: c{index}\n      queue: {kind[:36]}\n      function: f{index}")
        handler = "healthy" if kind == "healthy" else f"h_{index}"
        functions.append(f"    - key: f{index}\n      handler: hostile.{handler}")
    return (
        "app:\n  id: ari:cloud:ecosystem::app/hostile\nmodules:\n  consumer:\n"
        + "\n".join(consumers)
        + "\n  function:\n"
        + "\n".join(functions)
        + "\n"
    )


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("hostile")
    source = textwrap.dedent(HOSTILE) + "".join(f"h_{i} = make({kind!r})\n" for i, kind in enumerate(KINDS))
    (root / "src").mkdir()
    (root / "src" / "hostile.py").write_text(source)
    (root / "manifest.yml").write_text(_manifest())
    journal = root / "journal.jsonl"
    store = Store(root / ".forgeq" / "state.db")  # setup only; the run below is the real CLI
    for queue in [*(kind[:36] for kind in KINDS), *["healthy"] * HEALTHY]:
        events = new_events(queue, [{"body": {}}], installation="site-1", now=VIRTUAL_EPOCH, job_id=None)
        store.push_job(queue, "site-1", VIRTUAL_EPOCH, "test", events)
    store.close()
    env = {**os.environ, "NO_COLOR": "1", "HOSTILE_JOURNAL": str(journal)}
    env.pop("FORGEQ_DB", None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "forgeq", "run", "--until-idle", "--quiet", "--seed", "5"],
        cwd=root,
        env=env,
        capture_output=True,
        timeout=240,
        preexec_fn=_cap_memory,
    )
    wall = time.monotonic() - started
    print(f"the hostile run took {wall:.1f} s")
    again = forgeq("run", "--until-idle", "--quiet", cwd=root, env={"HOSTILE_JOURNAL": str(journal)})
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    for line in lines:  # the lingering child, if the test got this far
        if line["kind"] == "lingering-child":
            with contextlib.suppress(ProcessLookupError):
                os.kill(line["pid"], signal.SIGKILL)
    conn = sqlite3.connect(root / ".forgeq" / "state.db")
    conn.row_factory = sqlite3.Row
    attempts = [dict(r) for r in conn.execute("SELECT e.target, a.* FROM attempts a JOIN events e ON e.id = a.event ORDER BY a.id")]
    states = dict(conn.execute("SELECT target, group_concat(DISTINCT state) FROM events GROUP BY target").fetchall())
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    kvs = {row[0] for row in conn.execute("SELECT key FROM kvs")}
    conn.close()
    stderr = done.stderr.decode(errors="replace")
    return {"done": done, "stderr": stderr, "wall": wall, "again": again, "journal": lines, "attempts": attempts,
            "states": states, "integrity": integrity, "kvs": kvs}  # fmt: skip


def test_the_run_survives_every_hostile_handler_and_ends_without_waiting(hostile_run: dict[str, Any]) -> None:
    done, stderr = hostile_run["done"], hostile_run["stderr"]
    assert done.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr[-3000:]
    assert hostile_run["integrity"] == "ok"
    assert set(hostile_run["states"].values()) == {"2"}, f"every event succeeded after its retry: {hostile_run['states']}"
    # a non-daemon thread sleeping 120 s and an exit hook sleeping 120 s: the run does not wait
    assert hostile_run["wall"] < 100, hostile_run["wall"]
    assert "handlers left 1 thread running (left-running)" in stderr
    # the lingering child does not hold the run lock: the next run starts at once
    assert hostile_run["again"].returncode == 0, hostile_run["again"].stderr


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_hostile_handler_costs_its_own_attempt(hostile_run: dict[str, Any], kind: str) -> None:
    expected = KINDS[kind]
    rows = [a for a in hostile_run["attempts"] if a["target"] == kind[:36]]
    first = rows[0]
    assert first["outcome"] == expected["outcome"], first
    for field in ("error", "notes", "reason"):
        if field in expected:
            assert expected[field] in (first[field] or ""), (field, first)
    assert len(rows) == (1 if expected["outcome"] == "succeeded" else 2), rows


def test_the_healthy_queue_ran_each_event_once(hostile_run: dict[str, Any]) -> None:
    healthy = [a for a in hostile_run["attempts"] if a["target"] == "healthy"]
    assert len(healthy) == HEALTHY and all(a["outcome"] == "succeeded" for a in healthy)
    assert sum(1 for line in hostile_run["journal"] if line["kind"] == "healthy") == HEALTHY


def test_a_forked_child_runs_handler_code_only(hostile_run: dict[str, Any]) -> None:
    children = [line for line in hostile_run["journal"] if line["kind"] == "forked-child"]
    assert children == [{"kind": "forked-child", "pid": children[0]["pid"], "sdk": "ForgeRuntimeError"}]
    assert "from-the-child" not in hostile_run["kvs"]
    delivered_by = {line["pid"] for line in hostile_run["journal"] if "child" not in line["kind"]}
    assert len(delivered_by) == 1, "the child went no further than the handler: no loop of its own"


# -- at import -------------------------------------------------------------------------------------


def test_os_exit_at_a_modules_top_level_is_a_load_failure_and_the_run_fails(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write_app(app, V2_MANIFEST, {"src/index.py": "import os\nos._exit(0)\n\ndef handler(event, context):\n    return None\n"})
    assert forgeq("push", "--queue", "work", "--count", "2", cwd=app).returncode == 0
    done = forgeq("run", "--until-idle", "--quiet", cwd=app)
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "2 events blocked" in done.stderr and "os._exit(0): refused" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    queued = forgeq("inspect", "queue", "--json", cwd=app)
    assert json.loads(queued.stdout)["queues"]["work"]["blocked"] == 2  # nothing lost: they wait


def _segfault_at_import(app: Path) -> None:
    write_app(app, V2_MANIFEST, {"src/index.py": "import ctypes\nctypes.string_at(0)\n\ndef handler(event, context):\n    return None\n"})
    assert forgeq("push", "--queue", "work", cwd=app).returncode == 0


@pytest.mark.slow
def test_a_module_that_kills_python_at_import_is_left_out_after_three_crashes(tmp_path: Path) -> None:
    app = tmp_path / "app"
    _segfault_at_import(app)
    for crash in range(1, 4):
        done = forgeq("run", "--until-idle", "--quiet", cwd=app)
        assert done.returncode == -signal.SIGSEGV, (crash, done.returncode, done.stderr)
        if crash > 1:
            assert f"forgeq died while importing src/index.py (crash {crash - 1} of 3" in done.stdout, done.stdout
    left_out = forgeq("run", "--until-idle", "--quiet", cwd=app)
    assert left_out.returncode == 1, left_out.stderr
    assert "1 event blocked" in left_out.stderr and "killed forgeq 3 times in a row" in left_out.stderr
    (app / "src" / "index.py").write_text("def handler(event, context):\n    return None\n")  # fixed: tried again
    assert forgeq("run", "--until-idle", "--quiet", cwd=app).returncode == 0


# -- signals while forgeq starts ------------------------------------------------------------------

SLOW_START = """
import sys
import time


class SlowYaml:
    # Stands for a slow start (a cold disk, a loaded machine): importing PyYAML, which `run` needs
    # to read the manifest, takes seconds.
    def find_spec(self, name, path=None, target=None):
        if name == "yaml":
            time.sleep(2.5)
        return None


sys.meta_path.insert(0, SlowYaml())
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_a_signal_while_run_starts_is_the_clean_stop(tmp_path: Path, signum: int) -> None:
    app = tmp_path / "app"
    write_app(app, V2_MANIFEST, {"src/index.py": "def handler(event, context):\n    return None\n"})
    store = Store(app / ".forgeq" / "state.db")
    store.push_job("work", "site-1", VIRTUAL_EPOCH, "test", new_events("work", [{"body": {}}] * 3, installation="site-1", now=VIRTUAL_EPOCH, job_id=None))
    store.close()
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_START)
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    env.pop("FORGEQ_DB", None)
    run = subprocess.Popen([sys.executable, "-m", "forgeq", "run", "--until-idle"], cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.2)  # the interpreter is up; PyYAML is still loading
    run.send_signal(signum)
    out, err = run.communicate(timeout=60)
    assert run.returncode == (130 if signum == signal.SIGINT else 0), (run.returncode, err)  # as once the loop runs
    stopped = "stopped by Ctrl-C" if signum == signal.SIGINT else "stopped by SIGTERM"
    assert "Traceback" not in err and stopped in out and "this run: 0 attempts" in out, (out, err)
    conn = sqlite3.connect(app / ".forgeq" / "state.db")
    assert conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == 0  # stopped before anything ran
    conn.close()
