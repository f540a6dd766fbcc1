"""Helpers for the JavaScript-app tests: Node.js, and the JS fixture's real @forge packages from npm.

The tests that run JavaScript skip (with the reason) only where Node.js itself is absent. Where it
is present, `js_fixture` installs fixtures/storage-queue-js/node_modules from its package-lock.json
with `npm ci` (the npm registry is reachable from CI) once per lock-file version: a clean checkout
installs on the first test, later sessions reuse the folder. A file lock keeps two test runs in
the same tree from installing at once. Other JavaScript test apps are built in tmp_path with a
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

import pytest
from conftest import REPO

NODE = shutil.which("node")
JS_APP = REPO / "fixtures" / "storage-queue-js"
PY_APP = REPO / "fixtures" / "storage-queue"
STAMP = ".forgeq-installed"

requires_node = pytest.mark.skipif(
    NODE is None, reason="Node.js is not installed: the JavaScript bridge needs it"
)


def install_fixture_packages() -> Path:
    """`npm ci` in the JS fixture unless its node_modules already matches package-lock.json."""
    lock = (JS_APP / "package-lock.json").read_bytes()
    wanted = hashlib.sha256(lock).hexdigest()
    modules = JS_APP / "node_modules"
    guard_path = (
        Path(tempfile.gettempdir())
        / f"forgeq-npm-{hashlib.sha256(str(JS_APP).encode()).hexdigest()[:12]}.lock"
    )
    with open(guard_path, "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        stamp = modules / STAMP
        if stamp.exists() and stamp.read_text() == wanted:
            return modules
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(
                "Node.js is installed but npm is not: install npm to fetch the fixture's @forge packages"
            )
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_APP,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {JS_APP} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        stamp.write_text(wanted)
    return modules


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
