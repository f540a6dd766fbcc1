"""Issue #18 from the outside, in a second style (tests/apps/entity-events-js and -py): a bulk consumer
fans per-event pushes out with concurrency keys; each delivery writes its record into a custom entity
and moves two counters in one transaction whose conditions hold them to what it read, and every
seventh event carries a check that fails, so it is counted as rejected instead. Under duplicate
deliveries and injected 429s the records and counters end exact, and a web trigger's indexed queries
(every where condition and filter condition @forge/kvs exports, both sorts, multi-attribute and
boolean partitions, an `any` attribute, cursor loops of small pages) answer, halfway through the
import and at its end, exactly what a model of the stored records says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nodejs import NODE, copy_app, install_fixture_packages, js_fixture, requires_node

from forgeq.testing import ForgeApp

__all__ = ["js_fixture"]

MISSING = object()


def app_copy(language: str, folder: Path) -> Path:
    return copy_app(f"entity-events-{language}", folder, js=language == "js")


# -- the model ------------------------------------------------------------------------------------------


def shape(n: int) -> dict[str, Any]:
    """Event n's record as stored (JSON.stringify writes 1.0 as 1)."""
    weight = (n % 11) * 0.5 - 2
    record: dict[str, Any] = {
        "source": f"src-{n % 3}", "kind": ["alpha", "beta", "gamma", "delta"][n % 4], "seq": n,
        "weight": int(weight) if weight.is_integer() else weight, "flagged": n % 5 == 0, "label": f"L{n % 17:02d}-{n}",
    }  # fmt: skip
    if n % 6 == 0:
        record["extra"] = "text" if n % 12 == 0 else n
    return record


def _kind(value: Any) -> str | None:
    return "boolean" if isinstance(value, bool) else "number" if isinstance(value, int | float) else "string" if isinstance(value, str) else None


def _holds(found: Any, condition: str, *values: Any) -> bool:
    """Forge's conditions as docs/fidelity.md states them: values compare within their own type, a missing
    attribute meets only NOT_EXISTS, NOT_EQUAL_TO and NOT_CONTAINS."""
    if condition == "EXISTS":
        return found is not MISSING
    if condition.startswith("NOT_"):
        return not _holds(found, condition.removeprefix("NOT_"), *values)
    if found is MISSING:
        return False
    if condition in ("CONTAINS", "BEGINS_WITH"):
        return isinstance(found, str) and (values[0] in found if condition == "CONTAINS" else found.startswith(values[0]))
    if condition == "BETWEEN":
        return _holds(found, "GREATER_THAN_EQUAL_TO", values[0]) and _holds(found, "LESS_THAN_EQUAL_TO", values[1])
    if _kind(found) != _kind(values[0]):
        return False
    return {"EQUAL_TO": found == values[0], "GREATER_THAN": found > values[0], "GREATER_THAN_EQUAL_TO": found >= values[0],
            "LESS_THAN": found < values[0], "LESS_THAN_EQUAL_TO": found <= values[0]}[condition]  # fmt: skip


def _query(records: dict[str, Any], partition: dict[str, Any], range_attribute: str | None, where: tuple[Any, ...] = (),
           filters: list[tuple[Any, ...]] = (), operator: str = "and", desc: bool = False) -> list[str]:  # fmt: skip
    """The keys an index query answers: the partition's items with the range attribute, in (range value, key) order."""
    chosen = []
    for key, value in records.items():
        if any(value.get(a, MISSING) != v or _kind(value.get(a)) != _kind(v) for a, v in partition.items()):
            continue
        ranged = key if range_attribute is None else value.get(range_attribute, MISSING)
        if ranged is MISSING or (where and not _holds(ranged, *where)):
            continue
        met = [_holds(value.get(attribute, MISSING), *condition) for attribute, *condition in filters]
        if filters and not (all(met) if operator == "and" else any(met)):
            continue
        chosen.append((ranged, key))
    return [key for _, key in sorted(chosen, reverse=desc)]


