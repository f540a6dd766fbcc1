"""`forgeq ARGS` in a new process forked from a warm interpreter, for the tests' CLI calls.

A fresh `python -m forgeq` spends about 0.3 s of CPU importing typer, pydantic, rich, YAML and
forgeq before it reads its arguments; the suite makes hundreds of such calls, and that start-up
was most of its time. Each test process keeps one small server (the "zygote") that has imported
those once and forks a child per call. The child is a separate process like any subprocess: its
own working folder, environment, argv, standard streams, exit code and signals, a state file it
opens itself, handler modules it imports itself, `atexit` on its way out. What it does not
re-prove is start-up itself (an app module shadowing `yaml`, what a command imports): tests of
that call `forgeq(..., fresh=True)`, which starts a new interpreter as before.

The zygote is single-threaded (forking a threaded process is unsafe), reads one JSON request per
line on stdin, answers the child's pid, then its exit status, on stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

ZYGOTE = r"""
import json, os, sys

# What every command imports before it runs (forgeq/cli/__init__.py, the typer app's parameters).
import forgeq.cli, forgeq.cli.render, forgeq.launcher, typer._adapters, typer.main, typer.core
forgeq.cli.build_app()  # the typer app, built once (the launcher's run and push go without it)
import sqlite3, yaml
import forgeq.emulator.errors, forgeq.emulator.store

import gc
gc.freeze()  # the children share these objects; a collection would copy every page they are on
requests = os.fdopen(os.dup(0), "r")
replies = os.fdopen(os.dup(1), "w")
null = os.open(os.devnull, os.O_RDONLY)
os.dup2(null, 0)
os.close(null)
main_path = os.path.join(os.path.dirname(forgeq.__file__), "__main__.py")
for line in requests:
    request = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        requests.close()
        replies.close()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        sys.path[0] = os.getcwd()  # as `python -m` sets it
        sys.argv = [main_path, *request["argv"]]
        os.setpgid(0, 0)
        from forgeq.launcher import main

        main()
        sys.exit(0)  # SystemExit leaves through the interpreter's usual shutdown: atexit, flushed streams
    replies.write(f"{pid}\n")
    replies.flush()
    _, status = os.waitpid(pid, 0)
    replies.write(f"{os.waitstatus_to_exitcode(status)}\n")
    replies.flush()
"""


class Zygote:
    """One warm interpreter per test process; `run` forks it for one CLI call."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
            env=env,
        )
        # The replies are read from the pipe's descriptor into this buffer, never through the
        # process's buffered reader: a readline() there can take the exit status along with the pid,
        # and select() on the descriptor then waits for a line that has already arrived.
        self.replies = b""

    def alive(self) -> bool:
        return self.process.poll() is None

    def run(self, argv: list[str], cwd: Path | None, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
        assert self.process.stdin is not None and self.process.stdout is not None
        with tempfile.TemporaryDirectory(prefix="forgeq-call-") as folder:
            out, err = Path(folder) / "stdout", Path(folder) / "stderr"
            request = {"argv": argv, "cwd": str(cwd or Path.cwd()), "env": env, "stdout": str(out), "stderr": str(err)}
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
            pid = int(self._line(30))
            try:
                code = int(self._line(timeout))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(pid, signal.SIGKILL)  # the child and what it started (a Node.js worker)
                except ProcessLookupError:
                    with contextlib.suppress(ProcessLookupError):  # gone already, or killed before it made its own group
                        os.kill(pid, signal.SIGKILL)
                self._line(30)
                raise subprocess.TimeoutExpired(["forgeq", *argv], timeout, out.read_text(errors="replace"), err.read_text(errors="replace")) from None
            return subprocess.CompletedProcess(
                [sys.executable, "-m", "forgeq", *argv], code, out.read_text(errors="replace"), err.read_text(errors="replace")
            )

    def _line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.replies:
            ready, _, _ = select.select([self.process.stdout.fileno()], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise subprocess.TimeoutExpired("forgeq", timeout)
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"the warm forgeq interpreter died (exit {self.process.wait()})")
            self.replies += chunk
        line, self.replies = self.replies.split(b"\n", 1)
        return line.decode()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


_ZYGOTES: dict[str, Zygote] = {}


def run_forgeq(argv: list[str], cwd: Path | None, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m forgeq ARGV` as a child of the warm interpreter (started on first use)."""
    key = json.dumps(sorted(_start_env(env).items()))
    zygote = _ZYGOTES.get(key)
    if zygote is None or not zygote.alive():
        zygote = _ZYGOTES[key] = Zygote(_start_env(env))
    return zygote.run(argv, cwd, env, timeout)


def _start_env(env: dict[str, str]) -> dict[str, Any]:
    """The variables read when modules are imported: a call that changes one gets its own zygote."""
    return {name: value for name, value in env.items() if name.startswith(("PYTHON", "TYPER_", "_TYPER"))}


def close_all() -> None:
    for zygote in _ZYGOTES.values():
        zygote.close()
    _ZYGOTES.clear()
