"""Helpers for the JavaScript-app tests: Node.js, and the JS fixture's real @forge packages from npm.

The tests that run JavaScript skip (with the reason) only where Node.js itself is absent. Where it
is present, `js_fixture` installs fixtures/storage-queue-js/node_modules from its package-lock.json
with `npm ci` (the npm registry is reachable from CI) once per lock-file version: a clean checkout
installs on the first test, later sessions reuse the folder. A file lock keeps two test runs in
the same tree from installing at once. The published-style apps of tests/apps/published install
the same way (`install_packages`), several at once. Other JavaScript test apps are built in tmp_path with a
`node_modules` link to the fixture's, so Node.js resolves the same real packages from them.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

NODE = shutil.which("node")
JS_APP = REPO / "fixtures" / "storage-queue-js"
PY_APP = REPO / "fixtures" / "storage-queue"
STAMP = ".forgeq-installed"

requires_node = pytest.mark.skipif(
    NODE is None, reason="Node.js is not installed: the JavaScript bridge needs it"
)


def copy_app(name: str, folder: Path, js: bool) -> Path:
    """tests/apps/<name> copied into `folder`, a JavaScript one with the fixture's installed @forge
    packages (js_fixture); its manifest."""
    app = folder / name
    shutil.copytree(REPO / "tests" / "apps" / name, app)
    if js:
        (app / "node_modules").symlink_to(JS_APP / "node_modules", target_is_directory=True)
    return app / "manifest.yml"


def install_fixture_packages() -> Path:
    """`npm ci` in the JS fixture unless its node_modules already matches package-lock.json."""
    return install_packages(JS_APP)


def install_packages(app: Path) -> Path:
    """`npm ci` in `app` unless its node_modules already matches its package-lock.json."""
    return finish_install(app, start_install(app))


def start_install(app: Path) -> subprocess.Popen[str] | None:
    """Start `npm ci` in `app` if its node_modules is not the one its lock file asks for (None: it is).

    A file lock per app keeps two test runs (or xdist workers) from installing it at once; it is
    held until finish_install(). Several apps' installs may run at once: npm waits on the network.
    """
    guard = open(_guard_path(app), "w")  # noqa: SIM115 - held until finish_install
    fcntl.flock(guard, fcntl.LOCK_EX)
    if _installed(app):
        guard.close()
        return None
    npm = shutil.which("npm")
    if npm is None:
        guard.close()
        pytest.fail("Node.js is installed but npm is not: install npm to fetch the test apps' @forge packages")
    process = subprocess.Popen(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=app,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _guards[app] = guard
    return process


def finish_install(app: Path, process: subprocess.Popen[str] | None) -> Path:
    modules = app / "node_modules"
    if process is None:
        return modules
    try:
        output, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            pytest.fail(f"npm ci in {app} failed ({process.returncode}):\n{output}")
        (modules / STAMP).write_text(_lock_digest(app))
    finally:
        _guards.pop(app).close()
    return modules


_guards: dict[Path, Any] = {}


def _lock_digest(app: Path) -> str:
    return hashlib.sha256((app / "package-lock.json").read_bytes()).hexdigest()


def _installed(app: Path) -> bool:
    stamp = app / "node_modules" / STAMP
    return stamp.exists() and stamp.read_text() == _lock_digest(app)


def _guard_path(app: Path) -> Path:
    return Path(tempfile.gettempdir()) / f"forgeq-npm-{hashlib.sha256(str(app).encode()).hexdigest()[:12]}.lock"


@pytest.fixture(scope="session")
def js_fixture() -> Path:
    """The JS fixture app's manifest, with its npm packages installed."""
    if NODE is None:
        pytest.skip("Node.js is not installed: the JavaScript bridge needs it")
    install_fixture_packages()
    return JS_APP / "manifest.yml"


def write_js_app(root: Path, manifest: str, files: dict[str, str], modules: Path | None = None) -> Path:
    """A JavaScript app in `root` whose node_modules links to the fixture's; returns its manifest."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.yml").write_text(textwrap.dedent(manifest).lstrip())
    for name, source in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source).lstrip())
    link = root / "node_modules"
    if not link.exists():
        link.symlink_to(modules or JS_APP / "node_modules", target_is_directory=True)
    return root / "manifest.yml"
