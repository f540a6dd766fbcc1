"""The key-value API of forgeq.kvs as @forge/kvs serves it (Atlassian's "Key-Value Store" pages), on a real SQLite file.

SDK calls run inside a bound Invocation of a real Emulator, as handler code runs them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import V2_MANIFEST, emulator

from forgeq import runtime
from forgeq.emulator import limits
from forgeq.emulator.loop.invocation import Invocation
from forgeq.emulator.store import Store
from forgeq.kvs import ForgeKvsAPIError, ForgeKvsError, MetadataField, WhereConditions, kvs

EPOCH = limits.VIRTUAL_EPOCH


@pytest.fixture
def engine(make_app: Any, tmp_path: Path) -> Iterator[Any]:
    manifest = make_app(V2_MANIFEST, {"src/index.py": "def handler(event, context):\n    return None\n"})
    emu, _ = emulator(manifest, tmp_path / "state.db", storage_limits="none")
    yield emu
    emu.flush()
    emu.store.close()


@contextmanager
def inside(engine: Any, installation: str = "site-1") -> Iterator[Invocation]:
    """Handler context: SDK calls reach `engine` as they do from a delivered event."""
    invocation = Invocation(engine, installation, None, None, engine.clock.now())
    token = runtime.bind(invocation)
    try:
        yield invocation
    finally:
        runtime.unbind(token)


def code_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ForgeKvsAPIError) as caught:
        call()
    return caught.value.code, caught.value.status


# -- get, set, delete -------------------------------------------------------------------------------


def test_set_get_delete_round_trip_lands_in_the_state_file(engine: Any, tmp_path: Path) -> None:
    with inside(engine):
        assert kvs.get("issue-DEMO-1") is None
        kvs.set("issue-DEMO-1", {"status": "new", "n": [1, 2.5, True, None]})
        assert kvs.get("issue-DEMO-1") == {"status": "new", "n": [1, 2.5, True, None]}
        kvs.set("plain", "text")
        kvs.delete("plain")
        kvs.delete("plain")  # idempotent: a missing key deletes fine
        kvs.delete("never-there")
        assert kvs.get("plain") is None
    engine.flush()
    other = Store(tmp_path / "state.db")
    row = other.kv_get("site-1", 0, "issue-DEMO-1")
    assert row is not None and json.loads(row.value) == {"status": "new", "n": [1, 2.5, True, None]}
    assert other.kv_get("site-1", 0, "plain") is None
    other.close()


def test_installations_have_separate_stores(engine: Any) -> None:
    with inside(engine, "site-1"):
        kvs.set("k", 1)
    with inside(engine, "site-2"):
        assert kvs.get("k") is None
        kvs.set("k", 2)
    with inside(engine, "site-1"):
        assert kvs.get("k") == 1


def test_metadata_fields_created_updated_and_expire_time(engine: Any) -> None:
    with inside(engine) as invocation:
        kvs.set("k", 1, ttl={"value": 2, "unit": "HOURS"})
        created = invocation.now()
        assert kvs.get("k", metadata_fields=[]) == {"key": "k", "value": 1}
        got = kvs.get("k", {"metadataFields": [MetadataField.CREATED_AT, "UPDATED_AT", "EXPIRE_TIME"]})
    assert got["key"] == "k" and got["value"] == 1
    assert abs(got["createdAt"] - created * 1000) < 100  # epoch milliseconds
    assert got["updatedAt"] == got["createdAt"]
    assert got["expireTime"] == "2025-11-17T11:00:00.070Z"  # set at +70 ms (half an invocation and one call), for 2 hours
    engine.clock.advance_to(EPOCH + 30)
    with inside(engine):
        kvs.set("k", 2)  # no ttl: the new value does not expire
        again = kvs.get("k", metadata_fields=["CREATED_AT", "UPDATED_AT", "EXPIRE_TIME"])
    assert again["createdAt"] == got["createdAt"]
    assert again["updatedAt"] >= (EPOCH + 30) * 1000
    assert "expireTime" not in again


def test_created_at_survives_a_commit_and_resets_after_a_delete_or_an_expiry(engine: Any, tmp_path: Path) -> None:
    """A plain set reads nothing: the commit's upsert keeps the stored createdAt (Store._write_kv)."""
    fields = ["CREATED_AT", "UPDATED_AT"]
    with inside(engine):
        kvs.set("kept", 1)
        kvs.set("deleted", 1)
        kvs.set("expiring", 1, ttl=10)
        first = kvs.get("kept", metadata_fields=fields)["createdAt"]
    engine.flush()
    engine.clock.advance_to(EPOCH + 60)
    with inside(engine):
        kvs.set("kept", 2)  # committed row, live: its createdAt stays
        kvs.delete("deleted")
        kvs.set("deleted", 2)  # deleted in the same batch: a new createdAt
        kvs.set("expiring", 2)  # the stored row expired at +10 s: a new createdAt
    engine.flush()
    other = Store(tmp_path / "state.db")
    try:
        kept, deleted, expiring = (other.kv_get("site-1", 0, key) for key in ("kept", "deleted", "expiring"))
    finally:
        other.close()
    assert kept is not None and deleted is not None and expiring is not None
    assert abs(kept.created_at * 1000 - first) < 1 and kept.updated_at >= EPOCH + 60
    assert deleted.created_at == deleted.updated_at >= EPOCH + 60
    assert expiring.created_at == expiring.updated_at >= EPOCH + 60 and expiring.expire_at is None
    with inside(engine):
        assert abs(kvs.get("kept", metadata_fields=fields)["createdAt"] - first) < 1


