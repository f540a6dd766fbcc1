"""KVS transactions (`kvs.transact()`) as @forge/kvs sends them: all or nothing, Forge's limits,
conditions on entity items, one write against the quota, and counters that stay exact under
duplicate deliveries and injected 429s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import emulator
from test_entities import ENTITY_MANIFEST, HANDLER
from test_kvs_api import inside

from forgeq.kvs import Filter, FilterConditions, ForgeKvsAPIError, ForgeKvsError, kvs
from forgeq.testing import ForgeApp

records = kvs.entity("import-record")


@pytest.fixture
def make_engine(make_app: Any, tmp_path: Path) -> Iterator[Any]:
    made: list[Any] = []

    def make(storage_limits: str = "none") -> Any:
        emu, _ = emulator(make_app(ENTITY_MANIFEST, HANDLER, name=f"app{len(made)}"), tmp_path / f"s{len(made)}.db", storage_limits=storage_limits)
        emu.start()
        made.append(emu)
        return emu

    yield make
    for emu in made:
        emu.flush()
        emu.store.close()


def failure(call: Any) -> ForgeKvsAPIError:
    with pytest.raises(ForgeKvsAPIError) as caught:
        call()
    return caught.value


def status_is(status: str) -> dict[str, Any]:
    return {"entityName": "import-record", "conditions": Filter().and_("status", FilterConditions.equal_to(status))}


def test_every_operation_lands_together_in_one_commit(make_engine: Any) -> None:
    engine = make_engine()
    with inside(engine):
        kvs.set("tmp", "x")
        records.set("old", {"status": "done"})
        (
            kvs.transact()
            .set("counter", 1, None, {"ttl": {"value": 1, "unit": "HOURS"}})
            .set("rec-1", {"status": "new", "attempts": 0}, {"entityName": "import-record"})
            .delete("tmp")
            .delete("old", entity_name="import-record", conditions=Filter().and_("status", FilterConditions.equal_to("done")))
            .execute()
        )
        assert kvs.get("counter") == 1 and kvs.get("tmp") is None
        assert records.get("rec-1") == {"status": "new", "attempts": 0} and records.get("old") is None
        assert "expireTime" in kvs.get("counter", metadata_fields=["EXPIRE_TIME"])
    engine.flush()
    conn = sqlite3.connect(engine.store.path)
    assert conn.execute("SELECT key FROM kvs").fetchall() == [("counter",)]
    assert conn.execute("SELECT key FROM entities").fetchall() == [("rec-1",)]
    conn.close()


def test_a_failed_condition_writes_nothing(make_engine: Any) -> None:
    engine = make_engine()
    with inside(engine) as invocation:
        records.set("rec-1", {"status": "new"})
        error = failure(
            lambda: kvs.transact().set("counter", 5).set("rec-1", {"status": "done"}, status_is("new"))
            .check("rec-2", status_is("new")).execute()
        )  # fmt: skip
        assert (error.code, error.status) == ("CONDITIONAL_CHECK_FAILED", 409)
        assert "check of key 'rec-2' in entity 'import-record'" in error.message and "does not exist" in error.message
        assert error.response_details["httpPath"] == "/api/v1/transaction"
        assert kvs.get("counter") is None and records.get("rec-1") == {"status": "new"}
        error = failure(lambda: kvs.transact().set("counter", 5).delete("rec-1", status_is("done")).execute())
        assert error.code == "CONDITIONAL_CHECK_FAILED" and 'by {"status":"new"}' in error.message
        kvs.transact().set("counter", 5).check("rec-1", status_is("new")).execute()
        assert kvs.get("counter") == 5
    assert invocation.storage_calls == 7  # a set, three transactions (refused ones are requests too), three gets


def test_not_exists_creates_an_item_once(make_engine: Any) -> None:
    engine = make_engine()
    absent = {"entityName": "import-record", "conditions": Filter().and_("status", FilterConditions.not_exists())}
    with inside(engine):
        kvs.transact().set("rec-1", {"status": "new"}, absent).execute()
        assert failure(lambda: kvs.transact().set("rec-1", {"status": "again"}, absent).execute()).code == "CONDITIONAL_CHECK_FAILED"
        assert records.get("rec-1") == {"status": "new"}


def test_forges_limits_and_request_errors(make_engine: Any) -> None:
    engine = make_engine()
    bad = [
        (lambda: kvs.transact().execute(), "INVALID_TRANSACTION_REQUEST", "no operations"),
        (lambda: _many(26), "INVALID_TRANSACTION_REQUEST", "a maximum of 25"),
        (lambda: kvs.transact().set("a", 1).delete("a").execute(), "INVALID_TRANSACTION_REQUEST", "only be used once"),
        (lambda: kvs.transact().set("r", {}, {"entityName": "import-record"}).check("r", status_is("x")).execute(),
         "INVALID_TRANSACTION_REQUEST", "only be used once"),  # fmt: skip
        (lambda: kvs.transact().delete("a", conditions=Filter().and_("status", FilterConditions.exists())).execute(),
         "INVALID_TRANSACTION_REQUEST", "custom entity items only"),  # fmt: skip
        (lambda: kvs.transact().check("a", {"conditions": {"and": [{"property": "status", "condition": "EXISTS", "values": [True]}]}}).execute(),
         "INVALID_TRANSACTION_REQUEST", "needs an entityName"),  # fmt: skip
        (lambda: kvs.transact().check("a", {"entityName": "import-record"}).execute(), "INVALID_TRANSACTION_REQUEST", "needs conditions"),
        (lambda: kvs.transact().set("a", 1, None, {"keyPolicy": "FAIL_IF_EXISTS"}).execute(), "INVALID_SET_OPTIONS", "only a ttl"),
        (lambda: kvs.transact().set("ok", 1).set("bad key!", 1).execute(), "INVALID_KEY", "set[1]: The key"),
        (lambda: kvs.transact().set("r", {"attempts": "x"}, {"entityName": "import-record"}).execute(), "INVALID_ENTITY_VALUE", "set[0]"),
        (lambda: kvs.transact().set("r", {}, {"entityName": "nowhere"}).execute(), "INVALID_ENTITY_TYPE", "not declared"),
        (lambda: kvs.transact().set("r", {}, {"entityName": "import-record", "conditions": {"and": []}}).execute(),
         "EMPTY_FILTER_OPERATOR", "cannot be empty"),  # fmt: skip
    ]
    with inside(engine) as invocation:
        for call, code, words in bad:
            error = failure(call)
            assert (error.code, words in error.message) == (code, True), (code, error.message)
        big = "x" * (200 * 1024)
        error = failure(lambda: _many(21, big))
        assert (error.code, error.status) == ("MAX_SIZE", 413)
        kvs.transact().set("a", 1).set("a", {"owner": "me"}, {"entityName": "lock"}).execute()  # a plain key and an item: two keys
        _many(25)
        pending = kvs.transact().set("r", {}, {"entityName": "import-record", "conditions": Filter()})  # refused at execute(), as the package does
        with pytest.raises(ForgeKvsError, match="Builder must have at least one condition set"):
            pending.execute()
    assert invocation.storage_calls == 2  # only the two valid transactions reached the quota
    assert kvs is not None


def _many(count: int, value: Any = 1) -> None:
    builder = kvs.transact()
    for n in range(count):
        builder.set(f"k{n}", value)
    builder.execute()


def test_a_plain_key_check_holds_the_transaction_to_its_value_beyond_forge(make_engine: Any) -> None:
    """The issue's own line: `.check("lock", {"value": owner})` on a plain key, a Python-only extension."""
    engine = make_engine()
    with inside(engine):
        kvs.set("lock", "importer")
        kvs.set("tmp", 1)
        kvs.transact().set("counter", 1).check("lock", {"value": "importer"}).delete("tmp").execute()
        assert (kvs.get("counter"), kvs.get("tmp")) == (1, None)
        error = failure(lambda: kvs.transact().set("counter", 2).check("lock", {"value": "someone"}).execute())
        assert (error.code, error.status) == ("CONDITIONAL_CHECK_FAILED", 409)
        assert error.message == (
            "The transaction was cancelled: the check of key 'lock' in the key-value store expects \"someone\", "
            'but it holds "importer"; nothing was written.'
        )
        assert kvs.get("counter") == 1
        # {"value": None}: the key must not exist (a free lock); a stored value is never null
        kvs.transact().set("free-lock", "me").check("nobody", {"value": None}).execute()
        assert "expects no value, but it holds" in failure(lambda: kvs.transact().check("lock", {"value": None}).execute()).message
        assert "the key does not exist" in failure(lambda: kvs.transact().check("gone", {"value": 1}).execute()).message
        # equal as JSON values: keys in any order, 3.0 is 3 (JSON.stringify), true is not 1
        kvs.set("config", {"a": 1, "b": True, "c": [1, {"d": None}]})
        kvs.transact().set("x", 1).check("config", {"value": {"c": [1.0, {"d": None}], "b": True, "a": 1}}).execute()
        assert failure(lambda: kvs.transact().check("config", {"value": {"a": 1, "b": 1, "c": [1, {"d": None}]}}).execute()).code == (
            "CONDITIONAL_CHECK_FAILED"
        )
        assert "only be used once" in failure(lambda: kvs.transact().set("lock", "x").check("lock", {"value": "importer"}).execute()).message
        with pytest.raises(ForgeKvsError, match=r"\{'value': \.\.\.\} \(a plain key's value\), not both"):
            kvs.transact().check("lock", {"value": "importer", "entityName": "lock"})


