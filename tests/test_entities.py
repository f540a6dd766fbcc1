"""Custom entities (app.storage.entities) through forgeq.kvs as @forge/kvs serves them, on a real SQLite file.

SDK calls run inside a bound Invocation of a real Emulator, as handler code runs them. Queries are
checked against a brute-force model of Forge's semantics, and the SQL they run against the state
file's own indexes.
"""

from __future__ import annotations

import io
import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import emulator, forgeq
from test_kvs_api import code_of, inside

from forgeq import runtime
from forgeq.emulator import limits
from forgeq.emulator.app.manifest import load_manifest
from forgeq.emulator.errors import ManifestError
from forgeq.kvs import (
    Filter,
    FilterConditions,
    ForgeKvsAPIError,
    MetadataField,
    Sort,
    SortOrder,
    WhereConditions,
    kvs,
)

EPOCH = limits.VIRTUAL_EPOCH
HANDLER = {"src/index.py": "def handler(event, context):\n    return None\n"}

ENTITY_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/entities
  storage:
    entities:
      - name: import-record
        attributes:
          issueKey: {type: string}
          status: {type: string}
          attempts: {type: integer}
          score: {type: float}
          done: {type: boolean}
          tags: {type: any}
        indexes:
          - issueKey
          - name: by-status
            partition: [status]
            range: [attempts]
          - name: by-done-score
            partition: [done, status]
            range: [score]
      - name: lock
        attributes:
          owner: {type: string}
modules:
  consumer:
    - key: queue-consumer
      queue: work
      function: consumer-function
  function:
    - key: consumer-function
      handler: index.handler