def model(records: dict[str, Any]) -> dict[str, Any]:
    """What the app's web trigger must answer (src/index.js `query`, src/index.py `query`)."""
    source = lambda s: {"source": s}  # noqa: E731
    return {
        "src1_desc": _query(records, source("src-1"), "seq", ("BETWEEN", 10, 200), desc=True),
        "src2_gt": _query(records, source("src-2"), "seq", ("GREATER_THAN", 100)),
        "src0_lte": _query(records, source("src-0"), "seq", ("LESS_THAN_EQUAL_TO", 60), desc=True),
        "src0_gte": _query(records, source("src-0"), "seq", ("GREATER_THAN_EQUAL_TO", 60)),
        "src0_lt": _query(records, source("src-0"), "seq", ("LESS_THAN", 33)),
        "src0_eq": _query(records, source("src-0"), "seq", ("EQUAL_TO", 33)),
        "label_prefix": _query(records, {}, "label", ("BEGINS_WITH", "L03-")),
        "label_prefix_desc": _query(records, {}, "label", ("BEGINS_WITH", "L1"), desc=True),
        "kind_weight": _query(records, {"kind": "beta", "flagged": False}, "weight", ("BETWEEN", -1, 1.5)),
        "kind_weight_flag": _query(records, {"kind": "alpha", "flagged": True}, "weight", desc=True),
        "bykey_prefix": _query(records, {}, None, ("BEGINS_WITH", "rec-1")),
        "bykey_between": _query(records, {}, None, ("BETWEEN", "rec-2", "rec-4"), desc=True),
        "f_and": _query(records, source("src-1"), "seq", filters=[
            ("kind", "EQUAL_TO", "beta"), ("weight", "GREATER_THAN", 0), ("label", "CONTAINS", "-1")]),
        "f_or": _query(records, {}, None, operator="or", filters=[
            ("flagged", "EQUAL_TO", True), ("extra", "EXISTS"), ("weight", "LESS_THAN_EQUAL_TO", -2)]),
        "f_not": _query(records, {}, None, filters=[
            ("kind", "NOT_EQUAL_TO", "alpha"), ("label", "NOT_CONTAINS", "7"), ("extra", "NOT_EXISTS"),
            ("seq", "GREATER_THAN_EQUAL_TO", 5), ("seq", "LESS_THAN", 250)]),
        "f_between_begins": _query(records, {}, "label", ("BEGINS_WITH", "L0"), filters=[
            ("weight", "BETWEEN", 0, 2), ("source", "BEGINS_WITH", "src-2")]),
        "f_lt_any": _query(records, {}, None, filters=[("extra", "LESS_THAN", 100), ("extra", "GREATER_THAN_EQUAL_TO", 0)]),
        "f_any_str": _query(records, {}, None, filters=[("extra", "EQUAL_TO", "text")]),
        "getone": next(iter(_query(records, source("src-0"), "seq", desc=True)), None),
    }  # fmt: skip


def counters(total: int) -> dict[str, int]:
    counted = [n for n in range(total) if n % 7]
    return {"total": len(counted), "src-0": sum(1 for n in counted if n % 3 == 0), "src-1": sum(1 for n in counted if n % 3 == 1),
            "src-2": sum(1 for n in counted if n % 3 == 2), "rejected": total - len(counted)}  # fmt: skip


# -- the runs -------------------------------------------------------------------------------------------


def run_import(manifest: Path, *, total: int, seed: int, storage_limits: str = "2025") -> dict[str, Any]:
    with ForgeApp(manifest, seed=seed, storage_limits=storage_limits) as app:
        app.faults.duplicates(queue="ingest", probability=0.3, delay=3)
        app.faults.storage_429(0, 200, operations=["read", "write", "transaction"], probability=0.15)
        app.push("bulk", [{"body": {"from": start, "to": min(start + 100, total)}} for start in range(0, total, 100)])
        records = app.kvs.entity("event-record")
        app.run_until(lambda a: len(records) >= total // 3, within=7200)
        halfway = app.webtrigger("query")
        assert halfway.status_code == 200, halfway.error
        stored = records.as_dict()
        assert 0 < len(stored) < total - total // 7  # the import is still running
        answer = halfway.json()
        assert {name: answer[name] for name in model(stored)} == model(stored)
        app.run_until_idle()
        final = app.webtrigger("query").json()
        stored = records.as_dict()
        assert {name: final[name] for name in model(stored)} == model(stored)
        return {
            "records": stored,
            "counters": final["counters"],
            "dropped": app.dropped(),
            "counts": dict(app.faults.counts),
            "sizes": {name: len(keys) for name, keys in model(stored).items() if isinstance(keys, list)},
        }


def assert_exact(result: dict[str, Any], total: int) -> None:
    assert result["dropped"] == []
    assert result["records"] == {f"rec-{n}": shape(n) for n in range(total) if n % 7}
    assert result["counters"] == counters(total)
    assert result["counts"]["redelivered"] > 5 and result["counts"]["storage_429"] > 5  # the faults bit
    assert all(size > 0 for size in result["sizes"].values()), result["sizes"]  # no query is trivially empty


def test_the_python_app_counts_every_event_once_and_answers_as_the_model(tmp_path: Path) -> None:
    assert_exact(run_import(app_copy("py", tmp_path), total=150, seed=3), 150)


@requires_node
@pytest.mark.usefixtures("js_fixture")
def test_the_javascript_app_counts_every_event_once_and_answers_as_the_model(tmp_path: Path) -> None:
    assert_exact(run_import(app_copy("js", tmp_path), total=120, seed=3), 120)


@pytest.mark.slow
@pytest.mark.parametrize("language", ["py", "js"])
@pytest.mark.parametrize(("seed", "storage_limits"), [(1, "2025"), (2, "2023"), (9, "none")])
def test_the_events_stay_exact_across_seeds_and_storage_eras(tmp_path: Path, language: str, seed: int, storage_limits: str) -> None:
    if language == "js":
        if NODE is None:
            pytest.skip("Node.js is not installed: the JavaScript bridge needs it")
        install_fixture_packages()
    assert_exact(run_import(app_copy(language, tmp_path), total=400, seed=seed, storage_limits=storage_limits), 400)
