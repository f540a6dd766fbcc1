"""The async-events platform limits (Atlassian's "Async events API" limits and retries; docs/fidelity.md) at, just under and just over each boundary:
500 pushed events per minute per installation, 1000 push requests per invocation tree, retryData
4 KB, and ECO-759; all switched off by platform_limits=False. Real SQLite files throughout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, V2_MANIFEST

from forgeq.emulator import limits
from forgeq.testing import ForgeApp, ForgeqWarning

APP = REPO / "tests" / "apps" / "kvs-backoff" / "manifest.yml"
EPOCH = limits.VIRTUAL_EPOCH


@pytest.fixture
def open_app(tmp_path: Path) -> Iterator[Any]:
    apps: list[ForgeApp] = []

    def make(name: str = "state.db", manifest: Path = APP, **options: Any) -> ForgeApp:
        app = ForgeApp(manifest, store=tmp_path / name, **options)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


def errors(app: ForgeApp) -> list[dict[str, Any]]:
    return [item["value"] for item in app.kvs.query_all("error-")]


# -- 500 pushed events per minute --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "refused"),
    [([50] * 9 + [49], 0), ([50] * 10, 0), ([50] * 10 + [1], 1), ([50] * 9 + [49, 2], 1)],
)
def test_pushed_events_per_minute(open_app: Any, sizes: list[int], refused: int) -> None:
    app = open_app()
    app.push("chain", {"body": {"hops": 1, "sizes": sizes}})
    app.run_until_idle()
    found = errors(app)
    assert len(found) == refused
    for error in found:
        assert error == {"class": "RateLimitError", "message": "Too many requests.", "hops": 1}
    accepted = sum(sizes) - (sizes[-1] if refused else 0)
    assert len(app.events("chain")) == 1 + accepted
    windows = [w for w in app.quota() if w["metric"] == "pushed_events"]
    assert [(w["used"], w["refused"], w["quota"]) for w in windows] == [(accepted, refused, 500)]


def test_the_next_minute_has_a_fresh_allowance(open_app: Any) -> None:
    app = open_app()
    app.push("chain", {"body": {"hops": 1, "sizes": [50] * 10}})
    app.push("chain", {"body": {"hops": 1, "sizes": [50]}, "delayInSeconds": 59})
    app.push("chain", {"body": {"hops": 1, "sizes": [50]}, "delayInSeconds": 60})
    app.run_until_idle()
    (late,) = errors(app)  # the push at +59 s is refused, the one at +60 s is not
    assert late["class"] == "RateLimitError"
    assert {w["window_start"] - EPOCH: w["used"] for w in app.quota() if w["metric"] == "pushed_events"} == {
        0: 500,
        60: 50,
    }


def test_installations_have_separate_push_allowances(open_app: Any) -> None:
    app = open_app(installations=["site-1", "site-2"])
    app.push("chain", {"body": {"hops": 1, "sizes": [50] * 10}}, installation="site-1")
    app.push("chain", {"body": {"hops": 1, "sizes": [50] * 10}}, installation="site-2")
    app.run_until_idle()
    assert errors(app) == [] and app.kvs_for("site-2").query_all("error-") == []
    assert len(app.events("chain", installation="site-2")) == 501


def test_external_pushes_are_not_counted(open_app: Any) -> None:
    app = open_app()
    app.push_many("chain", [{"hops": 0}] * 1000)  # the developer seeding a backlog
    app.push("chain", {"body": {"hops": 1, "sizes": [50] * 10}})
    app.run_until_idle()
    assert errors(app) == []


def test_a_refused_push_is_marked_on_the_timeline(open_app: Any) -> None:
    app = open_app()
    app.push("chain", {"body": {"hops": 1, "sizes": [50] * 10 + [1]}})
    app.run_until_idle()
    first = app.timeline(queue="chain")[0]
    assert any("500 per minute per installation" in note for note in first.notes)


# -- the cyclic-invocation limit ------------------------------------------------------------------------------


@pytest.mark.parametrize(("hops", "refused"), [(999, False), (1000, False), (1001, True)])
def test_cyclic_limit_of_1000_push_requests_per_tree(open_app: Any, hops: int, refused: bool) -> None:
    app = open_app()
    app.push("chain", {"body": {"hops": hops, "delay": 1}})  # 1 s apart: well under 500 events per minute
    app.run_until_idle()
    found = errors(app)
    if refused:
        assert found == [
            {
                "class": "InvocationLimitReachedError",
                "message": "The limit on cyclic invocation has been reached.",
                "hops": 1,
            }
        ]
        assert len(app.events("chain")) == 1001  # the root and the 1000 pushes that were allowed
    else:
        assert found == []
        assert len(app.events("chain")) == hops + 1


def test_cyclic_limit_counts_every_push_of_the_tree_across_a_restart(open_app: Any) -> None:
    app = open_app()
    app.push("chain", {"body": {"hops": 1001, "delay": 1}})
    with pytest.warns(ForgeqWarning, match="max_attempts=600 with 1 event"):
        app.run_until_idle(max_attempts=600)  # stopped half way on purpose: the rest runs after a restart
    app.close()
    again = open_app()  # a new process: the tree's count comes back from the state file
    again.run_until_idle()
    assert [error["class"] for error in errors(again)] == ["InvocationLimitReachedError"]
    assert len(again.events("chain")) == 1001


def test_a_new_tree_starts_from_zero(open_app: Any) -> None:
    app = open_app()
    app.push("chain", {"body": {"hops": 1000, "delay": 1}})
    app.push("chain", {"body": {"hops": 5, "delay": 1}})
    app.run_until_idle()
    assert errors(app) == []


# -- retryData and ECO-759 --------------------------------------------------------------------------------------

RETRYING = """
from forgeq.events import InvocationError

