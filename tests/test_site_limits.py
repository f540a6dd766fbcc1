"""Jira's rate limits for apps on the emulator's clock: 429s with Retry-After, and what backoff does with them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_app

from forgeq.emulator.errors import InputError
from forgeq.emulator.platform.site.limits import (
    ERA_LIMITS,
    ProductRateLimits,
    headers_of,
    parse_product_limits,
)
from forgeq.testing import ForgeApp

IMPORT_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/import-test
modules:
  trigger:
    - key: on-created
      function: on-created-fn
      events: [avi:jira:created:issue]
  consumer:
    - key: importer
      queue: import
      function: importer-fn
  function:
    - key: on-created-fn
      handler: index.on_created
    - key: importer-fn
      handler: index.importer
"""

# The consumer reads the issue and labels it; on a 429 it asks Forge to retry after the header's
# seconds (HONOURING) or after one second whatever the header says (IMPATIENT).
IMPORTER = """
from forgeq.api import api, route
from forgeq.events import InvocationError, InvocationErrorCode, Queue

queue = Queue(key="import")
WAIT = {wait}


def on_created(event, context):
    queue.push({{"body": {{"key": event["issue"]["key"]}}}})


def _later(response):
    asked = int(response.headers.get("Retry-After")) if WAIT is None else WAIT
    return InvocationError(retry_after=asked, retry_reason=InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED)


def importer(event, context):
    key = event["body"]["key"]
    got = api.as_app().request_jira(route("/rest/api/3/issue/{{}}", key))
    if got.status == 429:
        return _later(got)
    put = api.as_app().request_jira(route("/rest/api/3/issue/{{}}", key), method="PUT", json={{"update": {{"labels": [{{"add": "imported"}}]}}}})
    if put.status == 429:
        return _later(put)
    assert put.status == 204, put.status
"""

V1_IMPORT_MANIFEST = IMPORT_MANIFEST.replace("      function: importer-fn\n  function:", "      resolver:\n        function: importer-fn\n        method: importer\n  function:")
V1_IMPORTER = IMPORTER.replace("def importer(event, context):\n    key = event[\"body\"][\"key\"]", "from forgeq.resolver import Resolver\n\nresolver = Resolver()\n\n\n@resolver.define(\"importer\")\ndef importer_v1(request):\n    payload = request[\"payload\"]\n    key = payload.get(\"body\", payload)[\"key\"]") + "\n\nimporter = resolver.get_definitions()\n"


def import_app(tmp_path: Path, wait: int | None, *, v1: bool = False) -> Path:
    source = (V1_IMPORTER if v1 else IMPORTER).format(wait=wait)
    return write_app(tmp_path / f"import-{wait}-{v1}", V1_IMPORT_MANIFEST if v1 else IMPORT_MANIFEST, {"src/index.py": source})


def test_the_issue_example_a_stubbed_429_then_the_site(tmp_path: Path) -> None:
    with ForgeApp(import_app(tmp_path, None)) as forge_app:
        stub = forge_app.site.stub("GET", "/rest/api/3/issue/{key}", status=429, headers={"Retry-After": "30"}, times=3)
        forge_app.push_product_event("issue-created", count=200)
        forge_app.run_until_idle()
        assert forge_app.dropped() == []
        assert forge_app.site.issue("DEMO-7")["fields"]["labels"] == ["imported"]
        assert stub.calls == 3
        stubbed = forge_app.site.requests(status=429, reason="stub")
        assert len(stubbed) == 3 and all(r["retry_after"] == 30 for r in stubbed)
        retried = [a for a in forge_app.timeline(queue="import") if a.outcome == "retry" and a.retry_after_applied == 30]
        assert len(retried) >= 3


