"""Push validation exactly as @forge/events 2.x/3.x does it: same order, classes and messages."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
from conftest import V2_MANIFEST, emulator, forgeq, write_app

from forgeq import events
from forgeq.events import (
    InvalidPayloadError,
    InvalidPushSettingsError,
    InvalidQueueNameError,
    NoEventsToPushError,
    PayloadTooBigError,
    TooManyEventsError,
    validate_push,
)
from forgeq.runtime import ForgeRuntimeError


def body(i: int = 0) -> dict:
    return {"body": {"i": i}}


@pytest.mark.parametrize("count", [1, 49, 50])
def test_up_to_fifty_events_pass(count):
    assert len(validate_push([body(i) for i in range(count)])) == count


def test_zero_and_fifty_one_events_fail_with_forge_messages():
    with pytest.raises(NoEventsToPushError, match=r"^No events pushed\.$"):
        validate_push([])
    with pytest.raises(TooManyEventsError, match=r"^This push contains more than the 50 events allowed\.$"):
        validate_push([body(i) for i in range(51)])


@pytest.mark.parametrize("event", [None, "text", 3, ["body"]])
def test_event_must_be_an_object(event):
    with pytest.raises(InvalidPayloadError, match=r"^Event must be an object\.$"):
        validate_push([event])


@pytest.mark.parametrize("value", [None, [], "text", 5])
def test_body_must_be_an_object(value):
    with pytest.raises(InvalidPayloadError, match=r"^Event body must be an object\.$"):
        validate_push({"body": value})


@pytest.mark.parametrize("delay", [0, 0.5, 1, 900, math.nan, None, "10", True, [5], "abc", "", {}])
def test_delays_the_sdk_lets_through(delay):
    # validators.js: `d && d > 900 || d && d < 0`, with JavaScript's coercions.
    validate_push({"body": {}, "delayInSeconds": delay})


@pytest.mark.parametrize("delay", [-1, 900.5, 901, "1000", [1000], " -5 ", math.inf, -math.inf])
def test_delays_the_sdk_refuses(delay):
    with pytest.raises(InvalidPushSettingsError, match=r"^The delayInSeconds setting must be between 0 and 900\.$"):
        validate_push({"body": {}, "delayInSeconds": delay})


@pytest.mark.parametrize(("delay", "kind"), [("10", "string"), (True, "boolean"), ([5], "array")])
def test_the_platform_refuses_a_delay_the_sdk_let_through(make_app, tmp_path, delay, kind):
    app = make_app(V2_MANIFEST, {"src/index.py": "def handler(event, context):\n    pass\n"})
    emu, _ = emulator(app, tmp_path / "state.db")
    with pytest.raises(events.InternalServerError) as refused:
        emu.push("work", {"body": {}, "delayInSeconds": delay})
    assert str(refused.value) == f"400 Bad Request: The delayInSeconds setting must be a number between 0 and 900, not a {kind}."
    assert emu.store.totals()["events"] == 0


def test_checks_run_in_sdk_order():
    # A 51-event push of bad events reports the count first; a bad body before a bad delay.
    with pytest.raises(TooManyEventsError):
        validate_push([None] * 51)
    with pytest.raises(InvalidPayloadError):
        validate_push([{"body": None, "delayInSeconds": -1}])
    with pytest.raises(InvalidPushSettingsError):
        validate_push([{"body": {}, "delayInSeconds": -1}, {"body": "x" * 300_000}])


def test_payload_size_limit_is_200_kb_of_the_whole_serialised_array():
    def push_of(size: int) -> list[dict]:
        wrapper = len('[{"body":{"s":""}}]')
        return [{"body": {"s": "x" * (size - wrapper)}}]

    validate_push(push_of(200 * 1024))
    with pytest.raises(PayloadTooBigError, match=r"^The maximum payload size is 200KB\.$"):
        validate_push(push_of(200 * 1024 + 1))
    # UTF-8 bytes, not characters: 'é' is two bytes.
    wrapper = len('[{"body":{"s":""}}]')
    with pytest.raises(PayloadTooBigError):
        validate_push([{"body": {"s": "é" * ((200 * 1024 - wrapper) // 2 + 1)}}])


def test_all_errors_share_events_error():
    for cls in (InvalidQueueNameError, NoEventsToPushError, TooManyEventsError, InvalidPayloadError, PayloadTooBigError):
        assert issubclass(cls, events.EventsError)


@pytest.mark.parametrize("key", ["", "a b", "queue/1", "é", "work\n", "\nwork", None, 0, ["a", "b"], {}])
def test_queue_names_are_checked_at_construction(key):
    with pytest.raises(InvalidQueueNameError, match="Queue names can only contain alphanumeric characters, dashes and underscores."):
        events.Queue(key=key)


@pytest.mark.parametrize(("key", "name"), [("work", "work"), (123, 123), (True, True), (["work"], ["work"]), ({"key": "q"}, "q")])
def test_queue_names_pass_the_check_as_javascript_reads_them(key, name):
    # `/^[a-zA-Z0-9-_]+$/.test(key)` reads String(key): 123, true and ["work"] pass; the platform refuses a non-string
    # name when the queue is used. A dict is `new Queue({key})`.
    queue = events.Queue(key) if isinstance(key, dict) else events.Queue(key=key)
    assert queue.key == name


def test_queue_push_outside_an_invocation_says_so():
    with pytest.raises(ForgeRuntimeError, match="no Forge invocation is running"):
        events.Queue(key="work").push({"body": {}})


def test_nothing_is_stored_when_a_push_is_refused(make_app, tmp_path):
    app = make_app(V2_MANIFEST, {"src/index.py": "def handler(event, context):\n    pass\n"})
    emu, _ = emulator(app, tmp_path / "state.db")
    with pytest.raises(TooManyEventsError):
        emu.push("work", [body(i) for i in range(51)])
    assert emu.store.totals()["events"] == 0


def test_handler_pushes_and_async_handlers_await_sdk_calls(make_app, tmp_path):
    source = """
    from forgeq.events import Queue, PayloadTooBigError
    from forgeq.kvs import kvs

    out = Queue(key="out")

    async def handler(event, context):
        if event["queueName"] == "work":
            result = await out.push([{"body": {"n": n}} for n in range(3)])
            stats = await out.get_job(result.job_id).get_stats()
            await kvs.set("stats", stats.as_dict())
            try:
                await out.push({"body": {"big": "x" * 300_000}})
            except PayloadTooBigError as error:
                await kvs.set("error", str(error))
        else:
            kvs.set(f"seen-{event['body']['n']}", True)  # plain call inside async code: still runs
    """
    manifest = """
    app:
      id: ari:cloud:ecosystem::app/test
    modules:
      consumer:
        - key: work-consumer
          queue: work
          function: consumer-function
        - key: out-consumer
          queue: out
          function: consumer-function
      function:
        - key: consumer-function
          handler: index.handler
    """
    app = make_app(manifest, {"src/index.py": source})
    emu, rec = emulator(app, tmp_path / "state.db")
    emu.push("work", {"body": {}})
    emu.run()
    assert [a.outcome for a in rec.attempts].count("succeeded") == 4
    emu.flush()
    stored = {key: row.value for key, row in emu.store.kv_scan("site-1", 0, "", None, 100)}
    assert stored["stats"] == '{"success":0,"inProgress":3,"failed":0}'
    assert stored["error"] == '"The maximum payload size is 200KB."'
    assert {"seen-0", "seen-1", "seen-2"} <= set(stored)


def test_an_idempotency_key_makes_a_retried_cli_push_a_no_op(tmp_path: Path) -> None:
    """Forge has no idempotency key (a retried push mints a new job); `forgeq push --idempotency-key`
    goes beyond it for scripts: the key and the push commit together, so a retry after a kill or a
    lost reply pushes nothing again and prints the first push's result."""
    app = tmp_path / "app"
    write_app(app, V2_MANIFEST, {"src/index.py": "def handler(event, context):\n    return None\n"})
    push = ("push", "--queue", "work", "--body", '{"n": 1}', "--count", "3", "--idempotency-key", "import-42")
    first = forgeq(*push, "--json", cwd=app)
    again = forgeq(*push, cwd=app)  # the script retries: its first push's reply was lost
    assert first.returncode == 0 and again.returncode == 0, (first.stderr, again.stderr)
    one = json.loads(first.stdout)
    assert one["repeated"] is False and one["idempotency_key"] == "import-42"
    assert f"already pushed under idempotency key 'import-42': 3 events to work [site-1] as job {one['job_id']} (#1..#3); nothing pushed again" in again.stdout
    other = forgeq("push", "--queue", "work", "--body", '{"n": 2}', "--idempotency-key", "import-42", cwd=app)
    assert other.returncode == 2 and "was used for another push" in other.stderr, other.stderr
    conn = sqlite3.connect(app / ".forgeq" / "state.db")
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 3  # pushed once
    conn.close()


