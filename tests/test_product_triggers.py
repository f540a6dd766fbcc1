"""Product events through `trigger` modules: `forgeq push EVENT`, fan-out, filters, retries, losses.

End-to-end paths run the real CLI in subprocesses over a real state file; the trigger handlers
journal every call (one os.write per line) so a test counts deliveries exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, emulator, forgeq, forgeq_json

APPS = Path(__file__).resolve().parent / "apps"
BUG_PAYLOAD = REPO / "fixtures" / "events" / "bug-created.json"


def copy_app(name: str, tmp_path: Path) -> Path:
    """A fresh copy of tests/apps/<name> (its state file then lives in tmp_path)."""
    target = tmp_path / name
    shutil.copytree(APPS / name, target)
    return target


def journal(path: Path) -> list[dict[str, Any]]:
    """The complete lines so far: a running handler may be half-way through writing the last one."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")
    return [json.loads(line) for line in lines[:-1] if line]  # after the last newline: unfinished


def issue_key(entry: dict[str, Any]) -> str:
    return str(entry["event"]["issue"]["key"])


def all_events(app: Path) -> list[dict[str, Any]]:
    return list(forgeq_json("inspect", "events", "--limit", "100000", cwd=app)["events"])


def state_of(app: Path) -> Any:
    from forgeq.emulator.store import Store

    return Store(app / ".forgeq" / "state.db")


def fire(app: Path, name: str, count: int = 1, **options: Any) -> None:
    """Fire product events through the library into the app's real state file (setup for CLI runs)."""
    from forgeq.emulator import limits
    from forgeq.emulator.products.firing import fire_product_events

    store = state_of(app)
    fire_product_events(store, name, count=count, now=limits.VIRTUAL_EPOCH, installation="site-1", **options)
    store.close()


def push_ok(app: Path, *args: str | Path) -> dict[str, Any]:
    done = forgeq("push", *args, "--json", cwd=app)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# ------------------------------------------------------------------------- the CLI, end to end