def test_burst_limits_refuse_with_retry_after_and_an_honouring_backoff_loses_nothing(tmp_path: Path) -> None:
    with ForgeApp(import_app(tmp_path, None), product_limits="2026") as forge_app:
        forge_app.push_product_event("issue-created", count=300)
        forge_app.run_until_idle()
        assert forge_app.dropped() == []
        refused = forge_app.site.requests(status=429)
        assert refused, "300 PUTs at 50 slots exceed PUT's 50 requests a second"
        assert {r["reason"] for r in refused} == {"jira-burst-based"}
        assert all(r["retry_after"] == 1 for r in refused)
        assert all(issue["labels"] == ["imported"] for issue in forge_app.site.issues())
        retry = next(a for a in forge_app.timeline(queue="import") if a.outcome == "retry")
        assert retry.retry_after_asked == 1 and retry.reason == "FUNCTION_UPSTREAM_RATE_LIMITED"
        burst = [row for row in forge_app.quota() if row["metric"] == "jira_burst PUT /rest/api/{version}/issue/{issueIdOrKey}"]
        assert sum(row["refused"] for row in burst) == len([r for r in refused if r["method"] == "PUT"])


def test_a_backoff_that_ignores_retry_after_drops_events_and_the_ledger_says_why(tmp_path: Path) -> None:
    def outage(forge_app: ForgeApp) -> None:  # Jira refuses every issue read for a minute, asking for 60 s
        forge_app.site.stub("GET", "/rest/api/3/issue/{key}", status=429, headers={"Retry-After": "60"}, seconds=60)
        forge_app.push_product_event("issue-created", count=50)
        forge_app.run_until_idle()

    with ForgeApp(import_app(tmp_path, 1, v1=True)) as impatient:
        outage(impatient)
        dropped = impatient.dropped()
        assert len(dropped) == 50, "a v1 consumer retrying after 1 s spends its 4 retries inside the minute"
        assert dropped[0].drop_reason == "retries exhausted: 4 retries used (v1 resolver consumer)"
        key = dropped[0].body.get("body", dropped[0].body)["key"]
        assert dropped[0].last_error == (
            "returned InvocationError (FUNCTION_UPSTREAM_RATE_LIMITED); the last refused product call: "
            f"GET /rest/api/3/issue/{key} answered 429 (stub), Retry-After 60 s, but the handler asked to retry in 1 s"
        )
        first = impatient.timeline(event=dropped[0].event)[0]
        assert any("asked to retry in 1 s" in note and "Retry-After 60 s" in note for note in first.notes)
    with ForgeApp(import_app(tmp_path, None, v1=True)) as patient:
        outage(patient)
        assert patient.dropped() == []
        assert all(issue["labels"] == ["imported"] for issue in patient.site.issues())


def test_per_issue_write_limit_and_headers() -> None:
    chosen = ERA_LIMITS["2026"]
    limits = ProductRateLimits(chosen)
    at = 1763370000.0
    for n in range(20):
        assert limits.check("site-1", "jira", "PUT", None, "DEMO-1", at + n * 0.01) is None
    refusal = limits.check("site-1", "jira", "PUT", None, "DEMO-1", at + 0.5)
    assert refusal is not None and refusal.reason == "jira-per-issue-on-write" and refusal.retry_after == 2
    assert limits.check("site-1", "jira", "PUT", None, "DEMO-2", at + 0.5) is None  # another issue
    assert limits.check("site-1", "jira", "GET", None, "DEMO-1", at + 0.5) is None  # reads are not writes
    headers = headers_of(refusal, at + 0.5)
    assert headers["Retry-After"] == "2" and headers["RateLimit-Reason"] == "jira-per-issue-on-write"
    assert headers["X-RateLimit-Reset"] == "2025-11-17T09:00Z"
    quota = limits.charge("site-1", "jira", 60_000, at)
    assert quota["RateLimit-Policy"] == '"global-app-quota";q=65000;w=3600'
    assert quota["RateLimit"] == '"global-app-quota";r=5000;t=3600' and quota["X-RateLimit-NearLimit"] == "true"
    spent = limits.charge("site-1", "jira", 5_000, at + 1)
    assert spent["RateLimit"].startswith('"global-app-quota";r=0;')
    over = limits.check("site-2", "jira", "GET", None, None, at + 10)  # the global pool is the app's, every site shares it
    assert over is not None and over.reason == "jira-quota-global-based" and over.retry_after == 3590
    assert limits.check("site-1", "confluence", "GET", None, None, at + 10) is None  # Confluence has its own pool


