"""The legacy `storage` API of @forge/api: the same answers from the real @forge/storage (through its
GraphQL requests) and from the Python mirror (forgeq.api.storage), over the store @forge/kvs uses.

One scenario runs in a JavaScript app on @forge/api 4.1.2 (the magic-2024-ts corpus app's packages)
and in its Python port; each prints what every call returned or raised, and the two must agree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import write_app
from nodejs import NODE, install_packages, requires_node, write_js_app
from test_js_bridge import MANIFEST  # a v2 consumer `work` of queue `work`: index.work
from test_published_apps import CORPUS

from forgeq.testing import ForgeApp

# The scenario's custom entity, which the legacy storage.entity() reaches as kvs.entity() does.
TASKS = """  storage:
    entities:
      - name: task
        attributes:
          status: {type: string}
          rank: {type: integer}
        indexes:
          - name: by-status
            partition: [status]
            range: [rank]
"""
TASKS_MANIFEST = MANIFEST.replace("modules:\n", TASKS + "modules:\n", 1)

JS_SCENARIO = """
const { storage, startsWith, WhereConditions, FilterConditions, SortOrder } = require('@forge/api');

const call = async (results, name, work) => {
  try {
    results.push([name, (await work()) ?? null]);
  } catch (error) {
    results.push([name, `${error.constructor.name}: ${error.message}`]);
  }
};

exports.work = async (event) => {
  const results = [];
  if (event.body.throttled) {
    await call(results, 'get', () => storage.get('item-1'));
    await call(results, 'set', () => storage.set('item-9', 9));
    console.log(JSON.stringify(results));
    return;
  }
  for (const n of [1, 2, 3, 4, 5]) await call(results, `set ${n}`, () => storage.set(`item-${n}`, { n }));
  await call(results, 'set other', () => storage.set('other', 'x'));
  await call(results, 'set secret', () => storage.setSecret('item-secret', 's3cret'));
  await call(results, 'get', () => storage.get('item-2'));
  await call(results, 'get missing', () => storage.get('nope'));
  await call(results, 'get secret', () => storage.getSecret('item-secret'));
  await call(results, 'get secret as plain', () => storage.get('item-secret'));
  await call(results, 'delete', () => storage.delete('item-5'));
  await call(results, 'delete missing', () => storage.delete('nope'));
  await call(results, 'delete secret', () => storage.deleteSecret('item-secret'));
  await call(results, 'bad key', () => storage.set('no/slash', 1));
  await call(results, 'too big', () => storage.set('big', 'x'.repeat(250 * 1024)));
  let cursor;
  for (let page = 1; page <= 4; page += 1) {
    await call(results, `page ${page}`, async () => {
      const found = await storage.query().where('key', startsWith('item-')).limit(3).cursor(cursor).getMany();
      cursor = found.nextCursor;
      return found.results;
    });
  }
  await call(results, 'get one', () => storage.query().where('key', startsWith('oth')).getOne());
  await call(results, 'all keys', async () => (await storage.query().limit(100).getMany()).results.map((r) => r.key));
  await call(results, 'limit over 100', () => storage.query().limit(101).getMany());
  for (const n of [1, 2, 3, 4]) {
    await call(results, `entity set ${n}`, () => storage.entity('task').set(`t-${n}`, { status: n < 4 ? 'open' : 'done', rank: n }));
  }
  await call(results, 'entity get', () => storage.entity('task').get('t-2'));
  await call(results, 'entity get missing', () => storage.entity('task').get('t-9'));
  await call(results, 'entity delete', () => storage.entity('task').delete('t-3'));
  const open = () => storage.entity('task').query().index('by-status', { partition: ['open'] });
  let next;
  await call(results, 'entity page', async () => {
    const found = await open().where(WhereConditions.isGreaterThan(0)).andFilter('rank', FilterConditions.exists())
      .sort(SortOrder.DESC).limit(1).getMany();
    next = found.nextCursor;
    return found.results;
  });
  await call(results, 'entity next page', async () => {
    const found = await open().where(WhereConditions.isGreaterThan(0)).sort(SortOrder.DESC).limit(1).cursor(next).getMany();
    return [found.results, found.nextCursor];
  });
  await call(results, 'entity one', () => open().where(WhereConditions.between([2, 5])).getOne());
  await call(results, 'entity bad value', () => storage.entity('task').set('t-5', { rank: 'five' }));
  await call(results, 'entity undeclared', () => storage.entity('tasks').get('t-1'));
  console.log(JSON.stringify(results));
};
"""

PY_SCENARIO = """
from forgeq.api import FilterConditions, SortOrder, WhereConditions, storage, startsWith


