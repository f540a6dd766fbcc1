"""The first hour with forgeq: help, defaults, the run's status and summary, Ctrl-C, the footers,
a new app's own tests, and the warnings a test gets when a cap or a fault rule does nothing."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from conftest import V2_MANIFEST, forgeq, forgeq_json, write_app

from forgeq.cli import render
from forgeq.testing import ForgeApp, ForgeqWarning

pytestmark = pytest.mark.timeout(180)

HANDLER = """
import os
from forgeq.kvs import kvs
from forgeq.events import InvocationError


def handler(event, context):
    n = event["body"].get("n", 0)
    if n % 5 == 0:
        raise ValueError(f"bad {n}")  # dropped after the retention window (v2): never succeeds
    kvs.set(f"k-{n}", {"n": n, "who": os.environ.get("WHO")})
    return None
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    manifest = write_app(tmp_path / "app", V2_MANIFEST, {"src/index.py": HANDLER})
    return manifest.parent


def test_help_is_plain_with_examples_and_the_version_is_one_line():
    top = forgeq("--help")
    assert top.returncode == 0 and "Examples:" in top.stdout and "--version" in top.stdout
    assert "--install-completion" in top.stdout and "-v, --verbose" in top.stdout
    run = forgeq("run", "--help").stdout
    assert "<bool>" not in run and "<str>" not in run and "╭" not in run  # plain click help, no rich boxes
    assert "-m, --manifest PATH" in run and "--seed N" in run and "Examples:" in run
    assert "FS §" not in top.stdout + run + forgeq("lint", "--rules").stdout
    from forgeq import __version__

    assert forgeq("--version").stdout == f"forgeq {__version__}\n"


COMMANDS = (
    "demo", "run", "push", "webtrigger", "invoke", "lint", "init", "doctor", "report", "replay", "reset", "export", "import",
    "inspect queue", "inspect events", "inspect jobs", "inspect timeline", "inspect dropped", "inspect kvs", "inspect quota",
    "inspect requests",
)  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_names_its_value_and_no_range_prints_a_sixteen_digit_bound(command: str):
    shown = forgeq(*command.split(), "--help")
    assert shown.returncode == 0, shown.stderr
    options = [line for line in shown.stdout.splitlines() if line.lstrip().startswith("-")]
    assert options and not [line for line in options if re.search(r"<\w+(\[\w+\])?>", line)], shown.stdout
    assert "000000000" not in shown.stdout


