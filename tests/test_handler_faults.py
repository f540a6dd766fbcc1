"""Handler faults are contained (reliability.md §3.2, H1-H11): a handler that raises, hangs past its
timeout (sync, async, blocking inside async, swallowing the timeout), exits, returns junk, mutates
its event or floods the log costs its own attempt only. The loop, the retry and every other queue
keep going. Runs the real CLI in a subprocess on a real state file."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import forgeq

from forgeq.emulator.limits import VIRTUAL_EPOCH
from forgeq.emulator.loop.pushing import new_events
from forgeq.emulator.store import Store

pytestmark = pytest.mark.timeout(300)

# Each fault misbehaves on the first delivery (retryCount 0) and succeeds on the retry, so every
# fault also shows that its event was retried and finished.
FAULTS = """
import asyncio
import json
import os
import sys
import time

from forgeq.events import InvocationError

JOURNAL = os.environ["FAULTS_JOURNAL"]


def note(kind, body, retry_count):
    with open(JOURNAL, "a") as journal:
        journal.write(json.dumps({"kind": kind, "retry": retry_count, "body": body}) + "\\n")


class Weird(Exception):
    def __str__(self):
        raise RuntimeError("no message")


class Custom(BaseException):
    pass


class Sneaky(dict):
    def get(self, *args):
        raise RuntimeError("a result that cannot be looked at")


def raises(body):
    raise ValueError("bad input")


def raises_invocation_error(body):
    raise InvocationError(retry_after=5)


def sleeps(body):
    time.sleep(300)


def spins(body):
    while True:
        pass


def swallows(body):
    while True:
        try:
            time.sleep(300)
        except BaseException:
            pass


def swallows_twice(body):
    def inner():
        while True:
            try:
                time.sleep(300)
            except BaseException:
                continue
    while True:
        try:
            inner()
        except BaseException:
            pass


async def awaits_forever(body):
    await asyncio.sleep(300)


async def blocks_inside_async(body):
    time.sleep(300)


def exits(body):
    sys.exit(3)


def keyboard(body):
    raise KeyboardInterrupt


def base_exception(body):
    raise Custom("not an Exception")


def unprintable(body):
    raise Weird()


def returns_object(body):
    return object()


def returns_set(body):
    return {1, 2}


def returns_nan(body):
    return float("nan")


def returns_generator(body):
    return (i for i in range(3))


async def _never_awaited():
    return 1


def returns_coroutine(body):
    return _never_awaited()


def returns_sneaky(body):
    return Sneaky()


def returns_retry_dict(body):
    return {"_retry": True}


def mutates(body):
    body.clear()
    body["mutated"] = True
    return InvocationError(retry_after=2)


def floods(body):
    for _ in range(10 * 1024):
        print("x" * 1023)


def prints_binary(body):
    sys.stdout.write(bytes(range(256)).decode("latin-1"))
    raise ValueError("after binary")


def closes_stdout(body):
    print("bye")
    sys.stdout.close()
    raise ValueError("stdout closed")


def chdir_away(body):
    os.chdir("/")
    raise ValueError("moved")


def retry_after_past_a_double(body):
    return InvocationError(retry_after=10**400)


def retry_after_infinite(body):
    return InvocationError(retry_after=float("inf"))


def retry_data_huge_int(body):
    return InvocationError(retry_after=2, retry_data={"n": 10**5000})


def retry_data_too_deep(body):
    value = 1
    for _ in range(100000):
        value = {"a": value}
    return InvocationError(retry_after=2, retry_data=value)


def lone_surrogate_error(body):
    raise ValueError("half a pair: \\ud800")


def lone_surrogate_print(body):
    print("half a pair: \\ud800")


def huge_error(body):
    raise ValueError("x" * 10**7)


def out_of_memory(body):
    return bytearray(1 << 60)


def dispatch(kind, body, retry_count):
    note(kind, dict(body), retry_count)
    if retry_count == 0:
        return globals()[kind](body)
    return None


def make_v2(kind):
    def handler(event, context):
        retry_count = (event.get("retryContext") or {}).get("retryCount", 0)
        result = dispatch(kind, event["body"], retry_count)
        if kind == "mutates" and retry_count == 0:
            event.clear()
        return result

    if kind in ("awaits_forever", "blocks_inside_async"):
        async def async_handler(event, context):
            retry_count = (event.get("retryContext") or {}).get("retryCount", 0)
            note(kind, dict(event["body"]), retry_count)
            if retry_count == 0:
                return await globals()[kind](event["body"])
            return None
        return async_handler
    return handler
