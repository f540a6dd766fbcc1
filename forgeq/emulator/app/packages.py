"""The @forge packages an app has installed, and what forgeq knows of the version each copy is.

Apps pin the versions they were written with, and npm nests a second copy where two packages want
different ones (`node_modules/@forge/events/node_modules/@forge/api`). Each era of `@forge/api`
reached the platform its own way (read in the published `out/` code; the Node.js worker serves them
all, worker/transports.cjs):

    @forge/api below 2.8        `global.api` of the legacy sandbox runtime, read when the module loads
    2.8 - 2.9                   global.api; product calls through the runtime's proxy without it
    2.10 - 2.18.2               global.api if there is one, else node-fetch to the Node.js runtime's proxy
    2.18.3 - 4.x                global.api if there is one, else node-fetch with the agent 'FORGE_PRODUCT_REQUEST'
    5.0                         product calls through `__forge_fetch__`, storage and events with the agent
    5.1 - 6.0.2                 `__forge_fetch__` (global.api if there is one)
    6.0.3 and newer             `__forge_fetch__` only

`@forge/events` below 0.8 reads global.api itself when a Queue is made; later versions go through
their own copy of @forge/api. Forge stopped running the legacy sandbox on 28 February 2025
(Atlassian: https://developer.atlassian.com/platform/forge/runtime-reference/legacy-runtime-migrating/):
an app with a copy that needs it fails to load there. forgeq provides `global.api` for such an app
so it runs, and says which package needs it and what to upgrade (`forgeq doctor`, the run's warnings).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

Release = tuple[int, int, int]

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
_MAX_DEPTH = 6  # node_modules inside node_modules: npm nests a conflicting copy one or two levels down
_LEGACY_RUNTIME_GONE = "Forge stopped running on 28 February 2025"

# (first version of the era, how it reaches the platform), oldest first.
API_ERAS: tuple[tuple[Release, str], ...] = (
    ((0, 0, 0), "global.api of the legacy sandbox runtime, read when the module loads"),
    ((2, 8, 0), "global.api; product calls through the runtime's proxy without it"),
    ((2, 10, 0), "global.api if present, else node-fetch to the Node.js runtime's proxy"),
    ((2, 18, 3), "global.api if present, else node-fetch with the FORGE_PRODUCT_REQUEST agent"),
    ((5, 0, 0), "__forge_fetch__ for product calls, the FORGE_PRODUCT_REQUEST agent for storage and events"),
    ((5, 1, 0), "__forge_fetch__ (global.api if present)"),
    ((6, 0, 3), "__forge_fetch__"),
)
EVENTS_ERAS: tuple[tuple[Release, str], ...] = (
    ((0, 0, 0), "global.api of the legacy sandbox runtime; pushes bodies directly (v1)"),
    ((0, 8, 0), "its own @forge/api copy; pushes bodies directly (v1)"),
    ((2, 0, 0), "its own @forge/api copy; pushes {body} events (v2)"),
)
RESOLVER_ERAS: tuple[tuple[Release, str], ...] = (
    ((0, 0, 0), "loads its own @forge/api copy; context from the runtime payload: installContext, accountId, license"),
    ((1, 7, 0), "no @forge/api; context from the runtime payload: installContext, accountId, license"),
    ((1, 8, 0), "no @forge/api; context from the runtime payload: installContext, accountId, license, installation"),
)
_ERAS = {"@forge/api": API_ERAS, "@forge/events": EVENTS_ERAS, "@forge/resolver": RESOLVER_ERAS}


def release(version: str) -> Release | None:
    """(2, 6, 1) for "2.6.1" and "2.6.1-next.0"; None for what is not a version."""
    match = _VERSION.match(version)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


@dataclass(frozen=True)
class Package:
    """One installed copy: `path` is its folder, relative to the app (node_modules/...)."""

    name: str
    version: str
    path: str

    @property
    def release(self) -> Release | None:
        return release(self.version)

    @property
    def owner(self) -> str | None:
        """The package whose node_modules holds this copy (None: installed at the top)."""
        parts = self.path.split("/")
        if len(parts) <= 3:
            return None
        inner = parts[: -3 if parts[-2].startswith("@") else -2]
        return "/".join(inner[-2:]) if len(inner) >= 2 and inner[-2].startswith("@") else inner[-1]

    @property
    def era(self) -> str | None:
        eras = _ERAS.get(self.name)
        if eras is None or self.release is None:
            return None
        return [what for first, what in eras if self.release >= first][-1]

    @property
    def needs_sandbox(self) -> bool:
        """Reads the legacy runtime's `global.api` where nothing else can stand in for it."""
        found = self.release
        if found is None:
            return False
        return (self.name == "@forge/api" and found < (2, 10, 0)) or (self.name == "@forge/events" and found < (0, 8, 0))

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "version": self.version, "path": self.path, "era": self.era}


@dataclass(frozen=True)
class Problem:
    """What a copy cannot do on Forge today, and what to change."""

    package: Package
    message: str
    fix: str
    runs_here: bool  # forgeq runs it anyway (it provides global.api, adapts @forge/storage); False: it fails here too
    where: str = ""  # the folder whose frames in an error's stack mean this problem struck
    adapt_storage: str = ""  # "1.6" or "1.7": the GlobalStorage call forgeq adapts for this copy (worker/transports.cjs)

    def __str__(self) -> str:
        return f"{self.package.name} {self.package.version} ({self.package.path}) {self.message}: {self.fix}"

    def as_dict(self) -> dict[str, str | bool]:
        return {**{k: v for k, v in self.package.as_dict().items() if v is not None}, "problem": self.message, "fix": self.fix, "runs_in_forgeq": self.runs_here}


