"""Security of a local tool (reliability.md §3.6, X1-X6): only `run` imports user code; an app's
`src/json.py` cannot shadow forgeq's imports; no command listens on a socket; a secret never leaves
the state file by default; the state folder and file are private. (X1, handler paths confined to
the app folder, is in test_bad_inputs.py: X1-*.)"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from conftest import forgeq

pytestmark = pytest.mark.timeout(300)

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/security
modules:
  trigger:
    - key: on-issue
      function: t
      events:
        - avi:jira:created:issue
  consumer:
    - key: c
      queue: work
      function: f
  function:
    - key: f
      handler: index.handler
    - key: t
      handler: index.on_issue
"""

CANARY = "canary-7f3e9a1c5b2d4e6f8a0b1c2d3e4f5a6b"

INDEX = f"""
import os

import helpers
from forgeq.kvs import kvs

# Top-level code: runs only when a module is imported.
open(os.environ["SENTINEL_DIR"] + "/index-imported", "a").close()


def handler(event, context):
    kvs.set_secret("api-token", "{CANARY}")
    kvs.set("plain", {{"visible": True}})
    assert kvs.get_secret("api-token") == "{CANARY}"
    helpers.mark()
    return None


def on_issue(event, context):
    return None
"""

HELPERS = """
import os

open(os.environ["SENTINEL_DIR"] + "/helpers-imported", "a").close()


def mark():
    pass
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    (root / "src").mkdir(parents=True)
    (root / "manifest.yml").write_text(textwrap.dedent(MANIFEST).lstrip())
    (root / "src" / "index.py").write_text(textwrap.dedent(INDEX).lstrip())
    (root / "src" / "helpers.py").write_text(textwrap.dedent(HELPERS).lstrip())
    (tmp_path / "sentinels").mkdir()
    return root


def _env(app: Path, **extra: str) -> dict[str, str]:
    return {"SENTINEL_DIR": str(app.parent / "sentinels"), **extra}


# -- X2: only `run` imports user code ----------------------------------------------------------------

NON_RUN_COMMANDS = [
    ["push", "--queue", "work", "--body", '{"n": 1}'],
    ["push", "issue-created", "--count", "2"],
    ["push", "--list"],
    ["inspect", "queue"],
    ["inspect", "events", "--json"],
    ["inspect", "jobs"],
    ["inspect", "timeline", "1"],
    ["inspect", "dropped"],
    ["inspect", "kvs"],
    ["inspect", "quota"],
    ["lint"],
    ["export", "{tmp}/export.json"],
    ["report", "--out", "{tmp}/report.html"],
    ["replay", "--dropped", "--dry-run"],
    ["doctor"],
    ["import", "{tmp}/export.json", "--db", "{tmp}/imported.db"],
    ["init", "{tmp}/new-app"],
    ["reset", "--yes"],
]


def test_only_run_imports_user_code(app: Path) -> None:
    sentinels = app.parent / "sentinels"
    ran = []
    for argv in NON_RUN_COMMANDS:
        args = [a.replace("{tmp}", str(app.parent)) for a in argv]
        done = forgeq(*args, cwd=app, env=_env(app))
        if "No such command" in done.stderr:
            continue  # a command another issue has not landed yet
        ran.append(args[0])
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode in (0, 1), (
            f"forgeq {' '.join(args)}: {done.stderr}"
        )  # 1: lint findings, nothing to replay
        assert not list(sentinels.iterdir()), f"`forgeq {' '.join(args)}` imported user code"
    assert {"push", "inspect", "lint"} <= set(ran)
    print(f"user code imported by {len(ran)} commands other than run: 0")
    done = forgeq("run", "--until-idle", cwd=app, env=_env(app))  # the control: run does import it
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in sentinels.iterdir()) == ["helpers-imported", "index-imported"]


# -- X3: the app's modules cannot shadow forgeq's imports ---------------------------------------------

SHADOWS = [
    "json",
    "sqlite3",
    "queue",
    "typing",
    "yaml",
    "random",
    "signal",
    "asyncio",
    "dataclasses",
    "forgeq",
]


def test_app_modules_cannot_shadow_forgeqs_imports(app: Path) -> None:
    for name in SHADOWS:
        if name == "forgeq":
            (app / "src" / "forgeq").mkdir()
            (app / "src" / "forgeq" / "__init__.py").write_text(
                "raise ImportError('the app shadowed forgeq')\n"
            )
        else:
            (app / "src" / f"{name}.py").write_text(f"raise ImportError('the app shadowed {name}')\n")
    (app / "src" / "index.py").write_text(
        textwrap.dedent(
            """
            import json
            import os
            import queue
            import sqlite3


            def handler(event, context):
                with open(os.environ["SENTINEL_DIR"] + "/stdlib.txt", "w") as out:
                    out.write(json.dumps([json.__file__, sqlite3.__file__, queue.__file__]))
                return None


            def on_issue(event, context):
                return None
            """
        ).lstrip()
    )
    assert forgeq("push", "--queue", "work", "--count", "3", cwd=app).returncode == 0
    done = forgeq("run", "--until-idle", "--seed", "2", cwd=app, env=_env(app))
    assert done.returncode == 0, done.stderr
    assert "shadowed" not in done.stdout + done.stderr
    assert "3 succeeded" in done.stdout
    import json

    files = json.loads((app.parent / "sentinels" / "stdlib.txt").read_text())
    assert all(str(app) not in f for f in files), files


# -- X4: no listening socket ------------------------------------------------------------------------------

SOCKET_SPY = """
import os
import socket

