"""The `forgeq` command: one small typer app per noun, each a thin client of forgeq.emulator.

Commands import the emulator inside their functions, so `forgeq --help` and `forgeq inspect`
start without loading YAML, rich or the loop.
"""

from __future__ import annotations

import os
import sys

import typer

from forgeq.cli import demo as demo_commands
from forgeq.cli import doctor as doctor_commands
from forgeq.cli import init as init_commands
from forgeq.cli import inspect as inspect_commands
from forgeq.cli import lint as lint_commands
from forgeq.cli import push as push_commands
from forgeq.cli import pushers as pusher_commands
from forgeq.cli import replay as replay_commands
from forgeq.cli import report as report_commands
from forgeq.cli import run as run_commands
from forgeq.cli import state as state_commands

app = typer.Typer(
    name="forgeq",
    help="Run a Forge app's queues, triggers and storage locally, with Forge's retry rules and quotas.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("demo")(demo_commands.demo)
app.command("run")(run_commands.run)
app.command("push")(push_commands.push)
app.command("webtrigger")(pusher_commands.webtrigger)
app.command("invoke")(pusher_commands.invoke)
app.command("lint")(lint_commands.lint)
app.command("init")(init_commands.init)
app.command("doctor")(doctor_commands.doctor)
app.command("report")(report_commands.report)
app.add_typer(inspect_commands.app, name="inspect")
app.command("replay")(replay_commands.replay)
app.command("reset")(state_commands.reset)
app.command("export")(state_commands.export)
app.command("import")(state_commands.import_)


def main() -> None:
    """Entry point: user errors become one line and an exit code; never a traceback."""
    from forgeq.emulator.errors import ForgeqError

    try:
        # Without standalone mode, click returns the code of a `raise typer.Exit(code=...)` instead of raising it.
        code = app(standalone_mode=False)
    except ForgeqError as error:
        _fail("\nforgeq: error: ".join(error.lines()), error.exit_code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        os._exit(0)
    except Exception as error:  # noqa: BLE001 - the last line of defence against a traceback
        try:
            from typer import (
                _click as click,  # typer >= 0.2x bundles its own click; its errors come from there
            )
        except ImportError:
            import click  # type: ignore[no-redef]

        if isinstance(error, click.exceptions.UsageError):
            error.show()
            sys.exit(2)
        if isinstance(error, click.exceptions.ClickException):
            error.show()
            sys.exit(error.exit_code)
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is not None and isinstance(error, sqlite3.Error) and not os.environ.get("FORGEQ_DEBUG"):
            from forgeq.emulator.store.sqlite import OPENED, state_error

            failure = state_error(OPENED[-1] if OPENED else "the state file", error)  # a read found damage, or a lock
            _fail(str(failure), failure.exit_code)
        if os.environ.get("FORGEQ_DEBUG"):
            raise
        _fail(f"internal error: {type(error).__name__}: {error} (a bug in forgeq; FORGEQ_DEBUG=1 shows the traceback)", 70)
    if code == 130:  # typer turns a KeyboardInterrupt (a second Ctrl-C during `run`) into 130, silently
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"forgeq: error: {message}\n")
    sys.exit(code)
