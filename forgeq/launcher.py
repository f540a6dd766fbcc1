"""The `forgeq` console script. `forgeq inspect queue` is answered here without typer, and `forgeq
run` and `forgeq push` are parsed here and call their typer command's function directly; every
other command, and any of these that this parser does not take as is, goes to the typer app.

The typer app pays for typer and for each command module before a command runs: about 0.15 s on
the development machine, where `inspect queue` should start about as fast as `python -c "import
typer"`, and a 2e4-event `run` takes only about seven times that (bench/README.md, start-up). So
`inspect queue`'s body, its table and the state-file helpers (forgeq/statefile.py) import neither
typer nor rich, and the typer command `forgeq inspect queue` (forgeq/cli/inspect.py) calls the
same `inspect_queue`; `run` and `push` are declared to typer in forgeq/cli/commands.py, around
bodies that import no typer. Options taken here: for `inspect queue`, --manifest/-m PATH, --db
PATH, --installation/-i NAME, --json (also as --opt=VALUE); for `run` and `push`, those in
COMMANDS. Anything else (--help, a typo, a value starting with "-", an option given twice, -v, a
per-app defaults file in the working folder: forgeq.toml or [tool.forgeq]; shell completion) is
left to typer, which prints its usual help or error, or applies the defaults.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_VALUE_OPTIONS = {"--manifest": "manifest", "-m": "manifest", "--db": "db", "--installation": "installation", "-i": "installation"}


UNSUPPORTED = (
    "forgeq runs on Linux and macOS: it locks its state file and times handlers out with POSIX calls; "
    "on Windows, run it inside WSL (https://learn.microsoft.com/windows/wsl/)"
)


# A SIGINT or SIGTERM that arrives while `forgeq run` is still starting (imports, the manifest,
# the state file: most of a second), taken by `run` as the clean stop once its loop exists.
stop_requested: int | None = None


def stop_early(signum: int, frame: object) -> None:
    global stop_requested
    if stop_requested is not None and signum == signal.SIGINT:
        raise KeyboardInterrupt  # a second Ctrl-C: stop now
    stop_requested = signum


def main() -> None:
    if sys.platform == "win32":
        sys.stderr.write(f"forgeq: error: {UNSUPPORTED}\n")
        sys.exit(1)
    argv = sys.argv[1:]
    command = next((arg for arg in argv if arg not in ("-v", "--verbose")), None)  # `forgeq -v run` too
    if command in ("run", "demo"):  # before anything slow: the clean stop from the first instant
        signal.signal(signal.SIGINT, stop_early)
        signal.signal(signal.SIGTERM, stop_early)
    unreadable = next((arg for arg in argv if not _is_text(arg)), None)
    if unreadable is not None:
        shown = unreadable.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        sys.stderr.write(f"forgeq: error: the argument '{shown[:80]}' is not UTF-8 text (forgeq reads its arguments as UTF-8)\n")
        sys.exit(2)
    if argv[:2] == ["inspect", "queue"] and _no_defaults_file():
        options = parse_inspect_queue(argv[2:])
        if options is not None:
            _run_fast(options)
            return
    if argv[:1] in (["run"], ["push"]) and _no_defaults_file():
        given = parse_command(argv[1:], COMMANDS[argv[0]])
        if given is not None:
            _call_fast(argv[0], given)
            return
    from forgeq.cli import main as typer_main

    typer_main()


# The options `run` and `push` take here, by spelling: (parameter, kind). A kind is "flag" (True when
# given), "off" (False when given), "int", "float", "str", "path" or "list" (repeatable). The first
# entry under "" names the positional argument. Values are those of the typer commands
# (forgeq/cli/run.py, forgeq/cli/push.py), which are called with what was given here; whatever
# this table does not take as is goes to typer.
Spec = dict[str, tuple[str, str]]
COMMANDS: dict[str, Spec] = {
    "run": {
        "": ("manifest_argument", "path"),
        "--manifest": ("manifest", "path"),
        "-m": ("manifest", "path"),
        "--until-idle": ("until_idle", "flag"),
        "--for": ("run_for", "str"),
        "--seed": ("seed", "int"),
        "--clock": ("clock", "str"),
        "--db": ("db", "path"),
        "--timeline": ("timeline", "flag"),
        "--quiet": ("quiet", "flag"),
        "-q": ("quiet", "flag"),
        "--json": ("json_output", "flag"),
        "--logs": ("logs", "flag"),
        "--invocation-ms": ("invocation_ms", "float"),
        "--storage-call-ms": ("storage_call_ms", "float"),
        "--product-call-ms": ("product_call_ms", "float"),
        "--concurrency": ("concurrency", "int"),
        "--no-timeouts": ("no_timeouts", "flag"),
        "--max-attempts": ("max_attempts", "int"),
        "--faults": ("faults", "path"),
        "--storage-limits": ("storage_limits", "str"),
        "--product-limits": ("product_limits", "str"),
        "--platform-limits": ("platform_limits", "str"),
        "--eco759": ("eco759", "flag"),
        "--no-eco759": ("eco759", "off"),
        "--installations": ("installations", "int"),
        "--watch": ("watch", "flag"),
        "-w": ("watch", "flag"),
    },
    "push": {
        "": ("event", "str"),
        "--queue": ("queue", "str"),
        "--body": ("body", "str"),
        "--delay": ("delay", "float"),
        "--concurrency-key": ("concurrency_key", "str"),
        "--concurrency-limit": ("concurrency_limit", "int"),
        "--count": ("count", "int"),
        "-n": ("count", "int"),
        "--rate": ("rate", "float"),
        "--project": ("project", "str"),
        "--set": ("sets", "list"),
        "--payload": ("payload", "path"),
        "--installation": ("installation", "str"),
        "-i": ("installation", "str"),
        "--list": ("list_events", "flag"),
        "--manifest": ("manifest", "path"),
        "-m": ("manifest", "path"),
        "--db": ("db", "path"),
        "--json": ("json_output", "flag"),
        "--idempotency-key": ("idempotency_key", "str"),
    },
}
_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")


def parse_command(args: list[str], spec: Spec) -> dict[str, Any] | None:
    """The command's parameters as `spec` takes them, or None when typer should parse them (--help,
    an unknown or repeated option, a value typer might read otherwise)."""
    given: dict[str, Any] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if not arg.startswith("-"):
            if "" not in spec or spec[""][0] in given:
                return None
            name, kind = spec[""]
            value: str | None = arg
        else:
            option, equals, value = arg.partition("=")
            if option not in spec or not option.startswith("-"):
                return None
            name, kind = spec[option]
            if kind in ("flag", "off"):
                if equals:
                    return None
                value = None
            elif not equals:
                if index >= len(args):
                    return None
                value = args[index]
                index += 1
        if name in given and kind != "list":
            return None
        if kind == "flag" or kind == "off":
            given[name] = kind == "flag"
            continue
        assert value is not None
        if value.startswith("-") and kind not in ("int", "float"):
            return None
        if kind == "int":
            if not _INT.fullmatch(value):
                return None
            given[name] = int(value)
        elif kind == "float":
            if not _FLOAT.fullmatch(value):
                return None
            given[name] = float(value)
        elif kind == "path":
            if not value:
                return None
            given[name] = Path(value)
        elif kind == "list":
            given.setdefault(name, []).append(value)
        else:
            given[name] = value
    return given


def _no_defaults_file() -> bool:
    """Whether the working folder has no per-app defaults (forgeq/cli/appconfig.py): typer applies
    those, and says what is wrong with a broken file, so with one the command goes to typer."""
    if any(name.startswith("_FORGEQ_COMPLETE") for name in os.environ):
        return False  # shell completion: typer's
    from forgeq.cli.appconfig import find

    try:
        return find(Path.cwd()) is None
    except Exception:  # noqa: BLE001 - an unreadable file: typer reports it
        return False


def _call_fast(command: str, given: dict[str, Any]) -> None:
    """`forgeq run` or `forgeq push` without building the typer app: the command's own function,
    with the typer app's error handling. typer's parsing costs about 0.4 s of start-up (a pydantic
    TypeAdapter per parameter), more than a 1e4-event run itself (bench/README.md, start-up)."""
    from forgeq.emulator.store.process import quiet_memory_statistics

    quiet_memory_statistics()  # this process is the command's alone: no connection is open yet
    function: Callable[..., None]
    if command == "run":
        from forgeq.cli.run import run as function
    else:
        from forgeq.cli.push import push as function
    _guarded(lambda: function(**given))


def _is_text(arg: str) -> bool:
    """False for an argument that held bytes that are not UTF-8 (Python keeps them as lone surrogates)."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_inspect_queue(args: list[str]) -> dict[str, str | bool] | None:
    """The options of `inspect queue`, or None when typer should parse them."""
    options: dict[str, str | bool] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--json":
            options["json"] = True
            index += 1
            continue
        name, equals, value = arg.partition("=")
        if equals and name.startswith("--") and name in _VALUE_OPTIONS:
            index += 1
        elif arg in _VALUE_OPTIONS and index + 1 < len(args):
            name, value = arg, args[index + 1]
            index += 2
        else:
            return None
        if not value or value.startswith("-") or _VALUE_OPTIONS[name] in options:
            return None
        options[_VALUE_OPTIONS[name]] = value
    return options


