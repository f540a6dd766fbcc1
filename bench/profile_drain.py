"""Profile forgeq's drain (the `forgeq_drain` row's workload) with pyinstrument.

    .venv/bin/python bench/profile_drain.py             # n = 5000 events
    .venv/bin/python bench/profile_drain.py --n 10000 --flat
    .venv/bin/python bench/profile_drain.py --workload simple --n 20000   # bench/simple.py's app

Prints pyinstrument's call tree (or, with --flat, the functions with the most time of their
own), after the drain's figures. pyinstrument is a dev dependency (`uv sync`). With --cprofile,
cProfile's functions by their own time instead, and the Python-level calls per event (cProfile
counts every call; its timings inflate Python against SQLite's C, the call count does not move).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import simple
from bench.forgeq_benches import drain_in_process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="events pushed then drained")
    parser.add_argument(
        "--flat", action="store_true", help="functions by their own time instead of the call tree"
    )
    parser.add_argument("--top", type=int, default=25, help="with --flat: how many functions")
    parser.add_argument(
        "--workload",
        choices=("seed-guide", "simple"),
        default="seed-guide",
        help="seed-guide: the forgeq_drain rows' app (quota, retries); simple: one kvs.set per event, no quota",
    )
    parser.add_argument("--cprofile", action="store_true", help="cProfile by own time, and calls per event")
    options = parser.parse_args(argv)
    from pyinstrument import Profiler

    import forgeq.emulator.loop.engine  # noqa: F401 - imported before the profile starts, as the harness does

    drain = simple.drain_in_process if options.workload == "simple" else drain_in_process
    if options.cprofile:
        import cProfile
        import pstats

        with tempfile.TemporaryDirectory(prefix="forgeq-profile-") as scratch:
            profile = cProfile.Profile()
            profile.enable()
            drain(options.n, Path(scratch) / "state.db")
            profile.disable()
        stats = pstats.Stats(profile)
        print(f"n={options.n}: {stats.total_calls / options.n:.1f} Python-level calls per event (push and drain)")  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(options.top)
        return 0

    with tempfile.TemporaryDirectory(prefix="forgeq-profile-") as scratch:
        profiler = Profiler(interval=0.0005)
        profiler.start()
        figures = drain(options.n, Path(scratch) / "state.db")
        profiler.stop()
    print(
        f"n={options.n}: {figures['events_per_second']:,.0f} events/s; push {figures['push_seconds']:.3f} s, "
        f"drain {figures['drain_seconds']:.3f} s; {figures['attempts_per_event']:.2f} attempts/event; "
        f"{figures['windows']:.0f} look-ahead windows"
    )
    if options.flat:
        own: dict[str, float] = {}
        session = profiler.last_session
        assert session is not None
        root = session.root_frame()
        stack = [root] if root is not None else []
        while stack:
            frame = stack.pop()
            key = f"{frame.function}  {frame.file_path_short}:{frame.line_no}"
            own[key] = own.get(key, 0.0) + frame.total_self_time
            stack.extend(frame.children)
        total = sum(own.values())
        for key, seconds in sorted(own.items(), key=lambda item: -item[1])[: options.top]:
            print(f"{seconds:8.3f} s {seconds / total:6.1%}  {key}")
    else:
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
