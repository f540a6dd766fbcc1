"""The storage-limit and platform-limit options of `forgeq run`, and `forgeq inspect quota`, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO, forgeq

APP = REPO / "tests" / "apps" / "kvs-backoff" / "manifest.yml"
QUEUE = "storage-async-queue"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--storage-limits", "2024"], "--storage-limits '2024'"),
        (["--storage-limits", "2025,write_units=x"], "not a whole number"),
        (["--storage-limits", "missing.yml"], "no such file"),
        (["--platform-limits", "maybe"], "--platform-limits must be 'on' or 'off'"),
        (["--installations", "0"], "--installations must be from 1 to 10000"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(tmp_path: Path, option: list[str], message: str) -> None:
    done = forgeq("run", APP, "--db", tmp_path / "state.db", "--until-idle", *option)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "state.db").exists()


def test_inspect_quota_per_installation_and_metric(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    for site, count in (("site-1", 30), ("site-2", 5)):
        done = forgeq(
            "push",
            "--queue",
            QUEUE,
            "--body",
            '{"issueKey": "K"}',
            "--count",
            str(count),
            "--installation",
            site,
            "--manifest",
            APP,
            "--db",
            db,
        )
        assert done.returncode == 0, done.stderr
    run = forgeq(
        "run",
        APP,
        "--db",
        db,
        "--until-idle",
        "--quiet",
        "--installations",
        "2",
        "--storage-limits",
        "2025,requests=20",
    )
    assert run.returncode == 0, run.stderr
    everything = json.loads(forgeq("inspect", "quota", "--manifest", APP, "--db", db, "--json").stdout)
    totals = {(t["installation"], t["metric"]): t for t in everything["totals"]}
    assert totals[("site-1", "requests")]["peak"] == 20 and totals[("site-1", "requests")]["refused"] == 10
    assert totals[("site-2", "requests")]["peak"] == 5 and totals[("site-2", "requests")]["refused"] == 0
    site_1_writes = [
        w for w in everything["windows"] if w["installation"] == "site-1" and w["metric"] == "write_units"
    ]
    assert sum(w["used"] for w in site_1_writes) == 30  # every write landed once, some in a later minute
    # quiet one-second windows are left out unless --all
    listed = [(w["installation"], w["metric"]) for w in everything["windows"]]
    assert ("site-2", "requests") not in listed and ("site-1", "requests") in listed
    assert everything["hidden_quiet_windows"] > 0
    assert (
        json.loads(forgeq("inspect", "quota", "--manifest", APP, "--db", db, "--json", "--all").stdout)[
            "hidden_quiet_windows"
        ]
        == 0
    )
    only = json.loads(
        forgeq(
            "inspect",
            "quota",
            "--manifest",
            APP,
            "--db",
            db,
            "--json",
            "--installation",
            "site-2",
            "--metric",
            "write_units",
        ).stdout
    )
    assert {(w["installation"], w["metric"]) for w in only["windows"]} == {("site-2", "write_units")}
    assert [t["peak"] for t in only["totals"]] == [5]
    table = forgeq("inspect", "quota", "--manifest", APP, "--db", db)
    assert table.returncode == 0
    assert "[site-1] requests: peak 20/20 per 1s, 10 calls refused" in table.stdout
    assert "20 (full)" in table.stdout
    timeline = forgeq("inspect", "timeline", "1", "--manifest", APP, "--db", db, "--json")
    assert timeline.returncode == 0


def test_inspect_quota_before_any_storage_call(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    forgeq("push", "--queue", QUEUE, "--body", "{}", "--manifest", APP, "--db", db)
    done = forgeq("inspect", "quota", "--manifest", APP, "--db", db)
    assert done.returncode == 0 and "no storage calls or pushes recorded yet" in done.stdout
    missing = forgeq("inspect", "quota", "--manifest", APP, "--db", tmp_path / "none.db")
    assert missing.returncode == 2 and "no state file" in missing.stderr


def test_the_live_timeline_marks_a_refused_storage_call(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    forgeq(
        "push", "--queue", QUEUE, "--body", '{"issueKey": "K"}', "--count", "2", "--manifest", APP, "--db", db
    )
    run = forgeq("run", APP, "--db", db, "--until-idle", "--storage-limits", "2025,write_units=1")
    assert run.returncode == 0, run.stderr
    assert "[quota: 1 storage call refused 429]" in run.stdout


def test_platform_limits_off_from_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    body = json.dumps({"hops": 1, "sizes": [50] * 11})
    forgeq("push", "--queue", "chain", "--body", body, "--manifest", APP, "--db", db)
    run = forgeq("run", APP, "--db", db, "--until-idle", "--quiet", "--platform-limits", "off", "--no-eco759")
    assert run.returncode == 0, run.stderr
    keys = json.loads(forgeq("inspect", "kvs", "--manifest", APP, "--db", db, "--json").stdout)["keys"]
    assert keys == []  # no push was refused
    on = tmp_path / "on.db"
    forgeq("push", "--queue", "chain", "--body", body, "--manifest", APP, "--db", on)
    forgeq("run", APP, "--db", on, "--until-idle", "--quiet")
    keys = json.loads(forgeq("inspect", "kvs", "--manifest", APP, "--db", on, "--json").stdout)["keys"]
    assert [item["value"]["class"] for item in keys] == ["RateLimitError"]