def test_every_help_names_its_values_in_capitals_and_lists_whole_lines(monkeypatch, capsys):
    """Every command's help as main() prints it, the commands found in the typer app itself (a new
    command is checked too): no `<str>` or `<list[str]>` for a value, no listing line cut with `...`,
    and `forgeq --help` (a listing built without the commands' parameters) lists them all."""
    import typer

    from forgeq import cli

    full = typer.main.get_command(cli.build_app())
    assert sorted(full.commands) == sorted(cli.SHORT_HELP)
    paths: list[list[str]] = []

    def walk(command, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(full, [])
    for path in paths:
        monkeypatch.setattr(sys, "argv", ["forgeq", *path, "--help"])
        with pytest.raises(SystemExit) as done:
            cli.main()
        text = capsys.readouterr().out
        assert done.value.code == 0 and "Usage: forgeq" in text, path
        assert not re.search(r"<[a-z][a-z_\[\]]*>", text), (path, text)
        listing = text.split("Commands:\n")[1].split("\n\n")[0] if "Commands:\n" in text else ""
        assert not re.search(r"\.\.\.$", listing, re.MULTILINE), (path, listing)
    monkeypatch.setattr(sys, "argv", ["forgeq", "--help"])
    with pytest.raises(SystemExit):
        cli.main()
    top = capsys.readouterr().out
    assert all(re.search(rf"^  {name} +{re.escape(line[:20])}", top, re.MULTILINE) for name, line in cli.SHORT_HELP.items()), top


def test_hints_say_uv_run_forgeq_when_only_uv_run_put_forgeq_on_the_path(tmp_path: Path, monkeypatch):
    """`uv run forgeq demo` in a clone: uv run puts the clone's .venv/bin first on PATH, where the
    user's shell has no forgeq; the demo's and init's hints must not send them to `forgeq ...`."""
    from forgeq.cli.common import command_prefix

    def executable(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "forgeq").write_text("#!/bin/sh\n")
        (folder / "forgeq").chmod(0o755)

    venv, user_bin = tmp_path / "clone" / ".venv", tmp_path / "bin"
    executable(venv / "bin")
    user_bin.mkdir()
    monkeypatch.setenv("PATH", os.pathsep.join([str(venv / "bin"), str(user_bin), "/usr/bin", "/bin"]))
    monkeypatch.setenv("VIRTUAL_ENV", str(venv))
    monkeypatch.setenv("UV_RUN_RECURSION_DEPTH", "1")
    assert command_prefix() == "uv run forgeq"
    executable(user_bin)  # installed with `uv tool install .`
    assert command_prefix() == "forgeq"
    (user_bin / "forgeq").unlink()
    monkeypatch.delenv("UV_RUN_RECURSION_DEPTH")  # the environment activated in the shell: forgeq is the user's
    assert command_prefix() == "forgeq"
    monkeypatch.setenv("UV_RUN_RECURSION_DEPTH", "1")
    done = forgeq("init", tmp_path / "my-app", env={"PATH": os.environ["PATH"], "VIRTUAL_ENV": str(venv), "UV_RUN_RECURSION_DEPTH": "1"})
    assert "  uv run forgeq push issue-created --count 1000" in done.stdout, done.stdout


def test_run_and_lint_take_the_manifest_with_m_as_every_command_does(app: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    manifest = app / "manifest.yml"
    assert forgeq("push", "--queue", "work", "--body", '{"n": 1}', "-m", manifest, cwd=elsewhere).returncode == 0
    done = forgeq("run", "-m", manifest, "--until-idle", "--json", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"]["events"]["succeeded"] == 1
    assert forgeq("lint", "-m", manifest, cwd=elsewhere).returncode == 0
    both = forgeq("run", manifest, "-m", tmp_path / "other.yml", cwd=elsewhere)
    assert both.returncode == 2 and "two manifests" in both.stderr


def test_push_refuses_a_folder_without_a_manifest_and_leaves_nothing_there(tmp_path: Path):
    done = forgeq("push", "--queue", "work", "--body", "{}", cwd=tmp_path)
    assert done.returncode == 2 and "not a Forge app's folder" in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []
    # --db names a state file: that is allowed anywhere
    assert forgeq("push", "--queue", "work", "--db", tmp_path / "s.db", cwd=tmp_path).returncode == 0


def test_per_app_defaults_from_pyproject_and_a_typo_is_an_error(app: Path):
    (app / "pyproject.toml").write_text('[tool.forgeq]\nseed = 3\n\n[tool.forgeq.inspect.events]\nlimit = 2\n')
    assert forgeq("push", "--queue", "work", "--body", '{"n": 1}', "--count", "5", cwd=app).returncode == 0
    listed = forgeq("-v", "inspect", "events", cwd=app)
    assert f"defaults from {app / 'pyproject.toml'}" in listed.stderr
    assert "showing 1-2 of 5 events" in listed.stdout
    assert len(forgeq_json("inspect", "events", "--limit", "3", cwd=app)["events"]) == 3  # the command line wins
    (app / "forgeq.toml").write_text("sead = 3\n")  # forgeq.toml wins over pyproject.toml
    typo = forgeq("run", "--until-idle", cwd=app)
    assert typo.returncode == 2 and "forgeq.toml: sead: no forgeq command has an option --sead" in typo.stderr, typo.stderr


def test_the_summary_tells_this_run_from_the_state(app: Path):
    def run() -> dict:
        done = forgeq("run", "--until-idle", "--json", "--storage-limits", "none", cwd=app)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert forgeq("push", "--queue", "work", "--body", '{"n": 5}', cwd=app).returncode == 0
    first = run()
    assert first["run"]["dropped"] == 1 and first["state"]["events"]["dropped"] == 1
    assert forgeq("push", "--queue", "work", "--body", '{"n": 1}', "--count", "3", cwd=app).returncode == 0
    second = run()
    # the earlier drop is the state's, not this run's; this run finished three events in three attempts
    assert second["run"]["dropped"] == 0 and second["state"]["events"]["dropped"] == 1
    assert second["run"]["attempts"] == 3 and second["run"]["succeeded"]["queue"] == 3
    assert second["run"]["attempts_histogram"] == {"1": 3}
    text = forgeq("run", "--until-idle", cwd=app).stdout
    assert text.index("this run:") < text.index("state:") and "\n  dropped 0, lost 0\n" in text


def test_a_run_that_did_nothing_shows_no_quota_use_of_earlier_runs(app: Path):
    assert forgeq("push", "--queue", "work", "--body", '{"n": 1}', "--count", "3", cwd=app).returncode == 0
    first = forgeq_json("run", "--until-idle", cwd=app)
    assert {(item["metric"], item["used"]) for item in first["run"]["limits"]} >= {("write_units", 3)}
    # the next run starts inside the windows the first one filled: their use is the state's, not its own
    again = forgeq_json("run", "--until-idle", cwd=app)
    assert again["run"]["attempts"] == 0 and again["run"]["limits"] == [], again["run"]["limits"]
    assert {item["metric"] for item in again["state"]["limits"]} >= {"write_units"}
    assert forgeq("push", "--queue", "work", "--body", '{"n": 2}', cwd=app).returncode == 0
    third = forgeq_json("run", "--until-idle", cwd=app)
    writes = next(item for item in third["run"]["limits"] if item["metric"] == "write_units")
    assert writes["used"] == 4 and writes["refused"] == 0  # the window it shares with the first run, as the quota counts it


def test_a_pipe_gets_an_idle_line_and_ctrl_c_exits_130_after_the_summary(app: Path):
    run = subprocess.Popen(
        [sys.executable, "-m", "forgeq", "run"], cwd=app, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert run.stdout is not None
    line = run.stdout.readline()
    assert "idle: nothing is due; waiting for events" in line, line
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    assert "stopped by Ctrl-C" in out and "Traceback" not in err


def test_a_terminal_gets_a_live_status_instead_of_a_line_per_attempt(app: Path):
    assert forgeq("push", "--queue", "work", "--body", '{"n": 1}', "--count", "300", cwd=app).returncode == 0
    leader, follower = pty.openpty()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    run = subprocess.Popen([sys.executable, "-m", "forgeq", "run", "--until-idle"], cwd=app, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif run.poll() is not None:
            break
    os.close(leader)
    assert run.wait(timeout=30) == 0
    text = output.decode()
    assert " try " not in text  # no line per attempt on a terminal
    clocks = re.findall(r"(\S+) virtual  ", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text))
    assert clocks and all(clock.startswith("+") for clock in clocks), clocks  # the state's virtual clock from the first frame
    final = re.search(r"virtual  [\d.]+s wall  300 attempts \(\d+/s\)\r?\n  done 300  waiting 0  dropped 0  lost 0", text)
    assert final is not None, text[-2000:]
    assert "this run: 300 attempts" in text


def test_the_status_estimates_from_the_recent_rate_and_fits_80_columns():
    import io

    wall = [100.0]
    waiting = [9000]
    status = render.StatusPrinter(io.StringIO(), lambda: waiting[0], live=False)
    status.wall, status.started, status.now = (lambda: wall[0]), 100.0, 1_700_000_000.0
    # a burst: 1000 events in the first second, then 10 per second (retries trickling)
    for second, finished in ((1, 1000), (2, 1010), (3, 1020), (4, 1030), (5, 1040), (6, 1050), (7, 1060)):
        wall[0] = 100.0 + second
        waiting[0] = 10_000 - finished
        status.progress({"succeeded": finished}, 1_700_000_000.0 + second)
        status.draw()
        assert (status.eta() is None) == (second < 6)  # no estimate before 5 s of history (the first draw at 1 s)
    eta = status.eta()
    assert eta is not None and 800 < eta < 1000, eta  # 8940 left at 10/s, not at the run's average of 151/s
    assert "ETA ~14m" in status.line()
    status.went_idle(1_700_000_000.0)
    assert all(len(line) <= 80 for line in status.line().splitlines()), status.line()


def test_a_large_push_says_committing_once_its_rows_are_read(monkeypatch):
    import io

    terminal = io.StringIO()
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdout", terminal)
    with render.push_progress(12_000) as progress:
        descriptions = []
        for _ in range(3):
            progress(5000 if len(descriptions) < 2 else 2000)
            descriptions.append(progress.bar.tasks[0].description)
    assert descriptions == ["pushing", "pushing", "committing"]


def test_listings_say_what_they_left_out_and_a_product_event_names_its_triggers(tmp_path: Path):
    manifest = write_app(
        tmp_path / "app",
        V2_MANIFEST + "  trigger:\n    - key: t\n      function: consumer-function\n      events: [avi:jira:created:issue]\n",
        {"src/index.py": "def handler(event, context):\n    return None\n"},
    )
    app = manifest.parent
    assert forgeq("push", "issue-created", "--count", "3", cwd=app).returncode == 0
    assert forgeq("run", "--until-idle", cwd=app).returncode == 0
    listed = forgeq("inspect", "events", "--limit", "2", cwd=app).stdout
    assert "showing 1-2 of 6 events; --limit N and --offset N page through them" in listed
    timeline = forgeq("inspect", "timeline", "1", cwd=app).stdout
    assert timeline.startswith("product event #1 ") and "job None" not in timeline
    job = forgeq_json("push", "--queue", "work", "--body", "{}", "--count", "3", cwd=app)["job_id"]
    paged = forgeq("inspect", "timeline", "--job", job, "--limit", "1", "--offset", "1", cwd=app).stdout
    assert paged.count("\nevent #") == 1 and "showing 2-2 of 3 events" in paged, paged
    assert re.search(r"delivered to: #\d+ t \(succeeded\)", timeline), timeline


def test_forge_user_vars_reach_python_handlers_as_forge_tunnel_passes_them(app: Path, monkeypatch):
    monkeypatch.setenv("FORGE_USER_VAR_WHO", "tunnel")
    monkeypatch.delenv("WHO", raising=False)
    with ForgeApp(app / "manifest.yml") as forge_app:
        forge_app.push("work", {"body": {"n": 1}})
        forge_app.run_until_idle()
        assert forge_app.kvs.get("k-1") == {"n": 1, "who": "tunnel"}


def test_a_cap_that_stops_short_and_a_fault_rule_that_matches_nothing_warn(app: Path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ForgeApp(app / "manifest.yml") as forge_app:
            forge_app.faults.fail(queue="other-queue")
            forge_app.push_many("work", [{"n": n} for n in range(1, 121)])
            forge_app.run_until_idle(max_attempts=1)  # one step of the loop: fewer than 120
    texts = [str(w.message) for w in caught if issubclass(w.category, ForgeqWarning)]
    assert any(re.search(r"max_attempts=1 with \d+ events? still waiting", t) for t in texts), texts
    assert any("fail rule 1 (queue other-queue) matched nothing" in t for t in texts), texts


@pytest.mark.parametrize(
    ("env", "tty", "colour"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"TERM": "dumb"}, True, False),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),
        ({"FORCE_COLOR": "1", "TERM": "dumb"}, False, True),
        ({"FORCE_COLOR": "0"}, True, True),
    ],
)
def test_colour_follows_no_color_then_force_color_then_the_terminal(monkeypatch, env, tty, colour):
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    class Stream:
        def isatty(self) -> bool:
            return tty

    assert render.use_colour(Stream()) is colour  # type: ignore[arg-type]
