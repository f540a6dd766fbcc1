"""Backlog scale (reliability.md L1): push N events in Forge-sized jobs (50 per push), drain them
with `forgeq run --until-idle --quiet` in a child process, and report the child's peak RSS, its drain
rate, and how long `forgeq inspect queue` takes on the full state file.

    .venv/bin/python tests/scalekit.py 10000 100000 1000000

Peak RSS comes from os.wait4 on that one child (Linux reports ru_maxrss in KiB), so the pushing
done here does not count. tests/test_scale.py asserts the memory stays flat as N grows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/scale
modules:
  consumer:
    - key: c
      queue: backlog
      function: f
    - key: d
      queue: other
      function: f
  function:
    - key: f
      handler: index.handler
"""

HANDLER = """
def handler(event, context):
    return None
"""


@dataclass
class Measure:
    events: int
    push_seconds: float
    drain_seconds: float
    peak_rss_mb: float
    inspect_ms: float
    query_ms: float
    db_mb: float
    succeeded: int

    def line(self) -> str:
        return (
            f"{self.events:>9} events: peak RSS {self.peak_rss_mb:.1f} MB, drained in {self.drain_seconds:.1f} s "
            f"({self.events / self.drain_seconds:,.0f} events/s), `inspect queue` {self.inspect_ms:.0f} ms "
            f"(its query {self.query_ms:.0f} ms), "
            f"state file {self.db_mb:.0f} MB"
        )


def write_app(root: Path) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "manifest.yml").write_text(textwrap.dedent(MANIFEST).lstrip())
    (root / "src" / "index.py").write_text(textwrap.dedent(HANDLER).lstrip())
    return root / "manifest.yml"


def push_backlog(db: Path, events: int) -> float:
    """Push like a Forge app must: at most 50 events per push, one job each; 1 in 10 to a second queue."""
    from forgeq.emulator.limits import VIRTUAL_EPOCH
    from forgeq.emulator.loop.pushing import new_events
    from forgeq.emulator.store import Store

    store = Store(db)
    started = time.perf_counter()
    pushed = 0
    while pushed < events:
        size = min(50, events - pushed)
        queue = "other" if (pushed // 50) % 10 == 9 else "backlog"
        batch = [{"body": {"n": pushed + i}} for i in range(size)]
        store.push_job(
            queue,
            "site-1",
            VIRTUAL_EPOCH,
            "scale",
            new_events(queue, batch, installation="site-1", now=VIRTUAL_EPOCH, job_id=None),
        )
        pushed += size
    store.close()
    return time.perf_counter() - started


def _env() -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORGEQ_DB", None)
    env.pop("FORGEQ_CRASH_AT", None)
    return env


def drain(root: Path, manifest: Path) -> tuple[float, float]:
    """Run until idle in a child; return (wall seconds, peak RSS in MB of that child)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "forgeq", "run", str(manifest), "--until-idle", "--quiet"],
        cwd=root, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"forgeq run exited {proc.returncode}: {err[-2000:]}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def inspect_queue(root: Path, manifest: Path) -> tuple[float, dict[str, dict[str, int]]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "forgeq", "inspect", "queue", "--manifest", str(manifest), "--json"],
        cwd=root, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return elapsed * 1000, json.loads(done.stdout)["queues"]


def time_queue_counts(db: Path) -> float:
    """The counts `inspect queue` shows, timed on their own (best of 3, warm cache), in ms."""
    from forgeq.emulator.limits import VIRTUAL_EPOCH
    from forgeq.emulator.store import Store

    store = Store(db)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        store.queue_counts(VIRTUAL_EPOCH)
        best = min(best, time.perf_counter() - started)
    store.close()
    return best * 1000


def measure(events: int, base: Path | None = None) -> Measure:
    root = Path(tempfile.mkdtemp(prefix=f"scale-{events}-", dir=base))
    manifest = write_app(root)
    db = root / ".forgeq" / "state.db"
    push_seconds = push_backlog(db, events)
    drain_seconds, peak = drain(root, manifest)
    inspect_ms, queues = inspect_queue(root, manifest)
    query_ms = time_queue_counts(db)
    succeeded = sum(q.get("succeeded", 0) for q in queues.values())
    size = sum(p.stat().st_size for p in db.parent.glob("state.db*"))
    return Measure(events, push_seconds, drain_seconds, peak, inspect_ms, query_ms, size / 1e6, succeeded)


def main(argv: list[str]) -> int:
    sizes = [int(float(a)) for a in argv] or [10_000, 100_000]
    results = [measure(n) for n in sizes]
    for result in results:
        print(result.line())
    first, last = results[0], results[-1]
    print(
        f"{last.events:.0e} backlog: peak RSS {last.peak_rss_mb:.1f} MB against {first.peak_rss_mb:.1f} MB at {first.events:.0e}"
    )
    return 0 if all(r.succeeded == r.events for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