def test_a_transaction_is_one_write_request_charged_by_its_bytes(make_engine: Any) -> None:
    old = make_engine("2023")
    with inside(old):
        _many(25)
    old.flush()
    assert old.store.conn.execute("SELECT metric, used FROM quota_windows").fetchall() == [("writes", 1)]

    new = make_engine("2025,write_units=3")
    with inside(new):
        kvs.transact().set("a", "x" * 15_000).set("b", "y" * 5_000).execute()  # 20 KB: 2 units
        error = failure(lambda: kvs.transact().set("c", "z" * 15_000).delete("a").execute())  # 2 more: over 3
        assert (error.code, error.status) == ("TOO_MANY_REQUESTS", 429)
        assert kvs.get("a") is not None and kvs.get("c") is None
    new.flush()
    used = dict(new.store.conn.execute("SELECT metric, used FROM quota_windows").fetchall())
    assert used["write_units"] == 2 and used["requests"] >= 2


COUNTER_APP = """
app:
  id: ari:cloud:ecosystem::app/counter
  storage:
    entities:
      - name: processed
        attributes:
          event: {type: string}
      - name: counter
        attributes:
          value: {type: integer}
modules:
  consumer:
    - key: count-consumer
      queue: work
      function: count
  function:
    - key: count
      handler: index.handler
"""

