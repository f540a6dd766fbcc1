"""Fault injection (forgeq/emulator/tools/faults.py): from the testing API and from `forgeq run --faults FILE`."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DEMO_APP, V1_MANIFEST, V2_MANIFEST, forgeq, write_app

from forgeq.emulator.tools.faults import FaultError, parse_scenario
from forgeq.testing import ForgeApp

DEMO = DEMO_APP / "manifest.yml"
QUEUE = "storage-async-queue"

WRITER = {
    "src/index.py": """
        from forgeq.kvs import kvs

        def handler(event, context):
            kvs.set("item-" + str(event["body"]["id"]), event["body"])
    """
}

# Not idempotent: every delivery adds to a running total.
ADDER = {
    "src/index.py": """
        from forgeq.kvs import kvs

        def handler(event, context):
            kvs.set("total", (kvs.get("total") or 0) + event["body"]["n"])
    """
}


def app_with(
    tmp_path: Path, files: dict[str, str], manifest: str = V2_MANIFEST, **options: object
) -> ForgeApp:
    return ForgeApp(write_app(tmp_path / "app", manifest, files), **options)  # type: ignore[arg-type]


def outcomes(app: ForgeApp, event: int) -> list[str]:
    return [a.outcome for a in app.timeline(event)]


def test_chosen_attempts_fail_with_the_chosen_error(tmp_path: Path) -> None:
    with app_with(tmp_path, WRITER) as app:
        app.faults.fail(
            function="consumer-function", attempts=[1, 2], error="ConnectionResetError: upstream hung up"
        )
        app.push("work", {"body": {"id": 1}})
        app.run_until_idle()
        attempts = app.timeline(1)
        assert [a.outcome for a in attempts] == ["error", "error", "succeeded"]
        assert attempts[0].error == "ConnectionResetError: upstream hung up"
        assert attempts[0].reason == "FUNCTION_PLATFORM_UNKNOWN_ERROR"
        assert any(note.startswith("faults: attempt 1 failed on purpose") for note in attempts[0].notes)
        assert attempts[0].storage_calls == 0  # "before": the handler did not run
        assert [a.retry_after_applied for a in attempts[:2]] == [60.0, 120.0]  # forgeq's automatic backoff
        assert app.kvs.get("item-1") == {"id": 1}


@pytest.mark.parametrize(
    ("error", "outcome", "reason"),
    [
        ("timeout", "timeout", "FUNCTION_TIME_OUT"),
        ("retry", "retry", "FUNCTION_RETRY_REQUEST"),
        (
            {"retry_after": 42, "retry_reason": "FUNCTION_UPSTREAM_RATE_LIMITED"},
            "retry",
            "FUNCTION_UPSTREAM_RATE_LIMITED",
        ),
        ({"kvs": "INTERNAL_SERVER_ERROR", "status": 500}, "error", "FUNCTION_PLATFORM_UNKNOWN_ERROR"),
        (ValueError("bad input"), "error", "FUNCTION_PLATFORM_UNKNOWN_ERROR"),
        (KeyError, "error", "FUNCTION_PLATFORM_UNKNOWN_ERROR"),
    ],
)
def test_error_kinds(tmp_path: Path, error: object, outcome: str, reason: str) -> None:
    with app_with(tmp_path, WRITER) as app:
        app.faults.fail(queue="work", attempts=1, error=error)
        app.push("work", {"body": {"id": 1}})
        app.run_until_idle()
        first, second = app.timeline(1)
        assert (first.outcome, first.reason, second.outcome) == (outcome, reason, "succeeded")
        if outcome == "timeout":
            assert first.ended_at - first.started_at == 55  # the function's default timeoutSeconds
        if isinstance(error, dict) and "retry_after" in error:
            assert first.retry_after_applied == 42
        if isinstance(error, dict) and "kvs" in error:
            assert first.error is not None and first.error.startswith(
                "ForgeKvsAPIError: INTERNAL_SERVER_ERROR"
            )


def test_phase_after_keeps_the_side_effects(tmp_path: Path) -> None:
    with app_with(tmp_path, ADDER) as app:
        app.faults.fail(function="consumer-function", attempts=[1], phase="after")
        app.push("work", {"body": {"n": 5}})
        app.run_until_idle()
        assert outcomes(app, 1) == ["error", "succeeded"]
        assert app.timeline(1)[0].error == "InjectedFault: injected by forgeq faults"
        assert app.kvs.get("total") == 10  # the failed attempt's write stood, the retry added again


def test_a_trigger_fault_loses_the_event_as_forge_does() -> None:
    with ForgeApp(DEMO) as app:
        app.faults.fail(
            trigger="issue-created-trigger", events=None, attempts=[1], error="RuntimeError: boom"
        )
        app.push_product_event("issue-created")
        app.run_until_idle()
        (lost,) = app.dropped()
        assert lost.kind == "trigger" and "does not retry a thrown error" in lost.drop_reason
        assert app.kvs.keys() == []


def test_probability_is_decided_by_the_seed_not_by_the_order(tmp_path: Path) -> None:
    def failed(seed: int) -> list[int]:
        with app_with(tmp_path, WRITER, seed=seed) as app:
            app.faults.fail(function="consumer-function", attempts=[1], probability=0.5)
            app.push("work", [{"body": {"id": n}} for n in range(40)])
            app.run_until_idle()
            assert app.dropped() == []
            return sorted(a.event for a in app.attempts if a.outcome == "error")

    first, again, other = failed(1), failed(1), failed(2)
    assert first == again
    assert first != other
    assert 8 <= len(first) <= 32


def test_times_caps_how_often_a_rule_fires(tmp_path: Path) -> None:
    with app_with(tmp_path, WRITER) as app:
        rule = app.faults.fail(function="consumer-function", times=3)
        app.push("work", [{"body": {"id": n}} for n in range(5)])
        app.run_until_idle()
        assert rule.fired == 3
        assert sum(a.outcome == "error" for a in app.attempts) == 3


def test_a_window_of_storage_429s_refuses_only_what_it_covers(tmp_path: Path) -> None:
    files = {
        "src/index.py": """
            from forgeq.kvs import kvs, ForgeKvsAPIError

            def handler(event, context):
                kvs.get("anything")                       # a read: outside the window's operations
                try:
                    kvs.set("item", event["body"])
                except ForgeKvsAPIError as error:
                    kvs.get(error.code)                   # reads still work
                    raise
        """
    }
    with app_with(tmp_path, files) as app:
        app.faults.storage_429(0, 100, operations=["write"])
        app.push("work", {"body": {"id": 1}})
        app.run_until_idle()
        attempts = app.timeline(1)
        # Refused at +0 s and at +60 s (forgeq's backoff), written at +180 s.
        assert [a.outcome for a in attempts] == ["error", "error", "succeeded"]
        assert all("RATE_LIMIT_EXCEEDED" in (a.error or "") for a in attempts[:2])
        assert [a.quota_refusals for a in attempts] == [1, 1, 0]
        assert [a.storage_calls for a in attempts] == [3, 3, 2]
        assert attempts[2].started_at - app.origin > 100


def test_storage_latency_is_virtual_time(tmp_path: Path) -> None:
    files = {
        "src/index.py": """
            from forgeq.kvs import kvs

            def handler(event, context):
                for n in range(3):
                    kvs.set(f"k{n}", n)
        """
    }
    with app_with(tmp_path, files) as app:
        app.faults.storage_latency(2.5, operations="write")
        app.push("work", {"body": {}})
        app.run_until_idle()
        (attempt,) = app.attempts
        settings = app.settings
        expected = settings.invocation_seconds + 3 * (settings.storage_call_seconds + 2.5)
        assert attempt.ended_at - attempt.started_at == pytest.approx(expected)
        assert attempt.wall_ms is not None and attempt.wall_ms < 2500  # no real sleep


def test_redelivery_reports_what_a_non_idempotent_handler_changed(tmp_path: Path) -> None:
    with app_with(tmp_path, ADDER) as app:
        app.push("work", {"body": {"n": 5}})
        app.run_until_idle()
        duplicate = app.redeliver(1)
        assert duplicate.delivered and duplicate.outcome == "succeeded" and duplicate.attempt == 2
        assert [(c.key, c.before, c.after) for c in duplicate.kvs_changes] == [("total", 5, 10)]
        assert not duplicate.idempotent
        (second,) = app.timeline(1)[1:]
        assert any("changed 1 key(s): total" in note for note in second.notes)
        assert app.events("work")[0].state == "succeeded"


def test_redelivery_of_an_idempotent_handler_changes_nothing(tmp_path: Path) -> None:
    with app_with(tmp_path, WRITER) as app:
        app.push("work", {"body": {"id": 3}})
        app.run_until_idle()
        duplicate = app.redeliver(1)
        assert duplicate.idempotent and duplicate.kvs_changes == [] and duplicate.pushed == 0
        assert app.faults.counts["redelivered"] == 1


def test_a_duplicate_is_the_same_delivery_retry_context_included(tmp_path: Path) -> None:
    files = {
        "src/index.py": """
            from forgeq.events import InvocationError
            from forgeq.kvs import kvs

            def handler(event, context):
                seen = (kvs.get("seen") or []) + [event["eventId"] + ":" + str((event.get("retryContext") or {}).get("retryCount"))]
                kvs.set("seen", seen)
                if "retryContext" not in event:
                    return InvocationError(retry_after=5)
        """
    }
    with app_with(tmp_path, files) as app:
        app.push("work", {"body": {}})
        app.run_until_idle()
        event = app.events("work")[0]
        app.redeliver(event.seq)
        assert app.kvs.get("seen") == [f"{event.event_id}:None", f"{event.event_id}:1", f"{event.event_id}:1"]


def test_only_a_succeeded_event_can_be_redelivered(tmp_path: Path) -> None:
    with app_with(tmp_path, WRITER) as app:
        app.push("work", {"body": {"id": 1}, "delayInSeconds": 60})
        with pytest.raises(FaultError, match="is pending"):
            app.redeliver(1)
        with pytest.raises(FaultError, match="no event #9"):
            app.redeliver(9)


def test_a_redelivery_not_yet_run_cannot_be_judged(tmp_path: Path) -> None:
    with app_with(tmp_path, WRITER) as app:
        app.push("work", {"body": {"id": 1}})
        app.run_until_idle()
        pending = app.redeliver(1, run=False)
        with pytest.raises(FaultError, match="has not run yet"):
            _ = pending.idempotent
        app.run_until_idle()
        assert pending.idempotent


def test_duplicates_rule_redelivers_a_seeded_share_of_successes(tmp_path: Path) -> None:
    def duplicated(seed: int) -> list[int]:
        with app_with(tmp_path, ADDER, seed=seed) as app:
            app.faults.duplicates(queue="work", probability=0.3, delay=30)
            app.push("work", [{"body": {"n": 1}} for _ in range(30)])
            app.run_until_idle()
            events = [r.event for r in app.faults.redeliveries]
            assert app.kvs.get("total") == 30 + len(events)  # each duplicate added once more
            assert all(r.delivered and not r.idempotent for r in app.faults.redeliveries)
            for seq in events:
                first, second = app.timeline(seq)
                assert second.started_at - first.ended_at == pytest.approx(30)
            return sorted(events)

    first, other = duplicated(4), duplicated(5)
    assert first == duplicated(4) and first != other and first


def test_a_v1_duplicate_that_fails_uses_the_remaining_retries(tmp_path: Path) -> None:
    files = {
        "src/index.py": """
            from forgeq.resolver import Resolver

            resolver = Resolver()

            @resolver.define("listener")
            def listener(request):
                return None

            handler = resolver.get_definitions()
        """
    }
    with app_with(tmp_path, files, V1_MANIFEST) as app:
        app.push("work", {"body": {}})
        app.run_until_idle()
        app.faults.fail(function="consumer-function", error="RuntimeError: flaky")
        duplicate = app.redeliver(1)
        assert (duplicate.outcome, duplicate.attempts, duplicate.idempotent) == ("dropped", 5, False)
        assert outcomes(app, 1) == ["succeeded", "error", "error", "error", "error", "dropped"]


def test_a_duplicate_refused_by_a_429_is_judged_by_its_retries(tmp_path: Path) -> None:
    """A duplicate that meets a 429 and asks for a retry is the same delivery until it ends: its
    retry's writes count, and an idempotent handler stays idempotent (not 'changed the store')."""
    files = {
        "src/index.py": """
            from forgeq.events import InvocationError
            from forgeq.kvs import ForgeKvsAPIError, kvs

            def handler(event, context):
                try:
                    if event["body"].get("add"):
                        kvs.set("total", (kvs.get("total") or 0) + 1)
                    else:
                        kvs.set("item", event["body"])
                except ForgeKvsAPIError:
                    return InvocationError(retry_after=30)
        """
    }
    with app_with(tmp_path, files) as app:
        app.push("work", [{"body": {"id": 1}}, {"body": {"add": True}}])
        app.run_until_idle()
        app.faults.storage_429(app.elapsed, app.elapsed + 10)
        same, adder = app.redeliver(1, run=False), app.redeliver(2, run=False)
        app.run_until_idle()
        assert (same.outcome, same.attempts, same.kvs_changes, same.idempotent) == ("succeeded", 2, [], True)
        assert (adder.outcome, adder.attempts, adder.idempotent) == ("succeeded", 2, False)
        assert [(c.key, c.before, c.after) for c in adder.kvs_changes] == [("total", 1, 2)]
        assert app.faults.counts["redeliveries_not_idempotent"] == 1
        retry = app.timeline(1)[-1]
        assert "faults: a retry of the duplicate delivery of attempt 2" in retry.notes