def test_product_limit_specs() -> None:
    assert parse_product_limits("none").active is False
    custom = parse_product_limits("2026,points=1000,burst_put=10,points_scope=installation,issue_writes=5/3")
    assert (custom.points_per_hour, custom.points_scope, custom.burst["PUT"], custom.issue_writes) == (1000, "installation", 10.0, ((5, 3.0),))
    assert parse_product_limits("2025").points_per_hour is None
    for bad, says in (
        ("2027", "is not an era"),
        ("2026,flavour=1", "flavour is not a product limit"),
        ("2026,points=lots", "'lots' is not a whole number"),
        ("2026,points_scope=tenant", "'tenant' is not app or installation"),
    ):
        with pytest.raises(InputError, match=says):
            parse_product_limits(bad)


SPINNER = """
from forgeq.api import api, route
from forgeq.resolver import Resolver

resolver = Resolver()


@resolver.define("importer")
def importer(request):
    payload = request["payload"]
    key = payload.get("body", payload)["key"]
    got = api.as_app().request_jira(route("/rest/api/3/issue/{}", key))
    while got.status == 429:  # a broken backoff: retry at once, whatever Retry-After says
        got = api.as_app().request_jira(route("/rest/api/3/issue/{}", key))
    api.as_app().request_jira(route("/rest/api/3/issue/{}", key), method="PUT", json={"update": {"labels": [{"add": "imported"}]}})


def on_created(event, context):
    from forgeq.events import Queue

    Queue(key="import").push({"body": {"key": event["issue"]["key"]}})


handler = resolver.get_definitions()
"""


def test_a_backoff_that_retries_at_once_times_out_on_the_emulators_clock_and_the_ledger_says_why(tmp_path: Path) -> None:
    manifest = V1_IMPORT_MANIFEST.replace("handler: index.importer", "handler: index.handler\n      timeoutSeconds: 5")
    app = write_app(tmp_path / "spinner", manifest, {"src/index.py": SPINNER})
    # The site's own points quota, spent by the first events: every later request is refused for
    # the rest of the hour, and the spinning handler keeps asking until Forge would stop it.
    with ForgeApp(app, product_limits="2026,points=12") as forge_app:
        forge_app.push_product_event("issue-created", count=8)
        forge_app.run_until_idle()
        dropped = forge_app.dropped()
        assert len(dropped) == 4 and sum(issue["labels"] == ["imported"] for issue in forge_app.site.issues()) == 4
        attempts = forge_app.timeline(event=dropped[0].event)
        assert [a.outcome for a in attempts] == ["timeout"] * 4 + ["dropped"]
        assert all(a.ended_at - a.started_at == 5 for a in attempts)  # stopped at timeoutSeconds of virtual time
        calls = {len(forge_app.site.requests(event=dropped[0].event)) // 5}
        assert calls == {49}, "5 s at 100 ms a call, whatever the machine's speed"
        first = attempts[0].notes
        assert any("timed out on the emulator's clock" in note for note in first)
        assert sum("jira-quota-global-based" in note for note in first) == 1, "the refusal is noted once an attempt"
        assert any("Forge retries it on its own backoff, in 60 s, not the header's" in note for note in first)
        assert dropped[0].last_error.startswith("Function timed out. Limit of 5 seconds; the last refused product call: GET /rest/api/3/issue/")
        assert dropped[0].last_error.endswith("so Forge's own backoff (900 s) applied")
