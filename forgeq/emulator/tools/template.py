"""`forgeq init`: a new app from the template shipped inside the package (forgeq/templates/app/).

The template is a working app: a trigger on avi:jira:created:issue, a queue, a v2 consumer with
correct backoff, tests written with the testing API, and a README. `__APP_NAME__` and
`__APP_UUID__` in its text files become the folder's name and a fresh app id.
"""

from __future__ import annotations

import json
import uuid
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path

from forgeq.emulator.errors import InputError

# Stored without their leading dot, so that packaging tools do not treat them as their own.
_RENAMED = {"gitignore": ".gitignore"}
_SKIPPED = {"__pycache__", ".pytest_cache", ".forgeq"}


def template_root() -> Traversable:
    return resources.files("forgeq").joinpath("templates", "app")


def template_files() -> list[tuple[str, Traversable]]:
    """(relative path in the new app, template file), in a stable order."""
    found: list[tuple[str, Traversable]] = []

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name in _SKIPPED or entry.name.endswith(".pyc"):
                continue
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            else:
                found.append((prefix + _RENAMED.get(entry.name, entry.name), entry))

    walk(template_root(), "")
    return found


def create_app(folder: Path, *, force: bool = False, name: str | None = None) -> list[str]:
    """Write the template into `folder` (created if missing); return the files written.

    A folder that already holds files is refused unless `force`, which overwrites the template's
    files and leaves every other file alone.
    """
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise InputError(
            f"{folder} is not empty",
            "pick an empty or new folder, or pass --force to write the template's files over it",
        )
    app_name = name or folder.resolve().name or "forge-app"
    replacements = {"__APP_NAME__": app_name, "__APP_UUID__": str(uuid.uuid4()), "__FORGEQ_SOURCE__": source_table()}
    files = template_files()
    if not files:
        raise InputError("the app template is missing from this forgeq install", "reinstall forgeq")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for relative, source in files:
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            text = source.read_text(encoding="utf-8")
            for token, value in replacements.items():
                text = text.replace(token, value)
            target.write_text(text, encoding="utf-8")
            written.append(relative)
    except OSError as error:
        raise InputError(f"cannot write the app into {folder}: {error.strerror or error}") from None
    return written


def source_table() -> str:
    """`[tool.uv.sources]` for forgeq in a new app's pyproject.toml: where this forgeq came from, so
    that `uv run pytest` in the app installs the same one; empty when it came from a package index.

    Read from the install's direct_url.json (PEP 610: `uv tool install PATH`, `pip install PATH`,
    a git URL), or, run from a source checkout that is not installed, that checkout.
    """
    source = _direct_source()
    if source is None:
        checkout = Path(__file__).resolve().parents[3]
        if (checkout / "pyproject.toml").is_file() and (checkout / "forgeq" / "__init__.py").is_file():
            source = {"path": str(checkout), "editable": True}
    if source is None:
        return ""
    fields = ", ".join(f"{key} = {json.dumps(value)}" for key, value in source.items())
    return f"\n[tool.uv.sources]\nforgeq = {{ {fields} }}\n"


def _direct_source() -> dict[str, object] | None:
    try:
        text = metadata.distribution("forgeq").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    info = json.loads(text)
    url = str(info.get("url", ""))
    if "vcs_info" in info:
        vcs = info["vcs_info"]
        return {"git": url, "rev": vcs["commit_id"]} if vcs.get("commit_id") else {"git": url}
    if url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        path = unquote(urlparse(url).path)
        return {"path": path, "editable": True} if Path(path).is_dir() else {"path": path}
    return {"url": url} if url else None
