"""The dropped-event ledger, the run summary, `inspect jobs|dropped|timeline --job` and `forgeq replay`,
end to end through the CLI in subprocesses, on a real state file.

tests/apps/picky-writer: a trigger queues one write per created issue; the v1 consumer fails every
attempt for issues whose number is a multiple of 7 (dropped after 4 retries) until
PICKY_WRITER_FIXED=1; multiples of 3 ask for one retry first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from conftest import DEMO_APP, REPO, forgeq, forgeq_json

PICKY = REPO / "tests" / "apps" / "picky-writer"
ISSUES = 30
BROKEN = [n for n in range(1, ISSUES + 1) if n % 7 == 0]  # DEMO-7, 14, 21, 28
FIXED = {"PICKY_WRITER_FIXED": "1"}

def copy_app(source: Path, tmp_path: Path) -> Path:
    app = tmp_path / "app"
    shutil.copytree(source, app, ignore=shutil.ignore_patterns(".forgeq", "__pycache__"))
    return app


def ok(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = forgeq(*args, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def summary_of(stdout: str) -> dict[str, Any]:
    """The counts of `forgeq run --json`: this run's attempts, histogram and errors, the state's events."""
    data = json.loads(stdout)
    state, run = data["state"], data["run"]
    counts = {
        **{name: state["events"][name] for name in ("pushed", "succeeded", "retried", "dropped", "replayed", "pending", "blocked")},
        "invoked": state["triggers"]["invocations"],
        "trigger_retried": state["triggers"]["retried"],
        "lost": state["triggers"]["lost"],
        "attempts_run": run["attempts"],
        "dropped_this_run": run["dropped"],
    }
    histogram = {int(attempts): count for attempts, count in run["attempts_histogram"].items()}
    errors = {item["error"]: item["count"] for item in run["top_errors"]}
    return {"counts": counts, "histogram": histogram, "errors": errors, "run": run}


def every_event(app: Path) -> list[dict[str, Any]]:
    data = forgeq_json("inspect", "events", "--limit", "100000", cwd=app)
    assert data["total"] == len(data["events"])
    return list(data["events"])


def push_and_run(app: Path, count: int = ISSUES, env: dict[str, str] | None = None, *run_args: str) -> str:
    ok("push", "issue-created", "--count", str(count), cwd=app)
    return ok("run", "manifest.yml", "--until-idle", "--seed", "5", "--json", *run_args, cwd=app, env=env)


def test_the_summary_counts_equal_the_sums_inspect_json_reports(tmp_path):
    app = copy_app(PICKY, tmp_path)
    summary = summary_of(push_and_run(app, env={"PICKY_WRITER_TRIGGER_FAILS": "1"}))
    counts = summary["counts"]

    queues = forgeq_json("inspect", "queue", cwd=app)
    queue_columns = [column for row in queues["queues"].values() for column in row.items()]
    total = lambda name: sum(n for column, n in queue_columns if column == name)  # noqa: E731
    assert counts["pushed"] == sum(n for _, n in queue_columns)
    assert counts["succeeded"] == total("succeeded")
    assert counts["dropped"] == total("dropped") == len(BROKEN)
    assert (
        counts["pending"] == total("pending") + total("delayed") + total("running") + total("retrying") == 0
    )
    triggers = [column for row in queues["triggers"].values() for column in row.items()]
    assert counts["invoked"] == sum(n for _, n in triggers) == ISSUES
    # DEMO-11 and DEMO-22: the trigger throws, and a thrown trigger error is not retried
    assert counts["lost"] == sum(n for column, n in triggers if column == "dropped") == 2
    assert counts["dropped"] + counts["lost"] == forgeq_json("inspect", "dropped", cwd=app)["total"]
    assert counts["lost"] == forgeq_json("inspect", "dropped", "--state", "lost", cwd=app)["total"]

    events = every_event(app)
    queued = [e for e in events if e["kind"] == "queue"]
    assert counts["retried"] == sum(e["retry_count"] > 0 for e in queued)
    assert counts["attempts_run"] == sum(e["attempts"] for e in events)
    finished = [e for e in events if e["kind"] != "product" and e["state"] in ("succeeded", "dropped")]
    histogram: dict[int, int] = {}
    for event in finished:
        histogram[event["attempts"]] = histogram.get(event["attempts"], 0) + 1
    assert summary["histogram"] == histogram
    assert histogram[5] == len(BROKEN)  # four retries, then dropped
    # Every dropped event failed five times with its own error, and those are the top errors.
    for entry in forgeq_json("inspect", "dropped", "--state", "dropped", cwd=app)["dropped"]:
        assert summary["errors"][entry["last_error"]] == 5


def test_the_ledger_lists_every_dropped_event_and_a_replay_after_the_fix_writes_every_key(tmp_path):
    app = copy_app(PICKY, tmp_path)
    push_and_run(app)
    events = every_event(app)
    dropped_events = {e["seq"]: e for e in events if e["state"] == "dropped"}
    ledger = forgeq_json("inspect", "dropped", cwd=app)
    assert ledger["total"] == len(ledger["dropped"]) == len(BROKEN)
    assert {entry["seq"] for entry in ledger["dropped"]} == set(dropped_events)
    for entry in ledger["dropped"]:
        key = entry["body"]["issueKey"]
        assert int(key.split("-")[1]) in BROKEN
        assert entry["fate"] == "dropped" and entry["kind"] == "queue" and entry["queue"] == "issue-writes"
        assert entry["reason"] == "retries exhausted: 4 retries used (v1 resolver consumer)"
        assert entry["last_error"].startswith(f"ValueError: issue {key}: field 'reporter' is missing")
        assert entry["retry_context"] == {
            "retryCount": 4,
            "retryReason": "FUNCTION_PLATFORM_UNKNOWN_ERROR",
            "retryData": None,
        }
        assert entry["attempts"] == 5 and entry["replayed_as"] is None
        assert entry["dropped_at"] == dropped_events[entry["seq"]]["finished_at"]
    keys = {k["key"] for k in forgeq_json("inspect", "kvs", cwd=app)["keys"]}
    assert keys == {f"issue-DEMO-{n}" for n in range(1, ISSUES + 1) if n not in BROKEN}

    # A dry run lists exactly the ledger and changes nothing.
    before = forgeq_json("inspect", "queue", cwd=app)
    plan = forgeq_json("replay", "--dropped", "--dry-run", cwd=app)
    assert plan["dry_run"] is True and plan["count"] == len(BROKEN)
    assert [row["seq"] for row in plan["replayed"]] == [entry["seq"] for entry in ledger["dropped"]]
    assert all(row["new_seq"] is None for row in plan["replayed"])
    assert forgeq_json("inspect", "queue", cwd=app) == before
    assert forgeq_json("inspect", "dropped", "--not-replayed", cwd=app)["total"] == len(BROKEN)

    refused = forgeq("replay", "--queue", "no-such-queue", cwd=app)
    assert (
        refused.returncode == 1
        and "nothing to replay" in refused.stderr
        and "matches these options" in refused.stderr
    )

    replayed = forgeq_json("replay", "--dropped", cwd=app)
    assert replayed["count"] == len(BROKEN)
    new_numbers = {row["new_seq"]: row["seq"] for row in replayed["replayed"]}
    # one new job per queue and installation
    assert len({row["new_job_id"] for row in replayed["replayed"]}) == 1
    ran = ok("run", "manifest.yml", "--until-idle", "--json", cwd=app, env=FIXED)
    assert summary_of(ran)["counts"]["replayed"] == len(BROKEN)
    assert summary_of(ran)["counts"]["dropped_this_run"] == 0  # the earlier run's drops are the state's, not this run's

    keys = {k["key"] for k in forgeq_json("inspect", "kvs", cwd=app)["keys"]}
    assert keys == {f"issue-DEMO-{n}" for n in range(1, ISSUES + 1)}
    for entry in forgeq_json("inspect", "dropped", cwd=app)["dropped"]:
        assert new_numbers[entry["replayed_as"]] == entry["seq"] and entry["replay_state"] == "succeeded"
    replays = forgeq_json("inspect", "events", "--job", replayed["replayed"][0]["new_job_id"], cwd=app)[
        "events"
    ]
    assert {e["seq"]: e["replay_of"] for e in replays} == new_numbers
    for event in replays:
        original = next(e for e in events if e["seq"] == event["replay_of"])
        assert event["body"] == original["body"] and event["event_id"] != original["event_id"]
        assert event["enqueued_at"] > original["enqueued_at"]  # a fresh retention window
        asks_a_retry = int(event["body"]["issueKey"].split("-")[1]) % 3 == 0  # DEMO-21: once, as a new event
        assert event["state"] == "succeeded" and event["retry_count"] == (1 if asks_a_retry else 0)

    again = forgeq("replay", "--dropped", cwd=app)
    assert (
        again.returncode == 1
        and f"all {len(BROKEN)} dropped or lost events were replayed already" in again.stderr
    )
    twice = forgeq("replay", "--event", str(next(iter(new_numbers.values()))), cwd=app)
    assert twice.returncode == 2 and "was replayed already, as #" in twice.stderr
    not_dropped = forgeq("replay", "--event", "1", cwd=app)
    assert not_dropped.returncode == 2 and "not dropped" in not_dropped.stderr


def test_a_replay_that_fails_again_gets_a_fresh_retry_budget_and_is_replayable_itself(tmp_path):
    app = copy_app(PICKY, tmp_path)
    push_and_run(app, 7)
    [entry] = forgeq_json("inspect", "dropped", cwd=app)["dropped"]
    assert forgeq("replay", "--nothing-given", cwd=app).returncode == 2
    assert forgeq("replay", cwd=app).returncode == 2  # nothing selected: say what to replay
    first = forgeq_json("replay", "--event", f"#{entry['seq']}", cwd=app)["replayed"][0]
    ok("run", "manifest.yml", "--until-idle", cwd=app)  # still broken
    timeline = forgeq_json("inspect", "timeline", str(first["new_seq"]), cwd=app)
    assert timeline["event"]["replay_of"] == entry["seq"]
    assert [a["attempt"] for a in timeline["attempts"]] == [1, 2, 3, 4, 5]
    assert [a["retry_context"]["retryCount"] if a["retry_context"] else 0 for a in timeline["attempts"]] == [
        0,
        1,
        2,
        3,
        4,
    ]
    pending = forgeq_json("replay", "--dropped", "--dry-run", cwd=app)["replayed"]
    assert [row["seq"] for row in pending] == [first["new_seq"]]  # the original was replayed already
    second = forgeq_json("replay", "--dropped", cwd=app)["replayed"][0]
    ok("run", "manifest.yml", "--until-idle", cwd=app, env=FIXED)
    assert (
        forgeq_json("inspect", "timeline", str(second["new_seq"]), cwd=app)["event"]["state"] == "succeeded"
    )
    assert "issue-DEMO-7" in {k["key"] for k in forgeq_json("inspect", "kvs", cwd=app)["keys"]}


def test_lost_trigger_events_are_replayed_to_their_trigger(tmp_path):
    app = copy_app(PICKY, tmp_path)
    push_and_run(app, 12, {"PICKY_WRITER_TRIGGER_FAILS": "1"})
    lost = forgeq_json("inspect", "dropped", "--state", "lost", cwd=app)["dropped"]
    assert [entry["body"]["issue"]["key"] for entry in lost] == ["DEMO-11"]
    assert (
        lost[0]["kind"] == "trigger"
        and lost[0]["queue"] == "issue-created-trigger"
        and lost[0]["attempts"] == 1
    )
    assert "trigger threw" in lost[0]["reason"] and "the project is archived" in lost[0]["last_error"]
    replayed = forgeq_json("replay", "--queue", "issue-created-trigger", cwd=app)["replayed"]
    assert [row["seq"] for row in replayed] == [lost[0]["seq"]] and replayed[0]["new_job_id"] is None
    ok("run", "manifest.yml", "--until-idle", cwd=app, env=FIXED)
    keys = {k["key"] for k in forgeq_json("inspect", "kvs", cwd=app)["keys"]}
    assert "issue-DEMO-11" in keys  # the replayed trigger pushed its write, and the consumer made it


def test_inspect_jobs_and_a_jobs_timeline(tmp_path):
    app = copy_app(PICKY, tmp_path)
    push_and_run(app, 14)
    jobs = forgeq_json("inspect", "jobs", cwd=app)
    assert jobs["total"] == len(jobs["jobs"]) == 14  # one push per trigger invocation
    for job in jobs["jobs"]:
        assert job["queue"] == "issue-writes" and job["origin"] == "handler"
        assert (
            job["stats"]["success"] + job["stats"]["inProgress"] + job["stats"]["failed"]
            == job["detail"]["events"]
            == 1
        )
    failed = forgeq_json("inspect", "jobs", "--state", "dropped", cwd=app)["jobs"]
    assert len(failed) == 2 and all(
        job["stats"] == {"success": 0, "inProgress": 0, "failed": 1} for job in failed
    )
    assert (
        forgeq_json("inspect", "jobs", "--limit", "5", "--offset", "10", cwd=app)["jobs"] == jobs["jobs"][10:]
    )

    timeline = forgeq_json("inspect", "timeline", "--job", failed[0]["job_id"], cwd=app)
    assert timeline["job"] == failed[0]
    [one] = timeline["timelines"]
    assert one["event"]["job_id"] == failed[0]["job_id"] and len(one["attempts"]) == 5
    assert (
        one["attempts"][-1]["outcome"] == "dropped"
        and one["attempts"][-1]["retry_context"]["retryCount"] == 4
    )
    text = ok("inspect", "timeline", "--job", failed[0]["job_id"], cwd=app)
    assert f"job {failed[0]['job_id']}" in text and "failed 1" in text and "retryContext" in text
    assert forgeq("inspect", "timeline", "--job", "no-such-job", cwd=app).returncode == 2
    assert forgeq("inspect", "timeline", cwd=app).returncode == 2  # neither an event nor a job


def test_filters_by_queue_state_installation_and_time(tmp_path):
    app = copy_app(PICKY, tmp_path)
    ok("push", "issue-created", "--count", "14", cwd=app)
    ok(
        "push",
        "--queue",
        "issue-writes",
        "--body",
        '{"issueKey": "SITE2-7"}',
        "--installation",
        "site-2",
        cwd=app,
    )
    ok("run", "manifest.yml", "--until-idle", "--installations", "2", cwd=app)
    dropped = forgeq_json("inspect", "dropped", cwd=app)["dropped"]
    assert sorted(entry["body"]["issueKey"] for entry in dropped) == ["DEMO-14", "DEMO-7", "SITE2-7"]
    site2 = forgeq_json("inspect", "dropped", "--installation", "site-2", cwd=app)["dropped"]
    assert [entry["body"]["issueKey"] for entry in site2] == ["SITE2-7"]
    assert (
        forgeq_json(
            "inspect", "events", "--queue", "issue-writes", "--state", "dropped", "-i", "site-1", cwd=app
        )["total"]
        == 2
    )
    assert forgeq_json("inspect", "events", "--queue", "issue-writes", cwd=app)["total"] == 15
    assert forgeq_json("inspect", "events", "--state", "retrying,pending", cwd=app)["total"] == 0

    # Time: the drops all happen about 15 minutes in (60 + 120 + 240 + 480 s of backoff).
    last = max(entry["dropped_at"] for entry in dropped)
    assert forgeq_json("inspect", "dropped", "--since", "14m", cwd=app)["total"] == 3
    assert forgeq_json("inspect", "dropped", "--until", "+00:14:00", cwd=app)["total"] == 0
    # the state's clock is at the last drop
    assert forgeq_json("inspect", "dropped", "--since", "-1m", cwd=app)["total"] == 3
    iso = forgeq_json("inspect", "dropped", "--until", "2025-11-17T09:14:59Z", cwd=app)
    assert iso["total"] == 0 and last > 1763370000 + 14 * 60
    assert (
        forgeq_json(
            "inspect", "events", "--since", "0s", "--until", "1s", "--queue", "issue-writes", cwd=app
        )["total"]
        == 15
    )
    assert (
        forgeq_json("replay", "--dropped", "--since", "14m", "-i", "site-2", "--dry-run", cwd=app)["count"]
        == 1
    )

    for bad in (("--state", "sleeping"), ("--since", "yesterday-ish"), ("--since", "20m", "--until", "10m")):
        refused = forgeq("inspect", "events", *bad, cwd=app)
        assert refused.returncode == 2 and refused.stderr.startswith("forgeq: error: --")
    assert forgeq("inspect", "dropped", "--state", "succeeded", cwd=app).returncode == 2


def test_the_demo_pushed_past_the_storage_quota(tmp_path):
    """The issue's check: the seed guide's app under a tight storage quota drops events under v1's four
    retries; the summary agrees with inspect, the ledger names every one, a replay writes every key."""
    app = copy_app(DEMO_APP, tmp_path)
    ok("push", "issue-created", "--count", "200", cwd=app)
    ran = ok(
        "run", "manifest.yml", "--until-idle", "--json", "--storage-limits", "2025,write_units=20", cwd=app
    )
    counts = summary_of(ran)["counts"]
    peaks = {item["metric"]: item for item in summary_of(ran)["run"]["limits"]}
    assert peaks["write_units"]["used"] == peaks["write_units"]["quota"] == 20 and peaks["write_units"]["refused"] > 0
    assert peaks["write_units"]["limit"] == "storage quota" and peaks["pushed_events"]["limit"] == "push limit"
    ledger = forgeq_json("inspect", "dropped", cwd=app)
    queue = forgeq_json("inspect", "queue", cwd=app)["queues"]["storage-async-queue"]
    assert counts["dropped"] == queue["dropped"] == ledger["total"] > 0
    assert counts["succeeded"] == queue["succeeded"] and counts["pushed"] == sum(queue.values()) == 200
    for entry in ledger["dropped"]:
        assert (
            entry["attempts"] == 5
            and entry["last_error"] == "returned InvocationError (FUNCTION_UPSTREAM_RATE_LIMITED)"
        )
        assert (
            entry["retry_context"]["retryCount"] == 4 and entry["retry_context"]["retryData"] == entry["body"]
        )
    written = {k["key"] for k in forgeq_json("inspect", "kvs", "--prefix", "issue-", cwd=app)["keys"]}
    assert written == {
        f"issue-{e['body']['issueKey']}"
        for e in every_event(app)
        if e["kind"] == "queue" and e["state"] == "succeeded"
    }
    assert len(written) == 200 - ledger["total"]

    # The fix for a quota is more room: replay what was dropped, with the default (2025) quota.
    assert forgeq_json("replay", "--dropped", cwd=app)["count"] == ledger["total"]
    ok("run", "manifest.yml", "--until-idle", cwd=app)
    written = {k["key"] for k in forgeq_json("inspect", "kvs", "--prefix", "issue-", cwd=app)["keys"]}
    assert written == {f"issue-DEMO-{n}" for n in range(1, 201)}
    assert json.dumps(forgeq_json("inspect", "dropped", "--not-replayed", cwd=app)["dropped"]) == "[]"
