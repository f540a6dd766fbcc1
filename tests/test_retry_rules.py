"""Forge's delivery and retry rules (Atlassian's "Async events API" and "Queue" pages; docs/fidelity.md, delivery and retries), on a real SQLite file, through the real loop."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import V1_MANIFEST, V2_MANIFEST, emulator

from forgeq.emulator import limits

ALWAYS_RETRY_V1 = """
from forgeq.events import InvocationError
from forgeq.resolver import Resolver
from forgeq.kvs import kvs
import json, os

resolver = Resolver()
SEEN = os.environ.get("SEEN_FILE")

@resolver.define("listener")
def listener(request):
    payload = request["payload"]
    with open(os.environ["SEEN_FILE"], "a") as seen:
        seen.write(json.dumps({"payload": payload, "jobId": request["context"].get("jobId")}) + "\\n")
    return InvocationError(retry_after=payload.get("after", 30), retry_reason="FUNCTION_RETRY_REQUEST", retry_data={"n": 1})

handler = resolver.get_definitions()
"""

V2_HANDLER = """
import json, os
from forgeq.events import InvocationError

def handler(event, context):
    with open(os.environ["SEEN_FILE"], "a") as seen:
        seen.write(json.dumps(event) + "\\n")
    mode = event["body"].get("mode")
    if mode == "raise":
        raise ValueError("boom")
    if mode == "raise-invocation-error":
        raise InvocationError(retry_after=5)
    if mode == "retry":
        return InvocationError(retry_after=event["body"].get("after", 900))
    if mode == "dict-retry":
        return {"_retry": True, "retryOptions": {"retryAfter": 7, "retryReason": "FUNCTION_RETRY_REQUEST"}}
    if mode == "no-options":
        return InvocationError()
    if mode == "set-data" and "retryContext" not in event:
        return InvocationError(retry_after=5, retry_data={"ids": {1, 2}, "n": 1})
    return "anything else is success"