COUNTER_HANDLER = '''
from forgeq.kvs import Filter, FilterConditions, ForgeKvsAPIError, kvs


def handler(event, context):
    """Count each event once: its record and the counter change together, or not at all."""
    name = event["body"]["name"]
    total = kvs.entity("counter").get("total")
    current = total["value"] if total else 0
    unchanged = (
        Filter().and_("value", FilterConditions.equal_to(current))
        if total
        else Filter().and_("value", FilterConditions.not_exists())
    )
    try:
        (
            kvs.transact()
            .set(name, {"event": name}, {"entityName": "processed",
                 "conditions": Filter().and_("event", FilterConditions.not_exists())})
            .set("total", {"value": current + 1}, {"entityName": "counter", "conditions": unchanged})
            .execute()
        )
    except ForgeKvsAPIError as error:
        if error.code != "CONDITIONAL_CHECK_FAILED":
            raise  # a 429: the platform retries the event
        if kvs.entity("processed").get(name) is None:
            raise  # the counter moved under us: try again
    return None
'''


def test_a_guarded_counter_stays_exact_under_duplicates_and_injected_429s(tmp_path: Path) -> None:
    from conftest import write_app

    manifest = write_app(tmp_path / "counter", COUNTER_APP, {"src/index.py": COUNTER_HANDLER})
    with ForgeApp(manifest, seed=7) as app:
        app.faults.duplicates(probability=0.5)
        app.faults.storage_429(0, 3600, probability=0.3)
        app.push("work", [{"body": {"name": f"e-{n}"}} for n in range(40)])
        app.run_until_idle()
        outcomes = [a.outcome for a in app.timeline()]
        assert outcomes.count("succeeded") > 40 and outcomes.count("retry") + outcomes.count("error") > 5
        assert app.kvs.entity("counter").get("total") == {"value": 40}
        assert sorted(app.kvs.entity("processed").as_dict()) == sorted(f"e-{n}" for n in range(40))


def test_a_duplicate_that_rewrites_an_entity_item_is_reported_by_the_idempotency_watch(tmp_path: Path) -> None:
    from conftest import write_app

    guard = ',\n                 "conditions": Filter().and_("event", FilterConditions.not_exists())'
    assert guard in COUNTER_HANDLER
    careless = COUNTER_HANDLER.replace(guard, "")  # the record no longer stops a second count
    manifest = write_app(tmp_path / "careless", COUNTER_APP, {"src/index.py": careless})
    with ForgeApp(manifest, seed=7) as app:
        app.push("work", {"body": {"name": "e-1"}})
        app.run_until_idle()
        duplicate = app.redeliver(1)
        assert not duplicate.idempotent
        assert [str(change) for change in duplicate.kvs_changes] == ['counter item total: {"value": 1} -> {"value": 2}']
        assert app.kvs.entity("counter").get("total") == {"value": 2}