def test_several_triggers_on_different_events(tmp_path: Path) -> None:
    app = copy_app("product-triggers", tmp_path)
    calls = tmp_path / "journal.jsonl"
    push_ok(app, "issue-created", "--count", "3")  # DEMO-1..3, Tasks
    push_ok(app, "issue-created", "--count", "2", "--payload", BUG_PAYLOAD)  # DEMO-4..5, Bugs
    fire(app, "avi:jira:updated:issue", 2)  # DEMO-6..7
    fire(app, "issue-updated", sets=["changelog.items.0.field=status"])  # DEMO-8
    fire(app, "issue-assigned")  # DEMO-9
    fire(app, "comment-created", sets=["selfGenerated=true"])  # DEMO-10: ignoreSelf drops it
    fire(app, "comment-created")  # DEMO-11
    fire(app, "page-created", project_key="DOCS")  # seq 12
    fire(app, "issue-deleted")  # DEMO-13: the trigger throws
    fire(app, "page-updated")  # seq 14: no trigger subscribes

    done = forgeq("run", "--until-idle", cwd=app, env={"JOURNAL": str(calls)})
    assert done.returncode == 0, done.stderr
    entries = journal(calls)
    by_function = Counter(entry["function"] for entry in entries)
    assert by_function == {"created": 5, "bugs": 2, "changed": 21, "comment": 1, "page": 1, "deleted": 1}

    # Payload shapes: the real field names, distinct ids and keys, times on the emulator's clock.
    created = [e for e in entries if e["function"] == "created"]
    assert sorted(issue_key(e) for e in created) == [f"DEMO-{n}" for n in range(1, 6)]
    for entry in created:
        event = entry["event"]
        assert event["eventType"] == "avi:jira:created:issue"
        assert event["issue"]["id"] == str(10000 + int(issue_key(entry).split("-")[1]))
        assert event["issue"]["fields"]["created"].startswith("2025-11-17T09:00:00.")
        assert event["associatedUsers"] == [{"accountId": event["atlassianId"]}]
        assert entry["context"]["installContext"] == "ari:cloud:jira::site/site-1"
    assert sorted(issue_key(e) for e in entries if e["function"] == "bugs") == ["DEMO-4", "DEMO-5"]
    assert [issue_key(e) for e in entries if e["function"] == "comment"] == ["DEMO-11"]
    comment = next(e["event"] for e in entries if e["function"] == "comment")
    assert comment["eventType"] == "avi:jira:commented:issue" and comment["comment"]["id"] == "20011"
    page = next(e["event"] for e in entries if e["function"] == "page")
    assert page["eventType"] == "avi:confluence:created:page"
    assert page["content"]["id"] == "40012" and page["content"]["space"]["key"] == "DOCS"

    # on-issue-changed gets DEMO-6..9; status-changes (expression not evaluated locally) DEMO-6..8.
    # Each delivery asks for a retry twice and succeeds on its third attempt.
    changed = Counter(issue_key(e) for e in entries if e["function"] == "changed")
    assert changed == {"DEMO-6": 6, "DEMO-7": 6, "DEMO-8": 6, "DEMO-9": 3}
    for entry in entries:
        if entry["function"] == "changed":
            assert "changelog" in entry["event"]
            retry = entry["event"].get("retryContext")
            assert retry is None or (retry["retryCount"] in (1, 2) and retry["retryData"] == {"seen": True})
    assert sum(1 for e in entries if e["function"] == "changed" and "retryContext" not in e["event"]) == 7

    # The timeline says what was filtered, what could not be checked, and what reached nobody.
    out = done.stdout
    assert out.count("filtered out for trigger 'bugs-only': expression is false") == 3
    assert "filtered out for trigger 'on-comment': ignoreSelf: selfGenerated is true" in out
    assert out.count("trigger 'status-changes': expression not evaluated locally") == 1
    assert "no trigger subscribes to avi:confluence:updated:page" in out
    assert "  triggers: 17 invoked, 16 succeeded, 7 retried, 0 pending; product events: 14 fired, 14 delivered" in out
    assert "\n  dropped 0, lost 1\n" in out

    # inspect agrees with the journal.
    counts = forgeq_json("inspect", "queue", cwd=app)
    triggers = counts["triggers"]
    assert {key: bucket["succeeded"] for key, bucket in triggers.items()} == {
        "on-issue-created": 5, "bugs-only": 2, "on-issue-changed": 4, "status-changes": 3,
        "on-comment": 1, "on-page-created": 1, "on-issue-deleted": 0,
    }  # fmt: skip
    assert triggers["on-issue-deleted"]["dropped"] == 1
    assert {event_type: bucket["delivered"] for event_type, bucket in counts["products"].items()} == {
        "avi:jira:created:issue": 5, "avi:jira:updated:issue": 3, "avi:jira:assigned:issue": 1,
        "avi:jira:commented:issue": 2, "avi:confluence:created:page": 1, "avi:jira:deleted:issue": 1,
        "avi:confluence:updated:page": 1,
    }  # fmt: skip

    # The thrown error is not retried: the event is lost and the ledger names the error.
    events = all_events(app)
    dropped = [e for e in events if e["state"] == "dropped"]
    assert [(e["kind"], e["queue"], e["attempts"]) for e in dropped] == [("trigger", "on-issue-deleted", 1)]
    assert "RuntimeError: cannot archive DEMO-13" in dropped[0]["last_error"]

    # A filtered-out product event says so on its own row.
    rows = {e["seq"]: e for e in events if e["kind"] == "product"}
    assert "trigger 'bugs-only' filtered it out: expression is false" in rows[1]["last_error"]
    assert rows[4]["last_error"] is None
    assert rows[10]["last_error"] == "trigger 'on-comment' filtered it out: ignoreSelf: selfGenerated is true"


