"""What older @forge packages expect of the runtime, on their real code: v1 pushes and job progress,
the resolver's runtime payload, the end of an attempt, and the copies that cannot run.

The packages come from the corpus apps (tests/apps/published, installed once) and the JS fixture.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import write_app
from nodejs import JS_APP, NODE, install_packages, requires_node, write_js_app
from test_js_bridge import MANIFEST  # a v2 consumer `work` of queue `work`: index.work
from test_published_apps import CORPUS

from forgeq.emulator.app import packages
from forgeq.testing import ForgeApp

pytestmark = requires_node

V1_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/js-eras-test
  runtime:
    name: nodejs20.x
modules:
  consumer:
    - key: work-consumer
      queue: work
      resolver:
        function: work
        method: listen
    - key: out-consumer
      queue: out
      function: out
  function:
    - key: work
      handler: index.handler
    - key: out
      handler: index.out
"""


@pytest.fixture(scope="module")
def corpus_modules() -> dict[str, Path]:
    if NODE is None:
        pytest.skip("Node.js is not installed: the JavaScript bridge needs it")
    names = ("sandbox-2022", "fetch-2024")
    return {name: install_packages(CORPUS / name) for name in names} | {"fixture": install_packages(JS_APP)}


# -- @forge/events 1.x: v1 pushes, "<queue>#<jobId>", job progress answered as a Response --------------

V1_PUSHES = """
import Resolver from '@forge/resolver';
import { Queue } from '@forge/events';

const outQueue = new Queue({ key: 'out' });
const resolver = new Resolver();

resolver.define('listen', async ({ payload }) => {
  const single = await outQueue.push('a text payload');
  const many = await outQueue.push([1, { n: 2 }, ['x']], { delayInSeconds: 30 });
  const stats = await outQueue.getJob(many).getStats();
  console.log(JSON.stringify({ single: single.split('#')[0], many: many.split('#')[0], status: stats.status, stats: await stats.json() }));
  const cancelled = await outQueue.getJob(single).cancel();
  console.log(JSON.stringify({ cancelled: cancelled.status }));
  try {
    await outQueue.getJob('out#00000000-0000-4000-8000-000000000000').getStats();
  } catch (error) {
    console.log(`${error.constructor.name}: ${error.message}`);
  }
});

export const handler = resolver.getDefinitions();

export async function out(event) {
  console.log(JSON.stringify(event.body));
}
"""


def test_v1_pushes_carry_any_json_and_job_progress_answers_as_a_response(tmp_path, corpus_modules):
    manifest = write_js_app(tmp_path / "app", V1_MANIFEST, {"src/index.js": V1_PUSHES}, corpus_modules["fetch-2024"])
    with ForgeApp(manifest) as app:
        app.push("work", {"body": {}})
        app.run_until_idle()
        first = app.attempts[0]
        assert first.outcome == "succeeded", first.error
        lines = first.logs.strip().splitlines()
        assert json.loads(lines[0]) == {"single": "out", "many": "out", "status": 200, "stats": {"success": 0, "inProgress": 3, "failed": 0}}
        assert json.loads(lines[1]) == {"cancelled": 204}
        assert lines[2] == "JobDoesNotExistError: The job 00000000-0000-4000-8000-000000000000 was not found for the queue out."
        delivered = sorted(json.dumps(json.loads(a.logs)) for a in app.attempts if a.target == "out")
        assert delivered == sorted(json.dumps(body) for body in (1, {"n": 2}, ["x"]))  # the text's job was cancelled
        waited = {a.started_at for a in app.attempts if a.target == "out"}
        assert min(waited) >= 30  # delayInSeconds applies to every event of the push


# -- the runtime payload: every @forge/resolver version builds the same context -----------------------

CONTEXT = """
import Resolver from '@forge/resolver';

const resolver = new Resolver();
resolver.define('listen', ({ context }) => {
  console.log(JSON.stringify(context));
});
export const handler = resolver.getDefinitions();
export async function out() {}
"""

PY_CONTEXT = """
import json
from forgeq.resolver import Resolver

resolver = Resolver()


@resolver.define("listen")
def listen(request):
    print(json.dumps(request["context"]))


handler = resolver.get_definitions()


def out(event, context):
    pass
"""


