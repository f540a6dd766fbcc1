"""The `forgeq` command: one small typer app per noun, each a thin client of forgeq.emulator.

Commands import the emulator inside their functions, so `forgeq --help` and `forgeq inspect`
start without loading YAML, rich or the loop. Help is click's plain text (typer's rich help
costs a quarter of a second at every start); each command's help ends with examples
(`common.examples`). What every command shares, so a new command follows it: `-m/--manifest`,
`--db`, `--json`, `-i` (forgeq/cli/common.py), "showing N of M" footers (render.footer), per-app
defaults from forgeq.toml or `[tool.forgeq]` (forgeq/cli/appconfig.py), `-v/--verbose`.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer


# Each command with the one line `forgeq --help` lists (click would cut the docstring at 45 columns).
SHORT_HELP = {
    "demo": "A bulk import against the bundled demo app, run until idle.",
    "run": "Deliver the queued events: consumers, triggers, retries, quotas.",
    "push": "Fire product events at the app's triggers, or push to a queue.",
    "webtrigger": "Call a web trigger with the request Forge builds; print its response.",
    "invoke": "Call a UI resolver as @forge/bridge's invoke(key, payload) does.",
    "lint": "Check the manifest and the retry logic before anything runs.",
    "init": "Create a new app: trigger, queue, consumer with backoff, tests.",
    "doctor": "What this forgeq emulates exactly, approximately, not at all.",
    "report": "The state's pictures in one offline HTML file.",
    "inspect": "Queues, events, jobs, timelines, the ledger, the store, quotas.",
    "replay": "Deliver dropped or lost events again, as new events.",
    "reset": "Empty the state file (asks first).",
    "export": "Write the whole state as JSON (secrets left out).",
    "import": "Load an export into an empty state.",
}


@functools.cache
def build_app(listing: bool = False) -> typer.Typer:
    """The typer app. Built when a command needs it, not on import: the launcher calls `run` and
    `push` without it (forgeq/launcher.py), and building it imports typer and every command.

    `listing`: the app `forgeq --help` prints, each command a name and its line. typer builds every
    parameter of every command (annotations evaluated, a click object each) before it prints
    anything, two thirds of the time `forgeq --help` took beyond `import typer`; a listing needs none."""
    import typer

    from forgeq.cli.common import CONTEXT, examples

    app = typer.Typer(
        name="forgeq",
        help="Run a Forge app's queues, triggers and storage locally, with Forge's retry rules and quotas.",
        epilog=examples(
            "forgeq demo                                  # a bulk import against the bundled demo app",
            "forgeq init my-app && cd my-app              # a new app with tests",
            "forgeq push issue-created --count 1000       # in an app's folder: fire product events",
            "forgeq run --until-idle                      # deliver them, live",
            docs="README.md; per-app defaults: forgeq.toml or [tool.forgeq] in pyproject.toml (docs/cli.md)",
        ),
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings=CONTEXT,
    )

    def _version(value: bool) -> None:
        if value:
            from forgeq import __version__

            sys.stdout.write(f"forgeq {__version__}\n")
            raise typer.Exit()

    @app.callback()
    def _options(
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print forgeq's version and exit."),
        verbose: bool = typer.Option(
            False, "--verbose", "-v", help="Say which manifest, state file and defaults file a command uses; show tracebacks (also FORGEQ_DEBUG=1)."
        ),
    ) -> None:
        if verbose:
            os.environ["FORGEQ_VERBOSE"] = "1"

    if listing:
        for name, line in SHORT_HELP.items():
            app.command(name, short_help=line)(_listed)
        return app

    from forgeq.cli import commands
    from forgeq.cli import demo as demo_commands
    from forgeq.cli import doctor as doctor_commands
    from forgeq.cli import init as init_commands
    from forgeq.cli import inspect as inspect_commands
    from forgeq.cli import lint as lint_commands
    from forgeq.cli import pushers as pusher_commands
    from forgeq.cli import replay as replay_commands
    from forgeq.cli import report as report_commands
    from forgeq.cli import state as state_commands

    def command(name: str, function: Any, epilog: str | None = None) -> None:
        app.command(name, short_help=SHORT_HELP[name], epilog=epilog)(function)

    command("demo", demo_commands.demo, demo_commands.EXAMPLES)
    command("run", commands.run, commands.RUN_EXAMPLES)
    command("push", commands.push, commands.PUSH_EXAMPLES)
    command("webtrigger", pusher_commands.webtrigger)
    command("invoke", pusher_commands.invoke)
    command("lint", lint_commands.lint, lint_commands.EXAMPLES)
    command("init", init_commands.init, init_commands.EXAMPLES)
    command("doctor", doctor_commands.doctor)
    command("report", report_commands.report, report_commands.EXAMPLES)
    app.add_typer(inspect_commands.app, name="inspect", short_help=SHORT_HELP["inspect"])
    command("replay", replay_commands.replay)
    command("reset", state_commands.reset)
    command("export", state_commands.export)
    command("import", state_commands.import_)
    return app


def plain_metavars(command: Any) -> None:
    """Every value in the help named in capitals (`-H, --header NAME:VALUE`, `EVENT`), never by its
    Python type: typer shows `<str>` or `<list[str]>` for an option without a metavar, and the
    type after every argument. A command that names its values (metavar=...) keeps its names."""
    for param in command.params:
        if getattr(param, "is_flag", False) or getattr(param, "count", False) or param.name is None:
            continue
        if param.metavar is None:
            param.metavar = param.name.upper()
        if param.param_type_name == "argument":
            param.display_type_rich = lambda ctx: None  # typer writes it after the argument's name
    for sub in getattr(command, "commands", {}).values():
        plain_metavars(sub)


def _listed() -> None:
    """A command as `forgeq --help` lists it; never called (the listing app runs no command)."""


def __getattr__(name: str) -> Any:
    if name == "app":  # `from forgeq.cli import app`, as before the app was built on demand
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point: user errors become one line and an exit code; never a traceback."""
    import typer

    from forgeq.emulator import limits
    from forgeq.emulator.errors import ForgeqError
    from forgeq.emulator.safetext import bounded_middle

    args = sys.argv[1:]
    if any(arg in ("-v", "--verbose") for arg in args[1:]) and "--" not in args:
        # `forgeq run -v` as well as `forgeq -v run`: the option is the group's, lifted to the front.
        args = ["--verbose", *(arg for arg in args if arg not in ("-v", "--verbose"))]
    # `forgeq`, `forgeq --help` and `--version` need the list of commands alone: no command's parameters, no defaults file.
    listing = args in ([], ["--help"], ["-h"], ["--version"]) and not os.environ.get("_FORGEQ_COMPLETE")
    try:
        command = typer.main.get_command(build_app(listing))
        plain_metavars(command)
        defaults = None if listing else _app_defaults(command)
        # Without standalone mode, click returns the code of a `raise typer.Exit(code=...)` instead of raising it.
        code = command.main(args, prog_name="forgeq", standalone_mode=False, default_map=defaults)
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

        if isinstance(error, click.exceptions.ClickException):
            error.message = bounded_middle(error.message, limits.MAX_MESSAGE_CHARS)  # an option's value may be 100 KB
            error.show()
            sys.exit(2 if isinstance(error, click.exceptions.UsageError) else error.exit_code)
        from forgeq.launcher import known_failure

        known = known_failure(error)
        if known is not None:
            _fail(*known)
        if os.environ.get("FORGEQ_DEBUG") or os.environ.get("FORGEQ_VERBOSE"):
            raise
        _fail(f"internal error: {type(error).__name__}: {error} (a bug in forgeq; FORGEQ_DEBUG=1 shows the traceback)", 70)
    if code == 130:  # typer turns a KeyboardInterrupt (a second Ctrl-C during `run`) into 130, silently
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _app_defaults(command: Any) -> dict[str, object] | None:
    """Per-app defaults from forgeq.toml or pyproject.toml in the working folder (appconfig.py)."""
    from pathlib import Path

    from forgeq.cli import appconfig

    found = appconfig.find(Path.cwd())
    if found is None:
        return None
    path, table = found
    if os.environ.get("FORGEQ_VERBOSE") or any(arg in ("-v", "--verbose") for arg in sys.argv[1:2]):
        sys.stderr.write(f"forgeq: defaults from {path}\n")
    return appconfig.default_map(command, table, path)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"forgeq: error: {message}\n")
    sys.exit(code)