def call(results, name, work):
    try:
        results.append([name, work()])
    except Exception as error:
        results.append([name, f"{type(error).__name__}: {error}"])


def work(event, context):
    results = []
    if event["body"].get("throttled"):
        call(results, "get", lambda: storage.get("item-1"))
        call(results, "set", lambda: storage.set("item-9", 9))
        print(json.dumps(results))
        return
    for n in [1, 2, 3, 4, 5]:
        call(results, f"set {n}", lambda n=n: storage.set(f"item-{n}", {"n": n}))
    call(results, "set other", lambda: storage.set("other", "x"))
    call(results, "set secret", lambda: storage.setSecret("item-secret", "s3cret"))
    call(results, "get", lambda: storage.get("item-2"))
    call(results, "get missing", lambda: storage.get("nope"))
    call(results, "get secret", lambda: storage.getSecret("item-secret"))
    call(results, "get secret as plain", lambda: storage.get("item-secret"))
    call(results, "delete", lambda: storage.delete("item-5"))
    call(results, "delete missing", lambda: storage.delete("nope"))
    call(results, "delete secret", lambda: storage.deleteSecret("item-secret"))
    call(results, "bad key", lambda: storage.set("no/slash", 1))
    call(results, "too big", lambda: storage.set("big", "x" * (250 * 1024)))
    cursor = None
    for page in range(1, 5):
        def one_page():
            nonlocal cursor
            found = storage.query().where("key", startsWith("item-")).limit(3).cursor(cursor).getMany()
            cursor = found.nextCursor
            return found.results
        call(results, f"page {page}", one_page)
    call(results, "get one", lambda: storage.query().where("key", startsWith("oth")).getOne())
    call(results, "all keys", lambda: [r["key"] for r in storage.query().limit(100).getMany().results])
    call(results, "limit over 100", lambda: storage.query().limit(101).getMany())
    for n in [1, 2, 3, 4]:
        call(results, f"entity set {n}", lambda n=n: storage.entity("task").set(f"t-{n}", {"status": "open" if n < 4 else "done", "rank": n}))
    call(results, "entity get", lambda: storage.entity("task").get("t-2"))
    call(results, "entity get missing", lambda: storage.entity("task").get("t-9"))
    call(results, "entity delete", lambda: storage.entity("task").delete("t-3"))
    open_tasks = lambda: storage.entity("task").query().index("by-status", {"partition": ["open"]})
    pages = {}
    def first_page():
        found = (open_tasks().where(WhereConditions.isGreaterThan(0)).andFilter("rank", FilterConditions.exists())
                 .sort(SortOrder.DESC).limit(1).getMany())
        pages["next"] = found.nextCursor
        return found.results
    call(results, "entity page", first_page)
    def next_page():
        found = open_tasks().where(WhereConditions.isGreaterThan(0)).sort(SortOrder.DESC).limit(1).cursor(pages["next"]).getMany()
        return [found.results, found.nextCursor]
    call(results, "entity next page", next_page)
    call(results, "entity one", lambda: open_tasks().where(WhereConditions.between([2, 5])).getOne())
    call(results, "entity bad value", lambda: storage.entity("task").set("t-5", {"rank": "five"}))
    call(results, "entity undeclared", lambda: storage.entity("tasks").get("t-1"))
    print(json.dumps(results))