def _run_fast(options: dict[str, str | bool]) -> None:
    """inspect_queue with the typer app's error handling."""
    manifest = Path(str(options.get("manifest", "manifest.yml")))
    db = Path(str(options["db"])) if "db" in options else None
    installation = str(options["installation"]) if "installation" in options else None
    _guarded(lambda: inspect_queue(manifest, db, installation, bool(options.get("json", False))))


def _guarded(command: Callable[[], object]) -> None:
    """Run a command with the typer app's error handling (forgeq/cli/__init__.py main)."""
    from forgeq.emulator.errors import ForgeqError

    try:
        command()
        sys.stdout.flush()
    except ForgeqError as error:
        sys.stderr.writelines(f"forgeq: error: {line}\n" for line in error.lines())
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("forgeq: error: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        os._exit(0)
    except Exception as error:  # noqa: BLE001 - the last line of defence against a traceback
        known = known_failure(error)
        if known is not None:
            sys.stderr.write(f"forgeq: error: {known[0]}\n")
            sys.exit(known[1])
        if os.environ.get("FORGEQ_DEBUG") or os.environ.get("FORGEQ_VERBOSE"):
            raise
        sys.stderr.write(f"forgeq: error: internal error: {type(error).__name__}: {error} (a bug in forgeq; FORGEQ_DEBUG=1 shows the traceback)\n")
        sys.exit(70)


def known_failure(error: Exception) -> tuple[str, int] | None:
    """What the CLI says of an error that is not a bug in forgeq, with its exit code; None for a bug
    (and for everything under FORGEQ_DEBUG=1, which shows the traceback)."""
    if os.environ.get("FORGEQ_DEBUG"):
        return None
    if isinstance(error, OSError) and error.filename is not None:
        from forgeq.emulator import limits
        from forgeq.emulator.safetext import bounded_middle

        # a path the user gave that the system refuses (too long, a loop of links, no access)
        return f"{bounded_middle(str(error.filename), limits.MAX_QUOTED_CHARS)}: {error.strerror}", 2
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(error, sqlite3.Error):
        from forgeq.emulator.store.sqlite import OPENED, state_error

        failure = state_error(OPENED[-1] if OPENED else "the state file", error)  # a read found damage, or a lock
        return str(failure), failure.exit_code
    if isinstance(error, MemoryError):  # the machine's limit, not a bug: a handler may hold memory in a global
        return "out of memory: forgeq stopped; nothing acknowledged is lost, and attempts in flight run again next time", 1
    return None


def inspect_queue(manifest: Path, db: Path | None, installation: str | None, json_output: bool) -> None:
    """`forgeq inspect queue`: per queue (and trigger), events by state, at the state's clock."""
    from forgeq.statefile import open_store, virtual_now

    store = open_store(manifest, db)
    try:
        now = virtual_now(store)
        queues = store.queue_counts(now, installation)
        triggers = store.queue_counts(now, installation, kind="trigger")
        triggers.update(store.queue_counts(now, installation, kind="scheduled"))
        if json_output:
            products = store.queue_counts(now, installation, kind="product")  # per event type; "delivered" = fanned out
            data = {"now": now, "queues": queues, "triggers": triggers, "products": products}
            from forgeq.jsontext import pretty

            sys.stdout.write(pretty(data) + "\n")  # render.json_out
        else:
            queue_table(queues, now, triggers)
    finally:
        store.close()


def clock_text(at: float) -> str:
    """Virtual times as the offset from the emulator's epoch (+1d 02:03:04.050); real ones as wall time."""
    from forgeq.emulator import limits

    offset = at - limits.VIRTUAL_EPOCH
    if 0 <= offset < 10 * 365 * 86400:
        days, rest = divmod(offset, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        text = f"{int(hours):02d}:{int(minutes):02d}:{seconds:06.3f}"
        return f"+{int(days)}d {text}" if days else f"+{text}"
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


def queue_table(queues: dict[str, dict[str, int]], now: float, triggers: dict[str, dict[str, int]] | None = None) -> None:
    """Plain text laid out as rich's borderless table was (so `inspect queue` needs no rich)."""
    from forgeq.emulator.store.sqlite import QUEUE_COUNT_NAMES

    out = sys.stdout
    out.write(f"queues at {clock_text(now)}\n")
    if not queues and not triggers:
        out.write("  (no events)\n")
        return
    rows = [[name, *(str(queues[name].get(c, 0)) for c in QUEUE_COUNT_NAMES)] for name in sorted(queues)]
    rows += [[f"{name} (trigger)", *(str(counts.get(c, 0)) for c in QUEUE_COUNT_NAMES)] for name, counts in sorted((triggers or {}).items())]
    header = ["queue", *QUEUE_COUNT_NAMES]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(cells, widths, strict=True)))

    heading = line(header)
    forced = os.environ.get("FORCE_COLOR", "0") not in ("", "0")
    bold = not os.environ.get("NO_COLOR") and (forced or (os.environ.get("TERM") != "dumb" and out.isatty()))
    out.write((f"\x1b[1m{heading}\x1b[0m" if bold else heading) + "\n")  # render.use_colour's rule
    out.write("".join(line(row) + "\n" for row in rows))
