"""The core issue's user story, end to end through the CLI in subprocesses, on a real state file."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

from conftest import DEMO_APP, V1_MANIFEST, forgeq, forgeq_json

FLAKY_V1 = """
import random
from forgeq.events import InvocationError
from forgeq.kvs import kvs
from forgeq.resolver import Resolver

resolver = Resolver()

@resolver.define("listener")
def listener(request):
    payload = request["payload"]
    if random.random() < 0.6:
        return InvocationError(retry_after=random.uniform(1, 900), retry_reason="FUNCTION_RETRY_REQUEST")
    kvs.set("issue-" + payload["issueKey"] + "-" + str(payload.get("n", 0)), payload)

handler = resolver.get_definitions()
"""


def test_push_run_inspect_with_retries_and_drops(make_app):
    app = make_app(V1_MANIFEST, {"src/index.py": FLAKY_V1})
    pushed = forgeq("push", "--queue", "work", "--body", '{"issueKey": "DEMO-1"}', "--count", "200", cwd=app.parent)
    assert pushed.returncode == 0, pushed.stderr
    assert "pushed 200 events to work" in pushed.stdout
    ran = forgeq("run", "manifest.yml", "--until-idle", "--seed", "7", cwd=app.parent)
    assert ran.returncode == 0, ran.stderr
    lines = [line for line in ran.stdout.splitlines() if line.startswith("+")]
    assert sum(" try " in line for line in lines) > 200  # every attempt has its line
    assert any("retry in" in line and "FUNCTION_RETRY_REQUEST" in line for line in lines)
    counts = forgeq_json("inspect", "queue", cwd=app.parent)["queues"]["work"]
    assert counts["succeeded"] + counts["dropped"] == 200 and counts["dropped"] > 0
    assert {k: counts[k] for k in ("pending", "delayed", "running", "retrying")} == dict.fromkeys(("pending", "delayed", "running", "retrying"), 0)
    events = forgeq_json("inspect", "events", "--state", "dropped", "--limit", "500", cwd=app.parent)["events"]
    assert len(events) == counts["dropped"] and all(e["attempts"] == 5 for e in events)
    timeline = forgeq_json("inspect", "timeline", str(events[0]["seq"]), cwd=app.parent)
    assert [a["attempt"] for a in timeline["attempts"]] == [1, 2, 3, 4, 5]
    assert [a["retry_context"]["retryCount"] for a in timeline["attempts"][1:]] == [1, 2, 3, 4]
    kvs = forgeq_json("inspect", "kvs", "--prefix", "issue-", cwd=app.parent)["keys"]
    assert len(kvs) == 1  # every success wrote the same key


def test_same_seed_prints_the_same_timeline(make_app, tmp_path):
    app = make_app(V1_MANIFEST, {"src/index.py": FLAKY_V1})
    assert forgeq("push", "--queue", "work", "--body", '{"issueKey": "A"}', "--count", "50", cwd=app.parent).returncode == 0
    state = app.parent / ".forgeq" / "state.db"
    outputs = []
    for name in ("one.db", "two.db"):
        copy = tmp_path / name
        shutil.copy(state, copy)
        done = forgeq("run", app, "--until-idle", "--seed", "3", "--db", copy)
        assert done.returncode == 0, done.stderr
        outputs.append([line for line in done.stdout.splitlines() if "s wall" not in line and not line.startswith("state: ")])
    assert outputs[0] == outputs[1]
    other = tmp_path / "three.db"
    shutil.copy(state, other)
    assert forgeq("run", app, "--until-idle", "--seed", "4", "--db", other).stdout.splitlines()[:60] != outputs[0][:60]


def test_a_second_run_on_the_same_state_is_refused_with_exit_3(make_app):
    app = make_app(V1_MANIFEST, {"src/index.py": FLAKY_V1})
    forgeq("push", "--queue", "work", "--body", "{}", cwd=app.parent)
    first = subprocess.Popen([sys.executable, "-m", "forgeq", "run", "manifest.yml"], cwd=app.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (app.parent / ".forgeq" / "state.db.run-lock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        second = forgeq("run", "manifest.yml", "--until-idle", cwd=app.parent)
        assert second.returncode == 3
        assert "in use by another `forgeq run`" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=30)
    assert first.returncode == 130  # stopped by Ctrl-C, as a shell reports it


def test_kill_9_mid_run_then_restart_loses_nothing(make_app):
    slow = FLAKY_V1.replace("    payload = request[\"payload\"]\n", "    payload = request[\"payload\"]\n    import time; time.sleep(0.002)\n")
    app = make_app(V1_MANIFEST, {"src/index.py": slow})
    assert forgeq("push", "--queue", "work", "--body", '{"issueKey": "K"}', "--count", "300", cwd=app.parent).returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "forgeq", "run", "manifest.yml", "--until-idle"], cwd=app.parent, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    for _ in range(60):  # let it get well into the backlog
        process.stdout.readline()
    process.kill()
    process.wait()
    rerun = forgeq("run", "manifest.yml", "--until-idle", cwd=app.parent)
    assert rerun.returncode == 0, rerun.stderr
    counts = forgeq_json("inspect", "queue", cwd=app.parent)["queues"]["work"]
    assert counts["succeeded"] + counts["dropped"] == 300
    assert counts["running"] == 0 and counts["pending"] == 0


def test_demo_app_runs_from_the_readme(tmp_path):
    app = tmp_path / "demo"
    shutil.copytree(DEMO_APP, app, ignore=shutil.ignore_patterns(".forgeq", "__pycache__"))
    assert forgeq("push", "--queue", "storage-async-queue", "--body", '{"issueKey": "DEMO-1"}', "--count", "200", cwd=app).returncode == 0
    done = forgeq("run", "manifest.yml", "--until-idle", "--seed", "7", cwd=app)
    assert done.returncode == 0, done.stderr
    assert forgeq_json("inspect", "queue", cwd=app)["queues"]["storage-async-queue"]["succeeded"] == 200
    assert json.loads(forgeq("inspect", "kvs", "--json", cwd=app).stdout)["keys"][0]["key"] == "issue-DEMO-1"


def test_usage_errors_exit_2_without_traceback(make_app):
    app = make_app(V1_MANIFEST, {"src/index.py": FLAKY_V1})
    for args in (["push", "--queue", "work", "--body", "{oops"], ["push", "--queue", "work", "--count", "0"], ["push", "--queue", "bad/q"], ["run", "--clock", "sideways"], ["push", "--queue", "work", "--body", "@missing.json"]):
        done = forgeq(*args, cwd=app.parent)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.startswith("forgeq: error:"), done.stderr


def test_forgeq_demo_runs_the_bulk_import_in_a_folder_of_its_own(tmp_path):
    done = forgeq("demo", "--count", "60", "--dir", tmp_path / "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "pushed 60 avi:jira:created:issue" in done.stdout and "this run:" in done.stdout and "state:" in done.stdout
    assert f"look closer: cd {tmp_path / 'demo'}, then: " in done.stdout
    counts = forgeq_json("inspect", "queue", "--manifest", tmp_path / "demo" / "manifest.yml")["queues"]
    assert counts["storage-async-queue"]["succeeded"] == 60
