"""A JavaScript app's own @forge/api 8.3.0 reaches the fake site: requestJira reads and edits issues,
its consumer backs off on Jira's 429 with the Retry-After header, and fetch obeys the egress rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from nodejs import install_packages, js_fixture, requires_node, write_js_app
from test_published_apps import CORPUS

from forgeq.testing import ForgeApp

__all__ = ["js_fixture"]

pytestmark = [requires_node, pytest.mark.usefixtures("js_fixture")]

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/js-site-test
  runtime:
    name: nodejs20.x
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
      handler: index.onCreated
    - key: importer-fn
      handler: index.importer
permissions:
  external:
    fetch:
      backend:
        - https://api.example.com
"""

SOURCE = """
import net from 'node:net';
import api, { route, fetch } from '@forge/api';
import { Queue, InvocationError, InvocationErrorCode } from '@forge/events';

const queue = new Queue({ key: 'import' });

export async function onCreated(event) {
  await queue.push({ body: { key: event.issue.key } });
}

function later(response) {
  return new InvocationError({
    retryAfter: Number(response.headers.get('Retry-After')),
    retryReason: InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED,
  });
}

export async function importer(event) {
  const key = event.body.key;
  const got = await api.asApp().requestJira(route`/rest/api/3/issue/${key}?fields=summary`);
  if (got.status === 429) return later(got);
  const issue = await got.json();
  const put = await api.asApp().requestJira(route`/rest/api/3/issue/${key}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ fields: { summary: `${issue.fields.summary} (imported)` }, update: { labels: [{ add: 'imported' }] } }),
  });
  if (put.status === 429) return later(put);
  if (put.status !== 204) throw new Error(`PUT answered ${put.status}: ${await put.text()}`);
  const partner = await fetch('https://api.example.com/sync', { method: 'POST', body: JSON.stringify({ key }) });
  if (partner.status !== 202) throw new Error(`partner answered ${partner.status}`);
  try {
    await fetch('https://elsewhere.example.net/leak');
    throw new Error('an undeclared domain was fetched');
  } catch (error) {
    if (error.name !== 'REQUEST_EGRESS_ALLOWLIST_ERR') throw error;
  }
  const around = await new Promise((resolve) => {
    const socket = net.connect(80, 'example.com', () => resolve('connected'));
    socket.on('error', (error) => resolve(error.message));
  });
  if (!around.includes('nothing leaves the machine')) throw new Error(`the network was reached: ${around}`);
}
"""


def test_a_javascript_consumer_reads_and_edits_issues_through_its_own_forge_api(tmp_path: Path) -> None:
    manifest = write_js_app(tmp_path / "app", MANIFEST, {"src/index.js": SOURCE})
    with ForgeApp(manifest) as forge_app:
        forge_app.site.stub("GET", "/rest/api/3/issue/{key}", status=429, headers={"Retry-After": "30"}, times=3)
        partner = forge_app.site.stub("POST", "https://api.example.com/sync", status=202)
        forge_app.push_product_event("issue-created", count=20)
        forge_app.run_until_idle()
        assert forge_app.dropped() == []
        issue = forge_app.site.issue("DEMO-7")
        assert issue["fields"]["summary"] == "Sample issue 7 (imported)" and issue["fields"]["labels"] == ["imported"]
        assert partner.calls == 20
        assert len(forge_app.site.requests(reason="egress")) == 20
        retried = [a for a in forge_app.timeline(queue="import") if a.outcome == "retry"]
        assert len(retried) == 3 and all(a.retry_after_applied == 30 for a in retried)


# @forge/api 2.x and @forge/events 0.8 (2023), a v1 resolver consumer: `api.asApp().requestJira`
# with the default export, backing off on the site's own points quota. Honouring Retry-After (Forge
# caps it at 900 s) waits out the hour within v1's four retries; retrying after 1 s does not.
OLD_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/js-site-old
  runtime:
    name: nodejs20.x
modules:
  trigger:
    - key: on-created
      function: on-created-fn
      events: [avi:jira:created:issue]
  consumer:
    - key: importer
      queue: import
      resolver:
        function: importer-fn
        method: importer
  function:
    - key: on-created-fn
      handler: index.onCreated
    - key: importer-fn
      handler: index.importer
"""

OLD_SOURCE = """
const api = require('@forge/api');
const { route } = require('@forge/api');
const { Queue, InvocationError, InvocationErrorCode } = require('@forge/events');
const Resolver = require('@forge/resolver').default;

const queue = new Queue({ key: 'import' });
exports.onCreated = async (event) => { await queue.push({ key: event.issue.key }); };

const later = (res) => new InvocationError({
  retryAfter: HONOUR ? parseInt(res.headers.get('Retry-After'), 10) : 1,
  retryReason: InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED,
});

const resolver = new Resolver();
resolver.define('importer', async ({ payload }) => {
  const got = await api.asApp().requestJira(route`/rest/api/3/issue/${payload.key}`);
  if (got.status === 429) return later(got);
  const put = await api.asApp().requestJira(route`/rest/api/3/issue/${payload.key}`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ update: { labels: [{ add: 'imported' }] } }),
  });
  if (put.status === 429) return later(put);
  if (put.status !== 204) throw new Error(`PUT answered ${put.status}`);
});
exports.importer = resolver.getDefinitions();
"""


@pytest.mark.parametrize("honour", [True, False], ids=["honours-retry-after", "retries-after-1s"])
def test_an_old_style_app_backs_off_on_the_sites_points_quota(tmp_path: Path, honour: bool) -> None:
    modules = install_packages(CORPUS / "proxy-2023")
    manifest = write_js_app(tmp_path / "app", OLD_MANIFEST, {"src/index.js": OLD_SOURCE.replace("HONOUR", "true" if honour else "false")}, modules)
    with ForgeApp(manifest, product_limits="2026,points=30") as forge_app:  # GET 2 points, PUT 1: ten issues an hour
        forge_app.push_product_event("issue-created", count=14)
        forge_app.run_until_idle()
        refused = forge_app.site.requests(status=429)
        assert refused and {r["reason"] for r in refused} == {"jira-quota-global-based"}
        dropped = forge_app.dropped()
        if honour:
            assert dropped == []
            assert all(issue["labels"] == ["imported"] for issue in forge_app.site.issues())
            waited = [a for a in forge_app.timeline(queue="import") if a.outcome == "retry"]
            assert waited and all(a.retry_after_applied == 900 and a.retry_after_asked >= 900 for a in waited)
        else:
            assert len(dropped) == 4
            assert all(d.drop_reason == "retries exhausted: 4 retries used (v1 resolver consumer)" for d in dropped)
            assert all("answered 429 (jira-quota-global-based), Retry-After" in d.last_error for d in dropped)
            assert all(d.last_error.endswith("but the handler asked to retry in 1 s") for d in dropped)