def test_ttl_expires_on_the_emulator_clock(engine: Any) -> None:
    with inside(engine):
        kvs.set("short", "v", ttl={"value": 5, "unit": "MINUTES"})
        kvs.set("seconds", "v", ttl=90)  # forgeq's shorthand: seconds
    engine.flush()
    set_at = EPOCH + limits.INVOCATION_SECONDS / 2 + limits.STORAGE_CALL_SECONDS
    engine.clock.advance_to(set_at + 299.9)
    with inside(engine):
        assert kvs.get("short") == "v"
        assert kvs.get("seconds") is None
    engine.clock.advance_to(set_at + 300.1)
    with inside(engine):
        assert kvs.get("short") is None
        assert kvs.query().get_many().results == []


@pytest.mark.parametrize(
    "ttl",
    [
        {"value": 0, "unit": "SECONDS"},
        {"value": -1},
        {"value": 1, "unit": "WEEKS"},
        {"value": 366, "unit": "DAYS"},
        "1h",
        {"value": True},
    ],
)
def test_invalid_ttl(engine: Any, ttl: Any) -> None:
    with inside(engine):
        assert code_of(lambda: kvs.set("k", 1, ttl=ttl)) == ("INVALID_TTL", 400)


def test_ttl_of_exactly_one_year_is_allowed(engine: Any) -> None:
    with inside(engine):
        kvs.set("k", 1, ttl={"value": 365, "unit": "DAYS"})
        assert kvs.get("k") == 1


def test_key_policy_fail_if_exists(engine: Any) -> None:
    with inside(engine):
        kvs.set("lock", "a", key_policy="FAIL_IF_EXISTS")
        assert code_of(lambda: kvs.set("lock", "b", {"keyPolicy": "FAIL_IF_EXISTS"})) == ("KEY_CONFLICT", 409)
        assert kvs.get("lock") == "a"
        kvs.set("lock", "c", key_policy="OVERRIDE")
        assert kvs.get("lock") == "c"
        kvs.set("lease", 1, ttl=10, key_policy="FAIL_IF_EXISTS")
    engine.clock.advance_to(EPOCH + 20)
    with inside(engine):
        kvs.set("lease", 2, key_policy="FAIL_IF_EXISTS")  # an expired key does not exist
        assert kvs.get("lease") == 2


