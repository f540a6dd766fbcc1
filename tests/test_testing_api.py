"""forgeq.testing: the in-process API over the real engine, on virtual time and a state of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO_APP, V2_MANIFEST, write_app

from forgeq.emulator.errors import HandlerLoadError, InputError, StateBusyError
from forgeq.emulator.tools.golden import GoldenMismatch
from forgeq.kvs import ForgeKvsAPIError
from forgeq.testing import ConditionNotMet, ForgeApp

DEMO = DEMO_APP / "manifest.yml"
QUEUE = "storage-async-queue"

COUNTER_APP = {
    "src/index.py": """
        from forgeq.kvs import kvs

        calls = []  # module state: must not survive from one app to the next

        def handler(event, context):
            calls.append(event["body"])
            kvs.set("calls", len(calls))
            total = kvs.get("total") or 0
            kvs.set("total", total + event["body"].get("n", 1))
    """
}

DELAY_APP = {
    "src/index.py": """
        from forgeq.kvs import kvs

        def handler(event, context):
            kvs.set("seen-" + event["body"]["id"], event["body"])
    """
}


def counter_app(tmp_path: Path) -> Path:
    return write_app(tmp_path / "counter", V2_MANIFEST, COUNTER_APP)


def test_the_issue_example_on_the_demo_app() -> None:
    with ForgeApp(DEMO) as app:
        fired = app.push_product_event("issue-created", count=300)
        app.run_until_idle()
        assert fired.count == 300 and fired.triggers == ["issue-created-trigger"]
        assert app.dropped() == []
        keys = app.kvs.query_all(prefix="issue-")
        assert len(keys) == 300
        assert keys[0] == {"key": "issue-DEMO-1", "value": {"issueKey": "DEMO-1"}}


def test_every_app_starts_from_a_fresh_state_and_fresh_modules(tmp_path: Path) -> None:
    manifest = counter_app(tmp_path)
    for _ in range(2):
        with ForgeApp(manifest) as app:
            assert app.kvs.query_all() == []
            app.push("work", [{"body": {"n": 2}}, {"body": {"n": 3}}])
            app.run_until_idle()
            assert app.kvs.get("calls") == 2  # the module's `calls` list started empty again
            assert app.kvs.get("total") in (2, 3, 5)


def test_two_apps_at_once_do_not_share_anything(tmp_path: Path) -> None:
    manifest = counter_app(tmp_path)
    first, second = ForgeApp(manifest), ForgeApp(manifest)
    try:
        first.kvs.seed({"total": 100})
        first.push("work", {"body": {"n": 1}})
        first.run_until_idle()
        second.run_until_idle()
        assert first.kvs.get("total") == 101
        assert second.kvs.get("total") is None
        assert second.events() == [] and second.attempts == []
    finally:
        first.close()
        second.close()


def test_one_seed_one_timeline_another_seed_another() -> None:
    def run(seed: int) -> dict[str, Any]:
        with ForgeApp(DEMO, seed=seed) as app:
            app.faults.storage_429(0, 45)
            app.push_product_event("issue-created", count=20)
            app.run_until_idle()
            return app.golden()

    first, again, other = run(5), run(5), run(6)
    assert first == again
    # The consumer's jitter and the delivery order follow the seed.
    assert first["attempts"] != other["attempts"]
    assert first["kvs"] == other["kvs"]


def test_one_seed_agrees_across_processes_and_hash_seeds() -> None:
    script = textwrap.dedent(
        f"""
        import json
        from forgeq.testing import ForgeApp
        with ForgeApp({str(DEMO)!r}, seed=3) as app:
            app.faults.fail(function="consumer-function", attempts=[1], probability=0.5)
            app.push_product_event("issue-created", count=30)
            app.run_until_idle()
            print(json.dumps(app.golden(), sort_keys=True))
        """
    )
    outputs = []
    for hash_seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert '"outcome": "error"' in outputs[0]


def test_advance_delivers_only_what_falls_due(tmp_path: Path) -> None:
    manifest = write_app(tmp_path / "delay", V2_MANIFEST, DELAY_APP)
    with ForgeApp(manifest) as app:
        app.push("work", {"body": {"id": "late"}, "delayInSeconds": 30})
        assert app.advance(10) == 0
        assert app.elapsed == pytest.approx(10)
        assert app.kvs.get("seen-late") is None
        assert app.events("work")[0].state == "pending"
        assert app.advance(25) == 1
        assert app.elapsed == pytest.approx(35)
        assert app.kvs.get("seen-late") == {"id": "late"}
        with pytest.raises(InputError):
            app.advance(-1)


def test_run_until_stops_when_the_condition_holds(tmp_path: Path) -> None:
    manifest = write_app(tmp_path / "delay", V2_MANIFEST, DELAY_APP)
    with ForgeApp(manifest) as app:
        app.push("work", [{"body": {"id": "a"}}, {"body": {"id": "b"}, "delayInSeconds": 600}])
        ran = app.run_until(lambda a: "seen-a" in a.kvs)
        assert ran == 1
        assert app.kvs.get("seen-b") is None
        assert app.elapsed < 1
        with pytest.raises(ConditionNotMet, match="within 60 s"):
            app.run_until(lambda a: "seen-b" in a.kvs, within=60)
        assert app.elapsed == pytest.approx(60, abs=0.1)
        app.run_until(lambda a: "seen-b" in a.kvs)
        with pytest.raises(ConditionNotMet, match="went idle"):
            app.run_until(lambda a: "never" in a.kvs)


def test_step_runs_the_next_instant(tmp_path: Path) -> None:
    manifest = write_app(tmp_path / "delay", V2_MANIFEST, DELAY_APP)
    with ForgeApp(manifest) as app:
        app.push("work", [{"body": {"id": "a"}}, {"body": {"id": "b"}, "delayInSeconds": 5}])
        assert app.step() == 1 and app.kvs.keys() == ["seen-a"]
        assert app.step() == 1 and app.elapsed == pytest.approx(5)
        assert app.step() == 0


def test_kvs_view_seeds_reads_and_validates(tmp_path: Path) -> None:
    manifest = counter_app(tmp_path)
    with ForgeApp(manifest, installations=["site-1", "site-2"]) as app:
        app.kvs.seed({"b": 2, "a": {"x": [1]}}, secrets={"token": "s3cret"})
        app.kvs.set("short-lived", 1, ttl=10)
        assert app.kvs.as_dict() == {"a": {"x": [1]}, "b": 2, "short-lived": 1}
        assert app.kvs.get_secret("token") == "s3cret"
        assert "token" not in app.kvs  # secrets never show as plain keys
        assert app.kvs_for("site-2").query_all() == []
        app.advance(10)
        assert app.kvs.get("short-lived") is None
        app.kvs.delete("b")
        assert app.kvs.keys() == ["a"] and len(app.kvs) == 1
        with pytest.raises(ForgeKvsAPIError) as refused:
            app.kvs.set("bad key!", 1)
        assert refused.value.code == "INVALID_KEY"
        app.push("work", {"body": {"n": 1}}, installation="site-2")
        app.run_until_idle()
        assert app.kvs_for("site-2").as_dict() == {"calls": 1, "total": 1}
        assert "total" not in app.kvs


def test_reads_see_what_the_loop_has_not_committed_yet(tmp_path: Path) -> None:
    manifest = counter_app(tmp_path)
    # Commits by count only: on a loaded machine the wall-clock commit could come first and empty the batch.
    with ForgeApp(manifest, ack_batch_seconds=1e9) as app:
        app.push("work", {"body": {"n": 4}})
        app.emulator.step()  # one attempt; its writes wait in the loop's batch
        assert app.emulator.batch.kv_writes
        assert app.kvs.get("total") == 4


def test_reading_events_jobs_timeline_and_ledger(tmp_path: Path) -> None:
    manifest = write_app(
        tmp_path / "picky",
        V2_MANIFEST,
        {
            "src/index.py": """
                from forgeq.events import InvocationError

                def handler(event, context):
                    if event["body"]["ok"]:
                        return None
                    return InvocationError(retry_after=3600 * 6, retry_data={"why": "no"})
            """
        },
    )
    with ForgeApp(manifest) as app:
        job = app.push("work", [{"body": {"ok": True}}, {"body": {"ok": False}}])
        assert app.job(job).stats() == {"success": 0, "inProgress": 2, "failed": 0}
        app.run_until_idle()
        assert app.job(job).stats() == {"success": 1, "inProgress": 0, "failed": 1}
        assert [j.job_id for j in app.jobs()] == [job]
        good, bad = app.events("work")
        assert (good.state, bad.state) == ("succeeded", "dropped")
        assert app.events(state="dropped") == [bad]
        timeline = app.timeline(bad.seq)
        # A v2 consumer retries until the 24 h retention window ends; Forge clamps 6 h to 15 min.
        assert [a.attempt for a in timeline] == list(range(1, 97))
        assert {a.retry_after_applied for a in timeline[:-1]} == {900.0}
        assert timeline[1].retry_context == {
            "retryCount": 1,
            "retryReason": "FUNCTION_RETRY_REQUEST",
            "retryData": {"why": "no"},
        }
        assert timeline[-1].outcome == "dropped"
        (dropped,) = app.dropped()
        assert "retention" in dropped.drop_reason
        assert dropped.event == bad.seq and dropped.body == {"ok": False}
        assert app.queues()["work"]["dropped"] == 1
        assert app.event(bad.event_id) == bad
        assert app.timeline(job=job)[0].event == good.seq


def test_push_product_event_overrides_reach_the_trigger(tmp_path: Path) -> None:
    manifest = write_app(
        tmp_path / "triggered",
        """
        app:
          id: ari:cloud:ecosystem::app/test
        modules:
          trigger:
            - key: on-update
              function: update-function
              events: [avi:jira:updated:issue]
          function:
            - key: update-function
              handler: index.on_update
        """,
        {
            "src/index.py": """
                from forgeq.kvs import kvs

                def on_update(event, context):
                    kvs.set(event["issue"]["key"], event["issue"]["fields"]["summary"])
            """
        },
    )
    with ForgeApp(manifest) as app:
        app.push_product_event(
            "issue-updated", count=2, project="SHOP", issue__fields__summary="Checkout fails"
        )
        app.run_until_idle()
        assert app.kvs.as_dict() == {"SHOP-1": "Checkout fails", "SHOP-2": "Checkout fails"}
        assert [e.kind for e in app.events()] == ["product", "product", "trigger", "trigger"]


def test_a_file_state_persists_and_is_locked_while_open(tmp_path: Path) -> None:
    manifest = counter_app(tmp_path)
    db = tmp_path / "state" / "test.db"
    with ForgeApp(manifest, store=db) as app:
        app.push("work", {"body": {"n": 7}})
        app.run_until_idle()
        with pytest.raises(StateBusyError):
            ForgeApp(manifest, store=db)
    with ForgeApp(manifest, store=db) as again:
        assert again.kvs.get("total") == 7
        assert len(again.attempts) == 1
        assert again.golden()["attempts"] == []  # a golden covers this app's run only


def test_storage_and_platform_limits_pass_through_to_the_engine() -> None:
    with ForgeApp(DEMO, storage_limits={"write_units": 2}, seed=1) as app:
        app.push_many(QUEUE, ({"issueKey": f"DEMO-{n}"} for n in range(1, 6)))
        app.run_until_idle()
        assert len(app.kvs.keys("issue-")) == 5
        assert sum(a.quota_refusals for a in app.attempts) >= 3
        refused = [row for row in app.quota() if row["metric"] == "write_units" and row["refused"]]
        assert refused and refused[0]["quota"] == 2
    with ForgeApp(DEMO, storage_limits="none", platform_limits=False) as app:
        assert app.settings.platform_limits is False and app.emulator.quota.__class__.__name__ == "NoQuota"


def test_bad_options_and_broken_handlers_fail_at_once(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no option colour"):
        ForgeApp(DEMO, colour="red")
    with pytest.raises(InputError, match="clock must be"):
        ForgeApp(DEMO, clock="sundial")
    broken = write_app(
        tmp_path / "broken", V2_MANIFEST, {"src/index.py": "def handler(event, context)\n    pass\n"}
    )
    with pytest.raises(HandlerLoadError, match="SyntaxError"):
        ForgeApp(broken)
    with ForgeApp(broken, strict=False) as app:  # the events wait, as under `forgeq run`
        app.push("work", {"body": {}})
        app.run_until_idle()
        assert app.events("work")[0].state == "blocked"


def test_golden_files_are_written_compared_and_updated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    golden = tmp_path / "golden" / "run.json"

    def run(count: int, update: bool | None = None) -> None:
        with ForgeApp(DEMO, seed=2) as app:
            app.kvs.seed({"before": 1})
            app.push_many(QUEUE, ({"issueKey": f"DEMO-{n}"} for n in range(1, count + 1)))
            app.run_until_idle()
            app.assert_matches_golden(golden, update=update)

    with pytest.warns(UserWarning, match="wrote a new golden"):
        run(2)
    recorded = json.loads(golden.read_text())
    assert sorted(a["event"] for a in recorded["attempts"]) == [1, 2]
    assert recorded["kvs"] == {
        "site-1": {
            "set": {"issue-DEMO-1": {"issueKey": "DEMO-1"}, "issue-DEMO-2": {"issueKey": "DEMO-2"}},
            "deleted": [],
        }
    }
    assert "wall_ms" not in golden.read_text() and "logs" not in golden.read_text()
    run(2)  # same run, same file
    with pytest.raises(GoldenMismatch) as mismatch:
        run(3)
    message = str(mismatch.value)
    assert "attempts: 2 recorded, 3 now" in message
    assert '+        "issue-DEMO-3": {"issueKey": "DEMO-3"}' in message
    assert "--forge-update-golden" in message
    monkeypatch.setenv("FORGEQ_UPDATE_GOLDEN", "1")
    run(3)
    monkeypatch.delenv("FORGEQ_UPDATE_GOLDEN")
    run(3)
    assert len(json.loads(golden.read_text())["attempts"]) == 3


def test_the_real_clock_runs_too(tmp_path: Path) -> None:
    manifest = counter_app(tmp_path)
    with ForgeApp(manifest, clock="real") as app:
        app.push("work", {"body": {"n": 1}})
        assert app.run_until_idle() == 1
        assert app.kvs.get("total") == 1
