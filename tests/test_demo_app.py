"""The demo app's own tests (fixtures/storage-queue/tests, written with forgeq.testing) run as its README says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import DEMO_APP, REPO


def state_files(folder: Path) -> dict[str, float]:
    return {str(path): path.stat().st_mtime for path in folder.rglob("*") if ".forgeq" in path.parts}


def test_the_demo_apps_tests_pass_and_leave_its_state_alone() -> None:
    before = state_files(DEMO_APP)
    golden = sorted((DEMO_APP / "tests" / "golden").glob("*.json"))
    recorded = {path: path.read_text() for path in golden}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FORGEQ_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "0", "fixtures/storage-queue/tests"],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout
    assert "wrote a new golden timeline" not in done.stdout, "a golden file of the demo app is missing"
    assert state_files(DEMO_APP) == before, "the tests touched the demo app's .forgeq/ state"
    assert golden and all(path.read_text() == text for path, text in recorded.items())
