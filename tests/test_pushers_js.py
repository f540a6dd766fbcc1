"""The app's own pushers in JavaScript: a web trigger and a UI resolver on Node.js, with Forge's own
@forge/events, @forge/kvs and @forge/resolver from npm (the fixture's node_modules, nodejs.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import forgeq_json
from nodejs import js_fixture, requires_node, write_js_app
from test_pushers import (  # an issue panel (function panel) and an admin page (function admin)
    TWO_RESOLVERS,
    answers_by_key,
)

from forgeq.testing import ForgeApp, InvokeError

__all__ = ["js_fixture"]

pytestmark = [requires_node, pytest.mark.usefixtures("js_fixture")]

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/js-pushers
  runtime:
    name: nodejs20.x
modules:
  webtrigger:
    - key: import-hook
      function: import
  jira:issuePanel:
    - key: status-panel
      resource: main
      resolver:
        function: ui
      title: Import status
  consumer:
    - key: import-consumer
      queue: import-queue
      function: work
  function:
    - key: import
      handler: index.importHook
    - key: ui
      handler: index.uiHandler
    - key: work
      handler: index.work
resources:
  - key: main
    path: static/build
"""

SOURCE = """
import { getAppContext, webTrigger } from '@forge/api';
import { Queue } from '@forge/events';
import { kvs } from '@forge/kvs';
import Resolver from '@forge/resolver';

const queue = new Queue({ key: 'import-queue' });

export async function importHook(request, context) {
  const { count } = JSON.parse(request.body);
  const events = [];
  for (let n = 0; n < count; n++) events.push({ body: { n } });
  for (let i = 0; i < events.length; i += 50) await queue.push(events.slice(i, i + 50));
  await kvs.set('import', { count, done: 0 });
  console.log(`queued ${count} for ${request.headers['x-source'][0]}`);
  return {
    statusCode: 202,
    headers: { 'Content-Type': ['application/json'] },
    body: JSON.stringify({ queued: count, installContext: context.installContext, moduleKey: getAppContext().moduleKey, path: request.path }),
  };
}

const resolver = new Resolver();
resolver.define('getStatus', async ({ payload, context }) => {
  const status = await kvs.get('import');
  const app = getAppContext();
  return {
    status, payload, issue: context.extension.issue.key, accountId: context.accountId, installContext: context.installContext,
    moduleKey: app.moduleKey, environment: String(app.environmentAri).endsWith(context.environmentId),
  };
});
resolver.define('restart', async ({ payload }) => {
  const { jobId } = await queue.push([{ body: { n: payload.n } }]);
  return { jobId };
});
resolver.define('hookUrl', async ({ payload }) => {
  try {
    return { url: await webTrigger.getUrl(payload.key) };
  } catch (error) {
    return { error: error.message };
  }
});
resolver.define('fail', () => {
  throw new Error('Hello');
});
export const uiHandler = resolver.getDefinitions();

export async function work(event) {
  const status = await kvs.get('import');
  await kvs.set('import', { ...status, done: status.done + 1 });
}
"""


def test_a_javascript_web_trigger_and_ui_resolver_push_and_their_events_run(tmp_path: Path):
    manifest = write_js_app(tmp_path / "app", MANIFEST, {"src/index.js": SOURCE})
    with ForgeApp(manifest) as app:
        response = app.webtrigger("import-hook", body={"count": 60}, headers={"X-Source": "jira"})
        assert (response.status_code, response.ok) == (202, True)
        answer = response.json()
        assert answer.pop("path").startswith("/x1/")
        assert answer == {"queued": 60, "installContext": "ari:cloud:jira::site/site-1", "moduleKey": "import-hook"}
        assert response.logs == "queued 60 for jira\n"
        assert [p["events"] for p in response.pushed] == [50, 10]

        value = app.invoke("getStatus", {"page": 1})
        assert value == {
            "status": {"count": 60, "done": 0},
            "payload": {"page": 1},
            "issue": "DEMO-1",
            "accountId": app.invoke("getStatus")["accountId"],
            "installContext": "ari:cloud:jira::site/site-1",
            "moduleKey": "status-panel",  # getAppContext() in a UI resolver names the UI module
            "environment": True,  # context.environmentId is getAppContext()'s environment
        }
        assert value["accountId"]
        # webTrigger.getUrl: the URL a webhook would call, stable, its path the request's `path`
        url = app.invoke("hookUrl", {"key": "import-hook"})["url"]
        assert re.fullmatch(r"https://[0-9a-f-]{36}\.hello\.atlassian-dev\.net/x1/\w+", url) and url.endswith(response.json()["path"])
        assert app.invoke("hookUrl", {"key": "import-hook"}) == {"url": url}
        assert app.invoke("hookUrl", {"key": "nope"}) == {"error": "Internal error occurred: Failed to get web trigger URL."}
        job = app.invoke("restart", {"n": 60})["jobId"]
        with pytest.raises(InvokeError) as failed:
            app.invoke("fail")
        assert failed.value.message == "There was an error invoking the function - Hello"
        assert failed.value.error is not None and failed.value.error.startswith("Error: Hello (src/index.js:")

        app.run_until_idle()
        assert app.kvs.get("import") == {"count": 60, "done": 61}
        assert app.job(job).stats() == {"success": 1, "inProgress": 0, "failed": 0}
        assert [(e.kind, e.target, e.state) for e in app.events(state="answered")][:2] == [
            ("webtrigger", "import-hook", "answered"),
            ("resolver", "getStatus", "answered"),
        ]


TWO_RESOLVER_FILES = {
    "src/panel.js": """
        import Resolver from '@forge/resolver';

        const resolver = new Resolver();
        resolver.define('getIssue', ({ context }) => ({ module: context.moduleKey }));
        resolver.define('ping', () => 'panel');
        export const handler = resolver.getDefinitions();
    """,
    # the admin page's definitions live in a module it imports, re-exported through an index
    "src/admin.ts": """
        import Resolver from '@forge/resolver';
        import { defineSettings } from './settings';

        const resolver = new Resolver();
        defineSettings(resolver);
        export const handler = resolver.getDefinitions();
    """,
    "src/settings/index.ts": """
        export { defineSettings } from './define';
    """,
    "src/settings/define.ts": """
        import { kvs } from '@forge/kvs';

        export function defineSettings(resolver: any): void {
          resolver.define('getSettings', async ({ context }: any) => ({ module: context.moduleKey, settings: await kvs.get('settings') }));
          resolver.define('ping', () => 'admin');
        }
    """,
}


def test_invoke_calls_the_javascript_resolver_function_that_defines_the_key(tmp_path: Path):
    manifest = write_js_app(tmp_path / "app", TWO_RESOLVERS, TWO_RESOLVER_FILES)
    with ForgeApp(manifest, store=manifest.parent / ".forgeq" / "state.db") as app:
        answers_by_key(app)
        assert app.invoke("ping", module="admin-page") == "admin"
    data = forgeq_json("invoke", "getSettings", cwd=manifest.parent)  # over the state the test left
    assert (data["function"], data["value"]) == ("admin", {"module": "admin-page", "settings": {"theme": "dark"}})
