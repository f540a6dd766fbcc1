"""`forgeq run --watch`: a real watcher, real file writes, a real subprocess, polled with deadlines."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import forgeq, forgeq_json, write_app

DEADLINE_SECONDS = 30.0

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/watch-test
modules:
  consumer:
    - key: a-consumer
      queue: queue-a
      function: a-fn
    - key: b-consumer
      queue: queue-b
      function: b-fn
  function:
    - key: a-fn
      handler: a.handler
    - key: b-fn
      handler: b.handler
"""

MANIFEST_WITH_C = MANIFEST.replace(
    "  function:\n",
    "    - key: c-consumer\n      queue: queue-c\n      function: c-fn\n  function:\n    - key: c-fn\n      handler: c.handler\n",
)


def handler(name: str, version: int) -> str:
    return (
        f'def handler(event, context):\n    print("{name} runs version {version} for", event["body"]["n"])\n'
    )


class Running:
    """`forgeq run --watch` in a subprocess; its stdout lines gathered by a reader thread."""

    def __init__(self, app: Path) -> None:
        env = {**os.environ, "NO_COLOR": "1"}
        env.pop("FORGEQ_DB", None)
        self.app = app
        self.process = subprocess.Popen(
            [sys.executable, "-m", "forgeq", "run", "manifest.yml", "--watch", "--logs"],
            cwd=app,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._incoming: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._incoming.put(line.rstrip("\n"))
        self._incoming.put(None)

    def wait_for(self, text: str, after: int = 0) -> int:
        """Index of the first line from `after` on that contains `text`; fails at the deadline."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            for index in range(after, len(self.lines)):
                if text in self.lines[index]:
                    return index
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(
                    f"no line with {text!r} after line {after} within {DEADLINE_SECONDS}s; output:\n"
                    + "\n".join(self.lines)
                )
            try:
                line = self._incoming.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(
                    f"forgeq exited ({self.process.wait()}) before printing {text!r}; output:\n"
                    + "\n".join(self.lines)
                )
            self.lines.append(line)

    def push(self, queue_name: str, n: int) -> None:
        # --db and no manifest: `forgeq push` refuses to read an invalid manifest, and one test makes it so.
        state = self.app / ".forgeq" / "state.db"
        done = forgeq(
            "push",
            "--queue",
            queue_name,
            "--body",
            f'{{"n": {n}}}',
            "--db",
            state,
            "--manifest",
            "absent.yml",
            cwd=self.app,
        )
        assert done.returncode == 0, done.stderr

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=DEADLINE_SECONDS)
        while (line := self._incoming.get(timeout=DEADLINE_SECONDS)) is not None:
            self.lines.append(line)
        return code


def write(path: Path, text: str) -> None:
    """Replace a file as an editor saving it would (write, flush to disk)."""
    with open(path, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


@pytest.fixture
def running(tmp_path):
    app = write_app(
        tmp_path / "app", MANIFEST, {"src/a.py": handler("a", 1), "src/b.py": handler("b", 1)}
    ).parent
    process = Running(app)
    yield process
    if process.process.poll() is None:
        process.process.kill()
        process.process.wait()


def test_an_edited_handler_runs_its_new_code_and_a_broken_one_makes_its_events_wait(running):
    app = running.app
    mark = running.wait_for("watching")
    running.push("queue-a", 1)
    mark = running.wait_for("a runs version 1 for 1", mark)

    write(app / "src" / "a.py", handler("a", 2))
    mark = running.wait_for("src/a.py changed", mark)
    running.push("queue-a", 2)
    mark = running.wait_for("a runs version 2 for 2", mark)

    # A syntax error: the error names file and line, queue-a's events wait, queue-b keeps running.
    write(app / "src" / "a.py", 'def handler(event, context):\n    print("unclosed"\n')
    line = running.lines[running.wait_for("SyntaxError", mark)]
    assert "src/a.py:2: SyntaxError" in line and "its events wait" in line  # the path from the app's folder
    mark = running.wait_for("1 of 2 functions loaded", mark)
    running.push("queue-a", 3)
    running.push("queue-b", 4)
    mark = running.wait_for("b runs version 1 for 4", mark)
    assert not any("for 3" in line for line in running.lines)

    # Fixed: the waiting event runs on the new code, once.
    write(app / "src" / "a.py", handler("a", 3))
    mark = running.wait_for("function 'a-fn' loads again", mark)
    mark = running.wait_for("a runs version 3 for 3", mark)

    assert running.stop() == 130  # stopped by Ctrl-C
    counts = forgeq_json("inspect", "queue", cwd=app)["queues"]
    assert counts["queue-a"]["succeeded"] == 3 and counts["queue-b"]["succeeded"] == 1
    assert all(
        counts[q][state] == 0 for q in counts for state in ("pending", "blocked", "dropped", "retrying")
    )
    attempts = forgeq_json("inspect", "timeline", "3", cwd=app)["attempts"]
    assert [a["outcome"] for a in attempts] == ["succeeded"]  # waiting used no attempt and no retry


def test_a_manifest_edit_is_applied_when_valid_and_refused_when_invalid(running):
    app = running.app
    mark = running.wait_for("watching")
    write(app / "src" / "c.py", handler("c", 1))

    (app / "manifest.yml").write_text(MANIFEST_WITH_C.lstrip() + "  bogus: [\n")
    line_index = running.wait_for("is invalid; the last good manifest keeps running", mark)
    running.wait_for("manifest.yml:", line_index)
    running.push("queue-b", 1)
    mark = running.wait_for("b runs version 1 for 1", line_index)

    running.push("queue-c", 2)  # no consumer yet: the event waits instead of failing
    mark = running.wait_for("no consumer listens on queue 'queue-c'", mark)

    write(app / "manifest.yml", MANIFEST_WITH_C.lstrip())
    mark = running.wait_for("manifest.yml changed and is valid: applied", mark)
    assert "queue-c" in running.lines[mark]
    mark = running.wait_for("c runs version 1 for 2", mark)
    assert running.stop() == 130  # stopped by Ctrl-C
    counts = forgeq_json("inspect", "queue", cwd=app)["queues"]
    assert counts["queue-c"]["succeeded"] == 1 and counts["queue-c"]["blocked"] == 0


def test_watch_refuses_until_idle(tmp_path):
    app = write_app(tmp_path / "app", MANIFEST, {"src/a.py": handler("a", 1), "src/b.py": handler("b", 1)})
    done = forgeq("run", app, "--watch", "--until-idle")
    assert done.returncode == 2
    assert "--watch runs until stopped" in done.stderr