"""


@pytest.fixture
def engine(make_app: Any, tmp_path: Path) -> Iterator[Any]:
    emu, _ = emulator(make_app(ENTITY_MANIFEST, HANDLER), tmp_path / "state.db", storage_limits="none")
    emu.start()
    yield emu
    emu.flush()
    emu.store.close()


records = kvs.entity("import-record")


# -- the manifest ---------------------------------------------------------------------------------------


def test_entities_are_read_from_the_manifest(engine: Any) -> None:
    entity = engine.manifest.entities["import-record"]
    assert entity.attributes["attempts"] == "integer" and entity.attributes["tags"] == "any"
    assert entity.indexes["issueKey"].partition == () and entity.indexes["issueKey"].range == "issueKey"
    assert entity.indexes["by-done-score"].partition == ("done", "status")
    assert sorted(engine.manifest.entities) == ["import-record", "lock"]


def test_every_entity_problem_is_reported_with_its_line(make_app: Any) -> None:
    manifest = """
    app:
      id: x
      storage:
        entities:
          - name: Bad_Name
            attributes:
              a: {type: string}
          - name: records
            attributes:
              thisAttributeNameIsLongerThan30: {type: string}
              _hidden: {type: string}
              n: {type: number}
              s: {type: string, size: 3}
          - name: items
            attributes:
              a: {type: string}
              b: {type: integer}
            indexes:
              - missing
              - name: by-key
                range: [a]
              - name: by-two
                range: [a, b]
              - name: by-partition
                partition: [nope]
                range: [a]
              - name: x
                range: [a]
          - name: items
            attributes:
              a: {type: string}
          - name: empty
            attributes: {}
    modules:
      function:
        - key: f
          handler: index.handler
    """
    with pytest.raises(ManifestError) as caught:
        load_manifest(make_app(manifest, HANDLER))
    found = [f"{p.line}|{p.path}|{p.message}" for p in caught.value.problems]
    text = "\n".join(found)
    assert "5|app.storage.entities[0].name|Entity name 'Bad_Name' must match" in text
    assert (
        "10|app.storage.entities[1].attributes.thisAttributeNameIsLongerThan30|Entity 'records' attribute name "
        "'thisAttributeNameIsLongerThan30' exceeds maximum allowed length of 30." in text
    )
    assert "11|app.storage.entities[1].attributes._hidden|attribute name '_hidden' must match" in text
    assert "12|app.storage.entities[1].attributes.n.type|type must be one of string, integer, float, boolean, any" in text
    assert "13|app.storage.entities[1].attributes.s.size|should NOT have additional property 'size'" in text
    assert "19|app.storage.entities[2].indexes[0]|Entity 'items' index 'missing' must refer to a valid attribute" in text
    assert "20|app.storage.entities[2].indexes[1].name|Entity 'items' cannot use reserved index name 'by-key'." in text
    assert "index 'by-two' must have exactly one range attribute, not 2" in text
    assert "Entity 'items' index partition 'nope' must refer to a valid attribute of the entity." in text
    assert "index name 'x' must be 3-50 characters" in text
    assert "Entity 'empty' must contain at least one attribute." in text


def test_limits_on_entities_attributes_and_indexes(make_app: Any) -> None:
    attributes = "\n".join(f"          a{n}: {{type: string}}" for n in range(51))
    indexes = "\n".join(f"          - a{n}" for n in range(8))
    entities = "\n".join(f"      - name: e{n % 20:02d}\n        attributes:\n          a: {{type: string}}" for n in range(21))
    manifest = (
        "app:\n  id: x\n  storage:\n    entities:\n"
        f"      - name: wide\n        attributes:\n{attributes}\n        indexes:\n{indexes}\n{entities}\n"
        "modules:\n  function:\n    - key: f\n      handler: index.handler\n"
    )
    with pytest.raises(ManifestError) as caught:
        load_manifest(make_app(manifest, HANDLER))
    messages = [p.message for p in caught.value.problems]
    assert "An app can declare at most 20 custom entities; this one declares 22." in messages
    assert "Entity name 'e00' is declared twice; entity names must be unique." in messages
    assert "Entity 'wide' contains more attributes than the allowed limit of 50." in messages
    assert "Entity 'wide' contains more indexes than the allowed limit of 7." in messages


def test_a_bad_entity_declaration_stops_run_with_exit_2_and_the_line(make_app: Any, tmp_path: Path) -> None:
    manifest = make_app(ENTITY_MANIFEST.replace("range: [attempts]", "range: [attempt]"), HANDLER, name="bad")
    done = forgeq("run", manifest, "--until-idle", "--db", tmp_path / "bad.db")
    assert done.returncode == 2
    assert "manifest.yml:17" in done.stderr and "index 'attempt' must refer to a valid attribute" in done.stderr


# -- items -------------------------------------------------------------------------------------------


def test_items_round_trip_into_their_own_table_beside_plain_keys(engine: Any, tmp_path: Path) -> None:
    with inside(engine):
        records.set("rec-1", {"issueKey": "DEMO-1", "status": "done", "attempts": 2})
        kvs.set("rec-1", "a plain key of the same name")
        assert records.get("rec-1") == {"issueKey": "DEMO-1", "status": "done", "attempts": 2}
        assert kvs.get("rec-1") == "a plain key of the same name"
        assert records.get("rec-2") is None
        records.delete("rec-2")  # idempotent, as a plain delete
        records.set("gone", {"status": "x"})
        records.delete("gone")
        assert records.get("gone") is None
    engine.flush()
    conn = sqlite3.connect(tmp_path / "state.db")
    rows = conn.execute("SELECT installation, entity, key, value FROM entities").fetchall()
    conn.close()
    assert rows == [("site-1", "import-record", "rec-1", '{"issueKey":"DEMO-1","status":"done","attempts":2}')]


def test_options_metadata_ttl_and_key_policy_work_as_for_plain_keys(engine: Any) -> None:
    with inside(engine):
        records.set("r", {"status": "new"}, ttl={"value": 1, "unit": "MINUTES"})
        got = records.get("r", metadata_fields=[MetadataField.CREATED_AT, MetadataField.EXPIRE_TIME])
        assert got["value"] == {"status": "new"} and got["expireTime"].startswith("2025-11-17T09:01:00")
        assert code_of(lambda: records.set("r", {"status": "x"}, key_policy="FAIL_IF_EXISTS")) == ("KEY_CONFLICT", 409)
        previous = records.set("r", {"status": "y"}, key_policy="OVERRIDE", return_value="PREVIOUS")
        assert previous == {"key": "r", "value": {"status": "new"}}
    engine.clock.advance_to(EPOCH + 120)
    with inside(engine):
        assert records.get("r") == {"status": "y"}  # the second set had no ttl


def test_names_keys_and_values_are_checked_with_forges_codes(engine: Any) -> None:
    with inside(engine) as invocation:
        assert code_of(lambda: kvs.entity("ab").get("k")) == ("ENTITY_TYPE_TOO_SHORT", 400)
        assert code_of(lambda: kvs.entity("x" * 61).get("k")) == ("ENTITY_TYPE_TOO_LARGE", 400)
        assert code_of(lambda: kvs.entity("Bad.Name").get("k")) == ("INVALID_ENTITY_TYPE", 400)
        assert code_of(lambda: kvs.entity("not-declared").set("k", {})) == ("INVALID_ENTITY_TYPE", 400)
        assert code_of(lambda: records.get("")) == ("EMPTY_KEY", 400)
        assert code_of(lambda: records.get("bad key!")) == ("INVALID_KEY", 400)
        assert code_of(lambda: records.get("k" * 501)) == ("KEY_TOO_LONG", 400)
        for bad in ("text", ["a"], None, 3):
            assert code_of(lambda bad=bad: records.set("k", bad)) == ("INVALID_ENTITY_VALUE", 400)
        for attribute, value in (
            ("issueKey", 7),
            ("attempts", "3"),
            ("attempts", 2.5),
            ("attempts", 2**31),
            ("attempts", True),
            ("score", "1.5"),
            ("done", 1),
        ):
            assert code_of(lambda a=attribute, v=value: records.set("k", {a: v})) == ("INVALID_ENTITY_VALUE", 400), (attribute, value)
        assert code_of(lambda: records.set("k", {"status": "s" * 1701})) == ("INVALID_ENTITY_VALUE", 400)  # partition bytes
        assert code_of(lambda: records.set("k", {"issueKey": "k" * 901})) == ("INVALID_ENTITY_VALUE", 400)  # range bytes
        records.set("ok", {"attempts": 3.0, "score": float("nan"), "done": False, "tags": {"any": ("thing",)}, "status": None})
        # As JSON.stringify sends it: 3.0 is 3, NaN is null (no value)
        assert records.get("ok") == {"attempts": 3, "score": None, "done": False, "tags": {"any": ["thing"]}, "status": None}
        records.set("extra", {"status": "new", "note": "kept"})
        records.set("extra2", {"note": "again"})
        assert records.get("extra") == {"status": "new", "note": "kept"}
    assert invocation.notes == [
        "entity 'import-record': attribute 'note' is not declared in the manifest; it is stored but no index or "
        "filter can use it (Forge's behaviour here is undocumented)"
    ]
    assert invocation.storage_calls == 3 + 2  # validation failures are answered before the quota counts them


def test_batches_reach_entity_items_with_their_entity_name(engine: Any) -> None:
    with inside(engine):
        written = kvs.batch_set(
            [
                {"key": "r1", "value": {"status": "a"}, "entityName": "import-record"},
                {"key": "r1", "value": 1},  # the same key in the plain store is another item
                {"key": "r2", "value": {"attempts": "x"}, "entityName": "import-record"},
            ]
        )
        assert written.successful_keys == [{"key": "r1", "entityName": "import-record"}, {"key": "r1"}]
        assert written.failed_keys[0]["key"] == "r2" and written.failed_keys[0]["entityName"] == "import-record"
        assert written.failed_keys[0]["error"]["code"] == "INVALID_ENTITY_VALUE"
        got = kvs.batch_get([{"key": "r1", "entityName": "import-record"}, {"key": "r1"}, {"key": "r9", "entityName": "import-record"}])
        assert got.successful_keys == [
            {"key": "r1", "value": {"status": "a"}, "entityName": "import-record"},
            {"key": "r1", "value": 1},
        ]
        assert got.failed_keys == [
            {"key": "r9", "entityName": "import-record", "error": {"code": "KEY_NOT_FOUND", "message": "The key does not exist."}}
        ]
        kvs.batch_delete([{"key": "r1", "entityName": "import-record"}])
        assert records.get("r1") is None and kvs.get("r1") == 1
        refused = kvs.batch_delete([{"key": "r2", "entityName": 7}]).failed_keys
        assert refused == [{"key": "r2", "error": {"code": "INVALID_ENTITY_TYPE", "message": "entityName must be a string, not int."}, "entityName": 7}]


# -- queries --------------------------------------------------------------------------------------------


def _seed(engine: Any, count: int, rng: random.Random) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    with inside(engine):
        for n in range(count):
            value: dict[str, Any] = {"issueKey": f"DEMO-{rng.randint(1, 60)}", "status": rng.choice(["new", "done", "failed"])}
            if rng.random() < 0.9:
                value["attempts"] = rng.randint(-3, 8)
            if rng.random() < 0.8:
                value["score"] = rng.choice([rng.randint(0, 5), round(rng.uniform(-2, 5), 2)])
            value["done"] = rng.random() < 0.5
            if rng.random() < 0.5:
                value["tags"] = rng.choice([["a", "b"], ["b"], "abc", 4])
            items[f"rec-{n:04d}"] = value
        for start in range(0, count, 25):
            chunk = list(items.items())[start : start + 25]
            kvs.batch_set([{"key": key, "value": value, "entityName": "import-record"} for key, value in chunk])
    return items


def _model(items: dict[str, dict[str, Any]], request: dict[str, Any]) -> list[str]:
    """Forge's semantics, brute force: the keys a query returns, in order, over every page."""
    index = {"by-key": ((), None), "issueKey": ((), "issueKey"), "by-status": (("status",), "attempts"),
             "by-done-score": (("done", "status"), "score")}[request["indexName"]]  # fmt: skip
    partition, ranged = index
    chosen = []
    for key, value in items.items():
        if any(value.get(a) is None or value[a] != v for a, v in zip(partition, request.get("partition", []), strict=True)):
            continue
        if any(value.get(a) is None for a in partition):
            continue
        position = key if ranged is None else value.get(ranged)
        if position is None:
            continue
        where = request.get("range")
        if where is not None and not _model_holds(where["condition"], where["values"], position):
            continue
        filters = request.get("filters")
        if filters is not None:
            operator, clauses = next(iter(filters.items()))
            tests = [_model_holds(c["condition"], c["values"], value.get(c["property"])) for c in clauses]
            if not (all(tests) if operator == "and" else any(tests)):
                continue
        chosen.append((position, key))
    chosen.sort(reverse=request.get("sort") == "DESC")
    return [key for _, key in chosen]