_log = os.environ.get("SOCKET_LOG")
if _log:
    _bind, _listen, _connect = socket.socket.bind, socket.socket.listen, socket.socket.connect

    def _note(what):
        with open(_log, "a") as out:
            out.write(what + "\\n")

    def bind(self, address):
        _note(f"bind {address!r}")
        return _bind(self, address)

    def listen(self, *args):
        _note("listen")
        return _listen(self, *args)

    def connect(self, address):
        _note(f"connect {address!r}")
        return _connect(self, address)

    socket.socket.bind, socket.socket.listen, socket.socket.connect = bind, listen, connect
"""


def test_no_command_binds_listens_or_connects(app: Path, tmp_path: Path) -> None:
    spy = tmp_path / "spy"
    spy.mkdir()
    (spy / "sitecustomize.py").write_text(textwrap.dedent(SOCKET_SPY).lstrip())
    log = tmp_path / "sockets.log"
    env = _env(
        app, SOCKET_LOG=str(log), PYTHONPATH=os.pathsep.join([str(spy), os.environ.get("PYTHONPATH", "")])
    )
    commands = [
        ["push", "--queue", "work", "--count", "5"],
        ["run", "--until-idle"],
        ["run", "--until-idle", "--clock", "real"],
    ]
    commands += [
        ["inspect", "queue"],
        ["inspect", "events", "--json"],
        ["lint"],
        ["report", "--out", str(tmp_path / "r.html")],
    ]
    for argv in commands:
        done = forgeq(*argv, cwd=app, env=env)
        assert "Traceback" not in done.stderr, done.stderr
    assert not log.exists() or log.read_text() == "", log.read_text()
    # the spy works: a process that does open a socket is seen
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert probe.returncode == 0 and "listen" in log.read_text()


def test_a_running_loop_has_no_inet_socket(app: Path) -> None:
    assert forgeq("push", "--queue", "work", "--count", "3", cwd=app).returncode == 0
    env = {**os.environ, **_env(app), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "forgeq", "run", "--quiet"],
        cwd=app,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not (app.parent / "sentinels" / "index-imported").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.02)
        process = psutil.Process(proc.pid)
        connections = (
            process.net_connections(kind="inet")
            if hasattr(process, "net_connections")
            else process.connections(kind="inet")
        )
        assert connections == []
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


# -- X5: secrets never printed or exported by default ----------------------------------------------------


def test_a_secret_never_leaves_the_state_file_by_default(app: Path, tmp_path: Path) -> None:
    assert forgeq("push", "--queue", "work", "--count", "2", cwd=app).returncode == 0
    outputs = []
    run = forgeq("run", "--until-idle", "--logs", cwd=app, env=_env(app))
    assert run.returncode == 0, run.stderr
    outputs.append(("run", run.stdout + run.stderr))
    reads = [
        ["inspect", "kvs"], ["inspect", "kvs", "--json"], ["inspect", "events", "--json"], ["inspect", "timeline", "1"],
        ["inspect", "timeline", "1", "--json"], ["inspect", "jobs", "--json"], ["inspect", "queue", "--json"],
        ["inspect", "quota", "--json"], ["export"], ["export", str(tmp_path / "export.json")],
        ["report", "--out", str(tmp_path / "report.html")], ["doctor", "--json"], ["lint", "--json"],
    ]  # fmt: skip
    for argv in reads:
        done = forgeq(*argv, cwd=app, env=_env(app))
        if "No such command" in done.stderr or "No such option" in done.stderr:
            continue
        assert "Traceback" not in done.stderr, done.stderr
        outputs.append((" ".join(argv), done.stdout + done.stderr))
    for written in (tmp_path / "export.json", tmp_path / "report.html"):
        if written.exists():
            outputs.append((written.name, written.read_text()))
    leaks = [name for name, text in outputs if CANARY in text]
    print(f"canary secret leaks across {len(outputs)} outputs: {len(leaks)}")
    assert leaks == [], f"the secret leaked through: {leaks}"
    assert len(outputs) >= 10
    # it is in the state file, and an explicit export carries it, readable by the owner only
    with_secrets = tmp_path / "with-secrets.json"
    done = forgeq("export", "--include-secrets", str(with_secrets), cwd=app)
    assert done.returncode == 0 and CANARY in with_secrets.read_text()
    assert stat.S_IMODE(with_secrets.stat().st_mode) == 0o600


# -- X6: private files ----------------------------------------------------------------------------------------


def test_state_folder_and_files_are_private(app: Path) -> None:
    old = os.umask(0o022)
    try:
        assert forgeq("push", "--queue", "work", cwd=app).returncode == 0
        state = app / ".forgeq"
        proc = subprocess.Popen(
            [sys.executable, "-m", "forgeq", "run", "--quiet"], cwd=app, env={**os.environ, **_env(app)},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not (app.parent / "sentinels" / "index-imported").exists():
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.iterdir()}
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    finally:
        os.umask(old)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert {"state.db", "state.db-wal", "state.db-shm", "state.db.run-lock"} <= set(modes), modes
    assert all(mode == 0o600 for mode in modes.values()), modes


def test_a_db_given_with_db_is_private_too(tmp_path: Path, app: Path) -> None:
    target = tmp_path / "elsewhere" / "deep" / "my.db"
    assert forgeq("push", "--queue", "work", "--db", target, cwd=app).returncode == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    shutil.rmtree(tmp_path / "elsewhere")


# -- H11: a handler cannot drive the terminal ---------------------------------------------------------------

ESCAPES = """
def handler(event, context):
    print("before\\x1b[2J\\x1b]0;pwned\\x07after\\rcr\\x00")
    raise ValueError("bad \\x1b[31mred\\x1b[0m \\x9b")


def on_issue(event, context):
    return None
"""


def test_escape_sequences_from_a_handler_are_shown_not_obeyed(app: Path) -> None:
    (app / "src" / "index.py").write_text(textwrap.dedent(ESCAPES).lstrip())
    assert forgeq("push", "--queue", "work", cwd=app).returncode == 0
    outputs = [forgeq("run", "--until-idle", "--logs", "--max-attempts", "2", cwd=app, env=_env(app))]
    outputs += [forgeq("inspect", *argv, cwd=app) for argv in (["timeline", "1"], ["events"], ["jobs"])]
    for done in outputs:
        assert done.returncode == 0, done.stderr
        text = done.stdout + done.stderr  # NO_COLOR: forgeq itself writes no escape sequence
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "\r" not in text, repr(
            text[-500:]
        )
    assert "\\x1b[2J" in outputs[0].stdout and "\\x1b[31mred" in outputs[1].stdout
