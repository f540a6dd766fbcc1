"""Per-app defaults for the command-line options: `forgeq.toml`, or `[tool.forgeq]` in `pyproject.toml`.

Read from the folder forgeq runs in (the app's folder). A key at the top applies to every command
that has that option; a table named after a command applies to it alone (`[tool.forgeq.run]`,
`[tool.forgeq.inspect.events]`). Keys are option names without the dashes (`storage-limits` or
`storage_limits`). A command-line option always wins.

    [tool.forgeq]
    seed = 7
    storage-limits = "2023"

    [tool.forgeq.run]
    logs = true
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FILES = ("forgeq.toml", "pyproject.toml")


def find(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """The defaults file in `folder` and its forgeq table, or None; forgeq.toml wins over pyproject.toml."""
    from forgeq.emulator.errors import InputError

    for name in FILES:
        path = folder / name
        if not path.is_file():
            continue
        import tomllib  # only where a file may hold defaults: most folders have none (start-up, launcher.py)

        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: cannot read it: {error}") from None
        except tomllib.TOMLDecodeError as error:
            raise InputError(f"{path}: not valid TOML: {error}", "fix it, or move it away to run without per-app defaults") from None
        if name == "forgeq.toml":
            return path, document
        table = document.get("tool", {}).get("forgeq")
        if table is not None:
            if not isinstance(table, dict):
                raise InputError(f"{path}: tool.forgeq must be a table, as [tool.forgeq]")
            return path, table
    return None


def default_map(command: Any, table: dict[str, Any], source: Path) -> dict[str, Any]:
    """click's `default_map` for `command` (the whole forgeq group) from a defaults table.

    A value applies to the command whose table holds it and to every command under it that has the
    option. Every key must reach at least one command, so a typo is an error, not a silent no-op.
    """
    from forgeq.emulator.errors import InputError

    top = "tool.forgeq." if source.name == "pyproject.toml" else ""
    used: set[str] = set()

    def walk(cmd: Any, section: dict[str, Any], inherited: dict[str, tuple[str, Any]], where: str) -> dict[str, Any]:
        subcommands = getattr(cmd, "commands", {})
        scope = dict(inherited)
        for key, value in section.items():
            if isinstance(value, dict):
                if key not in subcommands:
                    known = ", ".join(sorted(subcommands)) or "none"
                    raise InputError(f"{source}: {where}{key}: 'forgeq {_spoken(where)}{key}' is not a command", f"commands here: {known}")
            else:
                scope[_name(key)] = (f"{where}{key}", value)
        target: dict[str, Any] = {}
        for param in cmd.params:
            if param.name in scope:
                label, value = scope[param.name]
                target[param.name] = value
                used.add(label)
        for name, sub in subcommands.items():
            child = walk(sub, section.get(name, {}) if isinstance(section.get(name), dict) else {}, scope, f"{where}{name}.")
            if child:
                target[name] = child
        return target

    result = walk(command, table, {}, top)
    labels: list[str] = []

    def collect(section: dict[str, Any], where: str) -> None:
        for key, value in section.items():
            if isinstance(value, dict):
                collect(value, f"{where}{key}.")
            else:
                labels.append(f"{where}{key}")

    collect(table, top)
    for label in labels:
        if label not in used:
            option = label.rsplit(".", 1)[-1].replace("_", "-")
            command = _spoken(label.rsplit(".", 1)[0] + ".").strip()
            what = f"'forgeq {command}' has no option --{option}" if "." in label.removeprefix(top) else f"no forgeq command has an option --{option}"
            raise InputError(f"{source}: {label}: {what}", "a key is an option's name without the dashes, e.g. seed or storage-limits")
    return result


def _name(key: str) -> str:
    return key.replace("-", "_")


def _spoken(where: str) -> str:
    """`tool.forgeq.inspect.` -> `inspect ` (how the command is typed)."""
    return where.removeprefix("tool.forgeq.").replace(".", " ")
