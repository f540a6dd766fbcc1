"""Custom entities and transactions from JavaScript: the real @forge/kvs on Node.js against forgeq,
and the same scenario written in Python and in JavaScript giving the same store and timeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import write_app
from nodejs import js_fixture, requires_node, write_js_app
from test_entities import ENTITY_MANIFEST
from test_transactions import COUNTER_APP, COUNTER_HANDLER

from forgeq.testing import ForgeApp

__all__ = ["js_fixture"]

pytestmark = [requires_node, pytest.mark.usefixtures("js_fixture")]

JS_MANIFEST = ENTITY_MANIFEST.replace(
    "  storage:", "  runtime:\n    name: nodejs20.x\n  storage:", 1
).replace("handler: index.handler", "handler: index.handler\n      timeoutSeconds: 5")

ENTITY_CALLS = """
import { kvs, WhereConditions, FilterConditions, Filter, Sort } from '@forge/kvs';

const log = (...parts) => console.log(parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' '));

async function code(call) {
  try {
    await call();
    return 'no error';
  } catch (error) {
    if (!error.responseDetails) return `${error.constructor.name}: ${error.message}`;
    return `${error.constructor.name} ${error.code} ${error.responseDetails.status} ${error.responseDetails.httpPath}`;
  }
}

export async function handler() {
  const records = kvs.entity('import-record');
  for (let n = 0; n < 8; n++) {
    await records.set(`r${n}`, { issueKey: `DEMO-${n}`, status: n % 2 ? 'failed' : 'new', attempts: n, done: n > 5 });
  }
  log('get', await records.get('r3'));
  log('missing', (await records.get('nope')) === undefined);
  log('meta', Object.keys(await records.get('r3', { metadataFields: ['CREATED_AT', 'UPDATED_AT'] })));
  const page = await records.query().index('by-status', { partition: ['failed'] })
    .where(WhereConditions.greaterThan(1)).sort(Sort.DESC).limit(2).getMany();
  log('page', page.results.map((r) => r.key), typeof page.nextCursor);
  const rest = await records.query().index('by-status', { partition: ['failed'] })
    .where(WhereConditions.greaterThan(1)).sort(Sort.DESC).limit(2).cursor(page.nextCursor).getMany();
  log('rest', rest.results.map((r) => r.key), rest.nextCursor === undefined);
  const filtered = await records.query().index('by-key')
    .filters(new Filter().or('attempts', FilterConditions.equalTo(0)).or('done', FilterConditions.equalTo(true))).getMany();
  log('filtered', filtered.results.map((r) => r.key));
  log('one', await records.query().index('issueKey').where(WhereConditions.beginsWith('DEMO-4')).getOne());
  await records.delete('r0');
  log('deleted', (await records.get('r0')) === undefined);
  await kvs.transact()
    .set('counter', 1)
    .set('r0', { status: 'new', attempts: 0 }, { entityName: 'import-record',
         conditions: new Filter().and('status', FilterConditions.notExists()) })
    .delete('r1', { entityName: 'import-record' })
    .execute();
  log('transacted', await kvs.get('counter'), await records.get('r0'), (await records.get('r1')) === undefined);
  log('batch', await kvs.batchGet([{ key: 'r2', entityName: 'import-record' }, { key: 'zz', entityName: 'import-record' }]));
  log('check', await code(() => kvs.transact().set('counter', 2)
    .check('r2', { entityName: 'import-record', conditions: new Filter().and('status', FilterConditions.equalTo('failed')) })
    .execute()));
  log('counter', await kvs.get('counter'));
  log('plain check', await code(() => kvs.transact().set('counter', 3).check('lock', { value: 'me' }).execute()));
  log('undeclared', await code(() => kvs.entity('nowhere').get('k')));
  log('value', await code(() => records.set('bad', { attempts: 'three' })));
  log('limit', await code(() => records.query().index('by-key').limit(101).getMany()));
  log('index', await code(() => records.query().index('by-nothing').getMany()));
  log('empty', await code(() => kvs.transact().set('r9', {}, { entityName: 'import-record', conditions: new Filter() }).execute()));
}
"""


def test_entity_and_transaction_requests_of_the_real_package_are_answered_like_the_cloud(tmp_path: Path) -> None:
    manifest = write_js_app(tmp_path / "app", JS_MANIFEST, {"src/index.js": ENTITY_CALLS})
    with ForgeApp(manifest) as app:
        app.push("work", {"body": {}})
        app.run_until_idle()
        (attempt,) = app.timeline()
        assert attempt.outcome == "succeeded", attempt.error
        assert attempt.logs.splitlines() == [
            'get {"issueKey":"DEMO-3","status":"failed","attempts":3,"done":false}',
            "missing true",
            'meta ["key","value","createdAt","updatedAt"]',
            'page ["r7","r5"] string',
            'rest ["r3"] true',
            'filtered ["r0","r6","r7"]',
            'one {"key":"r4","value":{"issueKey":"DEMO-4","status":"new","attempts":4,"done":false}}',
            "deleted true",
            'transacted 1 {"status":"new","attempts":0} true',
            'batch {"successfulKeys":[{"key":"r2","value":{"issueKey":"DEMO-2","status":"new","attempts":2,"done":false},'
            '"entityName":"import-record"}],"failedKeys":[{"key":"zz","error":{"code":"KEY_NOT_FOUND",'
            '"message":"The key does not exist."},"entityName":"import-record"}]}',
            "check ForgeKvsAPIError CONDITIONAL_CHECK_FAILED 409 /api/v1/transaction",
            "counter 1",
            # Forge's answer: the package sends {key} alone (the Python SDK's plain-key check is forgeq's extension)
            "plain check ForgeKvsAPIError INVALID_TRANSACTION_REQUEST 400 /api/v1/transaction",
            "undeclared ForgeKvsAPIError INVALID_ENTITY_TYPE 400 /api/v1/entity/get",
            "value ForgeKvsAPIError INVALID_ENTITY_VALUE 400 /api/v1/entity/set",
            "limit ForgeKvsAPIError COMPLEX_QUERY_PAGE_LIMIT_NOT_IN_RANGE 400 /api/v1/entity/query",
            "index ForgeKvsAPIError INVALID_ENTITY_INDEX 400 /api/v1/entity/query",
            "empty ForgeKvsError: Builder must have at least one condition set",  # refused by the package itself
        ]
        assert sorted(app.kvs.entity("import-record").as_dict()) == ["r0", "r2", "r3", "r4", "r5", "r6", "r7"]


COUNTER_JS = """
import { kvs, Filter, FilterConditions } from '@forge/kvs';