def _model_holds(condition: str, values: list[Any], found: Any) -> bool:
    if condition == "EXISTS":
        return found is not None
    if condition == "NOT_EXISTS":
        return found is None
    if condition.startswith("NOT_"):
        return not _model_holds(condition[4:], values, found)
    if found is None:
        return False
    if condition == "CONTAINS":
        return values[0] in found if isinstance(found, str | list) else False
    if condition == "BEGINS_WITH":
        return isinstance(found, str) and found.startswith(values[0])
    if isinstance(found, bool) != isinstance(values[0], bool) or isinstance(found, str) != isinstance(values[0], str):
        return False
    if condition == "BETWEEN":
        return bool(values[0] <= found <= values[1])
    return {
        "EQUAL_TO": found == values[0],
        "GREATER_THAN": found > values[0],
        "GREATER_THAN_EQUAL_TO": found >= values[0],
        "LESS_THAN": found < values[0],
        "LESS_THAN_EQUAL_TO": found <= values[0],
    }[condition]


def _random_query(rng: random.Random) -> dict[str, Any]:
    index = rng.choice(["by-key", "issueKey", "by-status", "by-done-score"])
    request: dict[str, Any] = {"entityName": "import-record", "indexName": index}
    if index == "by-status":
        request["partition"] = [rng.choice(["new", "done", "failed"])]
    if index == "by-done-score":
        request["partition"] = [rng.random() < 0.5, rng.choice(["new", "done", "failed"])]
    sample = {"by-key": lambda: f"rec-{rng.randint(0, 160):04d}", "issueKey": lambda: f"DEMO-{rng.randint(1, 60)}",
              "by-status": lambda: rng.randint(-3, 8), "by-done-score": lambda: rng.choice([rng.randint(0, 5), 1.5, -0.5])}[index]  # fmt: skip
    if rng.random() < 0.7:
        condition = rng.choice(["EQUAL_TO", "GREATER_THAN", "GREATER_THAN_EQUAL_TO", "LESS_THAN", "LESS_THAN_EQUAL_TO", "BETWEEN", "BEGINS_WITH"])
        if condition == "BEGINS_WITH":
            values = [rng.choice(["rec-00", "rec-01", "DEMO-1", "DEMO-5", "x"])] if index in ("by-key", "issueKey") else None
        elif condition == "BETWEEN":
            values = sorted([sample(), sample()])
        else:
            values = [sample()]
        if values is not None:
            request["range"] = {"condition": condition, "values": values}
    if rng.random() < 0.6:
        clauses = []
        for _ in range(rng.randint(1, 3)):
            clauses.append(rng.choice([
                {"property": "tags", "condition": "CONTAINS", "values": ["a"]},
                {"property": "tags", "condition": "NOT_CONTAINS", "values": ["b"]},
                {"property": "tags", "condition": "EXISTS", "values": [True]},
                {"property": "score", "condition": "NOT_EXISTS", "values": [True]},
                {"property": "attempts", "condition": "GREATER_THAN", "values": [rng.randint(-3, 8)]},
                {"property": "status", "condition": "NOT_EQUAL_TO", "values": ["done"]},
                {"property": "done", "condition": "EQUAL_TO", "values": [True]},
                {"property": "issueKey", "condition": "BEGINS_WITH", "values": ["DEMO-2"]},
                {"property": "score", "condition": "BETWEEN", "values": [0, 2.5]},
            ]))  # fmt: skip
        request["filters"] = {rng.choice(["and", "or"]): clauses}
    if rng.random() < 0.5:
        request["sort"] = rng.choice(["ASC", "DESC"])
    request["limit"] = rng.choice([1, 3, 10, 100])
    return request


