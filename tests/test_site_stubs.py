"""Stubs (stubs.yml and the testing API), endpoints the site does not serve, GraphQL, and fetch's egress rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import V2_MANIFEST, forgeq, write_app
from test_site_jira import invocation

from forgeq.api import ExternalEndpointNotAllowedError, api, fetch, route
from forgeq.emulator.errors import InputError, ManifestError
from forgeq.testing import ForgeApp

EGRESS_MANIFEST = V2_MANIFEST + """
permissions:
  external:
    fetch:
      backend:
        - https://api.example.com
        - '*.partner.io'
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ForgeApp]:
    manifest = write_app(tmp_path / "app", EGRESS_MANIFEST, {"src/index.py": "def handler(event, context):\n    pass\n"})
    with ForgeApp(manifest, product_limits="none") as forge_app:
        forge_app.push_product_event("issue-created", count=1)
        yield forge_app


def test_stub_times_sequences_bodies_and_outages(app: ForgeApp) -> None:
    three = app.site.stub("GET", "/rest/api/3/issue/{key}", status=503, headers={"Retry-After": 5}, times=2)
    app.site.stub("POST", "/rest/api/3/issue/*/comment", responses=[{"status": 500}, {"status": 201, "body": {"id": "1"}}])
    app.site.stub(None, "/rest/api/3/field", body=[{"id": "summary"}])
    with invocation(app):
        first = api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1"))
        second = api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1"))
        third = api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1"))
        comments = [api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1/comment"), method="POST", json={"body": "x"}).status for _ in range(3)]
        fields = api.as_app().request_jira(route("/rest/api/3/field"))
    assert (first.status, first.headers.get("retry-after"), second.status, third.status) == (503, "5", 503, 200)
    assert three.calls == 2
    assert comments == [500, 201, 400]  # the sequence is spent: the site answers (a v3 body must be ADF)
    assert fields.json() == [{"id": "summary"}] and fields.headers.get("content-type") == "application/json"


def test_endpoints_the_site_does_not_serve_say_how_to_stub_them(app: ForgeApp) -> None:
    with invocation(app) as current:
        unserved = api.as_app().request_jira(route("/rest/api/3/dashboard"))
        graph = api.as_app().request_graph("query { me { user { name } } }")
        app.site.stub("POST", "/graphql", body_contains="me", body={"data": {"me": {"user": {"name": "Riley"}}}})
        stubbed_graph = api.as_app().request_graph("query { me { user { name } } }")
        wrong_method = api.as_app().request_jira(route("/rest/api/3/myself"), method="DELETE")
    assert unserved.status == 501 and unserved.json()["code"] == "NOT_EMULATED"
    assert graph.status == 501 and graph.json()["errors"][0]["extensions"]["errorType"] == "NOT_EMULATED"
    assert stubbed_graph.json() == {"data": {"me": {"user": {"name": "Riley"}}}}
    assert wrong_method.status == 405
    notes = "\n".join(current.notes)
    assert "does not serve GET /rest/api/3/dashboard" in notes and "forge_app.site.stub('GET', '/rest/api/3/dashboard', body=...)" in notes
    assert "- {method: POST, path: /graphql, status: 200, body: ...}" in notes


def test_fetch_goes_only_to_declared_domains_and_never_leaves_the_machine(app: ForgeApp) -> None:
    app.site.stub("GET", "https://api.example.com/items/{id}", body={"id": 7})
    with invocation(app) as current:
        stubbed = fetch("https://api.example.com/items/7")
        wildcard = fetch("https://eu.partner.io/ping", method="POST", body="{}")
        with pytest.raises(ExternalEndpointNotAllowedError) as refused:
            fetch("https://evil.example.org/steal")
    assert stubbed.status == 200 and stubbed.json() == {"id": 7}
    assert wildcard.status == 501  # declared, not stubbed: answered here, not fetched
    assert str(refused.value) == (
        "URL not included in the external fetch backend permissions: https://evil.example.org/steal. "
        "Visit go.atlassian.com/forge-egress for more information."
    )
    assert [r["reason"] for r in app.site.requests(product="fetch")] == ["stub", "not served", "egress"]
    assert any("external fetch backend permissions" in note for note in current.notes)


def test_stubs_yml_beside_the_manifest(tmp_path: Path) -> None:
    stubs = """
        stubs:
          - method: GET
            path: /rest/api/3/issue/{key}
            status: 429
            headers: {Retry-After: "30"}
            times: 1
    """
    manifest = write_app(tmp_path / "yml", V2_MANIFEST, {"src/index.py": "def handler(e, c):\n    pass\n", "stubs.yml": stubs})
    with ForgeApp(manifest) as forge_app, invocation(forge_app):
        forge_app.push_product_event("issue-created", count=1)
        assert api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1")).status == 429
        assert api.as_app().request_jira(route("/rest/api/3/issue/DEMO-1")).status == 200
    (tmp_path / "yml" / "stubs.yml").write_text("stubs:\n  - method: GET\n    path: /x\n    status: 700\n")
    with pytest.raises(ManifestError, match=r"stubs.yml:2: stubs\[0\]: status must be an HTTP status from 100 to 599, not 700"):
        ForgeApp(manifest)
    done = forgeq("run", manifest, "--until-idle")
    assert done.returncode == 2 and "stubs.yml:2" in done.stderr and not (tmp_path / "yml" / ".forgeq").exists()
    with ForgeApp(write_app(tmp_path / "fresh", V2_MANIFEST, {"src/index.py": "def handler(e, c):\n    pass\n"})) as fresh:
        with pytest.raises(InputError, match="times must be a whole number of 1 or more, not 0"):
            fresh.site.stub("GET", "/x", times=0)
        with pytest.raises(InputError, match="give times or responses, not both"):
            fresh.site.stub("GET", "/x", times=2, responses=[{"status": 200}])
        with pytest.raises(InputError, match="the path must start with /"):
            fresh.site.stub("GET", "rest/api/3/issue")
