"""The loop's one timeout watchdog (forgeq/emulator/loop/watchdog.py): a handler is stopped at its own
timeoutSeconds even right after a function with a longer one, someone else's SIGALRM (pytest-timeout
uses one) still reaches its handler during a run, and the whole run uses one watchdog thread."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

from conftest import write_app

from forgeq.emulator.loop.watchdog import WATCHDOG
from forgeq.testing import ForgeApp

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/watchdog
modules:
  consumer:
    - key: quick-consumer
      queue: quick
      function: quick
    - key: hang-consumer
      queue: hang
      function: hang
    - key: nap-consumer
      queue: nap
      function: nap
  function:
    - key: quick
      handler: index.quick
      timeoutSeconds: 900
    - key: hang
      handler: index.hang
      timeoutSeconds: 1
    - key: nap
      handler: index.nap
      timeoutSeconds: 30
"""
SOURCE = """
import time


def quick(event, context):
    pass


def hang(event, context):
    if event.get("retryContext") is None:
        time.sleep(60)


def nap(event, context):
    time.sleep(0.6)
"""


def _app(tmp_path: Path) -> ForgeApp:
    return ForgeApp(write_app(tmp_path, MANIFEST, {"src/index.py": SOURCE}))


def test_a_short_timeout_right_after_long_ones_still_stops_the_hang(tmp_path: Path) -> None:
    app = _app(tmp_path)
    try:
        app.push_many("quick", [{"n": n} for n in range(100)])  # deadlines 900 s ahead: the watchdog sleeps long
        app.run_until_idle()
        app.push("hang", [{"body": {}}])
        started = time.perf_counter()
        app.run_until_idle()
        took = time.perf_counter() - started
        first = app.timeline(queue="hang")[0]
    finally:
        app.close()
    assert first.outcome == "timeout" and first.error == "Function timed out. Limit of 1 seconds"
    assert first.wall_ms is not None and 900 < first.wall_ms < 5000
    assert took < 10  # the retry ran at once on the virtual clock; nothing waited for the 900 s deadlines


def test_someone_elses_sigalrm_reaches_its_handler_during_a_run(tmp_path: Path) -> None:
    received: list[float] = []

    def theirs(signum: int, frame: Any) -> None:
        received.append(time.perf_counter() - started)

    previous = signal.signal(signal.SIGALRM, theirs)
    app = _app(tmp_path)
    try:
        app.push("nap", [{"body": {}}])
        started = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, 0.2)  # fires while the handler naps (0.6 s), well before its 30 s
        app.run_until_idle()
        attempts = app.timeline(queue="nap")
        assert signal.getsignal(signal.SIGALRM) is theirs  # given back when the run ended
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        app.close()
    assert len(received) == 1 and 0.15 < received[0] < 0.55  # at its time, in the attempt, not after it
    assert [a.outcome for a in attempts] == ["succeeded"]


def test_one_watchdog_thread_serves_every_attempt(tmp_path: Path) -> None:
    app = _app(tmp_path)
    try:
        app.push_many("quick", [{"n": n} for n in range(300)])
        assert app.run_until_idle() == 300
    finally:
        app.close()
    watchdogs = [t for t in threading.enumerate() if t.name == "forgeq-timeout-watchdog"]
    assert len(watchdogs) == 1 and watchdogs[0].daemon
    assert not WATCHDOG.guarding and WATCHDOG.deadline == float("inf")
