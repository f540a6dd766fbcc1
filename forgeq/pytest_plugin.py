"""The pytest plugin (entry point `forgeq` in pytest11): the `forge_app` fixture and the `forge` marker.

    def test_bulk_import(forge_app):
        forge_app.push_product_event("issue-created", count=5000)
        forge_app.run_until_idle()
        assert forge_app.dropped() == []

    @pytest.mark.forge(seed=7, storage_limits="2023")
    def test_old_quota(forge_app): ...

Each test gets a fresh app over an in-memory state: nothing is shared between tests and nothing
is written to the app's .forgeq/ folder. When a test fails, its report gains a section with the
app's last attempts. This module is imported by every pytest run in an environment where forgeq
is installed, so it imports nothing heavy until a test asks for the fixture.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from forgeq.testing import ForgeApp

MANIFEST_NAME = "manifest.yml"
DEFAULT_TIMELINE_LINES = 20
_MARKER_HELP = (
    "forge(seed=0, storage_limits=..., platform_limits=..., manifest=..., **settings): "
    "how the forge_app fixture builds this test's app (any forgeq Settings field)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("forgeq", "forgeq: test Forge apps")
    group.addoption(
        "--forge-manifest",
        default=None,
        help="The manifest.yml the forge_app fixture loads [ini forge_manifest].",
    )
    group.addoption(
        "--forge-seed", type=int, default=None, help="The seed of every forge_app (a marker's seed wins)."
    )
    group.addoption(
        "--forge-storage-limits",
        default=None,
        help="Storage quotas of every forge_app: 2025, 2023, none or a file.",
    )
    group.addoption(
        "--forge-update-golden",
        action="store_true",
        default=False,
        help="Rewrite golden timelines instead of comparing (env FORGEQ_UPDATE_GOLDEN=1).",
    )
    group.addoption(
        "--forge-timeline-lines",
        type=int,
        default=DEFAULT_TIMELINE_LINES,
        help="How many attempts a failing test's report shows.",
    )
    parser.addini(
        "forge_manifest",
        "The manifest.yml the forge_app fixture loads (relative to the rootdir).",
        default=None,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)


def find_manifest(request: pytest.FixtureRequest, marker_manifest: Any = None) -> Path:
    """The marker's manifest, then --forge-manifest, then ini forge_manifest, then the nearest
    manifest.yml from the test file's folder up to the rootdir."""
    config = request.config
    rootdir = Path(config.rootpath)
    chosen = marker_manifest or config.getoption("--forge-manifest") or config.getini("forge_manifest")
    if chosen:
        path = Path(str(chosen))
        if not path.is_absolute():
            base = Path(request.path).parent if marker_manifest else rootdir
            path = base / path
        return path
    folder = Path(request.path).parent
    while True:
        candidate = folder / MANIFEST_NAME
        if candidate.is_file():
            return candidate
        if folder == rootdir or folder.parent == folder or rootdir not in folder.parents:
            break
        folder = folder.parent
    return rootdir / MANIFEST_NAME


@pytest.fixture
def forge_app(request: pytest.FixtureRequest) -> Iterator[ForgeApp]:
    """A fresh Forge app for this test: in-memory state, virtual clock, the marker's settings."""
    from forgeq.emulator.errors import ForgeqError
    from forgeq.testing import ForgeApp

    options: dict[str, Any] = {}
    config = request.config
    if config.getoption("--forge-seed") is not None:
        options["seed"] = config.getoption("--forge-seed")
    if config.getoption("--forge-storage-limits") is not None:
        options["storage_limits"] = config.getoption("--forge-storage-limits")
    marker = request.node.get_closest_marker("forge")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(
                f"{request.node.nodeid}: @pytest.mark.forge takes keywords only, e.g. forge(seed=7)"
            )
        options.update(marker.kwargs)
    manifest = find_manifest(request, options.pop("manifest", None))
    if "store" in options and options["store"] != ":memory:":
        raise pytest.UsageError(
            f"{request.node.nodeid}: the forge_app fixture always uses an in-memory state; build a ForgeApp for a file"
        )
    try:
        app = ForgeApp(manifest, **options)
    except ForgeqError as error:
        pytest.fail(f"forge_app: {error}", pytrace=False)
    app.update_golden = app.update_golden or bool(config.getoption("--forge-update-golden"))
    app.golden_dir = Path(request.path).parent
    request.node.stash.setdefault(_APPS, []).append(app)
    try:
        yield app
    finally:
        app.close()


_APPS = pytest.StashKey[list["ForgeApp"]]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    testing = _testing_if_loaded()
    if testing is not None:
        testing._created.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        _add_timelines(item, report)
    return report


def _add_timelines(item: pytest.Item, report: pytest.TestReport) -> None:
    stored = item.stash.get(_APPS, None)
    apps: list[ForgeApp] = list(stored) if stored is not None else []
    testing = _testing_if_loaded()
    if testing is not None:
        for ref in testing._created:
            app = ref()
            if app is not None and app not in apps:
                apps.append(app)
    lines = item.config.getoption("--forge-timeline-lines")
    for index, app in enumerate(apps):
        try:
            text = app.describe(lines)
        except Exception as error:  # noqa: BLE001 - a report must never hide the test's own failure
            text = f"(the timeline could not be read: {type(error).__name__}: {error})"
        title = "forgeq timeline" + (f" (app {index + 1})" if len(apps) > 1 else "")
        report.sections.append((title, text))


def _testing_if_loaded() -> Any:
    import sys

    return sys.modules.get("forgeq.testing")


def pytest_report_header(config: pytest.Config) -> str | None:
    if os.environ.get("FORGEQ_UPDATE_GOLDEN", "") not in ("", "0") or config.getoption(
        "--forge-update-golden"
    ):
        return "forgeq: updating golden timelines"
    return None