export async function handler(event) {
  const name = event.body.name;
  const total = await kvs.entity('counter').get('total');
  const current = total ? total.value : 0;
  const unchanged = total
    ? new Filter().and('value', FilterConditions.equalTo(current))
    : new Filter().and('value', FilterConditions.notExists());
  try {
    await kvs.transact()
      .set(name, { event: name }, { entityName: 'processed',
           conditions: new Filter().and('event', FilterConditions.notExists()) })
      .set('total', { value: current + 1 }, { entityName: 'counter', conditions: unchanged })
      .execute();
  } catch (error) {
    if (error.code !== 'CONDITIONAL_CHECK_FAILED') throw error;
    if ((await kvs.entity('processed').get(name)) === undefined) throw error;
  }
}
"""


def _counter_run(manifest: Path) -> dict[str, Any]:
    with ForgeApp(manifest, seed=7) as app:
        app.faults.duplicates(probability=0.5)
        app.faults.storage_429(0, 3600, probability=0.3)
        app.push("work", [{"body": {"name": f"e-{n}"}} for n in range(30)])
        app.run_until_idle()
        return {
            "schedule": [(a.event, a.attempt, a.outcome, a.started_at, a.next_at, a.quota_refusals, a.storage_calls) for a in app.timeline()],
            "counter": app.kvs.entity("counter").as_dict(),
            "processed": app.kvs.entity("processed").query(),
            "quota": app.quota(),
        }


def test_the_guarded_counter_behaves_the_same_in_python_and_javascript(tmp_path: Path) -> None:
    python = write_app(tmp_path / "py", COUNTER_APP, {"src/index.py": COUNTER_HANDLER})
    js_manifest = COUNTER_APP.replace("  storage:", "  runtime:\n    name: nodejs20.x\n  storage:", 1)
    javascript = write_js_app(tmp_path / "js", js_manifest, {"src/index.js": COUNTER_JS})
    py, js = _counter_run(python), _counter_run(javascript)
    assert js["schedule"] == py["schedule"]
    assert js["counter"] == py["counter"] == {"total": {"value": 30}}
    assert js["processed"] == py["processed"] and len(py["processed"]) == 30
    assert js["quota"] == py["quota"]
    assert sum(1 for row in py["schedule"] if row[2] != "succeeded") > 3  # the injected 429s made retries