def test_push_from_other_processes_while_run_runs_delivers_each_event_once(tmp_path: Path) -> None:
    app = copy_app("product-triggers", tmp_path)
    calls = tmp_path / "journal.jsonl"
    env = {**os.environ, "NO_COLOR": "1", "JOURNAL": str(calls)}
    env.pop("FORGEQ_DB", None)
    with (tmp_path / "run.out").open("w") as out:
        runner = subprocess.Popen(
            [sys.executable, "-m", "forgeq", "run", "-q"],
            cwd=app,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(
            lambda: (app / ".forgeq" / "state.db.run-lock").exists() and _lock_held(app),
            "the run to take its lock",
        )
        pushers = [
            subprocess.Popen(
                [sys.executable, "-m", "forgeq", "push", *args],
                cwd=app,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for args in (
                ["issue-created", "--count", "1200"],
                ["issue-created", "--count", "700", "--payload", str(BUG_PAYLOAD)],
                ["comment-created", "--count", "300"],
            )
        ]
        for pusher in pushers:
            stdout, stderr = pusher.communicate(timeout=120)
            assert pusher.returncode == 0, stderr
        expected = 1200 + 700 + 700 + 300  # created x2 triggers for the bugs, comments
        _wait_for(lambda: len(journal(calls)) >= expected, f"{expected} trigger invocations")
        _wait_for(lambda: _nothing_pending(app), "the queue to drain")
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=60)
    assert runner.returncode == 130, (tmp_path / "run.out").read_text()  # stopped by Ctrl-C

    entries = journal(calls)
    assert len(entries) == expected
    deliveries = Counter((entry["function"], issue_key(entry)) for entry in entries)
    assert set(deliveries.values()) == {1}, [item for item, n in deliveries.items() if n > 1][:5]
    keys = {issue_key(entry) for entry in entries}
    assert len(keys) == 1200 + 700 + 300  # concurrent pushes never mint the same key
    assert {entry["pid"] for entry in entries} == {runner.pid}
    counts = Counter(entry["function"] for entry in entries)
    assert counts == {"created": 1900, "bugs": 700, "comment": 300}


def _wait_for(condition: Any, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _lock_held(app: Path) -> bool:
    from forgeq.emulator.store import StateLock

    return StateLock(str(app / ".forgeq" / "state.db")).is_held_elsewhere()


def _nothing_pending(app: Path) -> bool:
    store = state_of(app)  # a reader beside the running loop, as `inspect` is
    try:
        buckets = [
            bucket
            for kind in ("queue", "trigger", "product")
            for bucket in store.queue_counts(1e12, kind=kind).values()
        ]
    finally:
        store.close()
    return all(
        bucket[name] == 0 for bucket in buckets for name in ("pending", "delayed", "running", "retrying")
    )


def test_rate_staggers_events_on_the_emulators_clock(tmp_path: Path) -> None:
    app = copy_app("product-triggers", tmp_path)
    calls = tmp_path / "journal.jsonl"
    result = push_ok(app, "issue-created", "--count", "5", "--rate", "2")
    assert result["last_at"] - result["first_at"] == pytest.approx(2.0)
    done = forgeq("run", "--until-idle", cwd=app, env={"JOURNAL": str(calls)})
    assert done.returncode == 0, done.stderr
    created = sorted(
        (e["event"]["issue"]["fields"]["created"], issue_key(e))
        for e in journal(calls)
        if e["function"] == "created"
    )
    assert [stamp[11:23] for stamp, _key in created] == [
        "09:00:00.000",
        "09:00:00.500",
        "09:00:01.000",
        "09:00:01.500",
        "09:00:02.000",
    ]
    store = state_of(app)
    triggers = store.events(kind="trigger", target="on-issue-created")
    starts = sorted(store.attempts(e.id)[0]["started_at"] - result["first_at"] for e in triggers)
    store.close()
    assert starts == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])


def test_push_list_shows_events_and_the_apps_triggers(tmp_path: Path) -> None:
    app = copy_app("product-triggers", tmp_path)
    listing = forgeq_json("push", "--list", cwd=app)
    by_alias = {item["alias"]: item for item in listing["events"]}
    assert by_alias["issue-created"]["event_type"] == "avi:jira:created:issue"
    assert by_alias["issue-created"]["triggers"] == ["on-issue-created", "bugs-only"]
    assert by_alias["issue-updated"]["triggers"] == ["on-issue-changed", "status-changes"]
    assert by_alias["page-updated"]["triggers"] == []
    assert len(listing["app_account_id"]) == 24
    text = forgeq("push", "--list", cwd=app).stdout
    assert (
        "comment-created" in text and "avi:jira:commented:issue" in text and listing["app_account_id"] in text
    )