def _all_pages(request: dict[str, Any]) -> list[str]:
    keys: list[str] = []
    cursor = None
    for _ in range(500):
        page = runtime.current().storage.entity_query({**request, "cursor": cursor} if cursor else request)
        assert len(page["results"]) <= request.get("limit", 10)
        keys += [item["key"] for item in page["results"]]
        cursor = page.get("nextCursor")
        if cursor is None:
            return keys
        assert page["results"], "a page with a cursor holds results"
    raise AssertionError("paging did not end")


def test_queries_return_what_the_model_says_over_every_page(engine: Any) -> None:
    rng = random.Random(18)
    items = _seed(engine, 160, rng)
    sizes = []
    with inside(engine):
        for _ in range(150):
            request = _random_query(rng)
            found = _all_pages(request)
            assert found == _model(items, request), request
            sizes.append(len(found) / request["limit"])
    assert sum(size > 1 for size in sizes) > 40 and sum(size == 0 for size in sizes) < 50  # many pages, few empty answers


def test_the_builder_sends_what_the_package_sends(engine: Any) -> None:
    with inside(engine):
        for n in range(12):
            records.set(f"r{n:02d}", {"status": "failed" if n % 2 else "new", "attempts": n, "issueKey": f"DEMO-{n}"})
        page = (
            records.query().index("by-status", partition=["failed"]).where(WhereConditions.greater_than(2))
            .sort(SortOrder.DESC).limit(3).get_many()
        )  # fmt: skip
        assert [r["key"] for r in page.results] == ["r11", "r09", "r07"] and page.next_cursor is not None
        rest = (
            records.query().index("by-status", {"partition": ["failed"]}).where(WhereConditions.greater_than(2))
            .sort(Sort.DESC).limit(3).cursor(page.next_cursor).getMany()
        )  # fmt: skip
        assert [r["key"] for r in rest.results] == ["r05", "r03"] and rest.next_cursor is None
        assert rest["nextCursor"] is None and "nextCursor" not in rest  # JSON leaves it out; JS reads undefined
        one = records.query().index("issueKey").where(WhereConditions.begins_with("DEMO-1")).getOne()
        assert one == {"key": "r01", "value": {"status": "failed", "attempts": 1, "issueKey": "DEMO-1"}}
        either = records.query().index("by-key").filters(
            Filter().or_("attempts", FilterConditions.equal_to(4)).or_("attempts", FilterConditions.less_than(1))
        ).get_many()
        assert [r["key"] for r in either.results] == ["r00", "r04"]
        shorthand = records.query().index("by-key").and_filter("status", FilterConditions.equal_to("new")).andFilter(
            "attempts", FilterConditions.greater_than_equal_to(8)
        ).get_many()
        assert [r["key"] for r in shorthand.results] == ["r08", "r10"]
        assert len(records.query().index("by-key").get_many().results) == 10  # the default page
        assert getattr(Filter(), "and")("status", FilterConditions.exists()).filters() == [
            {"property": "status", "condition": "EXISTS", "values": [True]}
        ]


