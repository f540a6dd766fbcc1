"""The `forgeq` console script. `forgeq inspect queue` is answered here without typer; every other
command, and any `inspect queue` this parser does not take as is, goes to the typer app.

The typer app pays for pydantic (typer builds a TypeAdapter per parameter) and for each command
module before a command runs: about 0.25 s on the development machine, where `inspect queue`
should start about as fast as `python -c "import typer"` (bench/README.md, start-up). So the
command's body, its table and the state-file helpers (forgeq/statefile.py) import neither typer
nor rich, and the typer command `forgeq inspect queue` (forgeq/cli/inspect.py) calls the same
`inspect_queue`. Options taken here: --manifest/-m PATH, --db PATH, --installation/-i NAME,
--json (also as --opt=VALUE); anything else (--help, a typo, a value starting with "-") is left
to typer, which prints its usual help or error.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

_VALUE_OPTIONS = {"--manifest": "manifest", "-m": "manifest", "--db": "db", "--installation": "installation", "-i": "installation"}


UNSUPPORTED = (
    "forgeq runs on Linux and macOS: it locks its state file and times handlers out with POSIX calls; "
    "on Windows, run it inside WSL (https://learn.microsoft.com/windows/wsl/)"
)


def main() -> None:
    if sys.platform == "win32":
        sys.stderr.write(f"forgeq: error: {UNSUPPORTED}\n")
        sys.exit(1)
    argv = sys.argv[1:]
    if argv[:2] == ["inspect", "queue"]:
        options = parse_inspect_queue(argv[2:])
        if options is not None:
            _run_fast(options)
            return
    from forgeq.cli import main as typer_main

    typer_main()


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
    """inspect_queue with the typer app's error handling (forgeq/cli/__init__.py main)."""
    from forgeq.emulator.errors import ForgeqError

    manifest = Path(str(options.get("manifest", "manifest.yml")))
    db = Path(str(options["db"])) if "db" in options else None
    installation = str(options["installation"]) if "installation" in options else None
    try:
        inspect_queue(manifest, db, installation, bool(options.get("json", False)))
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
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is not None and isinstance(error, sqlite3.Error) and not os.environ.get("FORGEQ_DEBUG"):
            from forgeq.emulator.store.sqlite import OPENED, state_error

            failure = state_error(OPENED[-1] if OPENED else "the state file", error)  # as forgeq/cli/__init__.py
            sys.stderr.write(f"forgeq: error: {failure}\n")
            sys.exit(failure.exit_code)
        if os.environ.get("FORGEQ_DEBUG"):
            raise
        sys.stderr.write(f"forgeq: error: internal error: {type(error).__name__}: {error} (a bug in forgeq; FORGEQ_DEBUG=1 shows the traceback)\n")
        sys.exit(70)


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
