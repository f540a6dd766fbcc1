"""The seed guide's bulk import, end to end through the CLI: product events -> trigger -> queue -> KVS.

`forgeq push issue-created --count 1000`, then `forgeq run --until-idle`, then `inspect --json`
must agree on every count; with the platform's 500 pushed events per minute on, the trigger
(which does not catch the push's RateLimitError) loses the issues it cannot queue, and those lost
events are listed with their error.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import forgeq, forgeq_json

from forgeq.emulator import limits

APP = Path(__file__).resolve().parent / "apps" / "bulk-import"
ISSUES = 1000


def bulk_import(tmp_path: Path, *run_options: str) -> tuple[Path, str]:
    app = tmp_path / "bulk-import"
    shutil.copytree(APP, app)
    pushed = forgeq("push", "issue-created", "--count", str(ISSUES), cwd=app)
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith(
        f"pushed {ISSUES} avi:jira:created:issue (issue-created) events [site-1] #1..#{ISSUES}, issues DEMO-1..DEMO-{ISSUES}"
    )
    assert pushed.stdout.rstrip().endswith("triggers: issue-created-trigger")
    done = forgeq("run", "--until-idle", "-q", *run_options, cwd=app)
    assert done.returncode == 0, done.stderr
    return app, done.stdout


def counts(app: Path) -> dict[str, Any]:
    events = forgeq_json("inspect", "events", "--limit", "100000", cwd=app)["events"]
    written = forgeq_json("inspect", "kvs", "--limit", "100000", cwd=app)["keys"]
    return {"queue": forgeq_json("inspect", "queue", cwd=app), "events": events, "written": written}


def issue_of_trigger(event: dict[str, Any], parents: dict[int, dict[str, Any]]) -> str:
    return str(parents[event["parent"]]["body"]["issue"]["key"])


def test_bulk_import_under_the_push_limit_loses_what_the_trigger_cannot_queue(tmp_path: Path) -> None:
    app, output = bulk_import(tmp_path)
    seen = counts(app)
    events = seen["events"]
    products = {e["seq"]: e for e in events if e["kind"] == "product"}
    triggers = [e for e in events if e["kind"] == "trigger"]
    queued = [e for e in events if e["kind"] == "queue"]

    # Every product event reached the trigger exactly once.
    assert len(products) == ISSUES and all(e["state"] == "delivered" for e in products.values())
    assert sorted(e["parent"] for e in triggers) == sorted(products)

    # All triggers ran in the first virtual second: 500 pushes fit the minute, the rest were refused.
    succeeded = [e for e in triggers if e["state"] == "succeeded"]
    lost = [e for e in triggers if e["state"] == "dropped"]
    assert (
        len(succeeded) == limits.PUSHED_EVENTS_PER_MINUTE
        and len(lost) == ISSUES - limits.PUSHED_EVENTS_PER_MINUTE
    )
    for event in lost:
        assert event["attempts"] == 1  # a thrown error is not retried: the event is lost
        assert re.fullmatch(r"RateLimitError: Too many requests\. \(src/index\.py:\d+\)", event["last_error"])

    # Each queued write came from a trigger that succeeded, and each reached the store once.
    assert len(queued) == len(succeeded) and all(e["state"] == "succeeded" for e in queued)
    by_seq = {e["seq"]: e for e in events}
    pushed_by = {e["parent"] for e in queued}
    assert pushed_by == {e["seq"] for e in succeeded}
    written = {item["key"] for item in seen["written"]}
    assert written == {f"issue-{issue_of_trigger(e, by_seq)}" for e in succeeded}
    lost_issues = {issue_of_trigger(e, by_seq) for e in lost}
    assert {key.removeprefix("issue-") for key in written} | lost_issues == {
        f"DEMO-{n}" for n in range(1, ISSUES + 1)
    }

    # inspect queue, the run's summary and the ledger agree with the events.
    queue = seen["queue"]
    assert queue["products"]["avi:jira:created:issue"]["delivered"] == ISSUES
    assert queue["triggers"]["issue-created-trigger"]["succeeded"] == len(succeeded)
    assert queue["triggers"]["issue-created-trigger"]["dropped"] == len(lost)
    assert queue["queues"]["issue-writes"]["succeeded"] == len(written)
    assert f"triggers: {ISSUES} invoked, {ISSUES - len(lost)} succeeded, 0 retried, 0 pending; product events: {ISSUES} fired" in output
    assert f"this run: {ISSUES * 2 - len(lost)} attempts" in output and f"\n  dropped 0, lost {len(lost)}\n" in output
    assert f"{len(lost):>6} lost: trigger threw; Forge does not retry a thrown error, the event is lost" in output
    listed = forgeq_json("inspect", "events", "--state", "dropped", "--limit", "100000", cwd=app)["events"]
    assert sorted(e["seq"] for e in listed) == sorted(e["seq"] for e in lost)
    table = forgeq("inspect", "events", "--state", "dropped", "--limit", "3", cwd=app).stdout
    assert table.count("RateLimitError: Too many requests.") == 3


def test_bulk_import_without_platform_limits_writes_every_issue(tmp_path: Path) -> None:
    app, output = bulk_import(tmp_path, "--platform-limits", "off")
    seen = counts(app)
    queue = seen["queue"]
    assert queue["triggers"]["issue-created-trigger"]["succeeded"] == ISSUES
    assert queue["triggers"]["issue-created-trigger"]["dropped"] == 0
    assert queue["queues"]["issue-writes"]["succeeded"] == ISSUES
    assert {item["key"] for item in seen["written"]} == {f"issue-DEMO-{n}" for n in range(1, ISSUES + 1)}
    assert f"triggers: {ISSUES} invoked, {ISSUES} succeeded, 0 retried, 0 pending; product events: {ISSUES} fired" in output


@pytest.mark.slow
def test_bulk_import_of_ten_thousand_issues(tmp_path: Path) -> None:
    app = tmp_path / "bulk-import"
    shutil.copytree(APP, app)
    assert forgeq("push", "issue-created", "--count", "10000", "--rate", "5", cwd=app).returncode == 0
    done = forgeq("run", "--until-idle", "-q", cwd=app, timeout=600)
    assert done.returncode == 0, done.stderr
    queue = forgeq_json("inspect", "queue", cwd=app)
    # At 5 issues a second, 300 a minute: under the push limit, every issue is written.
    assert queue["triggers"]["issue-created-trigger"]["succeeded"] == 10000
    assert queue["queues"]["issue-writes"]["succeeded"] == 10000