def test_queries_see_this_attempts_writes_and_skip_expired_and_sparse_items(engine: Any) -> None:
    with inside(engine):
        records.set("live", {"status": "new", "attempts": 1})
        records.set("short", {"status": "new", "attempts": 2}, ttl=30)
        records.set("no-range", {"status": "new"})
        keys = [r["key"] for r in records.query().index("by-status", partition=["new"]).get_many().results]
        assert keys == ["live", "short"]
        with_meta = kvs.entity("import-record").query(metadata_fields=["CREATED_AT"]).index("by-status", partition=["new"]).get_many()
        assert "createdAt" in with_meta.results[0] and "expireTime" in with_meta.results[1]
    engine.clock.advance_to(EPOCH + 60)
    with inside(engine):
        assert [r["key"] for r in records.query().index("by-status", partition=["new"]).get_many().results] == ["live"]


def test_query_errors_carry_forges_codes(engine: Any) -> None:
    base = {"entityName": "import-record", "indexName": "by-status", "partition": ["new"]}
    cases = [
        ({**base, "indexName": "by-nothing"}, "INVALID_ENTITY_INDEX"),
        ({**base, "partition": None}, "INVALID_ENTITY_INDEX"),
        ({**base, "partition": ["new", "extra"]}, "INVALID_ENTITY_INDEX"),
        ({**base, "partition": [3]}, "INVALID_FILTER_VALUES"),
        ({"entityName": "import-record", "indexName": "by-key", "partition": ["x"]}, "INVALID_ENTITY_INDEX"),
        ({**base, "limit": 0}, "COMPLEX_QUERY_PAGE_LIMIT_NOT_IN_RANGE"),
        ({**base, "limit": 101}, "COMPLEX_QUERY_PAGE_LIMIT_NOT_IN_RANGE"),
        ({**base, "range": {"condition": "BETWEEN", "values": [1]}}, "INSUFFICIENT_FILTER_VALUES"),
        ({**base, "range": {"condition": "CONTAINS", "values": [1]}}, "INVALID_FILTER_CONDITION"),
        ({**base, "range": {"condition": "GREATER_THAN", "values": ["3"]}}, "INVALID_FILTER_VALUES"),
        ({**base, "range": {"condition": "BEGINS_WITH", "values": ["3"]}}, "INVALID_FILTER_VALUES"),
        ({**base, "filters": {"and": []}}, "EMPTY_FILTER_OPERATOR"),
        ({**base, "filters": {"and": [{"property": "status", "condition": "EXISTS", "values": [True]}],
                              "or": [{"property": "status", "condition": "EXISTS", "values": [True]}]}},
         "INVALID_FILTER_OPERATORS_COMBINATION"),  # fmt: skip
        ({**base, "filters": {"and": [{"property": "nope", "condition": "EXISTS", "values": [True]}]}}, "INVALID_ENTITY_ATTRIBUTE"),
        ({**base, "filters": {"and": [{"property": "status", "condition": "LIKE", "values": ["x"]}]}}, "INVALID_FILTER_CONDITION"),
        ({**base, "filters": {"and": [{"property": "status", "condition": "EQUAL_TO", "values": ["x"]}] * 101}}, "INVALID_FILTER_CONDITION"),
        ({**base, "sort": "UP"}, "INVALID_SORT_ORDER"),
        ({**base, "cursor": "not-a-cursor"}, "INVALID_CURSOR"),
    ]
    with inside(engine) as invocation:
        for request, code in cases:
            assert code_of(lambda r=request: runtime.current().storage.entity_query(r)) == (code, 400), request
        for n in range(3):
            records.set(f"r{n}", {"status": "new", "attempts": n})
        cursor = records.query().index("by-status", partition=["new"]).limit(1).get_many().next_cursor
        elsewhere = records.query().index("by-status", partition=["done"]).limit(1).cursor(cursor)
        assert code_of(elsewhere.get_many) == ("INVALID_CURSOR", 400)
    with pytest.raises(ForgeKvsAPIError) as caught, inside(engine):
        records.query().index("by-status", partition=["new"]).limit(500).get_many()
    assert caught.value.response_details["httpPath"] == "/api/v1/entity/query"
    assert invocation.storage_calls == 3 + 1  # the sets and the one query answered


