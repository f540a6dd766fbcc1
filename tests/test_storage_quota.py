"""Storage quotas by era (Atlassian's "Storage API quotas" pages; docs/fidelity.md, storage quotas): every limit at, just under and just over its boundary.

The quota model is checked on its own (times as arguments), then through forgeq.kvs on a real
SQLite file: refusals are 429 RATE_LIMIT_EXCEEDED and usage lands in quota_windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import V2_MANIFEST, emulator

from forgeq import runtime
from forgeq.emulator import limits
from forgeq.emulator.errors import InputError
from forgeq.emulator.loop.invocation import Invocation
from forgeq.emulator.platform.quota import (
    DELETE,
    QUERY,
    READ,
    WRITE,
    NoQuota,
    StorageQuota,
    build_quota,
    parse_storage_limits,
    window_start,
)
from forgeq.emulator.platform.storage import units
from forgeq.kvs import ForgeKvsAPIError, kvs

EPOCH = limits.VIRTUAL_EPOCH


def quota(spec: str) -> StorageQuota:
    built = build_quota(spec)
    assert isinstance(built, StorageQuota)
    return built


def admitted(q: StorageQuota, times: int, operation: str, at: float, units: int = 1, items: int = 1) -> int:
    return sum(q.charge("site-1", operation, units, at, items) is None for _ in range(times))


# -- units ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [(0, 1), (1, 1), (10 * 1024, 1), (10 * 1024 + 1, 2), (20 * 1024, 2), (65 * 1024, 7), (240 * 1024, 24)],
)
def test_a_unit_is_10_kb_rounded_up_at_least_one(size: int, expected: int) -> None:
    assert units(size) == expected


# -- 2025 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", [READ, WRITE, DELETE, QUERY])
def test_2025_requests_per_second_at_under_and_over(operation: str) -> None:
    q = quota("2025")
    assert admitted(q, 999, operation, EPOCH + 5.2) == 999  # just under
    assert q.charge("site-1", operation, 1, EPOCH + 5.9) is None  # the 1000th: at the limit
    refusal = q.charge("site-1", operation, 1, EPOCH + 5.99)  # the 1001st: over
    assert refusal is not None and "1000 requests per second" in refusal
    assert q.charge("site-1", operation, 1, EPOCH + 6.0) is None  # the next second's window
    assert q.charge("site-2", operation, 1, EPOCH + 5.5) is None  # another installation


@pytest.mark.parametrize(
    ("operation", "metric"),
    [(WRITE, "write units"), (DELETE, "write units"), (READ, "read units"), (QUERY, "read units")],
)
def test_2025_units_per_minute_at_under_and_over(operation: str, metric: str) -> None:
    q = quota("2025")
    # 24-unit calls (240 KiB each), spread over seconds so the request rate never binds
    for n in range(166):
        assert q.charge("site-1", operation, 24, EPOCH + n * 0.3) is None  # 3984 units
    assert q.charge("site-1", operation, 16, EPOCH + 55) is None  # 4000: at the limit
    refusal = q.charge("site-1", operation, 1, EPOCH + 59.999)  # 4001: over
    assert refusal is not None and f"4000 {metric} per minute" in refusal
    assert q.charge("site-1", operation, 24, EPOCH + 60) is None  # a new minute


def test_2025_just_under_the_unit_limit_admits_the_last_unit() -> None:
    q = quota("2025")
    assert q.charge("site-1", WRITE, 3999, EPOCH) is None
    assert q.charge("site-1", WRITE, 1, EPOCH + 1) is None
    assert q.charge("site-1", WRITE, 1, EPOCH + 2) is not None


def test_2025_reads_and_writes_have_separate_budgets() -> None:
    q = quota("2025")
    assert q.charge("site-1", WRITE, 4000, EPOCH) is None
    assert q.charge("site-1", READ, 4000, EPOCH + 1) is None
    assert q.charge("site-1", QUERY, 1, EPOCH + 2) is not None
    assert q.charge("site-1", DELETE, 1, EPOCH + 3) is not None


def test_a_refused_call_uses_nothing() -> None:
    q = quota("2025")
    assert q.charge("site-1", WRITE, 3990, EPOCH) is None
    assert q.charge("site-1", WRITE, 24, EPOCH + 1) is not None  # would make 4014
    assert q.charge("site-1", WRITE, 10, EPOCH + 2) is None  # 4000 exactly


# -- 2023 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("operation", "limit"), [(READ, 1000), (WRITE, 1000), (DELETE, 400), (QUERY, 200)])
def test_2023_per_20_seconds_at_under_and_over(operation: str, limit: int) -> None:
    q = quota("2023")
    at = [EPOCH + 20 + 19.99 * n / limit for n in range(limit)]
    assert (
        sum(q.charge("site-1", operation, 24, t) is None for t in at[:-1]) == limit - 1
    )  # just under; units do not matter
    assert q.charge("site-1", operation, 1, at[-1]) is None  # at
    assert q.charge("site-1", operation, 1, EPOCH + 39.999) is not None  # over
    assert q.charge("site-1", operation, 1, EPOCH + 40) is None  # the next 20 s window


def test_2023_counts_each_key_of_a_batch() -> None:
    q = quota("2023")
    assert q.charge("site-1", WRITE, 1, EPOCH, items=25 * 39) is None  # 975
    assert q.charge("site-1", WRITE, 1, EPOCH, items=25) is None  # 1000
    assert q.charge("site-1", WRITE, 1, EPOCH, items=1) is not None


def test_none_never_refuses() -> None:
    q = build_quota("none")
    assert isinstance(q, NoQuota)
    assert all(q.charge("site-1", WRITE, 24, EPOCH) is None for _ in range(20_000))


def test_windows_are_fixed_and_aligned_to_the_virtual_epoch() -> None:
    assert window_start(EPOCH, 60) == EPOCH
    assert window_start(EPOCH + 59.999, 60) == EPOCH
    assert window_start(EPOCH + 60, 60) == EPOCH + 60
    assert window_start(EPOCH + 45, 20) == EPOCH + 40
    assert window_start(EPOCH - 1, 60) == EPOCH - 60
    q = quota("2025,write_units=10")
    assert q.charge("site-1", WRITE, 10, EPOCH + 59.9) is None
    assert q.charge("site-1", WRITE, 10, EPOCH + 60.1) is None  # 20 units in 0.2 s, across a window edge


# -- custom figures ----------------------------------------------------------------------------------


def test_custom_figures_from_options() -> None:
    name, chosen = parse_storage_limits("2025,write_units=5,requests=100/10")
    by_metric = {limit.metric: limit for limit in chosen}
    assert by_metric["write_units"].limit == 5 and by_metric["write_units"].seconds == 60
    assert by_metric["requests"].limit == 100 and by_metric["requests"].seconds == 10
    assert by_metric["read_units"].limit == 4000
    assert "write_units=5" in name
    assert [limit.metric for limit in parse_storage_limits("2023,writes=3")[1]] == [
        "reads",
        "writes",
        "deletes",
        "queries",
    ]
    assert parse_storage_limits("none")[1] == ()


def test_custom_figures_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "tight.yml"
    path.write_text(
        "base: 2023\nlimits:\n  writes: 3\n  reads: {limit: 2, seconds: 5}\n  queries: null\n"
        "  big_writes: {limit: 10, seconds: 60, operations: [write], counts: units}\n"
    )
    q = quota(str(path))
    assert admitted(q, 5, WRITE, EPOCH) == 3
    assert admitted(q, 5, READ, EPOCH) == 2
    assert admitted(q, 3, READ, EPOCH + 5) == 2
    assert admitted(q, 500, QUERY, EPOCH) == 500
    assert q.charge("site-2", WRITE, 11, EPOCH) is not None  # big_writes: 11 units > 10


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("2024", "not an era"),
        ("1999,writes=1", "unknown era"),
        ("2025,write_units=lots", "not a whole number"),
        ("2025,write_units=-1", "negative"),
        ("2025,write_units=5/0", "positive"),
        ("2025,writes=5", "not a limit of the 2025 era"),
        ("missing.yml", "no such file"),
    ],
)
def test_bad_specs_are_input_errors(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_storage_limits(spec)


def test_bad_yaml_files(tmp_path: Path) -> None:
    cases = {
        "list.yml": "- 1\n",
        "key.yml": "base: 2025\nextra: 1\n",
        "ops.yml": "limits:\n  mine: {limit: 1, seconds: 1, operations: [fly], counts: units}\n",
        "broken.yml": "limits: [\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(InputError):
            parse_storage_limits(str(path))


# -- through forgeq.kvs, on a real SQLite file ----------------------------------------------------------


@pytest.fixture
def app_manifest(make_app: Any) -> Path:
    return make_app(V2_MANIFEST, {"src/index.py": "def handler(event, context):\n    return None\n"})  # type: ignore[no-any-return]


@contextmanager
def inside(engine: Any, at: float | None = None) -> Iterator[Invocation]:
    invocation = Invocation(engine, "site-1", None, None, engine.clock.now() if at is None else at)
    token = runtime.bind(invocation)
    try:
        yield invocation
    finally:
        runtime.unbind(token)


def test_over_quota_calls_raise_429_and_usage_is_recorded(app_manifest: Path, tmp_path: Path) -> None:
    engine, _ = emulator(app_manifest, tmp_path / "state.db", storage_limits="2025,write_units=20")
    with inside(engine) as invocation:
        kvs.set("big", "x" * (65 * 1024))  # 7 units
        kvs.set("a", 1)
        kvs.delete("a")  # 9 units
        kvs.batch_set(
            [{"key": f"k{n}", "value": "y" * 1000} for n in range(10)]
        )  # 10 KB in one batch: 1 unit
        for n in range(10):
            kvs.set(f"s{n}", 1)  # 20 units after 10 more
        with pytest.raises(ForgeKvsAPIError) as caught:
            kvs.set("one-more", 1)
        assert invocation.quota_refusals == 1
    assert caught.value.code == "RATE_LIMIT_EXCEEDED" and caught.value.status == 429
    assert caught.value.responseDetails["statusText"] == "Too Many Requests"
    engine.flush()
    rows = {row["metric"]: row for row in engine.store.quota_windows("site-1") if row["window_seconds"] == 60}
    assert (
        rows["write_units"]["used"] == 20
        and rows["write_units"]["refused"] == 1
        and rows["write_units"]["quota"] == 20
    )
    assert rows["write_units"]["window_start"] == EPOCH
    with inside(engine) as invocation:
        assert kvs.get("one-more") is None  # reads have their own budget
    engine.store.close()


def test_a_restart_inside_a_window_keeps_counting(app_manifest: Path, tmp_path: Path) -> None:
    engine, _ = emulator(app_manifest, tmp_path / "state.db", storage_limits="2025,write_units=5")
    with inside(engine):
        for n in range(3):
            kvs.set(f"k{n}", n)
    engine.flush()
    engine.store.close()
    again, _ = emulator(app_manifest, tmp_path / "state.db", storage_limits="2025,write_units=5")
    with inside(again, EPOCH + 30):
        kvs.set("k3", 3)
        kvs.set("k4", 4)
        with pytest.raises(ForgeKvsAPIError):
            kvs.set("k5", 5)
    with inside(again, EPOCH + 60):
        kvs.set("k5", 5)
    again.flush()
    used = {
        row["window_start"] - EPOCH: row["used"] for row in again.store.quota_windows("site-1", "write_units")
    }
    assert used == {0: 5, 60: 1}
    again.store.close()


def test_validation_comes_before_the_quota(app_manifest: Path, tmp_path: Path) -> None:
    engine, _ = emulator(app_manifest, tmp_path / "state.db", storage_limits="2025,write_units=0")
    with inside(engine):
        with pytest.raises(ForgeKvsAPIError) as caught:
            kvs.set("bad/key", 1)
        assert caught.value.code == "INVALID_KEY"
        with pytest.raises(ForgeKvsAPIError) as caught:
            kvs.set("good", 1)
        assert caught.value.code == "RATE_LIMIT_EXCEEDED"
    engine.store.close()


def test_2023_queries_are_limited_to_200_per_20_seconds(app_manifest: Path, tmp_path: Path) -> None:
    engine, _ = emulator(app_manifest, tmp_path / "state.db", storage_limits="2023", storage_call_seconds=0.0)
    with inside(engine):
        for _ in range(200):
            kvs.query().get_many()
        with pytest.raises(ForgeKvsAPIError):
            kvs.query().get_one()
    with inside(engine, EPOCH + 20):
        kvs.query().get_many()
    engine.store.close()