def test_unknown_names_are_refused(tmp_path: Path) -> None:
    with app_with(tmp_path, WRITER) as app:
        with pytest.raises(FaultError, match="no function 'nope'"):
            app.faults.fail(function="nope")
        with pytest.raises(FaultError, match="unknown storage operation"):
            app.faults.storage_429(0, 10, operations=["wirte"])
        with pytest.raises(FaultError, match="ends"):
            app.faults.storage_429(10, 5)
        with pytest.raises(FaultError, match="probability"):
            app.faults.fail(probability=2)
        with pytest.raises(FaultError, match="not an exception name"):
            app.faults.fail(error="no such: thing")


def test_scenario_files_report_their_line(tmp_path: Path) -> None:
    assert parse_scenario({"faults": [{"storage_latency": {"seconds": 1}}]}).rules == [
        ("storage_latency", {"seconds": 1})
    ]
    bad = tmp_path / "faults.yml"
    bad.write_text("seed: 1\nfaults:\n  - fail:\n      function: consumer-function\n      atempts: [1]\n")
    app = write_app(tmp_path / "app", V2_MANIFEST, WRITER)
    done = forgeq("run", app, "--until-idle", "--faults", bad, "--db", tmp_path / "state.db")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"forgeq: error: {bad}:5: faults[0].fail.atempts: unknown option of fail "
        "(its options: attempts, error, events, function, installation, phase, probability, queue, times, trigger)"
    )
    assert "Traceback" not in done.stderr