def test_a_pushed_body_is_stored_as_json_stringify_writes_it(make_app, tmp_path):
    """The stored body is the body's own JSON text, whether the push came from a handler or the API,
    and whether the event holds only its body (its text then comes from the platform's checks) or more."""
    source = """
    from forgeq.events import Queue

    def handler(event, context):
        if event["queueName"] == "work":
            Queue(key="out").push([{"body": b} for b in BODIES] + [{"body": BODIES[0], "delayInSeconds": 0}])

    BODIES = [
        {"b": 1.0, "10": "x", "2": [1e-7, 2**60], "s": "\\ud800 \\u00e9", "nested": {"deep": [{"k": None}]}},
        {"plain": "text", "n": 3},
    ]
    """
    manifest = V2_MANIFEST.replace("    - key: queue-consumer", "    - key: out-consumer\n      queue: out\n      function: consumer-function\n    - key: queue-consumer")
    app = make_app(manifest, {"src/index.py": source})
    emu, _ = emulator(app, tmp_path / "state.db")
    bodies = [{"b": 1.0, "10": "x", "2": [1e-7, 2**60], "s": "\ud800 \u00e9", "nested": {"deep": [{"k": None}]}}, {"plain": "text", "n": 3}]
    emu.push("work", [{"body": b} for b in bodies] + [{"body": bodies[0], "delayInSeconds": 0}])
    emu.run(until_idle=True)
    emu.flush()
    with sqlite3.connect(tmp_path / "state.db") as conn:
        stored = conn.execute("SELECT target, body FROM events ORDER BY id").fetchall()
    expected = [events.to_json(b) for b in (*bodies, bodies[0])]
    assert expected[0] == '{"2":[1e-7,1152921504606847000],"10":"x","b":1,"s":"\\ud800 \u00e9","nested":{"deep":[{"k":null}]}}'
    assert [body for target, body in stored if target == "work"] == expected
    assert [body for target, body in stored if target == "out"] == expected * 3  # each of the three work events pushed them


def test_a_push_json_cannot_write_fails_as_the_whole_arrays_json_stringify_does():
    looped: dict = {"n": 1}
    looped["self"] = looped
    batch = [body(0), {"body": {"issue": looped}}]
    with pytest.raises(TypeError) as whole:
        events.to_json(batch)
    with pytest.raises(TypeError) as pushed:
        validate_push(batch)
    assert type(pushed.value) is type(whole.value) and str(pushed.value) == str(whole.value)
    assert "circular" in str(pushed.value)
    with pytest.raises(InvalidPayloadError) as odd:
        validate_push([body(0), {"body": {"tags": {"a", "b"}}}])
    assert "set" in str(odd.value)