def test_an_indexed_query_reads_the_state_files_index_not_the_table(engine: Any) -> None:
    with inside(engine):
        for n in range(50):
            records.set(f"r{n:02d}", {"status": ["new", "done"][n % 2], "attempts": n % 7, "issueKey": f"DEMO-{n}", "score": n / 4, "done": True})
    engine.flush()
    statements: list[str] = []
    engine.store.conn.set_trace_callback(statements.append)
    with inside(engine):
        cursor = records.query().index("by-status", partition=["done"]).where(WhereConditions.between(2, 5)).limit(2).get_many().next_cursor
        records.query().index("by-status", partition=["done"]).where(WhereConditions.between(2, 5)).limit(2).cursor(cursor).get_many()
        records.query().index("issueKey").where(WhereConditions.begins_with("DEMO-1")).sort(Sort.DESC).get_many()
        records.query().index("by-done-score", partition=[True, "new"]).where(WhereConditions.less_than(3)).get_many()
    engine.store.conn.set_trace_callback(None)
    scans = [s for s in statements if s.startswith("SELECT") and "FROM entities" in s]
    assert len(scans) >= 5
    for statement in scans:
        plan = " ".join(row[3] for row in engine.store.conn.execute(f"EXPLAIN QUERY PLAN {statement}"))
        assert "USING INDEX ces:import-record:" in plan and "TEMP B-TREE" not in plan, (statement, plan)


