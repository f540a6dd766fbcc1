"""The pytest plugin (forgeq.pytest_plugin), run as a user runs it: pytest in a subprocess, in an app's folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import V2_MANIFEST, write_app

HANDLER = {
    "src/index.py": """
        from forgeq.events import InvocationError
        from forgeq.kvs import kvs

        deliveries = []  # module state, which must not leak from one test to the next

        def handler(event, context):
            deliveries.append(event["body"])
            if event["body"].get("fail"):
                return InvocationError(retry_after=3600 * 23)
            kvs.set("item-" + str(event["body"]["id"]), len(deliveries))
    """
}


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FORGEQ_"))}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-q", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def app_with_tests(root: Path, tests: str, ini: str = "") -> Path:
    app = write_app(root / "app", V2_MANIFEST, HANDLER).parent
    (app / "pytest.ini").write_text("[pytest]\n" + textwrap.dedent(ini))
    (app / "tests").mkdir()
    (app / "tests" / "test_app.py").write_text(textwrap.dedent(tests))
    return app


def test_each_test_gets_a_fresh_app_and_nothing_reaches_dot_forgeq(tmp_path: Path) -> None:
    app = app_with_tests(
        tmp_path,
        """
        def test_first(forge_app):
            forge_app.push("work", {"body": {"id": 1}})
            forge_app.run_until_idle()
            assert forge_app.kvs.as_dict() == {"item-1": 1}

        def test_second_sees_none_of_it(forge_app):
            assert forge_app.kvs.as_dict() == {}
            assert forge_app.events() == [] and forge_app.attempts == [] and forge_app.elapsed == 0
            forge_app.push("work", {"body": {"id": 2}})
            forge_app.run_until_idle()
            assert forge_app.kvs.as_dict() == {"item-2": 1}  # the module's list started empty again

        def test_two_runs_with_one_seed_agree(forge_app):
            from forgeq.testing import ForgeApp
            other = ForgeApp(forge_app.manifest, seed=forge_app.settings.seed)
            for app in (forge_app, other):
                app.push("work", [{"body": {"id": n}} for n in range(20)])
                app.run_until_idle()
            assert forge_app.golden() == other.golden()
            other.close()
        """,
    )
    done = pytest_in(app, "tests")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    assert not list(tmp_path.rglob(".forgeq")), "the fixture wrote a state folder"
    assert not list(tmp_path.rglob("*.db"))


def test_marker_and_options_choose_seed_and_limits(tmp_path: Path) -> None:
    app = app_with_tests(
        tmp_path,
        """
        import pytest

        def test_default(forge_app):
            assert forge_app.settings.seed == 9          # --forge-seed
            assert forge_app.settings.storage_limits == "2023"

        @pytest.mark.forge(seed=4, storage_limits="none", platform_limits=False, installations=["a", "b"])
        def test_marked(forge_app):
            assert forge_app.settings.seed == 4
            assert forge_app.settings.storage_limits == "none"
            assert forge_app.settings.platform_limits is False
            assert forge_app.installation == "a"

        @pytest.mark.forge(storage_limits={"writes": 1, "base": "2023"})
        def test_tight_quota(forge_app):
            forge_app.push("work", [{"body": {"id": n}} for n in range(3)])
            forge_app.run_until_idle()
            assert sum(a.quota_refusals for a in forge_app.attempts) >= 2
            assert len(forge_app.kvs.keys("item-")) == 3
        """,
    )
    done = pytest_in(app, "tests", "--forge-seed", "9", "--forge-storage-limits", "2023")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_the_manifest_comes_from_the_option_or_the_ini_file(tmp_path: Path) -> None:
    app = app_with_tests(
        tmp_path, "def test_loaded(forge_app):\n    assert forge_app.manifest.queues == ['work']\n"
    )
    elsewhere = tmp_path / "suite"
    elsewhere.mkdir()
    (elsewhere / "test_elsewhere.py").write_text(
        "def test_loaded(forge_app):\n    assert forge_app.manifest.queues == ['work']\n"
    )
    (elsewhere / "pytest.ini").write_text("[pytest]\n")
    lost = pytest_in(elsewhere)
    assert lost.returncode == 1
    assert "forge_app: " in lost.stdout and "manifest.yml" in lost.stdout and "no such file" in lost.stdout
    assert "Traceback" not in lost.stdout
    by_option = pytest_in(elsewhere, "--forge-manifest", str(app / "manifest.yml"))
    assert by_option.returncode == 0, by_option.stdout
    (elsewhere / "pytest.ini").write_text("[pytest]\nforge_manifest = ../app/manifest.yml\n")
    by_ini = pytest_in(elsewhere)
    assert by_ini.returncode == 0, by_ini.stdout


def test_a_failing_test_prints_the_last_attempts(tmp_path: Path) -> None:
    app = app_with_tests(
        tmp_path,
        """
        def test_nothing_dropped(forge_app):
            forge_app.push("work", [{"body": {"id": 1}}, {"body": {"id": 2, "fail": True}}])
            forge_app.run_until_idle()
            assert forge_app.dropped() == []

        def test_passes(forge_app):
            forge_app.push("work", {"body": {"id": 3}})
            forge_app.run_until_idle()

        def test_with_an_app_of_its_own():
            from forgeq.testing import ForgeApp
            with ForgeApp("manifest.yml", seed=1) as app:
                app.push("work", {"body": {"id": "own"}})
                app.run_until_idle()
            assert app.kvs is None
        """,
    )
    done = pytest_in(app, "tests", "--forge-timeline-lines", "3")
    assert done.returncode == 1
    out = done.stdout
    assert "1 passed, 2 failed" in out or "2 failed, 1 passed" in out
    assert out.count("forgeq timeline") == 2  # the failing tests get the section, the passing one not
    own = out.split("test_with_an_app_of_its_own", 1)[1]
    assert "seed=1" in own and "work  #1  try 1  succeeded" in own  # read after the app was closed
    section = out.split("forgeq timeline", 1)[1]
    # #2 asks for 23 h, Forge clamps it to 15 min, so it runs 96 times before its 24 h run out.
    assert "97 attempts run; the last 3:" in section
    assert "work  #2  try 95  retry      asked 82800s applied 900s" in section
    assert "work  #2  try 96  dropped" in section
    assert "retention window over" in section
    assert "dropped: 1 event\n" in section
    assert "queue work: succeeded 1, dropped 1" in section


def test_golden_timelines_with_the_update_option(tmp_path: Path) -> None:
    tests = """
        import os

        def test_golden(forge_app):
            count = int(os.environ.get("EVENTS", "2"))
            forge_app.push("work", [{"body": {"id": n}} for n in range(count)])
            forge_app.run_until_idle()
            forge_app.assert_matches_golden("golden/work.json")
        """
    app = app_with_tests(tmp_path, tests)
    golden = app / "tests" / "golden" / "work.json"
    first = pytest_in(app, "tests")
    assert first.returncode == 0 and "wrote a new golden timeline" in first.stdout
    recorded = golden.read_text()
    os.environ["EVENTS"] = "3"
    try:
        changed = pytest_in(app, "tests")
        assert changed.returncode == 1
        assert "the run differs from the golden timeline" in changed.stdout
        assert '+        "item-2": ' in changed.stdout
        assert "golden.py" not in changed.stdout  # forgeq's own frames are hidden from the traceback
        updated = pytest_in(app, "tests", "--forge-update-golden")
        assert updated.returncode == 0 and "wrote a new golden" not in updated.stdout
    finally:
        del os.environ["EVENTS"]
    assert golden.read_text() != recorded


def test_a_marker_with_a_file_store_is_refused(tmp_path: Path) -> None:
    app = app_with_tests(
        tmp_path,
        """
        import pytest

        @pytest.mark.forge(store="state.db")
        def test_file(forge_app):
            pass
        """,
    )
    done = pytest_in(app, "tests")
    assert done.returncode != 0
    assert "always uses an in-memory state" in done.stdout + done.stderr
    assert not (app / "state.db").exists()
