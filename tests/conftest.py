"""Shared helpers: write a throwaway Forge app, run the CLI in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import warmcli

REPO = Path(__file__).resolve().parent.parent
DEMO_APP = REPO / "fixtures" / "storage-queue"


def write_app(root: Path, manifest: str, files: dict[str, str]) -> Path:
    """Create manifest.yml and src files under `root`; return the manifest path."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "manifest.yml"
    path.write_text(textwrap.dedent(manifest).lstrip())
    for name, source in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source).lstrip())
    return path


# The suite's results must not depend on the caller's terminal: a test that wants colour or a width
# sets it itself (FORCE_COLOR=1, COLUMNS=...), for the subprocesses it starts too.
for _name in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "COLUMNS", "LINES", "FORGEQ_DB", "FORGEQ_DEBUG"):
    os.environ.pop(_name, None)
os.environ["TERM"] = "xterm-256color"


def forgeq(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120, fresh: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `python -m forgeq ARGS` in a new process and return the finished process.

    The process is forked from a warm interpreter that has imported the CLI already (tests/warmcli.py);
    `fresh=True` starts a new interpreter instead, for a test of start-up itself (imports, shadowing).
    """
    full_env = {**os.environ, "NO_COLOR": "1"}
    full_env.update(env or {})
    argv = [str(arg) for arg in args]
    if fresh:
        return subprocess.run([sys.executable, "-m", "forgeq", *argv], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    return warmcli.run_forgeq(argv, cwd, full_env, timeout)


def forgeq_json(*args: str | Path, cwd: Path | None = None) -> Any:
    done = forgeq(*args, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


V1_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/test
modules:
  consumer:
    - key: queue-consumer
      queue: work
      resolver:
        function: consumer-function
        method: listener
  function:
    - key: consumer-function
      handler: index.handler
"""

V2_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/test
modules:
  consumer:
    - key: queue-consumer
      queue: work
      function: consumer-function
  function:
    - key: consumer-function
      handler: index.handler
"""


class Recorder:
    """An observer that keeps every AttemptReport and Notice the loop sends."""

    def __init__(self) -> None:
        self.attempts: list[Any] = []
        self.notices: list[Any] = []

    def attempt(self, report: Any) -> None:
        self.attempts.append(report)

    def notice(self, notice: Any) -> None:
        self.notices.append(notice)

    def of(self, seq: int) -> list[Any]:
        return [a for a in self.attempts if a.seq == seq]


def emulator(manifest: Path, db: Path | str = ":memory:", **settings: Any) -> tuple[Any, Recorder]:
    """An Emulator over a real SQLite file (or memory), with a Recorder attached."""
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.settings import Settings
    from forgeq.emulator.store import Store

    recorder = Recorder()
    return Emulator(load_manifest(manifest), Store(db), Settings(**settings), observers=[recorder]), recorder


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Path]:
    def make(manifest: str, files: dict[str, str], name: str = "app") -> Path:
        return write_app(tmp_path / name, manifest, files)

    return make


def pytest_unconfigure(config: pytest.Config) -> None:
    warmcli.close_all()
