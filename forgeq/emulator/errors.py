"""forgeq's own errors: each names the condition, and the CLI turns it into one line."""

from __future__ import annotations

from dataclasses import dataclass

from forgeq.emulator import limits
from forgeq.emulator.safetext import bounded_middle


class ForgeqError(Exception):
    """Base of every error forgeq reports to a person. `hint` says what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def lines(self) -> list[str]:
        """What the CLI prints, one line each (most errors are one line), each of bounded length."""
        return [_line(str(self))]


class InputError(ForgeqError):
    """Bad input from the user: a manifest, an argument, a payload. Exit code 2."""

    exit_code = 2


class Interrupted(ForgeqError):
    """A command stopped by Ctrl-C after finishing cleanly (`forgeq run`): exit code 130, the shell's convention."""

    exit_code = 130


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    path: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.line and self.column:
            where += f":{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ManifestError(InputError):
    """The manifest is invalid; `problems` lists every problem found, in file order."""

    def __init__(self, problems: list[Problem], hint: str = "fix the manifest, then run again") -> None:
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.path))
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{first}{more}", hint)

    def lines(self) -> list[str]:
        """Every problem on its own line, the hint on the last."""
        *head, last = (str(problem) for problem in self.problems)
        return [_line(line) for line in (*head, f"{last} ({self.hint})")]


class HandlerLoadError(InputError):
    """A handler module cannot be loaded: missing file, syntax error, missing attribute."""


class StateFileError(ForgeqError):
    """The state file cannot be used: not a database, newer schema, read-only, disk full."""

    exit_code = 4


class StateBusyError(ForgeqError):
    """Another `forgeq run` holds the state file. Exit code 3, documented in the README."""

    exit_code = 3


def _line(text: str) -> str:
    return bounded_middle(text, limits.MAX_MESSAGE_CHARS)
