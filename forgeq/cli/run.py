"""`forgeq run MANIFEST`: the event loop, with a live timeline and a summary."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from forgeq.cli.common import DbOption, state_path


def run(
    manifest: Annotated[Path, typer.Argument(help="The app's manifest.yml.")] = Path("manifest.yml"),
    until_idle: Annotated[bool, typer.Option("--until-idle", help="Stop when no event is pending (burst mode).")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seeds delivery order and handler `random`: same seed, same timeline.")] = 0,
    clock: Annotated[str, typer.Option("--clock", help="virtual (time jumps to the next due event) or real.")] = "virtual",
    db: DbOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="A one-line progress display instead of the timeline.")] = False,
    logs: Annotated[bool, typer.Option("--logs", help="Show what handlers print under their attempt.")] = False,
    invocation_ms: Annotated[float, typer.Option("--invocation-ms", help="Modelled virtual duration of an invocation.")] = 50.0,
    storage_call_ms: Annotated[float, typer.Option("--storage-call-ms", help="Modelled virtual duration of a storage call.")] = 10.0,
    no_timeouts: Annotated[bool, typer.Option("--no-timeouts", help="Do not enforce timeoutSeconds (like forge tunnel).")] = False,
    max_attempts: Annotated[int | None, typer.Option("--max-attempts", help="Stop after this many attempts.")] = None,
    faults: Annotated[
        Path | None, typer.Option("--faults", help="A YAML fault scenario: failed attempts, storage 429s, latency, duplicates (docs/testing.md).")
    ] = None,
) -> None:
    """Run the app's consumers and triggers over the queue in the state file."""
    from forgeq.cli import render
    from forgeq.emulator.engine import Emulator
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.manifest import load_manifest
    from forgeq.emulator.settings import Settings
    from forgeq.emulator.store import StateLock, Store

    if clock not in ("virtual", "real"):
        raise InputError(f"--clock must be 'virtual' or 'real', not '{clock}'")
    if invocation_ms < 0 or storage_call_ms < 0:
        raise InputError("--invocation-ms and --storage-call-ms must be 0 or more")
    loaded = load_manifest(manifest)
    scenario = None
    if faults is not None:
        from forgeq.emulator.faults import load_scenario

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
        enforce_timeouts=not no_timeouts,
        faults=str(faults) if faults is not None else None,
    )
    printer = render.progress_printer() if quiet else render.timeline_printer(show_logs=logs)
    emulator = Emulator(loaded, store, settings, observers=[printer])
    injected = None
    if scenario is not None:
        from forgeq.emulator.faults import Faults, apply_scenario

        injected = Faults(emulator)
        apply_scenario(injected, scenario)
    for warning in loaded.warnings:
        render.warn(str(warning))
    store.set_meta("clock", clock)
    summary_start = store.summary_mark()
    started = render.wall()
    virtual_start = emulator.clock.now()

    def stop(signum: int, frame: Any) -> None:
        emulator.interrupted = True

    previous = signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        emulator.run(until_idle=until_idle, max_attempts=max_attempts)
    finally:
        signal.signal(signal.SIGINT, previous)
        printer.close()
    from forgeq.emulator.summary import summarize

    summary = summarize(store, summary_start, virtual_start, emulator.clock.now(), render.wall() - started)
    render.summary(summary)
    if injected is not None:
        render.faults_injected(injected.counts)
    render.queue_table(store.queue_counts(emulator.clock.now()), emulator.clock.now())
    lock.release()
    store.close()
