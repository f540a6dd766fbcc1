"""`forgeq run [MANIFEST]`: the event loop, with a live status (or timeline) and a summary.

Its options and help are declared to typer in forgeq/cli/commands.py; this module imports no
typer, so the launcher can call `run` without building the typer app (forgeq/launcher.py).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeq.statefile import DEFAULT_SEED, manifest_from, state_path

if TYPE_CHECKING:
    from forgeq.emulator.errors import ForgeqError


def run(
    manifest_argument: Path | None = None,
    manifest: Path | None = None,
    until_idle: bool = False,
    run_for: str | None = None,
    seed: int = DEFAULT_SEED,
    clock: str = "virtual",
    db: Path | None = None,
    timeline: bool = False,
    quiet: bool = False,
    json_output: bool = False,
    logs: bool = False,
    invocation_ms: float = 100.0,
    storage_call_ms: float = 20.0,
    product_call_ms: float = 100.0,
    concurrency: int = 50,
    no_timeouts: bool = False,
    max_attempts: int | None = None,
    faults: Path | None = None,
    storage_limits: str = "2025",
    product_limits: str = "2026",
    platform_limits: str = "on",
    eco759: bool = True,
    installations: int = 1,
    watch: bool = False,
) -> None:
    """Run the app's consumers and triggers over the queue in the state file.

    On a terminal a live status shows the clocks, attempts per second, events done and waiting, and
    an estimate of the time left; drops, losses and warnings are printed as they happen. Through a
    pipe, or with --timeline, every attempt gets a line. Ctrl-C stops after the attempt in flight
    (exit 130); a second Ctrl-C stops at once.
    """
    from forgeq.cli import render
    from forgeq.emulator import limits
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.safetext import shown
    from forgeq.emulator.settings import Settings
    from forgeq.emulator.store import StateLock, Store

    if clock not in ("virtual", "real"):
        raise InputError(f"--clock must be 'virtual' or 'real', not '{clock}'")
    if concurrency < 0:
        raise InputError(f"--concurrency must be 0 (no limit) or more, not {concurrency}")
    ceiling = limits.MAX_TIMEOUT_SECONDS * 1000  # no invocation or call outlasts Forge's longest timeout
    if not all(0 <= ms <= ceiling for ms in (invocation_ms, storage_call_ms, product_call_ms)):  # NaN fails too
        raise InputError(f"--invocation-ms, --storage-call-ms and --product-call-ms must be from 0 to {ceiling:g} (Forge's longest timeout)")
    duration = None
    if run_for is not None:
        from forgeq.emulator.products.schedule import parse_duration

        duration = parse_duration(run_for)
    if platform_limits not in ("on", "off"):
        raise InputError(f"--platform-limits must be 'on' or 'off', not '{platform_limits}'")
    if not 1 <= installations <= limits.MAX_INSTALLATIONS:
        raise InputError(f"--installations must be from 1 to {limits.MAX_INSTALLATIONS}, not {shown(installations)}")
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
    virtual_start = emulator.clock.now()
    quota_found = store.open_quota_windows(virtual_start)
    if isinstance(printer, render.StatusPrinter):
        printer.started = started  # the status and the summary give the same wall time
        printer.now = virtual_start  # the state's clock from the first frame, where the last run left it

    stopped_by: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        if emulator.interrupted and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now; the attempt in flight runs again next time
        emulator.interrupted = True
        stopped_by.append(signum)

    previous = signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    from forgeq import launcher

    if launcher.stop_requested is not None:  # Ctrl-C or SIGTERM while forgeq was starting: the same clean stop
        emulator.interrupted = True
        stopped_by.append(launcher.stop_requested)
    watcher = _start_watching(emulator, manifest) if watch else None
    try:
        stop_at = virtual_start + duration if duration is not None else None
        emulator.run(until_idle=until_idle, stop_at=stop_at, max_attempts=max_attempts)
    finally:
        if watcher is not None:
            watcher.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is launcher.stop_early else previous)
        elapsed = render.wall() - started
        printer.close(emulator.clock.now(), elapsed)
    from forgeq.emulator.tools.summary import summarize

    summary = summarize(store, summary_start, virtual_start, emulator.clock.now(), elapsed, run=(emulator.outcomes, emulator.errors, None if emulator.refinished else emulator.finished), quota_found=quota_found)
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
    blocked = store.blocked_reasons() if (until_idle or duration is not None) and not emulator.interrupted else []
    store.close()
    lock.release()  # after the connection: closing a descriptor of the file first would drop SQLite's locks
    from forgeq.emulator.errors import ForgeqError, Interrupted
    from forgeq.emulator.wording import plural

    failure: ForgeqError | None = None
    if stopped_by and stopped_by[0] == signal.SIGINT:
        failure = Interrupted("interrupted")  # exit 130, the shell's convention for a run stopped by Ctrl-C
    elif blocked:  # a bounded run (CI) that leaves events no handler can take has not done its job
        total = sum(n for _, n in blocked)
        reasons = "; ".join(f"{n} × {reason}" for reason, n in blocked[:3]) + ("; ..." if len(blocked) > 3 else "")
        failure = ForgeqError(f"{plural(total, 'event')} blocked, which no handler can run: {reasons}", "fix what the warnings above name, then run again")
    _leave(failure)


def _leave(failure: ForgeqError | None) -> None:
    """Done. A thread a handler started (not a daemon) would keep the process alive after the summary,
    and an exit hook it registered could hang or end it with its own code: Forge freezes a function's
    runtime when it returns, so forgeq ends without waiting for either."""
    import os
    import sys
    import threading

    from forgeq.cli import render
    from forgeq.emulator.app import sandbox

    threads = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if not threads and not sandbox.exit_hooks:
        if failure is not None:
            raise failure
        return
    if threads:
        names = ", ".join(sorted({t.name for t in threads})[:3])
        render.warn(f"handlers left {render.plural(len(threads), 'thread')} running ({names}): forgeq does not wait for them")
    if failure is not None:
        sys.stderr.writelines(f"forgeq: error: {line}\n" for line in failure.lines())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(failure.exit_code if failure is not None else 0)


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