def handler(event, context):
    if event.get("retryContext"):
        return None
    return InvocationError(retry_after=5, retry_data="d" * event["body"]["data"])
"""


@pytest.fixture
def retry_manifest(make_app: Any) -> Path:
    return make_app(V2_MANIFEST, {"src/index.py": RETRYING})  # type: ignore[no-any-return]


@pytest.mark.parametrize(("data", "kept"), [(4094, True), (4095, False)])
def test_retry_data_of_4_kb(open_app: Any, retry_manifest: Path, data: int, kept: bool) -> None:
    app = open_app(manifest=retry_manifest)
    app.push("work", {"body": {"data": data}})  # JSON of the string: data + 2 quotes = 4096 / 4097 bytes
    app.run_until_idle()
    first, second = app.timeline(queue="work")[:2]
    assert second.outcome == "succeeded"
    if kept:
        assert first.retry_after_applied == 5 and second.retry_context["retryData"] == "d" * data
    else:
        assert any("4 KB" in note for note in first.notes)
        assert first.reason == "FUNCTION_PLATFORM_UNKNOWN_ERROR" and second.retry_context["retryData"] is None


def test_platform_limits_off_lets_big_retry_data_through(open_app: Any, retry_manifest: Path) -> None:
    app = open_app(manifest=retry_manifest, platform_limits=False)
    app.push("work", {"body": {"data": 5000}})
    app.run_until_idle()
    assert app.timeline(queue="work")[1].retry_context["retryData"] == "d" * 5000


ECO759 = """
from forgeq.events import InvocationError

def handler(event, context):
    if event.get("retryContext"):
        return None
    return InvocationError(retry_after=5, retry_data="d" * 4000)
"""


# body {"pad": "p..."} is pad + 10 bytes, retryData 4002: together exactly 200 KB at pad 200788
@pytest.mark.parametrize(("pad", "lost"), [(200_787, False), (200_788, False), (200_789, True)])
def test_eco_759_loses_a_retry_over_200_kb(open_app: Any, make_app: Any, pad: int, lost: bool) -> None:
    app = open_app(manifest=make_app(V2_MANIFEST, {"src/index.py": ECO759}, name="eco"))
    app.push("work", {"body": {"pad": "p" * pad}})
    app.run_until_idle()
    (event,) = app.events("work")
    assert event.state == ("dropped" if lost else "succeeded")
    if lost:
        assert "ECO-759" in app.dropped()[0].drop_reason


def test_eco_759_can_be_switched_off(open_app: Any, make_app: Any) -> None:
    app = open_app(manifest=make_app(V2_MANIFEST, {"src/index.py": ECO759}, name="eco"), emulate_eco759=False)
    app.push("work", {"body": {"pad": "p" * 200_789}})
    app.run_until_idle()
    assert app.events("work")[0].state == "succeeded"


def test_platform_limits_off_switches_off_the_push_limits(open_app: Any) -> None:
    app = open_app(platform_limits=False)
    app.push("chain", {"body": {"hops": 1, "sizes": [50] * 12}})
    app.push("chain", {"body": {"hops": 1002, "delay": 1}})
    app.run_until_idle()
    assert errors(app) == []
    assert not [w for w in app.quota() if w["metric"] == "pushed_events"]