def test_return_value_previous_and_latest(engine: Any) -> None:
    with inside(engine):
        assert kvs.set("k", 1, key_policy="OVERRIDE", return_value="PREVIOUS") is None
        assert kvs.set("k", 2, {"keyPolicy": "OVERRIDE", "returnValue": "PREVIOUS"}) == {
            "key": "k",
            "value": 1,
        }
        latest = kvs.set(
            "k", 3, key_policy="OVERRIDE", return_value="LATEST", return_metadata_fields=["UPDATED_AT"]
        )
        assert latest["value"] == 3 and "updatedAt" in latest
        assert kvs.set("k", 4) is None
        for options in (
            {"returnValue": "PREVIOUS"},
            {"keyPolicy": "FAIL_IF_EXISTS", "returnValue": "LATEST"},
        ):
            assert code_of(lambda options=options: kvs.set("k", 5, options)) == (
                "INVALID_KEY_POLICY_RETURN_VALUE_COMBINATION",
                400,
            )
        assert code_of(lambda: kvs.set("k", 5, key_policy="SOMETIMES")) == ("INVALID_KEY_POLICY", 400)
        assert kvs.get("k") == 4


def test_secrets_are_kept_apart_and_never_queried(engine: Any) -> None:
    with inside(engine):
        kvs.set_secret("token", "s3cret")
        kvs.set("token", "plain")
        kvs.setSecret("other-secret", {"a": 1})
        assert kvs.getSecret("token") == "s3cret"
        assert kvs.get("token") == "plain"
        assert [r["key"] for r in kvs.query().limit(100).get_many().results] == ["token"]
        kvs.delete_secret("token")
        assert kvs.get_secret("token") is None
        assert kvs.get("token") == "plain"


def test_async_handlers_await_every_call(engine: Any) -> None:
    async def handler() -> Any:
        await kvs.set("a", 1)
        page = await kvs.query().where("key", WhereConditions.begins_with("a")).get_many()
        return await kvs.get("a"), page.results

    with inside(engine):
        assert asyncio.run(handler()) == (1, [{"key": "a", "value": 1}])


def test_errors_look_like_forge_kvs_errors(engine: Any) -> None:
    with inside(engine), pytest.raises(ForgeKvsAPIError) as caught:
        kvs.set("bad/key", 1)
    error = caught.value
    assert isinstance(error, ForgeKvsError)
    assert error.code == "INVALID_KEY" and error.status == 400
    assert error.responseDetails["status"] == 400 and error.responseDetails["httpPath"] == "/api/v1/set"


# -- validation: every code, at and around each boundary ---------------------------------------------


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("", "KEY_TOO_SHORT"),
        ("k" * 501, "KEY_TOO_LONG"),
        ("a/b", "INVALID_KEY"),
        ("   ", "INVALID_KEY"),
        ("\t\n", "INVALID_KEY"),
        ("caf\u00e9", "INVALID_KEY"),
        ("emoji-\U0001f600", "INVALID_KEY"),
        (42, "INVALID_KEY"),
        (None, "INVALID_KEY"),
    ],
)
def test_invalid_keys(engine: Any, key: Any, expected: str) -> None:
    with inside(engine):
        assert code_of(lambda: kvs.set(key, 1)) == (expected, 400)
        assert code_of(lambda: kvs.get(key)) == (expected, 400)
        assert code_of(lambda: kvs.delete(key)) == (expected, 400)


@pytest.mark.parametrize(
    "key", ["k", "k" * 500, "k" * 499, "a-b#c:d.e_f g", " leading space", "tab\tinside", "0"]
)
def test_valid_keys(engine: Any, key: str) -> None:
    with inside(engine):
        kvs.set(key, 1)
        assert kvs.get(key) == 1


def test_value_size_at_and_over_240_kib(engine: Any) -> None:
    at_limit = "x" * (240 * 1024 - 2)  # plus two quotes: exactly 245760 bytes of JSON
    with inside(engine):
        kvs.set("big", at_limit)
        assert kvs.get("big") == at_limit
        assert code_of(lambda: kvs.set("big", at_limit + "x")) == ("MAX_SIZE", 413)
        multibyte = "\u00e9" * (120 * 1024)  # 2 bytes each in UTF-8: 245762 bytes with quotes
        assert code_of(lambda: kvs.set("big", multibyte)) == ("MAX_SIZE", 413)