def test_a_changed_index_is_rebuilt_from_the_items_and_a_removed_one_dropped(make_app: Any, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    first, _ = emulator(make_app(ENTITY_MANIFEST, HANDLER, name="one"), db, storage_limits="none")
    first.start()
    with inside(first):
        for n in range(6):
            records.set(f"r{n}", {"status": "new", "attempts": n, "score": 6 - n})
    first.flush()
    before = first.store.entity_indexes()
    first.store.close()
    changed = ENTITY_MANIFEST.replace("range: [attempts]", "range: [score]").replace("          - issueKey\n", "")
    second, recorder = emulator(make_app(changed, HANDLER, name="two"), db, storage_limits="none")
    second.start()
    after = second.store.entity_indexes()
    assert len(before) == 3 and len(after) == 2 and len(after - before) == 1
    assert any("built custom entity index import-record.by-status" in n.text for n in recorder.notices)
    with inside(second):
        keys = [r["key"] for r in records.query().index("by-status", partition=["new"]).get_many().results]
        assert keys == ["r5", "r4", "r3", "r2", "r1", "r0"]  # ordered by score now
        assert code_of(lambda: records.query().index("issueKey").get_many()) == ("INVALID_ENTITY_INDEX", 400)
    second.store.close()


def test_async_handlers_await_entity_calls(engine: Any) -> None:
    async def work() -> Any:
        await records.set("a", {"status": "new", "attempts": 1})
        page = await records.query().index("by-status", partition=["new"]).get_many()
        return await records.get("a"), [r["key"] for r in page.results]

    with inside(engine):
        coroutine = work()
        try:
            coroutine.send(None)
        except StopIteration as done:
            assert done.value == ({"status": "new", "attempts": 1}, ["a"])
        else:
            raise AssertionError("the coroutine should finish at once")
        assert json.dumps(records.get("a"))


# -- the CLI: inspect, export and import ----------------------------------------------------------------

WRITER = {
    "src/index.py": """
import random

from forgeq.kvs import kvs


def handler(event, context):
    attempts = random.randint(0, 5)
    kvs.entity("import-record").set(
        f"rec-{event['eventId']}",
        {"issueKey": event["eventId"], "status": "failed" if attempts % 2 else "done", "attempts": attempts},
    )
"""
}


def test_inspect_export_and_import_carry_entities(make_app: Any) -> None:
    manifest = make_app(ENTITY_MANIFEST, WRITER, name="cli")
    app = manifest.parent
    assert forgeq("push", "--queue", "work", "--count", "12", cwd=app).returncode == 0
    run = forgeq("run", "manifest.yml", "--until-idle", "--seed", "4", cwd=app)
    assert run.returncode == 0 and "built custom entity indexes import-record.issueKey, import-record.by-status, import-record.by-done-score" in run.stdout

    def listing(*args: str) -> dict[str, Any]:
        done = forgeq("inspect", "kvs", *args, "--json", cwd=app)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    everything = listing("--entity", "import-record")["items"]
    failed = listing("--entity", "import-record", "--index", "by-status", "--partition", "failed")
    assert failed["range"] == "attempts" and len(everything) == 12
    expected = sorted(
        (item["value"]["attempts"], item["key"]) for item in everything if item["value"]["status"] == "failed"
    )
    assert [(item["value"]["attempts"], item["key"]) for item in failed["items"]] == expected and expected
    text = forgeq("inspect", "kvs", "--entity", "import-record", "--index", "by-status", "--partition", "failed", cwd=app)
    assert f"in index by-status partition [\"failed\"]: {len(expected)} item{'s' if len(expected) != 1 else ''}" in text.stdout
    assert "custom entities: import-record (12 items)" in forgeq("inspect", "kvs", cwd=app).stdout
    refused = forgeq("inspect", "kvs", "--entity", "nope", cwd=app)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "--entity nope: The entity 'nope' is not declared" in refused.stderr

    from forgeq.emulator.store import Store
    from forgeq.emulator.tools.transfer import export_state, import_state

    store = Store(app / ".forgeq" / "state.db")
    try:
        out = io.StringIO()
        assert export_state(store, out)["items"] == 12
        document = json.loads(out.getvalue())
        assert len(document["entities"]["site-1"]["import-record"]) == 12 and "entities" not in document["tables"]
        before = store.kv_scan("site-1", "import-record", "", None, 100)
        store.wipe()
        assert store.entity_counts("site-1") == {}
        assert import_state(store, document, "state.json")["entities"] == 12
        assert store.kv_scan("site-1", "import-record", "", None, 100) == before
    finally:
        store.close()


def test_inspect_refuses_a_listing_that_does_not_fit_the_entity(engine: Any) -> None:
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.tools.entity_listing import list_items

    def refusal(**options: Any) -> str:
        arguments: dict[str, Any] = {"index": None, "partition": [], "prefix": "", "limit": 10, "now": EPOCH, **options}
        with pytest.raises(InputError) as caught:
            list_items(engine.store, engine.manifest, "site-1", arguments.pop("entity", "import-record"), **arguments)
        return str(caught.value)

    assert "pass --partition once per attribute" in refusal(index="by-status")
    assert "partitioned by [done, status]" in refusal(index="by-done-score", partition=["true"])
    assert "'done' is of type boolean" in refusal(index="by-done-score", partition=["yes", "new"])
    assert "has no such index" in refusal(index="by-nothing")
    assert "--partition needs --index" in refusal(partition=["x"])
    assert "--prefix lists an entity by key" in refusal(index="by-status", partition=["new"], prefix="r")
    assert refusal(entity="nope").count("declares: import-record, lock") == 1  # said once, not again as a hint
    assert "the manifest declares: import-record, lock" in refusal(entity="no")