def test_ignore_self_drops_the_apps_own_events(tmp_path: Path) -> None:
    app = copy_app("product-triggers", tmp_path)
    calls = tmp_path / "journal.jsonl"
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.products.payloads import app_account_id

    own = app_account_id(load_manifest(app / "manifest.yml").app_id)
    push_ok(app, "comment-created", "--set", f"atlassianId={own}")
    fire(app, "comment-created", sets=["atlassianId=5b10ac8d82e05b22cc7d4ef5"])
    done = forgeq("run", "--until-idle", cwd=app, env={"JOURNAL": str(calls)})
    assert done.returncode == 0
    assert [issue_key(e) for e in journal(calls)] == ["DEMO-2"]
    assert f"ignoreSelf: atlassianId is the app's own account id ({own})" in done.stdout


def test_push_never_imports_user_code(make_app: Any, tmp_path: Path) -> None:
    sentinel = tmp_path / "imported"
    app = make_app(
        """
        app:
          id: ari:cloud:ecosystem::app/sentinel
        modules:
          trigger:
            - key: t
              function: f
              events: [avi:jira:created:issue]
          consumer:
            - key: c
              queue: work
              function: f
          function:
            - key: f
              handler: index.handler
        """,
        {
            "src/index.py": f"open({str(sentinel)!r}, 'w').close()\ndef handler(event, context):\n    return None\n"
        },
    ).parent
    for args in (["--list"], ["issue-created", "--count", "3"], ["--queue", "work", "--body", "{}"]):
        assert forgeq("push", *args, cwd=app).returncode == 0
    assert not sentinel.exists()
    assert forgeq("run", "--until-idle", cwd=app).returncode == 0
    assert sentinel.exists()  # the sentinel does work: `run` imports the handler


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["issue-creatd"], "Did you mean 'issue-created'?"),
        (["avi:jira:viewed:issue"], "pass --payload FILE"),
        (["issue-created", "--set", "nonsense"], "expected PATH=VALUE"),
        (["issue-created", "--set", "issue.fields.summary.x=1"], "is a string, not an object or a list"),
        (["issue-created", "--count", "0"], "--count must be from 1"),
        (["issue-created", "--rate", "0"], "--rate must be a number of events per second above 0"),
        (["issue-created", "--project", "demo"], "is not a Jira project key"),
        (["issue-created", "--body", "{}"], "--body and --delay apply to --queue"),
        (["issue-created", "--payload", "missing.json"], "no such file"),
        (["issue-created", "--queue", "work"], "either a product event or --queue"),
        (["--queue", "work", "--set", "a=1"], "apply to product events"),
        (["--list", "issue-created"], "--list takes no event"),
        ([], "nothing to push"),
    ],
)
def test_bad_push_input_is_one_line_exit_2_and_stores_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    app = copy_app("product-triggers", tmp_path)
    done = forgeq("push", *args, cwd=app)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (app / ".forgeq" / "state.db").exists()  # checked before the state file is touched


def test_payload_file_for_an_event_without_a_template(tmp_path: Path) -> None:
    app = copy_app("product-triggers", tmp_path)
    own = tmp_path / "viewed.json"
    own.write_text(json.dumps({"issue": {"key": "{{issue.key}}"}, "user": {"accountId": "abc"}}))
    result = push_ok(app, "avi:jira:viewed:issue", "--payload", own, "--count", "2")
    assert result["alias"] is None and result["triggers"] == []
    store = state_of(app)
    rows = [json.loads(e.body) for e in store.events(kind="product")]
    store.close()
    assert rows == [
        {"issue": {"key": "DEMO-1"}, "user": {"accountId": "abc"}, "eventType": "avi:jira:viewed:issue"},
        {"issue": {"key": "DEMO-2"}, "user": {"accountId": "abc"}, "eventType": "avi:jira:viewed:issue"},
    ]
    bad = tmp_path / "list.json"
    bad.write_text("[1, 2]")
    done = forgeq("push", "issue-created", "--payload", bad, cwd=app)
    assert done.returncode == 2 and "must be a JSON object" in done.stderr


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    import pty

    app = copy_app("product-triggers", tmp_path)
    piped = forgeq("push", "issue-created", "--count", "1500", cwd=app)
    assert piped.returncode == 0 and "\r" not in piped.stdout and "\x1b" not in piped.stdout
    assert piped.stdout.startswith(
        "pushed 1500 avi:jira:created:issue (issue-created) events [site-1] #1..#1500, issues DEMO-1..DEMO-1500"
    )

    leader, follower = pty.openpty()
    env = {**os.environ, "FORCE_COLOR": "1"}
    env.pop("FORGEQ_DB", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "forgeq", "push", "issue-created", "--count", "3000"],
        cwd=app,
        env=env,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process exited
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0
    text = output.decode(errors="replace")
    assert "pushing" in text and "/3000" in text
    assert "pushed 3000 avi:jira:created:issue" in text