def test_object_depth_at_and_over_the_limit(engine: Any) -> None:
    with inside(engine):
        kvs.set("deep", nested(32))
        assert kvs.get("deep") == nested(32)
        assert code_of(lambda: kvs.set("deep", nested(33))) == ("MAX_DEPTH", 400)
        assert code_of(lambda: kvs.set("deep", nested(5000))) == ("MAX_DEPTH", 400)


@pytest.mark.parametrize("value", [None, float("nan"), float("inf"), {1, 2}, b"bytes", object()])
def test_values_that_are_not_json(engine: Any, value: Any) -> None:
    with inside(engine):
        assert code_of(lambda: kvs.set("k", value)) == ("INVALID_VALUE", 400)
        assert kvs.get("k") is None


def test_invalid_metadata_field(engine: Any) -> None:
    with inside(engine):
        kvs.set("k", 1)
        assert code_of(lambda: kvs.get("k", metadata_fields=["OWNER"])) == ("INVALID_METADATA_FIELD", 400)


# -- query -------------------------------------------------------------------------------------------


def all_keys(prefix: str, limit: int) -> tuple[list[str], int]:
    keys: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = kvs.query().where("key", WhereConditions.beginsWith(prefix)).limit(limit)
        if cursor is not None:
            query = query.cursor(cursor)
        page = query.getMany()
        pages += 1
        keys.extend(result["key"] for result in page["results"])
        cursor = page.next_cursor
        if cursor is None:
            return keys, pages
        assert len(page.results) == limit  # only the last page is short


def test_paging_returns_each_key_once_in_lexicographic_order(engine: Any) -> None:
    expected = sorted(f"issue-{n}" for n in range(350))  # issue-1, issue-10, issue-100, ... (binary order)
    with inside(engine):
        for key in reversed(expected):
            kvs.set(key, {"k": key})
        kvs.set("other-1", 1)
        kvs.set("issuer", 1)
        kvs.set_secret("issue-secret", "never listed")
        keys, pages = all_keys("issue-", 7)
    assert keys == expected
    assert pages == 50  # 350 / 7, the last page full: its nextCursor is absent
    with inside(engine):
        keys, pages = all_keys("issue-", 100)
    assert keys == expected and pages == 4


def test_paging_while_keys_change_still_gives_each_key_once(engine: Any) -> None:
    with inside(engine):
        for n in range(200):
            kvs.set(f"job-{n:03d}", n)
        seen: list[str] = []
        page = kvs.query().where("key", WhereConditions.begins_with("job-")).limit(30).get_many()
        while True:
            seen.extend(r["key"] for r in page.results)
            kvs.set(f"job-{len(seen):03d}-late", 1)  # after the cursor: listed later
            kvs.delete("job-000")  # before the cursor: nothing changes
            if page.next_cursor is None:
                break
            page = (
                kvs.query()
                .where("key", WhereConditions.begins_with("job-"))
                .limit(30)
                .cursor(page.next_cursor)
                .get_many()
            )
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert {f"job-{n:03d}" for n in range(200)} <= set(seen)


def test_query_defaults_limit_and_get_one(engine: Any) -> None:
    with inside(engine):
        for n in range(15):
            kvs.set(f"k{n:02d}", n, ttl=3600 if n == 0 else None)
        page = kvs.query().get_many()
        assert len(page.results) == 10 and page.nextCursor is not None
        assert page.results[0]["expireTime"].endswith("Z") and "expireTime" not in page.results[1]
        assert kvs.query().where("key", WhereConditions.begins_with("k1")).getOne() == {
            "key": "k10",
            "value": 10,
        }
        assert kvs.query().where("key", WhereConditions.begins_with("nothing")).get_one() is None
        assert len(kvs.query().limit(100).get_many().results) == 15
        with_meta = kvs.query(metadata_fields=["CREATED_AT"]).limit(1).get_many().results[0]
        assert set(with_meta) == {"key", "value", "expireTime", "createdAt"}
        # where() replaces the earlier condition, as the SDK's builder does
        query = (
            kvs.query()
            .where("key", WhereConditions.begins_with("zzz"))
            .where("key", WhereConditions.begins_with("k0"))
        )
        assert len(query.limit(20).get_many().results) == 10