def installed(app_dir: Path) -> list[Package]:
    """Every copy of an @forge package under the app's node_modules, nested copies included."""
    found: list[Package] = []
    _scan(app_dir / "node_modules", "node_modules", found, 0)
    return sorted(found, key=lambda package: (package.name, package.path))


def _scan(folder: Path, relative: str, found: list[Package], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.name.startswith("@"):
            try:
                inner = sorted(entry.iterdir())
            except OSError:
                continue
            for package in inner:
                _visit(package, f"{relative}/{entry.name}/{package.name}", f"{entry.name}/{package.name}", found, depth)
        else:
            _visit(entry, f"{relative}/{entry.name}", entry.name, found, depth)


def _visit(folder: Path, relative: str, name: str, found: list[Package], depth: int) -> None:
    if name.startswith("@forge/"):
        try:
            version = json.loads((folder / "package.json").read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError, AttributeError):
            version = None
        if isinstance(version, str):
            found.append(Package(name, version, relative))
    nested = folder / "node_modules"
    if nested.is_dir():
        _scan(nested, f"{relative}/node_modules", found, depth + 1)


def resolved_from(packages: list[Package], where: Package, name: str) -> Package | None:
    """The copy of `name` that a `require(name)` inside `where` gets: Node looks in the nearest node_modules first."""
    by_path = {package.path: package for package in packages if package.name == name}
    parts = where.path.split("/")
    for end in range(len(parts), 0, -1):
        if parts[end - 1] != "node_modules":
            continue
        candidate = by_path.get("/".join([*parts[:end], name]))
        if candidate is not None:
            return candidate
    return None


def problems(packages: list[Package]) -> list[Problem]:
    """What forgeq knows to fail on Forge today among these copies, each with the change that fixes it."""
    found: list[Problem] = []
    for package in packages:
        if package.needs_sandbox:
            found.append(Problem(package, f"needs global.api of the legacy sandbox runtime, which {_LEGACY_RUNTIME_GONE} (forgeq provides it)", _upgrade(package), True))
        if package.name == "@forge/api" and package.release is not None:
            storage = resolved_from(packages, package, "@forge/storage")
            if storage is not None and storage.release is not None and not _storage_fits(package.release, storage.release):
                found.append(_storage_problem(package, storage))
    return found


def _upgrade(package: Package) -> str:
    owner = package.owner
    if owner == "@forge/resolver":
        return f"upgrade @forge/resolver (this copy of {package.name} is its own) to 1.5 or newer"
    if owner is not None and owner.startswith("@forge/"):
        return f"upgrade {owner} (this copy of {package.name} is its own) to a version that depends on @forge/api 2.10 or newer"
    if package.name == "@forge/events":
        return "upgrade @forge/events to 0.8 or newer (2.x for the v2 push API)"
    return "upgrade @forge/api to 2.10 or newer (every version up to 7.x keeps the legacy `storage` API; @forge/kvs replaces it)"


def _storage_fits(api: Release, storage: Release) -> bool:
    # GlobalStorage's constructor: (contextAri, client) up to 1.5; (contextAri, client, metrics) in 1.6;
    # (client, metrics) from 1.7. @forge/api 2.14 and newer pin the @forge/storage they were built with.
    if api < (4, 0, 0):
        return storage < (1, 6, 0)
    if api < (5, 0, 0):
        return (1, 6, 0) <= storage < (1, 7, 0)
    return storage >= (1, 7, 0)


def _storage_problem(api: Package, storage: Package) -> Problem:
    """A copy of @forge/api that npm gave a @forge/storage whose GlobalStorage takes other arguments.

    @forge/api below 2.14 asks for `^1.x`, so a fresh install gets a @forge/storage its era never
    had. Such an app ran on Forge with the @forge/storage of its day: forgeq passes the arguments in
    the order the installed one takes, and says that the app as installed fails on Forge. Any other
    mismatch (a hand-made override) fails here too.
    """
    assert api.release is not None and storage.release is not None
    made_for = f"gets @forge/storage {storage.version} ({storage.path}), made for @forge/api {_made_for(storage.release)}"
    if api.release < (2, 14, 0) and storage.release >= (1, 6, 0):
        message = f"{made_for}: on Forge every call of its legacy `storage` API fails with a TypeError (forgeq adapts the call, as @forge/storage of its day took it)"
        form = "1.6" if storage.release < (1, 7, 0) else "1.7"
        return Problem(api, message, _storage_fix(api), True, storage.path, form)
    message = f"{made_for}: every call of its legacy `storage` API fails with a TypeError, on Forge too"
    return Problem(api, message, _storage_fix(api), False, storage.path)


def _made_for(storage: Release) -> str:
    """The @forge/api versions whose GlobalStorage call a @forge/storage version takes."""
    return "3.x and older" if storage < (1, 6, 0) else "4.x" if storage < (1, 7, 0) else "5 and newer"


def _storage_fix(package: Package) -> str:
    found = package.release or (0, 0, 0)
    if found >= (5, 0, 0):
        return "run npm install again: this @forge/api pins the @forge/storage it was built with"
    pin = "1.5.15" if found < (4, 0, 0) else "1.6.0"
    return f'pin it in package.json ("overrides": {{"@forge/storage": "{pin}"}}) and run npm install, or upgrade to @forge/api 2.14 or newer'
