"""The Python SDK behaves as Forge's npm packages do: the same cases through forgeq.events / forgeq.kvs /
forgeq.resolver and through the real @forge/events 3.0.8, @forge/kvs 1.6.5 and @forge/resolver 2.0.1,
in the same forgeq (tests/paritykit.py has the generator, the two interpreter apps and the comparison).

A case passes when both print the same results (values, or error class, message, code and status),
their consumers receive the same events and contexts, and the timelines match attempt for attempt.
The normal suite runs a fifth of the cases (one app run per language, one Node.js worker); `-m slow`
runs all of them.
"""

from __future__ import annotations

import copy
import json
from collections import Counter

import paritykit
import pytest
from nodejs import js_fixture, requires_node

__all__ = ["js_fixture"]

pytestmark = [requires_node, pytest.mark.usefixtures("js_fixture")]


def assert_same(chosen: dict[str, paritykit.Case], tmp_path) -> dict[str, dict]:
    python = paritykit.run("python", chosen, tmp_path)
    javascript = paritykit.run("javascript", chosen, tmp_path)
    found = paritykit.differences(python, javascript)
    assert not found, f"{len(found)} of {len(chosen)} cases differ:\n{paritykit.explain(found, chosen)}"
    return python


def test_the_generator_covers_every_group_with_four_hundred_cases_or_more():
    cases = paritykit.cases()
    groups = Counter(case["group"] for case in cases.values())
    assert len(cases) >= 400
    assert set(groups) >= {
        "queue keys", "push shapes", "sizes", "delays", "job progress", "InvocationError", "returns", "kvs keys",
        "kvs values", "kvs options", "queries", "where conditions", "secrets", "batches", "consumers", "resolver", "entities", "entity queries", "transactions", "triggers", "app events",
    }  # fmt: skip
    quick = paritykit.quick(cases)
    assert set(Counter(case["group"] for case in quick.values())) == set(groups) and len(quick) < len(cases) / 3


def test_a_fifth_of_the_cases_behave_the_same_in_python_and_javascript(tmp_path):
    chosen = paritykit.quick(paritykit.cases())
    python = assert_same(chosen, tmp_path)
    for case_id, case in chosen.items():  # each case ran: one result per step, and its timeline
        steps = [line["step"] for line in python[case_id]["printed"] if "step" in line]
        assert steps == list(range(len(case["steps"]))), case_id
        assert python[case_id]["timeline"], case_id


@pytest.mark.slow
def test_every_case_behaves_the_same_in_python_and_javascript(tmp_path):
    assert_same(paritykit.cases(), tmp_path)


def test_a_difference_is_reported_with_both_sides(tmp_path):
    chosen = dict(list(paritykit.quick(paritykit.cases()).items())[:3])
    python = paritykit.run("python", chosen, tmp_path)
    changed = copy.deepcopy(python)
    first = next(iter(chosen))
    changed[first]["printed"][0]["changed"] = True
    found = paritykit.differences(python, changed)
    assert list(found) == [first]
    assert '"changed": true' in paritykit.explain(found, chosen)


SURROGATE_HANDLER = """
from forgeq.events import InvocationError
from forgeq.kvs import kvs

def handler(event, context):
    print("printed: \\ud800")
    kvs.set("key", {"s": "\\udfff", "n": float("nan"), "ratio": 1.0})
    if not event.get("retryContext"):
        return InvocationError({"retryAfter": 1, "retryReason": "R\\ud800", "retryData": {"s": "\\ud800"}})
    raise ValueError("bad \\ud800 value")
"""


def test_lone_surrogates_and_nan_from_a_handler_leave_a_state_every_json_output_reads(tmp_path):
    # Printed, raised, as a retryReason, in retryData and in a KVS value: nothing stops the run, and
    # every --json output and the export are valid JSON that reads the same text back.
    from conftest import forgeq, write_app

    from forgeq.testing import ForgeApp

    manifest = write_app(
        tmp_path / "app",
        "app:\n  id: ari:cloud:ecosystem::app/s\nmodules:\n  consumer:\n    - key: c\n      queue: work\n      function: f\n"
        "  function:\n    - key: f\n      handler: index.handler\n",
        {"src/index.py": SURROGATE_HANDLER},
    )
    db = tmp_path / "state.db"
    with ForgeApp(manifest, store=db) as app:
        app.push("work", {"body": {"a": 1}})
        app.run_until_idle(max_attempts=3)
    outputs = {}
    for command in (["inspect", "timeline", "1"], ["inspect", "kvs"]):
        shown = forgeq(*command, "--json", "--db", db)
        assert shown.returncode == 0, shown.stderr
        outputs[command[1]] = json.loads(shown.stdout)
    attempts = outputs["timeline"]["attempts"]
    assert attempts[0]["reason"] == "R\\ud800" and attempts[1]["retry_context"]["retryData"] == {"s": "\ud800"}
    assert attempts[1]["error"].startswith("ValueError: bad \\ud800 value") and "printed: \\ud800" in attempts[0]["logs"]
    assert [item["value"] for item in outputs["kvs"]["keys"]] == [{"s": "\udfff", "n": None, "ratio": 1}]
    exported = tmp_path / "state.json"
    assert forgeq("export", exported, "--db", db).returncode == 0
    assert json.loads(exported.read_text(encoding="utf-8"))