def test_every_resolver_version_and_the_python_port_build_the_same_context(tmp_path, corpus_modules):
    contexts = {}
    for name, modules in (("1.4.2", "sandbox-2022"), ("1.6.16", "fetch-2024"), ("2.0.1", "fixture")):
        manifest = write_js_app(tmp_path / name, V1_MANIFEST, {"src/index.js": CONTEXT}, corpus_modules[modules])
        with ForgeApp(manifest) as app:
            app.push("work", {"body": {"n": 1}})
            app.run_until_idle()
            contexts[name] = json.loads(app.attempts[0].logs)
    with ForgeApp(write_app(tmp_path / "py", V1_MANIFEST, {"src/index.py": PY_CONTEXT})) as app:
        app.push("work", {"body": {"n": 1}})
        app.run_until_idle()
        contexts["python"] = {k: v for k, v in json.loads(app.attempts[0].logs).items() if v is not None}
    expected = contexts["2.0.1"]
    assert expected["installContext"] == "ari:cloud:jira::site/site-1"
    assert expected["installation"] == {"id": "site-1"} and len(expected["jobId"]) == 36
    assert "accountId" not in expected and "license" not in expected  # no user, no license in development
    assert contexts["1.4.2"] == contexts["1.6.16"] == expected == contexts["python"]


# -- the end of an attempt ---------------------------------------------------------------------------

ENDINGS = """
import { kvs } from '@forge/kvs';

export async function work(event) {
  if (event.body.mode === 'chain') {
    // not awaited: the continuation of the first call starts a second one as the attempt would end
    kvs.set('first', 1).then(() => kvs.set('second', 2)).then(() => console.log('chain done'));
  } else if (event.body.mode === 'timer') {
    setTimeout(() => {
      console.log('the timer fired');
      kvs.set('late', 1);
    }, 50);
  } else {
    await new Promise((resolve) => setTimeout(resolve, 400));
    console.log('slow attempt done');
  }
}
"""

def test_an_attempt_ends_after_its_continuations_and_late_work_stays_on_its_own_attempt(tmp_path, corpus_modules):
    manifest = write_js_app(tmp_path / "app", MANIFEST, {"src/index.js": ENDINGS}, corpus_modules["fixture"])
    with ForgeApp(manifest) as app:
        app.push("work", {"body": {"mode": "chain"}})
        app.push("work", {"body": {"mode": "timer"}, "delayInSeconds": 1})
        app.push("work", {"body": {"mode": "slow"}, "delayInSeconds": 2})
        app.run_until_idle()
        chain, timer, slow = sorted(app.attempts, key=lambda a: a.event)
        assert chain.logs.strip() == "chain done" and chain.storage_calls == 2
        assert app.kvs.as_dict() == {"first": 1, "second": 2}  # the timer's call never ran
        assert slow.logs.strip() == "slow attempt done"  # nothing of the timer lands here
        assert "the timer fired" in timer.logs
        assert "forgeq: POST /api/v1/set was made after its invocation ended" in timer.logs
        assert any("event #2 attempt 1 left work that ran after it ended" in notice.text for notice in app.notices)


# -- what cannot run: a note on the attempt that fails, and the doctor -------------------------------------


def test_an_old_api_copy_given_a_newer_storage_runs_as_in_its_day_and_is_named(tmp_path, corpus_modules):
    """@forge/api 2.6.1 asks for @forge/storage ^1.2.0; a fresh install gets a 2.x whose GlobalStorage
    takes its arguments in another order: on Forge every legacy storage call fails. forgeq adapts the
    call, as the @forge/storage of the app's day took it, and says what to pin."""
    sandbox = corpus_modules["sandbox-2022"]
    newer_storage = install_packages(CORPUS / "v2-2025-mixed") / "@forge" / "storage"
    modules = tmp_path / "app" / "node_modules"
    (modules / "@forge").mkdir(parents=True)
    for entry in sandbox.iterdir():
        if entry.name != "@forge" and not entry.name.startswith("."):
            (modules / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for entry in (sandbox / "@forge").iterdir():
        if entry.name == "api":
            shutil.copytree(entry, modules / "@forge" / "api", ignore=shutil.ignore_patterns("node_modules"))
        elif entry.name != "storage":
            (modules / "@forge" / entry.name).symlink_to(entry, target_is_directory=True)
    (modules / "@forge" / "storage").symlink_to(newer_storage, target_is_directory=True)
    source = """
    const { storage, startsWith } = require('@forge/api');
    exports.work = async () => {
      await storage.set('k-1', { n: 1 });
      console.log(JSON.stringify([await storage.get('k-1'), (await storage.query().where('key', startsWith('k-')).getMany()).results]));
    };
    """
    manifest = write_js_app(tmp_path / "app", MANIFEST, {"src/index.js": source}, modules)
    found = [p for p in packages.problems(packages.installed(manifest.parent)) if p.package.path == "node_modules/@forge/api"]
    assert [(p.package.version, p.runs_here, p.adapt_storage) for p in found] == [("2.6.1", True, ""), ("2.6.1", True, "1.7")]
    with ForgeApp(manifest) as app:
        assert any(
            n.text.startswith("@forge/api 2.6.1 (node_modules/@forge/api) gets @forge/storage 2.0.3")
            and "on Forge every call of its legacy `storage` API fails" in n.text
            and '"overrides": {"@forge/storage": "1.5.15"}' in n.text
            for n in app.notices
        ), [n.text for n in app.notices]
        app.push("work", {"body": {}})
        app.run_until_idle()
        attempt = app.attempts[0]
        assert attempt.outcome == "succeeded", attempt.error
        assert json.loads(attempt.logs) == [{"n": 1}, [{"key": "k-1", "value": {"n": 1}}]]


def _fake_package(root: Path, path: str, name: str, version: str) -> None:
    folder = root / path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps({"name": name, "version": version}))