"""

KINDS: dict[str, dict[str, Any]] = {
    # kind: what the first attempt must look like
    "raises": {"outcome": "error", "error": "ValueError: bad input"},
    "raises_invocation_error": {"outcome": "error", "error": "InvocationError"},
    "sleeps": {"outcome": "timeout", "timeout": True},
    "spins": {"outcome": "timeout", "timeout": True},
    "swallows": {"outcome": "timeout", "timeout": True},
    "swallows_twice": {"outcome": "timeout", "timeout": True},
    "awaits_forever": {"outcome": "timeout", "timeout": True},
    "blocks_inside_async": {"outcome": "timeout", "timeout": True},
    "exits": {"outcome": "error", "error": "SystemExit(3)"},
    "keyboard": {"outcome": "error", "error": "KeyboardInterrupt"},
    "base_exception": {"outcome": "error", "error": "Custom: not an Exception"},
    "unprintable": {"outcome": "error", "error": "Weird"},
    "returns_object": {"outcome": "succeeded"},
    "returns_set": {"outcome": "succeeded"},
    "returns_nan": {"outcome": "succeeded"},
    "returns_generator": {"outcome": "succeeded"},
    "returns_coroutine": {"outcome": "succeeded"},  # awaited, as Forge awaits a returned promise
    "returns_sneaky": {"outcome": "succeeded"},  # read as JSON (as the platform reads a return value), its get() unused
    "returns_retry_dict": {"outcome": "retry"},
    "mutates": {"outcome": "retry"},
    "floods": {"outcome": "succeeded", "logs": "log cut at"},
    "prints_binary": {"outcome": "error", "error": "after binary"},
    "closes_stdout": {"outcome": "error", "error": "stdout closed"},
    "chdir_away": {"outcome": "error", "error": "moved"},
    # numbers past a double, values JSON or SQLite cannot hold, texts too long to show: bounded
    # the return value goes through JSON as JavaScript's would: a number past a double is null there
    "retry_after_past_a_double": {"outcome": "retry", "notes": "retryAfter missing", "asked": None, "applied": 1},
    "retry_after_infinite": {"outcome": "retry", "notes": "retryAfter missing", "asked": None, "applied": 1},
    "retry_data_huge_int": {"outcome": "retry"},  # JSON.stringify's null for what JavaScript reads as Infinity
    "retry_data_too_deep": {"outcome": "error", "error": "RecursionError"},  # as JSON.stringify's RangeError in Node.js
    "lone_surrogate_error": {"outcome": "error", "error": "half a pair: \\ud800"},  # escaped as JSON escapes it
    "lone_surrogate_print": {"outcome": "succeeded", "logs": "half a pair: \\ud800"},
    "huge_error": {"outcome": "error", "error": "more characters]"},
    "out_of_memory": {"outcome": "error", "error": "MemoryError: the handler ran out of memory", "reason": "FUNCTION_OUT_OF_MEMORY"},
}
V1_KINDS = ("raises", "sleeps", "swallows", "exits", "mutates", "returns_sneaky")
HEALTHY = 40


def _app(root: Path) -> Path:
    consumers, functions, v1 = [], [], []
    for kind in KINDS:
        consumers.append(f"    - key: c-{kind}\n      queue: q-{kind}\n      function: f{len(functions)}")
        timeout = "\n      timeoutSeconds: 1" if KINDS[kind].get("timeout") else ""
        functions.append(f"    - key: f{len(functions)}\n      handler: handlers.v2_{kind}{timeout}")
    for kind in V1_KINDS:
        consumers.append(
            f"    - key: v1-{kind}\n      queue: v1-{kind}\n      resolver:\n        function: f{len(functions)}\n        method: m"
        )
        timeout = "\n      timeoutSeconds: 1" if KINDS[kind].get("timeout") else ""
        functions.append(f"    - key: f{len(functions)}\n      handler: handlers.v1_{kind}{timeout}")
        v1.append(kind)
    consumers.append(f"    - key: healthy\n      queue: healthy\n      function: f{len(functions)}")
    functions.append(f"    - key: f{len(functions)}\n      handler: handlers.healthy")
    manifest = "app:\n  id: ari:cloud:ecosystem::app/faults\nmodules:\n  consumer:\n" + "\n".join(consumers)
    manifest += "\n  function:\n" + "\n".join(functions) + "\n"
    (root / "src").mkdir(parents=True)
    (root / "manifest.yml").write_text(manifest)
    handlers = textwrap.dedent(FAULTS)
    handlers += "\n\nfrom forgeq.resolver import Resolver\n\n"
    for kind in KINDS:
        handlers += f"v2_{kind} = make_v2({kind!r})\n"
    for kind in v1:
        handlers += textwrap.dedent(
            f"""
            _r_{kind} = Resolver()


            @_r_{kind}.define("m")
            def _m_{kind}(request):
                payload = request["payload"]
                retry_count = (payload.get("retryContext") or {{}}).get("retryCount", 0)
                body = {{k: v for k, v in payload.items() if k != "retryContext"}}
                result = dispatch({kind!r}, body, retry_count)
                if {kind!r} == "mutates" and retry_count == 0:
                    payload.clear()
                return result


            v1_{kind} = _r_{kind}.get_definitions()
            """
        )
    handlers += "\n\ndef healthy(event, context):\n    note('healthy', event['body'], 0)\n"
    (root / "src" / "handlers.py").write_text(handlers)
    return root / "manifest.yml"


@pytest.fixture(scope="module")
def faulted_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("faults")
    manifest = _app(root)
    journal = root / "journal.jsonl"
    store = Store(root / ".forgeq" / "state.db")  # setup only; the run below is the real CLI
    pushes = [(f"q-{k}", {"kind": k, "n": 1}) for k in KINDS] + [
        (f"v1-{k}", {"kind": k, "n": 1}) for k in V1_KINDS
    ]
    pushes += [("healthy", {"ok": True})] * HEALTHY
    for queue, body in pushes:
        store.push_job(
            queue,
            "site-1",
            VIRTUAL_EPOCH,
            "test",
            new_events(queue, [{"body": body}], installation="site-1", now=VIRTUAL_EPOCH, job_id=None),
        )
    store.close()
    done = forgeq(
        "run",
        manifest,
        "--until-idle",
        "--seed",
        "4",
        cwd=root,
        env={"FAULTS_JOURNAL": str(journal)},
        timeout=240,
    )
    conn = sqlite3.connect(root / ".forgeq" / "state.db")
    conn.row_factory = sqlite3.Row
    attempts = [
        dict(r)
        for r in conn.execute(
            "SELECT e.target, e.body, a.* FROM attempts a JOIN events e ON e.id = a.event ORDER BY a.id"
        )
    ]
    events = [dict(r) for r in conn.execute("SELECT target, state, attempts FROM events")]
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    return {"done": done, "attempts": attempts, "events": events, "journal": lines, "integrity": integrity}


def test_the_run_survives_every_fault(faulted_run: dict[str, Any]) -> None:
    done = faulted_run["done"]
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert faulted_run["integrity"] == "ok"
    states = {(e["target"], e["state"]) for e in faulted_run["events"]}
    assert all(state == 2 for _, state in states), f"every event ends succeeded after its retry: {states}"


@pytest.mark.parametrize("queue", [f"q-{k}" for k in KINDS] + [f"v1-{k}" for k in V1_KINDS])
def test_fault_costs_one_attempt_then_the_retry_succeeds(faulted_run: dict[str, Any], queue: str) -> None:
    kind = queue.split("-", 1)[1]
    expected = KINDS[kind]
    rows = [a for a in faulted_run["attempts"] if a["target"] == queue]
    first = rows[0]
    assert first["outcome"] == expected["outcome"], first
    if "error" in expected:
        wanted = expected["error"] if isinstance(expected["error"], tuple) else (expected["error"],)
        assert any(text in (first["error"] or "") for text in wanted), first["error"]
    if "notes" in expected:
        assert expected["notes"] in (first["notes"] or "")
    if "reason" in expected:
        assert first["reason"] == expected["reason"], first
    if "asked" in expected:
        assert first["retry_after_asked"] == expected["asked"] and first["retry_after_applied"] == expected["applied"], first
    assert len(first["error"] or "") < 4200 and len(first["notes"] or "") < 4200, "texts from a handler are bounded"
    if "logs" in expected:
        assert expected["logs"] in (first["logs"] or "")
        assert len(first["logs"]) < 210 * 1024
    if expected.get("timeout"):
        assert "FUNCTION_TIME_OUT" in (first["reason"] or "") or "timed out" in (first["error"] or "")
        print(f"{queue}: timeout of 1 s detected after {first['wall_ms']:.0f} ms of wall time")
    if expected["outcome"] == "succeeded":
        assert len(rows) == 1
    else:
        assert len(rows) == 2 and rows[1]["outcome"] == "succeeded", rows


def test_a_mutated_event_is_delivered_pristine_on_retry(faulted_run: dict[str, Any]) -> None:
    for queue_kind in ("mutates",):
        seen = [line for line in faulted_run["journal"] if line["kind"] == queue_kind]
        assert len(seen) == 4  # v2 and v1, two attempts each
        for line in seen:
            assert line["body"] == {"kind": "mutates", "n": 1}, line


def test_the_healthy_queue_ran_each_event_once(faulted_run: dict[str, Any]) -> None:
    healthy = [a for a in faulted_run["attempts"] if a["target"] == "healthy"]
    assert len(healthy) == HEALTHY
    assert all(a["outcome"] == "succeeded" and a["attempt"] == 1 for a in healthy)
    assert sum(1 for line in faulted_run["journal"] if line["kind"] == "healthy") == HEALTHY