"""


def seen(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_v1_consumer_is_dropped_after_four_retries_with_payload_retry_context(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("SEEN_FILE", str(tmp_path / "seen.jsonl"))
    app = make_app(V1_MANIFEST, {"src/index.py": ALWAYS_RETRY_V1})
    emu, rec = emulator(app, tmp_path / "state.db")
    emu.push("work", {"body": {"issueKey": "A-1"}})
    emu.run()
    calls = seen(tmp_path / "seen.jsonl")
    assert len(calls) == 5  # the first attempt and 4 retries
    assert "retryContext" not in calls[0]["payload"]
    assert [c["payload"]["retryContext"]["retryCount"] for c in calls[1:]] == [1, 2, 3, 4]
    assert calls[1]["payload"]["retryContext"]["retryData"] == {"n": 1}
    assert calls[0]["jobId"] and all(c["jobId"] == calls[0]["jobId"] for c in calls)
    assert [a.outcome for a in rec.attempts] == ["retry"] * 4 + ["dropped"]
    gaps = [b.started_at - a.started_at for a, b in zip(rec.attempts, rec.attempts[1:], strict=False)]
    assert all(abs(gap - 30 - limits.INVOCATION_SECONDS) < 1e-6 for gap in gaps)
    ledger = emu.store.ledger()
    assert len(ledger) == 1 and "4 retries" in ledger[0]["drop_reason"]
    assert json.loads(ledger[0]["retry_context"])["retryCount"] == 4


def test_retry_after_is_clamped_and_a_4x900_chain_finishes_in_virtual_time(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("SEEN_FILE", str(tmp_path / "seen.jsonl"))
    app = make_app(V1_MANIFEST, {"src/index.py": ALWAYS_RETRY_V1})
    emu, rec = emulator(app, tmp_path / "state.db")
    emu.push("work", [{"body": {"after": 5000}}, {"body": {"after": 0}}, {"body": {"after": -3}}, {"body": {"after": 0.25}}])
    emu.run()
    by_event: dict[int, list] = {}
    for report in rec.attempts:
        by_event.setdefault(report.seq, []).append(report)
    applied = {seq: reports[0].retry_after_applied for seq, reports in by_event.items()}
    assert sorted(applied.values()) == [0.25, 1.0, 1.0, 900.0]
    long_chain = next(reports for reports in by_event.values() if reports[0].retry_after_asked == 5000)
    assert any("clamped" in note for note in long_chain[0].notes)
    # 4 retries of 900 s: an hour of virtual time, drained at once.
    assert long_chain[-1].started_at - long_chain[0].started_at >= 4 * 900
    assert emu.clock.now() - limits.VIRTUAL_EPOCH >= 3600


def test_v2_event_shape_and_retry_context_only_on_retries(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("SEEN_FILE", str(tmp_path / "seen.jsonl"))
    app = make_app(V2_MANIFEST, {"src/index.py": V2_HANDLER})
    emu, _ = emulator(app, tmp_path / "state.db")
    job = emu.push("work", {"body": {"mode": "dict-retry"}, "delayInSeconds": 3})
    emu.run(max_attempts=2)
    first, second = seen(tmp_path / "seen.jsonl")[:2]
    assert set(first) >= {"body", "queueName", "jobId", "eventId"} and "retryContext" not in first
    assert first["queueName"] == "work" and first["jobId"] == job and first["delayInSeconds"] == 3
    context = second["retryContext"]
    assert context["retryCount"] == 1 and context["retryReason"] == "FUNCTION_RETRY_REQUEST"
    assert context["retentionWindow"]["remainingTimeMs"] < 24 * 3600 * 1000
    assert "payload" not in second


def test_v2_retries_until_the_retention_window_ends(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("SEEN_FILE", str(tmp_path / "seen.jsonl"))
    app = make_app(V2_MANIFEST, {"src/index.py": V2_HANDLER})
    emu, rec = emulator(app, tmp_path / "state.db")
    emu.push("work", {"body": {"mode": "retry", "after": 900}})
    emu.run()
    # 24 h / (900 s + the invocation) = 95 retries fit; the 96th would fall outside the window.
    assert len(rec.attempts) == 96
    assert rec.attempts[-1].outcome == "dropped"
    assert "retention" in rec.attempts[-1].drop_reason
    assert rec.attempts[-2].retry_count == 94


def test_thrown_errors_and_raised_invocation_errors_are_app_level_errors(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("SEEN_FILE", str(tmp_path / "seen.jsonl"))
    app = make_app(V2_MANIFEST, {"src/index.py": V2_HANDLER})
    emu, rec = emulator(app, tmp_path / "state.db")
    emu.push("work", [{"body": {"mode": "raise"}}, {"body": {"mode": "raise-invocation-error"}}])
    emu.run(max_attempts=2)
    by_body = {json.loads(emu.store.event(a.seq).body)["mode"]: a for a in rec.attempts}
    raised = by_body["raise"]
    assert raised.outcome == "error" and "ValueError: boom" in raised.error and "index.py:" in raised.error
    assert raised.reason == "FUNCTION_PLATFORM_UNKNOWN_ERROR" and raised.retry_after_applied == limits.AUTO_RETRY_FIRST_DELAY
    wrong = by_body["raise-invocation-error"]
    assert wrong.outcome == "error" and any("honours only a returned one" in n for n in wrong.notes)


def test_invocation_error_without_options_gets_forge_defaults(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("SEEN_FILE", str(tmp_path / "seen.jsonl"))
    app = make_app(V2_MANIFEST, {"src/index.py": V2_HANDLER})
    emu, rec = emulator(app, tmp_path / "state.db")
    emu.push("work", {"body": {"mode": "no-options"}})
    emu.run(max_attempts=1)
    assert rec.attempts[0].retry_after_applied == 1.0 and rec.attempts[0].reason == "FUNCTION_RETRY_REQUEST"
    assert rec.attempts[0].notes == []


def test_retry_data_json_cannot_hold_goes_back_as_text_with_a_note(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("SEEN_FILE", str(tmp_path / "seen.jsonl"))
    app = make_app(V2_MANIFEST, {"src/index.py": V2_HANDLER})
    emu, rec = emulator(app, tmp_path / "state.db")
    emu.push("work", {"body": {"mode": "set-data"}})
    emu.run()
    assert [a.outcome for a in rec.attempts] == ["retry", "succeeded"]
    assert any("retryData is not JSON (Object of type set is not JSON serializable)" in note for note in rec.attempts[0].notes)
    assert seen(tmp_path / "seen.jsonl")[1]["retryContext"]["retryData"] == {"ids": "{1, 2}", "n": 1}


def test_timeout_ends_a_real_hang_and_is_retried(make_app, tmp_path):
    app = make_app(
        V2_MANIFEST.replace("handler: index.handler", "handler: index.handler\n      timeoutSeconds: 1"),
        {"src/index.py": "import time\ndef handler(event, context):\n    while True:\n        try:\n            time.sleep(5)\n        except BaseException:\n            pass\n"},
    )
    emu, rec = emulator(app, tmp_path / "state.db")
    emu.push("work", {"body": {}})
    emu.run(max_attempts=1)
    report = rec.attempts[0]
    assert report.outcome == "timeout" and report.reason == "FUNCTION_TIME_OUT"
    assert report.ended_at - report.started_at == 1.0  # charged its timeoutSeconds of virtual time
    assert report.wall_ms < 5000


def test_same_seed_same_order_different_seed_different_order(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("SEEN_FILE", str(tmp_path / "seen.jsonl"))
    app = make_app(V2_MANIFEST, {"src/index.py": "import random\ndef handler(event, context):\n    return None if random.random() < 0.5 else {'_retry': True, 'retryOptions': {'retryAfter': random.randint(1, 900)}}\n"})

    def order(seed: int, name: str) -> list[tuple]:
        emu, rec = emulator(app, tmp_path / name, seed=seed)
        emu.push("work", [{"body": {"i": i}} for i in range(40)])
        emu.run()
        return [(a.seq, a.attempt, a.outcome, a.started_at) for a in rec.attempts]

    assert order(7, "a.db") == order(7, "b.db")
    assert order(7, "c.db") != order(8, "d.db")


def test_job_stats_and_cancel_stop_pending_and_retrying_events(make_app, tmp_path):
    app = make_app(
        V2_MANIFEST,
        {"src/index.py": "from forgeq.events import InvocationError\ndef handler(event, context):\n    if event['body']['i'] % 2:\n        return InvocationError(retry_after=60)\n"},
    )
    emu, _ = emulator(app, tmp_path / "state.db")
    job = emu.push("work", [{"body": {"i": i}} for i in range(6)] + [{"body": {"i": 99}, "delayInSeconds": 900}])
    emu.run(max_attempts=6)
    assert emu.job_stats("work", job, "site-1") == {"success": 3, "inProgress": 4, "failed": 0}
    emu.cancel_job("work", job, "site-1")
    emu.run()
    assert emu.job_stats("work", job, "site-1") == {"success": 3, "inProgress": 0, "failed": 0}
    counts = emu.store.queue_counts(emu.clock.now())["work"]
    assert counts["cancelled"] == 4 and counts["succeeded"] == 3