def test_package_facts_follow_nodes_resolution(tmp_path):
    _fake_package(tmp_path, "node_modules/@forge/api", "@forge/api", "4.1.2")
    _fake_package(tmp_path, "node_modules/@forge/storage", "@forge/storage", "1.6.0")
    _fake_package(tmp_path, "node_modules/@forge/events", "@forge/events", "0.6.1")
    _fake_package(tmp_path, "node_modules/@forge/events/node_modules/@forge/api", "@forge/api", "2.8.1")
    _fake_package(tmp_path, "node_modules/@forge/resolver/node_modules/@forge/api", "@forge/api", "5.0.0")
    _fake_package(tmp_path, "node_modules/@forge/resolver", "@forge/resolver", "1.6.3")
    found = packages.installed(tmp_path)
    assert [(p.path, p.owner) for p in found if p.name == "@forge/api"] == [
        ("node_modules/@forge/api", None),
        ("node_modules/@forge/events/node_modules/@forge/api", "@forge/events"),
        ("node_modules/@forge/resolver/node_modules/@forge/api", "@forge/resolver"),
    ]
    problems = [str(problem) for problem in packages.problems(found)]
    # 4.1.2 fits storage 1.6; 2.8.1 (nested, finds the top-level 1.6.0) and 5.0.0 do not; 2.8.1 and events 0.6 need global.api
    assert len(problems) == 4, problems
    assert sum("needs global.api" in problem for problem in problems) == 2
    assert any(problem.startswith("@forge/events 0.6.1") and "upgrade @forge/events to 0.8" in problem for problem in problems)
    assert any(problem.startswith("@forge/api 2.8.1") and "upgrade @forge/events (this copy of @forge/api is its own)" in problem for problem in problems)
    assert any(problem.startswith("@forge/api 5.0.0") and "made for @forge/api 4.x" in problem and "on Forge too" in problem for problem in problems)
    assert any(problem.startswith("@forge/api 2.8.1") and "forgeq adapts the call" in problem for problem in problems)
    assert packages.Package("@forge/api", "2.18.3", "node_modules/@forge/api").era == "global.api if present, else node-fetch with the FORGE_PRODUCT_REQUEST agent"


# -- egress: every era's way out goes where fetch goes (the fake site's stubs, the egress rule) --------------

EGRESS_MANIFEST = MANIFEST + """
permissions:
  external:
    fetch:
      backend:
        - https://hooks.example.com
"""

EGRESS = """
const api = require('@forge/api');
const https = require('node:https');

const get = (url) => new Promise((resolve) => {
  https.get(url, (response) => {
    let text = '';
    response.on('data', (chunk) => (text += chunk));
    response.on('end', () => resolve(`${response.statusCode} ${text}`));
  }).on('error', (error) => resolve(`error: ${error.message}`));
});

exports.work = async () => {
  const response = await api.fetch('https://hooks.example.com/records/r1');  // node-fetch, no agent (@forge/api 4.1)
  console.log(JSON.stringify([response.status, await response.json()]));
  console.log(await get('https://hooks.example.com/records/r2'));
  try {
    await api.fetch('https://elsewhere.example.org/');
  } catch (error) {
    console.log(error.message);
  }
};
"""


def test_node_fetch_and_https_requests_of_older_eras_reach_the_stubs_not_the_network(tmp_path, corpus_modules):
    modules = install_packages(CORPUS / "magic-2024-ts")
    manifest = write_js_app(tmp_path / "app", EGRESS_MANIFEST, {"src/index.js": EGRESS}, modules)
    with ForgeApp(manifest) as app:
        stub = app.site.stub("GET", "https://hooks.example.com/records/{id}", body={"found": True})
        app.push("work", {"body": {}})
        app.run_until_idle()
        attempt = app.attempts[0]
        assert attempt.outcome == "succeeded", attempt.error
        lines = attempt.logs.strip().splitlines()
        assert json.loads(lines[0]) == [200, {"found": True}]
        assert lines[1] == '200 {"found":true}'
        assert "URL not included in the external fetch backend permissions: https://elsewhere.example.org/" in lines[2]
        assert stub.calls == 2
