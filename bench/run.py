"""Run the benchmark harness: `python bench/run.py [--quick] [--reps 5] [--only NAME ...]`.

Benches run round-robin (rep 1 of every bench, then rep 2, ...), so slow drifts in machine load hit
every bench alike. Each comparison is the median of per-rep ratios to a baseline run in the same rep.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    RunRecord,
    Stats,
    fmt_stats,
    fresh_db_dir,
    machine_info,
    print_table,
    summarize,
    write_results,
)
from bench.forgeq_benches import FORGEQ_BENCHES
from bench.registry import BASELINE_BENCHES, Bench, Compare

# Modules forgeq loads. Importing them first puts the harness in the heap state forgeq runs in:
# heap state alone moved one claim benchmark 2.4x (shared/reference/performance.md §2, note 1).
WARM_IMPORTS = ("forgeq.emulator", "sqlite_utils", "yaml", "typer", "huey")


@dataclass
class Outcome:
    bench: Bench
    n: int
    values: dict[int, float] = field(default_factory=dict)  # rep index -> figure
    skipped: str | None = None
    error: str | None = None


def warm_imports() -> list[str]:
    loaded = []
    for module in WARM_IMPORTS:
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        loaded.append(module)
    return loaded


def select(benches: list[Bench], only: list[str]) -> list[Bench]:
    """Benches whose name starts with one of `only`, plus every baseline they compare with."""
    if not only:
        return benches
    by_name = {bench.name: bench for bench in benches}
    wanted = {bench.name for bench in benches if any(bench.name.startswith(prefix) for prefix in only)}
    if not wanted:
        raise SystemExit(f"--only {' '.join(only)} matches no bench; known: {', '.join(by_name)}")
    pending = list(wanted)
    while pending:
        for compare in by_name[pending.pop()].compare:
            if compare.baseline in by_name and compare.baseline not in wanted:
                wanted.add(compare.baseline)
                pending.append(compare.baseline)
    return [bench for bench in benches if bench.name in wanted]


# Figures of a measurement that returned several (Bench.figure), for the other rows of the same rep.
Shared = dict[tuple[object, int, int], Mapping[str, float]]


def measure_once(outcome: Outcome, rep: int, shared: Shared) -> None:
    bench = outcome.bench
    key = (bench.measure, outcome.n, rep)
    try:
        if bench.figure is not None and key in shared:
            outcome.values[rep] = shared[key][bench.figure]
            return
        with fresh_db_dir() as directory:
            result = bench.measure(outcome.n, Path(directory) / "forgeq-bench.db")
        if bench.figure is None:
            assert not isinstance(result, Mapping), f"{bench.name}: the measure returns several figures; pick one"
            outcome.values[rep] = result
        else:
            assert isinstance(result, Mapping), f"{bench.name}: the measure returns one figure"
            shared[key] = result
            outcome.values[rep] = result[bench.figure]
    except Exception as error:  # A broken bench is reported in its row; the others still run.
        outcome.error = f"{type(error).__name__}: {error}"


def run_round_robin(outcomes: list[Outcome], reps: int, progress: bool) -> None:
    shared: Shared = {}
    for rep in range(reps):
        for outcome in outcomes:
            limit = outcome.bench.max_reps
            if outcome.skipped or outcome.error or (limit is not None and rep >= limit):
                continue
            started = time.perf_counter()
            measure_once(outcome, rep, shared)
            if progress:
                took = time.perf_counter() - started
                print(
                    f"  rep {rep + 1}/{reps} {outcome.bench.name} n={outcome.n}: {took:.2f} s",
                    file=sys.stderr,
                )


def paired_ratios(outcome: Outcome, baseline: Outcome) -> list[float]:
    return [value / baseline.values[rep] for rep, value in outcome.values.items() if rep in baseline.values]


def fmt_figure(stats: Stats, unit: str) -> str:
    if unit == "s":
        return fmt_stats(Stats(tuple(value * 1000 for value in stats.values)), " ms")
    return fmt_stats(stats, f" {unit}")


def comparison_cells(
    outcome: Outcome, compare: Compare, by_name: dict[str, Outcome]
) -> tuple[list[str], dict[str, object]]:
    baseline = by_name.get(compare.baseline)
    target = str(compare.target) if compare.target else ""
    record: dict[str, object] = {"baseline": compare.baseline, "target": target or None}
    ratios = paired_ratios(outcome, baseline) if baseline else []
    if not ratios:
        return [compare.baseline, "no paired reps", target, ""], record
    stats = summarize(ratios)
    met = compare.target.met(stats.median) if compare.target else None
    record.update(ratios=list(ratios), median=stats.median, min=stats.low, max=stats.high, met=met)
    verdict = "" if met is None else ("ok" if met else "MISSED")
    return [compare.baseline, fmt_stats(stats, "x"), target, verdict], record


def report(outcomes: list[Outcome]) -> list[dict[str, object]]:
    """Print the table and return the JSON records."""
    by_name = {outcome.bench.name: outcome for outcome in outcomes}
    rows: list[list[str]] = []
    records: list[dict[str, object]] = []
    for outcome in outcomes:
        bench = outcome.bench
        record: dict[str, object] = {
            "name": bench.name,
            "n": outcome.n,
            "unit": bench.unit,
            "about": bench.about,
        }
        records.append(record)
        if outcome.skipped or (outcome.error and not outcome.values):
            reason = f"skipped: {outcome.skipped}" if outcome.skipped else f"FAILED: {outcome.error}"
            record["skipped" if outcome.skipped else "error"] = outcome.skipped or outcome.error
            rows.append([bench.name, f"{outcome.n:,}", reason, "", "", "", ""])
            continue
        stats = summarize(list(outcome.values.values()))
        record.update(
            values=list(stats.values), median=stats.median, min=stats.low, max=stats.high, error=outcome.error
        )
        figure = fmt_figure(stats, bench.unit) + (" (FAILED in a later rep)" if outcome.error else "")
        comparisons = [comparison_cells(outcome, compare, by_name) for compare in bench.compare]
        record["comparisons"] = [item[1] for item in comparisons]
        first = comparisons[0][0] if comparisons else ["", "", "", ""]
        rows.append([bench.name, f"{outcome.n:,}", figure, *first])
        rows.extend(["", "", "", *cells] for cells, _ in comparisons[1:])
    print_table(["bench", "n", "median [min..max]", "vs", "ratio median [min..max]", "target", ""], rows)
    return records


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small n (seconds, not minutes); default 3 reps")
    parser.add_argument(
        "--reps", type=int, default=None, help="round-robin repetitions (default 5, or 3 with --quick)"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run benches whose name starts with NAME (repeatable); their baselines come along",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
    parser.add_argument("--quiet", action="store_true", help="no per-rep progress on stderr")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    reps = args.reps if args.reps is not None else (3 if args.quick else 5)
    if reps < 1:
        raise SystemExit("--reps must be at least 1")
    mode = "quick" if args.quick else "full"
    benches = select(BASELINE_BENCHES + FORGEQ_BENCHES, args.only)
    outcomes = [
        Outcome(bench, bench.sizes.pick(args.quick), skipped=bench.unavailable()) for bench in benches
    ]
    record = RunRecord(
        mode=mode, reps=reps, started_at=time.strftime("%Y-%m-%dT%H:%M:%S"), machine=machine_info()
    )
    warmed = warm_imports()
    record.machine["warm_imports"] = warmed
    print(
        f"forgeq bench, {mode} mode, {reps} round-robin reps; python {record.machine['python']}, sqlite {record.machine['sqlite']}"
    )
    print(f"warm imports: {', '.join(warmed) or 'none'}")
    if not FORGEQ_BENCHES:
        print(
            "forgeq: no measurements registered yet (plug-in point: bench/forgeq_benches.py); baselines only"
        )
    run_round_robin(outcomes, reps, progress=not args.quiet)
    print()
    record.benches = report(outcomes)
    if not args.no_save:
        print(f"\nresults: {write_results(record)}")
    return 1 if any(outcome.error for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