def test_query_sees_writes_of_the_same_invocation(engine: Any) -> None:
    with inside(engine):
        kvs.set("fresh", 1)
        assert kvs.query().get_many().results == [{"key": "fresh", "value": 1}]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (101, "LIST_QUERY_LIMIT_EXCEEDED"),
        (1000, "LIST_QUERY_LIMIT_EXCEEDED"),
        (0, "INVALID_QUERY_LIMIT"),
        (-1, "INVALID_QUERY_LIMIT"),
        (2.5, "INVALID_QUERY_LIMIT"),
    ],
)
def test_query_limit_out_of_range(engine: Any, limit: Any, expected: str) -> None:
    with inside(engine):
        assert code_of(lambda: kvs.query().limit(limit).get_many()) == (expected, 400)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ([{"property": "key", "condition": "BEGINS_WITH", "values": ["a"]}] * 2, "QUERY_WHERE_INVALID"),
        ([{"property": "value", "condition": "BEGINS_WITH", "values": ["a"]}], "QUERY_WHERE_FIELD_INVALID"),
        ([{"property": "key", "condition": "EQUAL_TO", "values": ["a"]}], "INVALID_FILTER_CONDITION"),
        ([{"property": "key", "condition": "BEGINS_WITH", "values": []}], "INVALID_FILTER_VALUES"),
        ([{"property": "key", "condition": "BEGINS_WITH", "values": ["a", "b"]}], "INVALID_FILTER_VALUES"),
        ([{"property": "key", "condition": "BEGINS_WITH", "values": [None]}], "INVALID_FILTER_VALUES"),
    ],
)
def test_query_where_codes(engine: Any, where: Any, expected: str) -> None:
    with inside(engine) as invocation:
        assert code_of(lambda: invocation.storage.query(where)) == (expected, 400)


def test_query_where_through_the_builder(engine: Any) -> None:
    with inside(engine):
        code = code_of(lambda: kvs.query().where("value", WhereConditions.begins_with("a")).get_many())
        assert code == ("QUERY_WHERE_FIELD_INVALID", 400)
        # JavaScript's `{property, ...condition}`: a string spreads its characters; the platform refuses it.
        assert code_of(lambda: kvs.query().where("key", "a").get_many()) == ("INVALID_FILTER_CONDITION", 400)


def test_invalid_cursor(engine: Any) -> None:
    with inside(engine):
        assert code_of(lambda: kvs.query().cursor("not-a-cursor").get_many()) == ("INVALID_CURSOR", 400)
        assert code_of(lambda: kvs.query().cursor("fq1.!!!").get_many()) == ("INVALID_CURSOR", 400)


# -- batches -------------------------------------------------------------------------------------------


def test_batch_set_get_delete_with_per_item_results(engine: Any) -> None:
    with inside(engine):
        result = kvs.batch_set(
            [{"key": f"b{n:02d}", "value": n} for n in range(23)]
            + [{"key": "bad/key", "value": 1}, {"key": "too-big", "value": "x" * 250_000}]
        )
        assert [item["key"] for item in result.successful_keys] == [f"b{n:02d}" for n in range(23)]
        assert [(f["key"], f["error"]["code"]) for f in result.failedKeys] == [
            ("bad/key", "INVALID_KEY"),
            ("too-big", "MAX_SIZE"),
        ]
        got = kvs.batchGet(
            [{"key": "b00"}, {"key": "b01", "options": {"metadataFields": ["CREATED_AT"]}}, "missing"]
        )
        assert got.successful_keys[0] == {"key": "b00", "value": 0}
        assert got.successful_keys[1]["value"] == 1 and "createdAt" in got.successful_keys[1]
        assert got.failed_keys == [
            {"key": "missing", "error": {"code": "KEY_NOT_FOUND", "message": "The key does not exist."}}
        ]
        deleted = kvs.batch_delete([{"key": "b00"}, "never-there", {"key": ""}])
        assert [item["key"] for item in deleted["successfulKeys"]] == ["b00", "never-there"]
        assert deleted["failedKeys"][0]["error"]["code"] == "KEY_TOO_SHORT"
        assert kvs.get("b00") is None and kvs.get("b22") == 22
        kvs.batch_set([{"key": "ttl", "value": 1, "options": {"ttl": {"value": 1, "unit": "SECONDS"}}}])
        assert kvs.get("ttl", metadata_fields=["EXPIRE_TIME"])["expireTime"].endswith("Z")
        refused = kvs.batch_set([{"key": "p", "value": 1, "options": {"keyPolicy": "FAIL_IF_EXISTS"}}])
        assert refused.failed_keys[0]["error"]["code"] == "INVALID_SET_OPTIONS"


