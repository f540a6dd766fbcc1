"""forgeq.api.route escapes interpolated values exactly as @forge/api's `route` tagged template does:
the same cases through the real @forge/api 8.3.0 on Node.js and through the Python port."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from nodejs import JS_APP, NODE, js_fixture, requires_node

from forgeq.api import Route, assume_trusted_route, route, route_from_absolute

__all__ = ["js_fixture"]

# (template fragments, interpolated values): JavaScript's route`f0${v0}f1${v1}f2`.
CASES: list[tuple[list[str], list[Any]]] = [
    (["/rest/api/3/issue/", ""], ["DEMO-1"]),
    (["/rest/api/3/issue/", "/comment"], [10017]),
    (["/rest/api/3/issue/", ""], ["../admin"]),
    (["/rest/api/3/issue/", ""], ["a/b"]),
    (["/rest/api/3/issue/", ""], ["a\\b"]),
    (["/rest/api/3/issue/", ""], ["x?y=1"]),
    (["/rest/api/3/issue/", ""], ["x#frag"]),
    (["/rest/api/3/issue/", ""], [".%2e"]),
    (["/rest/api/3/issue/", ""], ["%2E%2E"]),
    (["/rest/api/3/issue/", ""], ["with space"]),
    (["/rest/api/3/issue/", ""], ["é ü"]),
    (["/rest/api/3/search/jql?jql=", "&maxResults=", ""], ["project = DEMO AND labels = \"a&b\"", 50]),
    (["/rest/api/3/search/jql?jql=", ""], ["a/b?c#d"]),
    (["/rest/api/3/search/jql?jql=", ""], ["~!*()'-_."]),
    (["/rest/api/3/user?accountId=", ""], [None]),
    (["/x?flag=", ""], [True]),
    (["/x?n=", ""], [1.5]),
    (["/x?n=", ""], [2.0]),
    (["/x#", ""], ["a b"]),
    (["/x/", "?q=", ""], ["ok", "ü+=&"]),
]


def _python(fragments: list[str], values: list[Any]) -> dict[str, str]:
    template = "{}".join(fragment.replace("{", "{{").replace("}", "}}") for fragment in fragments)
    try:
        return {"value": route(template, *values).value}
    except ValueError as error:
        return {"error": str(error)}


def _javascript(cases: list[tuple[list[str], list[Any]]]) -> list[dict[str, str]]:
    script = """
const { route } = require('@forge/api');
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = cases.map(([fragments, values]) => {
  const strings = Object.assign([...fragments], { raw: [...fragments] });
  try { return { value: route(strings, ...values).value }; } catch (e) { return { error: e.message }; }
});
process.stdout.write(JSON.stringify(out));
"""
    done = subprocess.run([str(NODE), "-e", script], input=json.dumps(cases), capture_output=True, text=True, cwd=JS_APP, timeout=60, check=True)
    result: list[dict[str, str]] = json.loads(done.stdout)
    return result


@requires_node
def test_route_escapes_as_forge_api_does(js_fixture: Path) -> None:
    expected = _javascript(CASES)
    for (fragments, values), wanted in zip(CASES, expected, strict=True):
        assert _python(fragments, values) == wanted, (fragments, values)
    assert any("error" in result for result in expected) and any("value" in result for result in expected)


def test_route_values_and_other_constructors() -> None:
    assert route("/rest/api/3/issue/{key}/comment/{id}", key="DEMO-1", id=7).value == "/rest/api/3/issue/DEMO-1/comment/7"
    assert route("/rest/api/3/issue/{}", route("DEMO-{}", 5)).value == "/rest/api/3/issue/DEMO-5"  # a Route goes in as it is
    assert route("/x?{}", {"a b": "c&d", "e": 1}).value == "/x?a+b=c%26d&e=1"  # URLSearchParams' encoding
    assert assume_trusted_route("/anything/../goes").value == "/anything/../goes"
    assert route_from_absolute("https://site.atlassian.net/rest/api/3/myself?expand=groups") == Route("/rest/api/3/myself?expand=groups")
    with pytest.raises(ValueError, match="format spec"):
        route("/x/{:>5}", "a")