"""

pytestmark = requires_node


@pytest.fixture(scope="module")
def modules() -> Path:
    if NODE is None:
        pytest.skip("Node.js is not installed: the JavaScript bridge needs it")
    return install_packages(CORPUS / "magic-2024-ts")


def _results(manifest: Path) -> tuple[list[list[object]], list[list[object]], list[str]]:
    with ForgeApp(manifest) as app:
        app.push("work", {"body": {}})
        app.run_until_idle()
        app.faults.storage_429(app.elapsed, app.elapsed + 60)
        app.push("work", {"body": {"throttled": True}})
        app.run_until_idle()
        first, second = app.attempts[:2]
        assert (first.outcome, second.outcome) == ("succeeded", "succeeded"), (first.error, second.error)
        return json.loads(first.logs), json.loads(second.logs), list(first.notes)


def test_javascript_and_python_get_the_same_answers(tmp_path, modules):
    js = write_js_app(tmp_path / "js", TASKS_MANIFEST, {"src/index.js": JS_SCENARIO}, modules)
    py = write_app(tmp_path / "py", TASKS_MANIFEST, {"src/index.py": "import json\n" + PY_SCENARIO})
    js_results, js_throttled, js_notes = _results(js)
    py_results, py_throttled, py_notes = _results(py)
    answers = dict(js_results)
    assert answers["get"] == {"n": 2} and answers["get missing"] is None
    assert answers["get secret"] == "s3cret" and answers["get secret as plain"] is None
    assert answers["bad key"] == 'APIError: The key "no/slash" must match /^(?!\\s+$)[a-zA-Z0-9:._\\s-#]+$/.'
    assert answers["too big"].startswith("APIError: The value is 256002 bytes; the maximum is 245760")
    # pages of three, each with the last result's cursor; the page after the last one is empty
    assert [[r["key"] for r in answers[f"page {n}"]] for n in (1, 2, 3)] == [["item-1", "item-2", "item-3"], ["item-4"], []]
    assert answers["page 4"] == [{"key": "item-1", "value": {"n": 1}}, {"key": "item-2", "value": {"n": 2}}, {"key": "item-3", "value": {"n": 3}}]
    assert answers["get one"] == {"key": "other", "value": "x"}
    assert answers["all keys"] == ["item-1", "item-2", "item-3", "item-4", "other"]  # never the secret
    assert answers["limit over 100"] == "APIError: The query limit is 101; it should be at most 100."
    assert answers["entity get"] == {"status": "open", "rank": 2} and answers["entity get missing"] is None
    assert answers["entity page"] == [{"key": "t-2", "value": {"status": "open", "rank": 2}}]  # t-3 deleted, t-4 done
    assert answers["entity next page"] == [[{"key": "t-1", "value": {"status": "open", "rank": 1}}], None]
    assert answers["entity one"] == {"key": "t-2", "value": {"status": "open", "rank": 2}}
    assert re.match(r"APIError: Attribute 'rank' of entity 'task' is of type integer", answers["entity bad value"])
    assert re.match(r"APIError: The entity 'tasks' is not declared in the manifest", answers["entity undeclared"])
    assert js_throttled == [["get", "APIError: Unknown error. Received status code '429'"], ["set", "APIError: Unknown error. Received status code '429'"]]
    assert py_results == js_results
    assert py_throttled == js_throttled
    assert js_notes == py_notes == []


def test_legacy_storage_and_kvs_are_one_store(tmp_path, modules):
    """A key written with the legacy API reads back through @forge/kvs, and the other way round."""
    source = """
    const { storage } = require('@forge/api');
    const { kvs } = require('@forge/kvs');

    exports.work = async () => {
      await storage.set('from-legacy', { a: 1 });
      await kvs.set('from-kvs', [1, 2]);
      console.log(JSON.stringify([await kvs.get('from-legacy'), await storage.get('from-kvs')]));
    };
    """
    fixture_modules = modules.parent.parent / "v2-2025-mixed" / "node_modules"
    install_packages(fixture_modules.parent)
    manifest = write_js_app(tmp_path / "app", MANIFEST, {"src/index.js": source}, fixture_modules)
    with ForgeApp(manifest) as app:
        app.push("work", {"body": {}})
        app.run_until_idle()
        assert json.loads(app.attempts[0].logs) == [{"a": 1}, [1, 2]]
        assert app.kvs.as_dict() == {"from-kvs": [1, 2], "from-legacy": {"a": 1}}
