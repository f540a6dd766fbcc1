"""Timing, child-process and reporting helpers shared by the baselines and forgeq's own benches.

Every figure the harness prints is a median over round-robin repetitions, and every comparison is a
ratio between two figures measured in the same run: the machine is shared and noisy, so absolute
numbers from different runs are not comparable.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Stats:
    """A set of repetitions of one measurement."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


def summarize(values: Sequence[float]) -> Stats:
    if not values:
        raise ValueError("summarize() needs at least one value")
    return Stats(tuple(values))


def fmt_number(value: float) -> str:
    """Three significant figures at most, with thousands separators for big rates."""
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_stats(stats: Stats, suffix: str = "") -> str:
    """`median [min..max]`, the format used by shared/reference/performance.md."""
    return f"{fmt_number(stats.median)}{suffix} [{fmt_number(stats.low)}..{fmt_number(stats.high)}]"


def time_call(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def repeat(fn: Callable[[], float], reps: int) -> Stats:
    """Run `fn` `reps` times back to back. Use run.py's round-robin instead when comparing two things."""
    return summarize([fn() for _ in range(reps)])


def fresh_db_dir(prefix: str = "forgeq-bench-") -> tempfile.TemporaryDirectory[str]:
    """A new directory for one measurement's DB files (WAL and SHM files land next to the DB)."""
    return tempfile.TemporaryDirectory(prefix=prefix)


@dataclass(frozen=True)
class ChildResult:
    """What one child process cost.

    `wall_seconds` runs from fork to exit (the middleman's own start-up is not counted).
    `peak_rss_mb` covers the child and any descendants it waited for; its floor is about 6.5 MB.
    """

    wall_seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


class ChildFailed(RuntimeError):
    """A benchmarked child process exited non-zero; its stderr tail is in the message."""


# Peak RSS comes from a small middleman process, not from the harness's own wait4. On Linux a
# child's ru_maxrss includes the RSS of the process it was forked from, up to the exec: measured
# directly, every child would report at least the harness's own RSS (35 MB with forgeq imported).
# The middleman imports only os, sys and time (about 8 MB), forks, execs the command, and reports
# wall time and ru_maxrss for that one command; so the floor is the middleman's RSS, below any
# Python program's own.
MIDDLEMAN = r"""
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    except OSError as error:
        os.write(2, f"{argv[0]}: {error}\n".encode())
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(report, "w") as out:
    out.write(f"{wall!r} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> ChildResult:
    """Run `argv` in a child process; return its wall time (exec to exit) and peak RSS."""
    with (
        tempfile.TemporaryDirectory(prefix="forgeq-bench-child-") as scratch,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        report = Path(scratch) / "rusage"
        # Output goes to files, not pipes, so a chatty child cannot block on a full pipe.
        subprocess.run(
            [sys.executable, "-S", "-c", MIDDLEMAN, str(report), *argv],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            check=False,
        )
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        if not report.exists():
            raise ChildFailed(f"benchmark middleman failed for {' '.join(argv)}: {stderr[-2000:]}")
        wall, maxrss_kb, returncode = report.read_text().split()
    result = ChildResult(
        wall_seconds=float(wall),
        peak_rss_mb=int(maxrss_kb) / 1024,  # Linux reports kilobytes.
        returncode=int(returncode),
        stdout=stdout,
        stderr=stderr,
    )
    if check and result.returncode != 0:
        raise ChildFailed(f"{' '.join(argv)} exited {result.returncode}: {result.stderr[-2000:]}")
    return result


_COMPILED: list[bool] = []


def ensure_bytecode() -> None:
    """Compile forgeq and the venv's packages once, so a child's start-up reads bytecode as a user's does.

    With PYTHONDONTWRITEBYTECODE set (some shells and CI images set it) nothing is ever cached, and
    every `forgeq` child would compile its modules again: about 0.4 s of a command's start-up here.
    """
    if _COMPILED:
        return
    import compileall
    import sysconfig

    for folder in (Path(__file__).resolve().parent.parent / "forgeq", Path(sysconfig.get_paths()["purelib"])):
        compileall.compile_dir(folder, quiet=2, workers=1)
    _COMPILED.append(True)


def run_python(
    code: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> ChildResult:
    """Run a Python snippet in a fresh interpreter (the one running the harness, i.e. the venv's)."""
    return run_command([sys.executable, "-c", code, *args], cwd=cwd, env=env)


def median_startup(argv: Sequence[str], spawns: int = 10) -> float:
    """Median wall seconds over `spawns` fresh processes of `argv`."""
    return statistics.median(run_command(argv).wall_seconds for _ in range(spawns))


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], out: Callable[[str], None] = print
) -> None:
    """A plain-text table: left-aligned first column, right-aligned others, no rich."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out(line(headers))
    out("  ".join("-" * width for width in widths).rstrip())
    for row in rows:
        out(line(row))


@dataclass
class RunRecord:
    """One run of the harness, as written to bench/results/."""

    mode: str
    reps: int
    started_at: str
    machine: dict[str, object] = field(default_factory=dict)
    benches: list[dict[str, object]] = field(default_factory=list)


def machine_info() -> dict[str, object]:
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
    }


def write_results(record: RunRecord, directory: Path = RESULTS_DIR) -> Path:
    """Write the run as JSON to bench/results/ (gitignored) and return the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = record.started_at.replace(":", "").replace("-", "")
    path = directory / f"{stamp}-{record.mode}.json"
    path.write_text(json.dumps(asdict(record), indent=2) + "\n")
    return path