@pytest.mark.parametrize(
    "items",
    [
        [],
        [{"key": f"k{n}", "value": n} for n in range(26)],
        [{"key": "same", "value": 1}, {"key": "same", "value": 2}],
        "k",
        [3],
    ],
)
def test_whole_batch_refused(engine: Any, items: Any) -> None:
    with inside(engine):
        assert code_of(lambda: kvs.batch_set(items)) == ("INVALID_BATCH_REQUEST", 400)
        assert kvs.query().get_many().results == []


def test_batch_of_exactly_25(engine: Any) -> None:
    with inside(engine):
        assert len(kvs.batch_set([{"key": f"k{n}", "value": n} for n in range(25)]).successful_keys) == 25
        assert len(kvs.batch_get([f"k{n}" for n in range(25)]).successful_keys) == 25
        assert code_of(lambda: kvs.batch_get([f"k{n}" for n in range(26)])) == ("INVALID_BATCH_REQUEST", 400)
        assert len(kvs.batch_delete([f"k{n}" for n in range(25)]).successful_keys) == 25


def test_an_entity_the_manifest_does_not_declare_fails_as_forge_fails_it(engine: Any) -> None:
    with inside(engine):
        assert code_of(lambda: kvs.entity("employee").get("k")) == ("INVALID_ENTITY_TYPE", 400)
        result = kvs.batch_set([{"key": "k", "value": {"a": 1}, "entityName": "employee"}])
        assert result.failed_keys[0]["error"]["code"] == "INVALID_ENTITY_TYPE"
        assert result.failed_keys[0]["entityName"] == "employee"


def test_the_workers_get_answers_the_stored_text_as_the_parsed_value_would_be_written(engine: Any) -> None:
    """platform/api.py answers a JavaScript kvs.get with the stored text itself: the same body as
    writing the parsed value again, whatever the value (a lone surrogate, escaped, included); a
    missing or bad key answers as before."""
    from forgeq.emulator.app.replies import respond
    from forgeq.jsontext import parse

    values = [{"issueKey": "DEMO-1", "labels": []}, "text", 0.5, 10**21, [1, None, True], {"é": "ünï"}, "lone \ud800 half", None, {"n": -0.0}]
    with inside(engine) as invocation:
        for number, value in enumerate(values):
            if value is not None:
                kvs.set(f"k{number}", value)
        engine.flush()
        for number, value in enumerate(values):
            key = f"k{number}"
            got = invocation.platform_request({"target": {"type": "kvs"}, "path": "/api/v1/get", "method": "POST", "body": json.dumps({"key": key})})
            if value is None:
                assert got["status"] == 404 and json.loads(got["body"])["code"] == "KEY_NOT_FOUND"
                continue
            stored = engine.store.kv_get("site-1", 0, key).value
            assert got == respond(200, {"key": key, "value": parse(stored)}), value
        bad = invocation.platform_request({"target": {"type": "kvs"}, "path": "/api/v1/get", "method": "POST", "body": json.dumps({"key": ""})})
        refused = code_of(lambda: kvs.get(""))
    assert (bad["status"], json.loads(bad["body"])["code"]) == (refused[1], refused[0])  # what the Python SDK's get is refused with
