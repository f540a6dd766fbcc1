"""`forgeq run [MANIFEST]`: the event loop, with a live status (or timeline) and a summary."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from forgeq.cli.common import (
    DEFAULT_SEED,
    DbOption,
    ManifestArgument,
    ManifestChoice,
    SeedOption,
    examples,
    manifest_from,
    state_path,
)

EXAMPLES = examples(
    "forgeq run --until-idle                 # deliver what is queued, then stop",
    "forgeq run --for 7d                     # a virtual week, scheduled triggers included",
    "forgeq run --watch                      # keep running; every save reloads the handlers",
    "forgeq run --until-idle --timeline      # a line per attempt (the default through a pipe)",
    "forgeq run -m app/manifest.yml --seed 7 --storage-limits 2023",
    docs="docs/cli.md (output, exit codes), docs/fidelity.md (the limits), docs/testing.md (--faults)",
)


def run(
    manifest_argument: ManifestArgument = None,
    manifest: ManifestChoice = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop when no event is pending (burst mode; future scheduled-trigger runs do not count).")
    ] = False,
    run_for: Annotated[
        str | None,
        typer.Option("--for", metavar="DURATION", help="Run until this much time has passed on the emulator's clock: 7d, 12h, 30m, 45s."),
    ] = None,
    seed: SeedOption = DEFAULT_SEED,
    clock: Annotated[str, typer.Option("--clock", metavar="virtual|real", help="virtual (time jumps to the next due event) or real.")] = "virtual",
    db: DbOption = None,
    timeline: Annotated[
        bool, typer.Option("--timeline", help="A line per attempt (the default when the output is not a terminal).")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No line per attempt: drops, losses and warnings as they happen, a status, the summary.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="No line per attempt; the summary as one JSON document at the end (docs/json.md).")
    ] = False,
    logs: Annotated[bool, typer.Option("--logs", help="Show what handlers print under their attempt (on with --watch).")] = False,
    invocation_ms: Annotated[float, typer.Option("--invocation-ms", metavar="MS", help="Modelled virtual duration of an invocation.")] = 100.0,
    storage_call_ms: Annotated[float, typer.Option("--storage-call-ms", metavar="MS", help="Modelled virtual duration of a storage call.")] = 20.0,
    product_call_ms: Annotated[
        float, typer.Option("--product-call-ms", metavar="MS", help="Modelled virtual duration of a product call (requestJira, fetch, ...).")
    ] = 100.0,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", metavar="N", help="Invocations of one installation running at once on the virtual clock (0: no limit)."),
    ] = 50,
    no_timeouts: Annotated[bool, typer.Option("--no-timeouts", help="Do not enforce timeoutSeconds (like forge tunnel).")] = False,
    max_attempts: Annotated[int | None, typer.Option("--max-attempts", metavar="N", help="Stop after this many attempts.")] = None,
    faults: Annotated[
        Path | None,
        typer.Option("--faults", metavar="FILE", help="A YAML fault scenario: failed attempts, storage 429s, latency, duplicates (docs/testing.md)."),
    ] = None,
    storage_limits: Annotated[
        str,
        typer.Option(
            "--storage-limits",
            metavar="SPEC",
            help="Storage quotas: 2025 (1000 requests/s, 4000 read and 4000 write units/min), 2023 (per 20 s), none, "
            "a YAML file, or figures such as 2025,write_units=100 (docs/fidelity.md).",
        ),
    ] = "2025",
    product_limits: Annotated[
        str,
        typer.Option(
            "--product-limits",
            metavar="SPEC",
            help="Jira's and Confluence's rate limits for apps: 2026 (65,000 points/hour, burst and per-issue write limits), "
            "2025 (burst limits), none, a YAML file, or figures such as 2026,points=1000 (docs/product-site.md).",
        ),
    ] = "2026",
    platform_limits: Annotated[
        str,
        typer.Option(
            "--platform-limits", metavar="on|off", help="on: 500 pushed events/min, 1000 cyclic pushes, retryData 4 KB, ECO-759; off: none of them."
        ),
    ] = "on",
    eco759: Annotated[
        bool, typer.Option("--eco759/--no-eco759", help="Emulate ECO-759: a retry is silently lost when body plus retryData exceed 200 KB.")
    ] = True,
    installations: Annotated[
        int, typer.Option("--installations", metavar="N", help="Serve N installations, site-1 .. site-N, each with its own store and quota.")
    ] = 1,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Reload handler modules and the manifest when their files change; events of a broken handler wait.")
    ] = False,
) -> None:
    """Run the app's consumers and triggers over the queue in the state file.

    On a terminal a live status shows the clocks, attempts per second, events done and waiting, and
    an estimate of the time left; drops, losses and warnings are printed as they happen. Through a
    pipe, or with --timeline, every attempt gets a line. Ctrl-C stops after the attempt in flight
    (exit 130); a second Ctrl-C stops at once.
    """
    from forgeq.cli import render
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.settings import Settings
    from forgeq.emulator.store import StateLock, Store

    if clock not in ("virtual", "real"):
        raise InputError(f"--clock must be 'virtual' or 'real', not '{clock}'")
    if concurrency < 0:
        raise InputError(f"--concurrency must be 0 (no limit) or more, not {concurrency}")
    if invocation_ms < 0 or storage_call_ms < 0 or product_call_ms < 0:
        raise InputError("--invocation-ms, --storage-call-ms and --product-call-ms must be 0 or more")
    duration = None
    if run_for is not None:
        from forgeq.emulator.products.schedule import parse_duration

        duration = parse_duration(run_for)
    if platform_limits not in ("on", "off"):
        raise InputError(f"--platform-limits must be 'on' or 'off', not '{platform_limits}'")
    if installations < 1:
        raise InputError(f"--installations must be 1 or more, not {installations}")
    if max_attempts is not None and max_attempts < 1:
        raise InputError(f"--max-attempts must be 1 or more, not {max_attempts}")
    if watch and (until_idle or run_for is not None):
        raise InputError("--watch runs until stopped (Ctrl-C); it cannot be combined with --until-idle or --for")
    if sum((timeline, quiet, json_output)) > 1:
        raise InputError("--timeline, --quiet and --json each choose the output; give one of them")
    manifest = manifest_from(manifest_argument, manifest)
    from forgeq.emulator.platform.quota import parse_storage_limits

    parse_storage_limits(storage_limits)  # a bad spec is refused before the state file is touched
    from forgeq.emulator.platform.site.limits import parse_product_limits

    parse_product_limits(product_limits)
    loaded = load_manifest(manifest)
    from forgeq.emulator.platform.site.stubs import STUBS_FILE, load_stubs

    load_stubs(loaded.path.parent / STUBS_FILE)  # a broken stubs.yml is refused before the state file is touched
    scenario = None
    if faults is not None:
        from forgeq.emulator.tools.faults import load_scenario

        scenario = load_scenario(str(faults))
    path = state_path(manifest, db)
    lock = StateLock(str(path))
    store = Store(path)
    lock.acquire()
    settings = Settings(
        seed=seed,
        clock=clock,
        invocation_seconds=invocation_ms / 1000,
        storage_call_seconds=storage_call_ms / 1000,
        product_call_seconds=product_call_ms / 1000,
        concurrency=concurrency,
        enforce_timeouts=not no_timeouts,
        faults=str(faults) if faults is not None else None,
        storage_limits=storage_limits,
        product_limits=product_limits,
        platform_limits=platform_limits == "on",
        emulate_eco759=eco759,
        installations=[f"site-{n}" for n in range(1, installations + 1)],
    )
    show_logs = logs or watch  # watching is for seeing what the code does
    every_attempt = timeline or (not quiet and (watch or not render.is_terminal()))  # watching is for seeing each attempt
    if json_output:
        printer: Any = render.notice_printer()  # stdout holds the JSON document alone
    elif every_attempt:
        printer = render.timeline_printer(show_logs)
    else:
        printer = render.status_printer(store.waiting_count, show_logs)
    emulator = Emulator(loaded, store, settings, observers=[printer])
    emulator.when_idle.append(lambda: printer.went_idle(emulator.clock.now()))
    render.verbose(f"manifest {manifest}, state file {path}, seed {seed}, {clock} clock")
    if isinstance(printer.stream, render.PipeSafeStream):  # `forgeq run | head`: stop, committing what ran
        printer.stream.on_closed = lambda: setattr(emulator, "interrupted", True)
    injected = None
    if scenario is not None:
        from forgeq.emulator.tools.faults import Faults, apply_scenario

        injected = Faults(emulator)
        apply_scenario(injected, scenario)
    for warning in [*loaded.warnings, *loaded.unemulated]:
        render.warn(str(warning))
    store.set_meta("clock", clock)
    summary_start = store.summary_mark()
    started = render.wall()
    if isinstance(printer, render.StatusPrinter):
        printer.started = started  # the status and the summary give the same wall time
    virtual_start = emulator.clock.now()

    stopped_by: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        if emulator.interrupted and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now; the attempt in flight runs again next time
        emulator.interrupted = True
        stopped_by.append(signum)

    previous = signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    watcher = _start_watching(emulator, manifest) if watch else None
    try:
        stop_at = virtual_start + duration if duration is not None else None
        emulator.run(until_idle=until_idle, stop_at=stop_at, max_attempts=max_attempts)
    finally:
        if watcher is not None:
            watcher.stop()
        signal.signal(signal.SIGINT, previous)
        elapsed = render.wall() - started
        printer.close(emulator.clock.now(), elapsed)
    from forgeq.emulator.tools.summary import summarize

    summary = summarize(store, summary_start, virtual_start, emulator.clock.now(), elapsed, run=(emulator.outcomes, emulator.errors))
    stopped = None
    if stopped_by:
        stopped = "stopped by Ctrl-C" if stopped_by[0] == signal.SIGINT else "stopped by SIGTERM"
    elif max_attempts is not None and emulator.attempts_run >= max_attempts:
        stopped = f"stopped at --max-attempts {max_attempts}"
    if injected is not None:
        for rule in injected.unmatched():
            render.warn(f"{faults}: {rule} matched nothing in this run")
    triggers = store.queue_counts(emulator.clock.now(), kind="trigger")
    triggers.update(store.queue_counts(emulator.clock.now(), kind="scheduled"))
    queues = store.queue_counts(emulator.clock.now())
    if json_output:
        render.json_out(
            {**summary, "stopped": stopped, "now": emulator.clock.now(), "queues": queues, "triggers": triggers,
             "faults": injected.counts if injected is not None else None}
        )  # fmt: skip
    else:
        render.summary(summary, stopped)
        if injected is not None:
            render.faults_injected(injected.counts)
        render.queue_table(queues, emulator.clock.now(), triggers)
    store.close()
    lock.release()  # after the connection: closing a descriptor of the file first would drop SQLite's locks
    if stopped_by and stopped_by[0] == signal.SIGINT:
        raise typer.Exit(code=130)  # the shell's convention for a run stopped by Ctrl-C


def _start_watching(emulator: Any, manifest: Path) -> Any:
    """Watch mode: arm the file watcher and hook it into the loop (forgeq/emulator/loop/watch.py)."""
    import sys

    from forgeq.emulator.errors import InputError
    from forgeq.emulator.loop.timeline import Notice
    from forgeq.emulator.loop.watch import Watcher, WatchError

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # each line shows at once, also through a pipe
    watcher = Watcher(emulator, manifest)
    try:
        watcher.start()
    except WatchError as error:
        raise InputError(f"cannot watch {watcher.app_dir}: {error}") from None
    emulator.between_steps.append(watcher.apply)
    emulator.notify(Notice(emulator.clock.now(), f"watching {watcher.describe_watched()} in {watcher.app_dir}: edits reload; Ctrl-C stops"))
    return watcher