# ---------------------------------------------------------------- the loop's fan-out, in process

FILTER_APP = """
app:
  id: ari:cloud:ecosystem::app/filters
modules:
  trigger:
    - key: both-filters
      function: f
      events:
        - eventType: avi:jira:created:issue
          filter:
            expression: "event.issue.fields.summary.startsWith('Keep')"
      filter:
        ignoreSelf: true
    - key: receive-on-error
      function: f
      events:
        - eventType: avi:jira:created:issue
          filter:
            expression: "event.issue.fields.assignee.accountId == 'x'"
            onError: RECEIVE_AND_LOG
    - key: listed-twice
      function: f
      events:
        - avi:jira:created:issue
        - avi:jira:created:issue
    - key: arithmetic
      function: f
      events:
        - eventType: avi:jira:created:issue
          filter:
            expression: "event.issue.id + 1 > 0"
  function:
    - key: f
      handler: index.f
"""


def _product_rows(emu: Any, name: str, count: int, **sets: str) -> None:
    from forgeq.emulator.products.firing import fire_product_events

    fire_product_events(
        emu.store,
        name,
        count=count,
        now=emu.clock.now(),
        installation="site-1",
        sets=[f"{k}={v}" for k, v in sets.items()],
    )


def test_trigger_and_event_filters_both_apply(make_app: Any, tmp_path: Path) -> None:
    app = make_app(FILTER_APP, {"src/index.py": "def f(event, context):\n    return None\n"})
    emu, recorder = emulator(app, tmp_path / "state.db")
    _product_rows(emu, "issue-created", 2, **{"issue.fields.summary": "Keep me"})
    _product_rows(emu, "issue-created", 1, **{"issue.fields.summary": "Drop me"})
    _product_rows(emu, "issue-created", 1, **{"issue.fields.summary": "Keep me", "selfGenerated": "true"})
    emu.run()
    invoked = Counter(report.target for report in recorder.attempts)
    # both-filters: the event filter drops "Drop me", the trigger's ignoreSelf the self-generated one.
    assert invoked == {"both-filters": 2, "receive-on-error": 4, "listed-twice": 4, "arithmetic": 4}
    texts = [notice.text for notice in recorder.notices]
    assert sum("filtered out for trigger 'both-filters'" in text for text in texts) == 2
    assert sum("delivered to trigger 'receive-on-error': expression failed" in text for text in texts) == 4
    # What cannot be checked locally is said once, not once per event.
    assert sum("trigger 'arithmetic': expression not evaluated locally" in text for text in texts) == 1


def test_fan_out_interrupted_by_a_crash_runs_each_trigger_once(make_app: Any, tmp_path: Path) -> None:
    app = make_app(FILTER_APP, {"src/index.py": "def f(event, context):\n    return None\n"})
    first, _ = emulator(app, tmp_path / "state.db")
    _product_rows(first, "issue-created", 3, **{"issue.fields.summary": "Keep"})
    first.start()
    claimed = first.store.claim_due(first.clock.now(), 50, first.owner)
    for record in claimed:
        first._deliver(record, first.clock.now())  # fanned out in the batch, never committed: a crash
    assert len(first.batch.new_events) == 12
    first.store.close()

    second, recorder = emulator(app, tmp_path / "state.db")
    second.run()
    per_trigger = Counter((report.target, report.seq) for report in recorder.attempts)
    assert len(per_trigger) == 12 and set(per_trigger.values()) == {1}
    assert second.store.totals()["events"] == 3 + 12
