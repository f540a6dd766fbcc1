"""`forgeq doctor`: fidelity (kept equal to docs/fidelity.md), the state file and its size, versions."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time

from conftest import REPO, V1_MANIFEST, forgeq, write_app

from forgeq.emulator.tools import fidelity

DEADLINE_SECONDS = 30.0


def doctor(cwd):
    done = forgeq("doctor", "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_doctor_reports_versions_fidelity_and_the_state_file(tmp_path):
    app = write_app(
        tmp_path / "app", V1_MANIFEST, {"src/index.py": "def handler(event, context):\n    return None\n"}
    ).parent
    before = doctor(app)
    assert before["state"]["exists"] is False and before["state"]["bytes"] == 0
    assert not (app / ".forgeq").exists()  # looking never creates it
    assert before["versions"]["python"] == platform.python_version()
    assert set(before["versions"]["packages"]) == {"typer", "rich", "PyYAML", "sqlite-utils", "watchfiles"}
    assert {item["level"] for item in before["fidelity"]} == {"exact", "approximate", "none"}
    assert before["manifest"]["status"].startswith("valid")

    assert forgeq("push", "--queue", "work", "--body", "{}", "--count", "7", cwd=app).returncode == 0
    after = doctor(app)["state"]
    state = app / ".forgeq" / "state.db"
    # The -wal and -shm files come and go with connections; the database file itself is the floor.
    assert after["exists"] and after["path"] == str(state) and after["bytes"] >= state.stat().st_size > 0
    assert after["events"] == 7 and after["in_use"] is False

    text = forgeq("doctor", cwd=app)
    assert text.returncode == 0
    for heading in (
        "emulated exactly",
        "emulated approximately",
        "not emulated",
        "state file:",
        "7 events",
    ):
        assert heading in text.stdout


def test_doctor_sees_a_run_using_the_state_file(tmp_path):
    app = write_app(
        tmp_path / "app", V1_MANIFEST, {"src/index.py": "def handler(event, context):\n    return None\n"}
    ).parent
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORGEQ_DB", None)
    run = subprocess.Popen(
        [sys.executable, "-m", "forgeq", "run"],
        cwd=app,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not doctor(app)["state"].get("in_use"):
            assert run.poll() is None and time.monotonic() < deadline, "the run never took the state file"
    finally:
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=DEADLINE_SECONDS) == 130  # stopped by Ctrl-C
    assert doctor(app)["state"]["in_use"] is False


def test_docs_fidelity_md_holds_the_same_table():
    text = (REPO / "docs" / "fidelity.md").read_text()
    start, end = text.index("<!-- doctor:begin -->"), text.index("<!-- doctor:end -->")
    assert text[start:end].split("\n", 1)[1].strip() == fidelity.markdown_table(), (
        "run `forgeq doctor --markdown` and paste it into docs/fidelity.md"
    )
    done = forgeq("doctor", "--markdown")
    assert done.returncode == 0 and done.stdout.strip() == fidelity.markdown_table()