def test_forgeq_run_with_a_fault_scenario(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", V2_MANIFEST, ADDER).parent
    scenario = tmp_path / "faults.yml"
    scenario.write_text(
        "faults:\n"
        "  - fail: {function: consumer-function, attempts: [1], error: 'TimeoutError: upstream took too long'}\n"
        "  - duplicates: {queue: work, delay: 5}\n"
    )
    db = tmp_path / "state.db"
    assert (
        forgeq(
            "push",
            "--queue",
            "work",
            "--body",
            '{"n": 2}',
            "--count",
            "3",
            "--manifest",
            app / "manifest.yml",
            "--db",
            db,
        ).returncode
        == 0
    )
    done = forgeq("run", app / "manifest.yml", "--until-idle", "--faults", scenario, "--db", db)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("TimeoutError: upstream took too long") >= 3
    assert out.count("note: faults: a duplicate delivery") == 3
    assert "faults injected: attempts failed 3," in out
    assert "duplicate deliveries 3, duplicates that changed the store or pushed 3" in out
    with ForgeApp(app / "manifest.yml", store=db) as after:
        assert after.kvs.get("total") == 12  # 3 events x 2, each delivered twice


def test_redelivery_watches_async_handlers_too(tmp_path: Path) -> None:
    files = {
        "src/index.py": """
            from forgeq.kvs import kvs

            async def handler(event, context):
                total = await kvs.get("total") or 0
                await kvs.set("total", total + event["body"]["n"])
                await kvs.delete("scratch")
        """
    }
    with app_with(tmp_path, files) as app:
        app.kvs.seed({"scratch": "x"})
        app.push("work", {"body": {"n": 2}})
        app.run_until_idle()
        app.kvs.set("scratch", "y")
        duplicate = app.redeliver(1)
        assert [(c.key, c.before, c.after) for c in duplicate.kvs_changes] == [
            ("scratch", "y", None),
            ("total", 2, 4),
        ]


def test_an_injected_timeout_needs_timeouts_on(tmp_path: Path) -> None:
    with (
        app_with(tmp_path, WRITER, enforce_timeouts=False) as app,
        pytest.raises(FaultError, match="timeouts enforced"),
    ):
        app.faults.fail(error="timeout")


def test_a_redelivered_event_counts_once_in_the_runs_summary(tmp_path: Path) -> None:
    """The loop's own finish counts would count a redelivered event twice (it succeeds twice): after
    a redelivery the summary reads the events that finished from the state, as `forgeq run` does."""
    from forgeq.emulator import limits
    from forgeq.emulator.tools.summary import summarize

    with app_with(tmp_path, WRITER) as app:
        app.push_many("work", [{"id": 1}, {"id": 2}])
        app.run_until_idle()
        assert app.redeliver(1).delivered
        engine = app.emulator
        assert engine.refinished and sum(engine.finished.values()) == 3
        counts = (engine.outcomes, engine.errors, None if engine.refinished else engine.finished)
        run = summarize(engine.store, 0, limits.VIRTUAL_EPOCH, app.clock.now(), 1.0, run=counts)["run"]
        assert run["succeeded"]["queue"] == 2 and run["attempts_histogram"] == {"1": 1, "2": 1}
