"""`forgeq init`: a working app from the template shipped in the package, run straight away."""

from __future__ import annotations

import subprocess
import sys

from conftest import forgeq, forgeq_json


def test_init_into_an_empty_folder_then_run_it(tmp_path):
    app = tmp_path / "my-app"
    done = forgeq("init", app)
    assert done.returncode == 0, done.stderr
    for name in (
        "manifest.yml",
        "src/index.py",
        "tests/test_app.py",
        "README.md",
        ".gitignore",
        "pyproject.toml",
    ):
        assert (app / name).is_file(), name
    assert "my-app" in (app / "README.md").read_text()
    assert "__APP_" not in (app / "manifest.yml").read_text() + (app / "README.md").read_text()

    ran = forgeq("run", "--until-idle", cwd=app)
    assert ran.returncode == 0, ran.stderr

    assert forgeq("push", "issue-created", "--count", "20", cwd=app).returncode == 0
    ran = forgeq("run", "--until-idle", cwd=app)
    assert ran.returncode == 0, ran.stderr
    counts = forgeq_json("inspect", "queue", cwd=app)["queues"]["issue-writes"]
    assert counts["succeeded"] == 20 and counts["dropped"] == 0
    keys = forgeq_json("inspect", "kvs", "--prefix", "issue-", cwd=app)["keys"]
    assert len(keys) == 20

    lint = forgeq("lint", cwd=app)
    assert lint.returncode == 0, lint.stdout


def test_the_new_apps_own_tests_pass(tmp_path):
    app = tmp_path / "tested"
    assert forgeq("init", app).returncode == 0
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_init_refuses_a_folder_that_is_not_empty_unless_forced(tmp_path):
    app = tmp_path / "busy"
    app.mkdir()
    (app / "notes.txt").write_text("mine")
    refused = forgeq("init", app)
    assert refused.returncode == 2
    assert "not empty" in refused.stderr and "--force" in refused.stderr
    assert sorted(p.name for p in app.iterdir()) == ["notes.txt"]

    forced = forgeq("init", app, "--force", "--name", "renamed")
    assert forced.returncode == 0, forced.stderr
    assert (app / "notes.txt").read_text() == "mine"
    assert (app / "manifest.yml").is_file() and "renamed" in (app / "README.md").read_text()

    file = tmp_path / "a-file"
    file.write_text("x")
    assert forgeq("init", file).returncode == 2


def test_init_in_the_current_folder(tmp_path):
    done = forgeq("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "manifest.yml").is_file()
    assert "cd " not in done.stdout  # already there
