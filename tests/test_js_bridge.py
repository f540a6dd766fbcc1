"""JavaScript handlers on Node.js: Forge's own npm packages making their requests to forgeq.

Every test runs real code end to end: a real Node.js worker (forgeq/emulator/app/worker/worker.cjs), the real
@forge/events, @forge/kvs and @forge/resolver from npm (installed into fixtures/storage-queue-js by
nodejs.py), and forgeq's emulator answering their requests. They skip only without Node.js.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import forgeq, forgeq_json
from nodejs import JS_APP, js_fixture, requires_node, write_js_app

from forgeq.emulator.app import node as node_module
from forgeq.emulator.errors import HandlerLoadError
from forgeq.testing import ForgeApp

__all__ = ["js_fixture"]  # the session fixture that installs the npm packages

pytestmark = [requires_node, pytest.mark.usefixtures("js_fixture")]

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/js-bridge-test
  runtime:
    name: nodejs20.x
modules:
  consumer:
    - key: work-consumer
      queue: work
      function: work
  function:
    - key: work
      handler: index.work
      timeoutSeconds: 2
"""


def js_app(
    tmp_path: Path,
    source: str,
    *,
    manifest: str = MANIFEST,
    name: str = "src/index.js",
    extra: dict[str, str] | None = None,
) -> Path:
    return write_js_app(tmp_path / "app", manifest, {name: source, **(extra or {})})


def line_of(source: str, text: str) -> int:
    """The 1-based line of `source` (as written to disk, dedented) holding `text`."""
    import textwrap

    lines = textwrap.dedent(source).lstrip().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


@pytest.fixture(autouse=True)
def _forget_found_node():
    node_module._found.clear()  # tests change FORGEQ_NODE
    yield
    node_module._found.clear()


# -- Forge's own error classes, raised inside the JavaScript code ------------------------------------------

PUSH_ERRORS = """
import { Queue } from '@forge/events';

export async function work(event) {
  const queue = new Queue({ key: 'elsewhere' });
  const tries = {
    tooMany: () => queue.push(Array.from({ length: 51 }, (_, i) => ({ body: { i } }))),
    noEvents: () => queue.push([]),
    notAnObject: () => queue.push({ body: 'text' }),
    badDelay: () => queue.push({ body: {}, delayInSeconds: 901 }),
    tooBig: () => queue.push({ body: { blob: 'x'.repeat(201 * 1024) } }),
    badName: () => new Queue({ key: 'no spaces' }),
  };
  const results = {};
  for (const [name, attempt] of Object.entries(tries)) {
    try {
      await attempt();
      results[name] = 'pushed';
    } catch (error) {
      results[name] = `${error.constructor.name}: ${error.message}`;
    }
  }
  console.log(JSON.stringify(results));
  if (event.body.rethrow) await queue.push(Array.from({ length: 51 }, () => ({ body: {} })));
}
"""


def test_push_validation_raises_the_real_packages_own_error_classes(tmp_path):
    app_manifest = js_app(tmp_path, PUSH_ERRORS)
    with ForgeApp(app_manifest) as app:
        app.push("work", {"body": {}})
        app.push("work", {"body": {"rethrow": True}})
        app.run_until(lambda _: len(app.timeline()) >= 2)
        first, second = sorted(app.timeline()[:2], key=lambda a: a.event)
        assert json.loads(first.logs.splitlines()[0]) == {
            "tooMany": "TooManyEventsError: This push contains more than the 50 events allowed.",
            "noEvents": "NoEventsToPushError: No events pushed.",
            "notAnObject": "InvalidPayloadError: Event body must be an object.",
            "badDelay": "InvalidPushSettingsError: The delayInSeconds setting must be between 0 and 900.",
            "tooBig": "PayloadTooBigError: The maximum payload size is 200KB.",
            "badName": "InvalidQueueNameError: Queue names can only contain alphanumeric characters, dashes and underscores.",
        }
        assert first.outcome == "succeeded"
        # Validation stopped every push on the client: only the test's own two pushes made jobs.
        assert [job.queue for job in app.jobs()] == ["work", "work"]
        line = line_of(PUSH_ERRORS, "if (event.body.rethrow)")
        assert second.outcome == "error"
        assert (
            second.error
            == f"TooManyEventsError: This push contains more than the 50 events allowed. (src/index.js:{line})"
        )


RATE_LIMITED = """
import { Queue, RateLimitError, PartialSuccessError } from '@forge/events';

const queue = new Queue({ key: 'elsewhere' });

export async function work(event) {
  for (let push = 1; push <= 11; push++) {
    try {
      await queue.push(Array.from({ length: 50 }, (_, i) => ({ body: { push, i } })));
    } catch (error) {
      console.log(`push ${push}: ${error instanceof RateLimitError} ${error.constructor.name}: ${error.message}`);
      return;
    }
  }
}
"""


def test_over_500_events_a_minute_the_emulators_429_raises_rate_limit_error_in_js(tmp_path):
    with ForgeApp(js_app(tmp_path, RATE_LIMITED)) as app:
        app.push("work", {"body": {}})
        app.run_until(lambda _: bool(app.timeline(queue="work")))
        (attempt,) = app.timeline(queue="work")
        assert attempt.logs.strip() == "push 11: true RateLimitError: Too many requests."
        assert attempt.outcome == "succeeded"
        assert len(app.events("elsewhere")) == 500
        assert any("push of 50 refused" in note for note in attempt.notes)


CYCLIC = """
import { Queue, InvocationLimitReachedError } from '@forge/events';

const queue = new Queue({ key: 'work' });

export async function work(event) {
  try {
    await queue.push({ body: { hop: event.body.hop + 1 }, delayInSeconds: 0.2 });
  } catch (error) {
    console.log(`hop ${event.body.hop}: ${error instanceof InvocationLimitReachedError} ${error.message}`);
  }
}
"""


def test_the_cyclic_invocation_limit_405_raises_invocation_limit_reached_error(tmp_path):
    with ForgeApp(js_app(tmp_path, CYCLIC)) as app:
        app.push("work", {"body": {"hop": 0}})
        app.run_until_idle()
        logged = [a.logs.strip() for a in app.timeline(queue="work") if a.logs.strip()]
        assert logged == ["hop 1000: true The limit on cyclic invocation has been reached."]
        assert len(app.events("work")) == 1001


KVS_CALLS = """
import { kvs, WhereConditions, MetadataField, ForgeKvsAPIError } from '@forge/kvs';

const log = (...parts) => console.log(parts.map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join(' '));

export async function work() {
  log('missing', (await kvs.get('nope')) === undefined);
  await kvs.set('a-1', { n: 1 });
  await kvs.set('a-2', 2);
  await kvs.set('a-3', 'three', { ttl: { value: 1, unit: 'DAYS' } });
  log('get', await kvs.get('a-1'));
  log('meta', Object.keys(await kvs.get('a-1', { metadataFields: [MetadataField.CREATED_AT, MetadataField.UPDATED_AT] })));
  try {
    await kvs.set('a-1', 5, { keyPolicy: 'FAIL_IF_EXISTS' });
  } catch (error) {
    log('conflict', error instanceof ForgeKvsAPIError, error.code, error.responseDetails.status, error.responseDetails.httpPath);
  }
  log('previous', await kvs.set('a-1', 6, { keyPolicy: 'OVERRIDE', returnValue: 'PREVIOUS' }));
  const page = await kvs.query().where('key', WhereConditions.beginsWith('a-')).limit(2).getMany();
  log('page', page.results.map((r) => r.key), typeof page.nextCursor);
  const rest = await kvs.query().where('key', WhereConditions.beginsWith('a-')).limit(2).cursor(page.nextCursor).getMany();
  log('rest', rest.results.map((r) => r.key), rest.nextCursor === undefined);
  await kvs.setSecret('token', { secret: 'x' });
  log('secret', await kvs.getSecret('token'));
  await kvs.deleteSecret('token');
  log('secret deleted', (await kvs.getSecret('token')) === undefined);
  log('batchSet', await kvs.batchSet([{ key: 'b-1', value: 1 }, { key: 'bad key!', value: 2 }]));
  log('batchGet', (await kvs.batchGet([{ key: 'b-1' }, { key: 'b-2' }])).failedKeys.map((f) => f.error.code));
  await kvs.delete('a-2');
  await kvs.delete('a-2');
  for (const [name, call] of [
    ['invalid', () => kvs.set('bad key!', 1)],
    ['null', () => kvs.set('k', null)],
    ['tooBig', () => kvs.set('k', 'x'.repeat(241 * 1024))],
    ['limit', () => kvs.query().limit(101).getMany()],
    ['entity', () => kvs.entity('things').get('k')],
  ]) {
    try {
      await call();
      log(name, 'no error');
    } catch (error) {
      log(name, error.constructor.name, error.code, error.responseDetails.status);
    }
  }
}
"""


def test_kvs_requests_of_the_real_package_are_answered_like_the_cloud(tmp_path):
    with ForgeApp(js_app(tmp_path, KVS_CALLS)) as app:
        app.push("work", {"body": {}})
        app.run_until_idle()
        (attempt,) = app.timeline()
        assert attempt.outcome == "succeeded", attempt.error
        assert attempt.logs.splitlines() == [
            "missing true",
            'get {"n":1}',
            'meta ["key","value","createdAt","updatedAt"]',
            "conflict true KEY_CONFLICT 409 /api/v1/set",
            'previous {"key":"a-1","value":{"n":1}}',
            'page ["a-1","a-2"] string',
            'rest ["a-3"] true',
            'secret {"secret":"x"}',
            "secret deleted true",
            'batchSet {"successfulKeys":[{"key":"b-1"}],"failedKeys":[{"key":"bad key!","error":{"code":"INVALID_KEY",'
            '"message":"The key \\"bad key!\\" must match /^(?!\\\\s+$)[a-zA-Z0-9:._\\\\s-#]+$/."}}]}',
            'batchGet ["KEY_NOT_FOUND"]',
            "invalid ForgeKvsAPIError INVALID_KEY 400",
            "null ForgeKvsAPIError INVALID_VALUE 400",
            "tooBig ForgeKvsAPIError MAX_SIZE 413",
            "limit ForgeKvsAPIError LIST_QUERY_LIMIT_EXCEEDED 400",
            "entity ForgeKvsAPIError INVALID_ENTITY_TYPE 400",
        ]
        assert app.kvs.as_dict() == {"a-1": 6, "a-3": "three", "b-1": 1}
        assert attempt.storage_calls == 18  # each served call charged once; refused-as-invalid ones are not


BIG = """
import { kvs } from '@forge/kvs';

export async function work() {
  const big = 'x'.repeat(150 * 1024);
  const written = await kvs.batchSet(Array.from({ length: 25 }, (_, i) => ({ key: `big-${i}`, value: big + i })));
  const values = await Promise.all(Array.from({ length: 25 }, (_, i) => kvs.get(`big-${i}`)));
  await Promise.all(values.map((value, i) => kvs.set(`copy-${i}`, value)));
  console.log(written.successfulKeys.length, values.every((value, i) => value === big + i));
}
"""


def test_megabytes_both_ways_at_once_do_not_stall_the_pipes(tmp_path):
    # 3.75 MB in one request, then 25 answers of 150 KB while 25 requests of 150 KB are queued; a stall
    # shows as a hang, so the attempt gets 60 s (the file's 2 s is for its hang test, tight on a loaded machine).
    manifest = MANIFEST.replace("timeoutSeconds: 2", "timeoutSeconds: 60")
    with ForgeApp(js_app(tmp_path, BIG, manifest=manifest), storage_limits="none") as app:
        app.push("work", {"body": {}})
        app.run_until_idle()
        (attempt,) = app.timeline()
        assert (attempt.outcome, attempt.logs.strip()) == ("succeeded", "25 true")
        assert len(app.kvs.keys("copy-")) == 25


JOBS = """
import { Queue, JobDoesNotExistError } from '@forge/events';

const queue = new Queue({ key: 'later' });

export async function work() {
  const { jobId } = await queue.push([{ body: { n: 1 } }, { body: { n: 2 }, delayInSeconds: 60 }]);
  console.log('stats', JSON.stringify(await queue.getJob(jobId).getStats()));
  await queue.cancel(jobId);
  console.log('cancelled', JSON.stringify(await queue.getStats(jobId)));
  try {
    await queue.getStats('00000000-0000-4000-8000-000000000000');
  } catch (error) {
    console.log(`${error instanceof JobDoesNotExistError} ${error.message}`);
  }
  console.log('job', jobId);
}
"""


def test_job_stats_and_cancel_use_the_job_id_the_package_minted(tmp_path):
    with ForgeApp(js_app(tmp_path, JOBS)) as app:
        app.push("work", {"body": {}})
        app.run_until_idle()
        (attempt,) = app.timeline(queue="work")
        logs = attempt.logs.splitlines()
        assert logs[:3] == [
            'stats {"success":0,"inProgress":2,"failed":0}',
            'cancelled {"success":0,"inProgress":0,"failed":0}',
            "true The job 00000000-0000-4000-8000-000000000000 was not found for the queue later.",
        ]
        job_id = logs[3].split()[1]
        assert app.job(job_id).cancelled == 2
        assert {event.state for event in app.events("later")} == {"cancelled"}


# -- logs, thrown errors, hangs ----------------------------------------------------------------------------

FAILING = """
export async function work(event, context) {
  console.log('starting', event.body.n);
  console.error('to stderr too');
  const issue = event.body.issue;
  return issue.key;
}
"""


def test_console_output_and_a_thrown_error_with_its_javascript_stack_are_on_the_timeline(tmp_path):
    manifest = js_app(tmp_path, FAILING)
    done = forgeq(
        "push", "--queue", "work", "--body", '{"n": 7}', "--manifest", manifest, cwd=manifest.parent
    )
    assert done.returncode == 0, done.stderr
    done = forgeq("run", manifest, "--until-idle", "--max-attempts", "2", "--logs", cwd=manifest.parent)
    assert done.returncode == 0, done.stderr
    line = line_of(FAILING, "return issue.key")
    error = f"TypeError: Cannot read properties of undefined (reading 'key') (src/index.js:{line})"
    out = done.stdout
    assert "work  #1  try 1  error" in out and error in out
    assert "| starting 7" in out and "| to stderr too" in out
    assert f"at work (file://{manifest.parent.resolve()}/src/index.js:{line}:" in out
    assert "node:internal" not in out and "worker.cjs" not in out
    attempts = forgeq_json("inspect", "timeline", "1", "--manifest", manifest, cwd=manifest.parent)[
        "attempts"
    ]
    assert [a["outcome"] for a in attempts] == ["error", "error"]  # v2 retries a thrown error
    assert all(a["error"] == error for a in attempts)
    assert "Traceback" not in done.stderr


HANGING = """
export async function work(event) {
  if (event.body.hang && !event.retryContext) await new Promise(() => {});
  console.log(`pid ${process.pid} ran ${event.body.name}`);
}
"""


def test_a_hang_past_the_timeout_kills_the_worker_and_the_next_attempt_gets_a_fresh_one(tmp_path):
    with ForgeApp(js_app(tmp_path, HANGING)) as app:
        app.push("work", {"body": {"name": "first"}})
        app.push("work", {"body": {"name": "hanging", "hang": True}, "delayInSeconds": 5})
        app.push("work", {"body": {"name": "third"}, "delayInSeconds": 10})
        started = time.monotonic()
        app.run_until_idle()
        assert time.monotonic() - started < 30
        by_name: dict[str, list] = {}
        for attempt in app.timeline():
            by_name.setdefault(app.event(attempt.event).body["name"], []).append(attempt)
        assert [a.outcome for a in by_name["hanging"]] == ["timeout", "succeeded"]
        assert by_name["hanging"][0].error == "Function timed out. Limit of 2 seconds"
        assert any("starts a fresh one" in note for note in by_name["hanging"][0].notes)
        pids = {name: attempts[-1].logs.split()[1] for name, attempts in by_name.items()}
        assert pids["first"] != pids["third"] == pids["hanging"]  # killed at the timeout, started again
        assert [e.state for e in app.events("work")] == ["succeeded"] * 3  # the queue lost nothing


EXITING = """
export async function work(event) {
  if (!event.retryContext) process.exit(3);
  console.log('ran again');
}
"""


def test_a_handler_that_ends_the_process_fails_its_attempt_and_the_next_one_runs(tmp_path):
    with ForgeApp(js_app(tmp_path, EXITING)) as app:
        app.push("work", {"body": {}})
        app.run_until_idle()
        first, second = app.timeline()
        assert first.outcome == "error"
        assert first.error.startswith("NodeWorkerExited: the Node.js worker exited with code 3")
        assert (second.outcome, second.logs.strip()) == ("succeeded", "ran again")


UNAWAITED = """
import { Queue } from '@forge/events';

const queue = new Queue({ key: 'elsewhere' });

export async function work(event) {
  if (event.body.broken) queue.push({ body: 'not an object' });
  else queue.push({ body: { fine: true } });
}
"""


def test_an_sdk_call_never_awaited_still_runs_and_its_rejection_fails_the_attempt(tmp_path):
    with ForgeApp(js_app(tmp_path, UNAWAITED)) as app:
        app.push("work", {"body": {}})
        app.push("work", {"body": {"broken": True}, "delayInSeconds": 1})
        app.run_until(lambda _: len(app.timeline(queue="work")) >= 2)
        fine, broken = app.timeline(queue="work")[:2]
        assert fine.outcome == "succeeded" and len(app.events("elsewhere")) == 1
        line = line_of(UNAWAITED, "if (event.body.broken)")
        assert (
            broken.error
            == f"UnhandledRejection: InvalidPayloadError: Event body must be an object. (src/index.js:{line})"
        )


# -- determinism: the seed drives Math.random and crypto.randomUUID ------------------------------------------

RANDOM = """
import { randomUUID } from 'node:crypto';

export async function work(event) {
  console.log(JSON.stringify([Math.random(), Math.random(), Math.random(), randomUUID(), crypto.randomUUID()]));
}
"""


def test_math_random_draws_what_python_random_draws_under_the_same_seed(tmp_path):
    manifest = js_app(tmp_path, RANDOM)
    drawn = []
    for _ in range(2):
        with ForgeApp(manifest, seed=42) as app:
            app.push("work", {"body": {}})
            app.run_until_idle()
            (attempt,) = app.timeline()
            drawn.append((attempt.event, json.loads(attempt.logs)))
    (event, values), again = drawn
    assert drawn[1] == drawn[0]  # same seed, same numbers and the same UUIDs
    python = random.Random(f"42:{event}:1")
    assert values[:3] == [python.random(), python.random(), python.random()]
    assert len(set(values[3:])) == 2 and all(len(uuid) == 36 and uuid[14] == "4" for uuid in values[3:])


MODULE_SCOPE = """
import { kvs } from '@forge/kvs';
import { InvocationError, InvocationErrorCode } from '@forge/events';

const atLoad = await kvs.get('settings').catch((error) => `${error.constructor.name} ${error.code}`);

export async function work(event) {
  console.log(`${process.env.GREETING} | ${atLoad}`);
  if (!event.retryContext) {
    return new InvocationError({ retryAfter: 30, retryReason: InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED });
  }
}
"""


def test_module_scope_calls_are_refused_user_vars_are_mapped_and_a_returned_invocation_error_retries(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("FORGE_USER_VAR_GREETING", "hello")
    with ForgeApp(js_app(tmp_path, MODULE_SCOPE)) as app:
        app.push("work", {"body": {}})
        app.run_until_idle()
        first, second = app.timeline()
        assert first.logs.strip() == "hello | ForgeKvsAPIError NO_INVOCATION"
        assert (first.outcome, first.reason, first.retry_after_applied) == (
            "retry",
            "FUNCTION_UPSTREAM_RATE_LIMITED",
            30,
        )
        assert second.outcome == "succeeded" and second.started_at - first.started_at >= 30


# -- loading -----------------------------------------------------------------------------------------------


def test_load_problems_are_one_line_and_name_the_file_and_line(tmp_path):
    cases = {
        "missing export": ("export async function other() {}\n", "src/index.js has no export 'work'"),
        "syntax error": (
            "export async function work() {\n  const x = ;\n}\n",
            "src/index.js:2: SyntaxError: Unexpected token ';'",
        ),
        "missing package": (
            "import nothing from 'no-such-package';\nexport const work = () => nothing;\n",
            "importing index.js failed: Cannot find package 'no-such-package'",
        ),
        "top-level throw": (
            "throw new RangeError('bad config');\nexport const work = () => 1;\n",
            "RangeError: bad config (src/index.js:1)",
        ),
    }
    for number, (case, (source, expected)) in enumerate(cases.items()):
        manifest = write_js_app(tmp_path / f"app{number}", MANIFEST, {"src/index.js": source})
        with pytest.raises(HandlerLoadError) as raised:
            ForgeApp(manifest)
        assert expected in str(raised.value), case
        assert "\n" not in raised.value.message, case


def test_without_nodejs_a_javascript_handler_gets_a_one_line_error_and_its_events_wait(tmp_path):
    manifest = js_app(tmp_path, "export async function work() {}\n")
    assert (
        forgeq(
            "push", "--queue", "work", "--body", "{}", "--manifest", manifest, cwd=manifest.parent
        ).returncode
        == 0
    )
    done = forgeq(
        "run", manifest, "--until-idle", cwd=manifest.parent, env={"FORGEQ_NODE": str(tmp_path / "no-node")}
    )
    # the run cannot do its job: exit 1, saying how many events wait and why (they are not lost)
    assert done.returncode == 1 and "1 event blocked" in done.stderr and "not an executable Node.js" in done.stderr, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if "ERROR" in line]
    assert (
        f"cannot load function 'work' (handler index.work): src/index.js runs on Node.js, but FORGEQ_NODE={tmp_path / 'no-node'} "
        "is not an executable Node.js: install Node.js 20 (app.runtime.name is nodejs20.x), or set FORGEQ_NODE to its path; its events wait"
    ) in line
    assert (
        forgeq_json("inspect", "queue", "--manifest", manifest, cwd=manifest.parent)["queues"]["work"][
            "blocked"
        ]
        == 1
    )
    assert "Traceback" not in done.stdout + done.stderr


def test_a_nodejs_too_old_for_the_worker_is_refused_and_another_major_than_the_runtime_warns(tmp_path, monkeypatch):
    source = "export async function work() { console.log('ran'); }\n"
    fake = tmp_path / "old-node"
    fake.write_text("#!/bin/sh\necho v18.19.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("FORGEQ_NODE", str(fake))
    with pytest.raises(
        HandlerLoadError,
        match=r"Node.js 18.19.0 .* is too old for forgeq's worker, which needs 20.6.0 or newer",
    ):
        ForgeApp(write_js_app(tmp_path / "a", MANIFEST, {"src/index.js": source}))
    monkeypatch.delenv("FORGEQ_NODE")
    node_module._found.clear()
    major = node_module.find_node().version[0]
    for runtime, said in ((major + 2, "an older major version: code that needs Node.js"), (major - 2, "a newer major version")):
        manifest = MANIFEST.replace("nodejs20.x", f"nodejs{runtime}.x")
        with ForgeApp(write_js_app(tmp_path / str(runtime), manifest, {"src/index.js": source})) as app:
            assert any(
                f"app.runtime.name is nodejs{runtime}.x" in n.text and said in n.text and n.level == "warning"
                for n in app.notices
            )
            app.push("work", {"body": {}})
            app.run_until_idle()
            assert [a.logs.strip() for a in app.timeline()] == ["ran"]


TYPESCRIPT = {
    "src/index.ts": """
        import { kvs } from '@forge/kvs';
        import type { Issue } from './types';
        import { keyFor } from './keys';
        import settings from './settings.json';

        export async function work(event: { body: Issue }, context: unknown): Promise<void> {
          const issue: Issue = event.body;
          if (issue.broken) {
            const missing = undefined as unknown as { key: string };
            console.log(missing.key);
          }
          await kvs.set(keyFor(issue), { ...issue, ...settings });
        }
    """,
    "src/settings.json": '{"source": "settings.json"}\n',
    "src/types.ts": "export interface Issue { issueKey: string; broken?: boolean }\n",
    "src/keys.ts": "import type { Issue } from './types';\nexport const keyFor = (issue: Issue): string => `issue-${issue.issueKey}`;\n",
}


def test_typescript_runs_through_the_apps_own_transpiler_with_its_own_line_numbers(tmp_path):
    manifest = write_js_app(tmp_path / "app", MANIFEST, TYPESCRIPT)
    with ForgeApp(manifest) as app:
        app.push("work", {"body": {"issueKey": "T-1"}})
        app.push("work", {"body": {"issueKey": "T-2", "broken": True}})
        app.run_until(lambda _: len(app.timeline()) >= 2)
        assert app.kvs.as_dict() == {"issue-T-1": {"issueKey": "T-1", "source": "settings.json"}}
        (broken,) = [a for a in app.timeline() if a.outcome == "error"]
        line = line_of(TYPESCRIPT["src/index.ts"], "console.log(missing.key)")
        assert (
            broken.error
            == f"TypeError: Cannot read properties of undefined (reading 'key') (src/index.ts:{line})"
        )


def test_typescript_without_a_transpiler_is_refused_with_the_way_out(tmp_path):
    bare = tmp_path / "bare_modules"  # the @forge packages, and no sucrase, esbuild or typescript
    (bare / "@forge").mkdir(parents=True)
    for package in ("kvs", "api", "events", "resolver"):
        (bare / "@forge" / package).symlink_to(JS_APP / "node_modules" / "@forge" / package)
    manifest = write_js_app(tmp_path / "app", MANIFEST, TYPESCRIPT, modules=bare)
    with pytest.raises(
        HandlerLoadError, match=r"src/index.ts is TypeScript, .* run `npm install --save-dev sucrase`"
    ):
        ForgeApp(manifest)


DOCS_NAMES = """
import Resolver, { makeResolver as make } from '@forge/resolver';
import { kvs,
  Sort, SortOrder } from '@forge/kvs';
import{ Queue }from '@forge/events';

export const work = async (event) => {
  const order = event.body.docs ? SortOrder.DESC : Sort.DESC;
  await kvs.set('named', [typeof Resolver, typeof make, typeof Queue, typeof SortOrder, order]);
};
"""


def test_a_named_import_a_package_does_not_export_is_undefined_as_the_bundler_makes_it(tmp_path):
    """Some Forge docs import SortOrder from @forge/kvs, which exports Sort: webpack binds the name to
    undefined and only its use throws; the module and its other uses still load and run."""
    with ForgeApp(js_app(tmp_path, DOCS_NAMES)) as app:
        app.push("work", [{"body": {}}, {"body": {"docs": True}}])
        app.run_until(lambda _: len(app.timeline()) >= 2)
        assert app.kvs.get("named") == ["function", "function", "function", "undefined", "DESC"]
        (used,) = [a.error for a in app.timeline() if a.outcome == "error"]
        line = line_of(DOCS_NAMES, "SortOrder.DESC")
        assert used == f"TypeError: Cannot read properties of undefined (reading 'DESC') (src/index.js:{line})"


COMMONJS = """
const { Queue } = require('@forge/events');
const { kvs } = require('@forge/kvs');

module.exports.work = async (event) => {
  await kvs.set('cjs', event.body);
  return new Queue({ key: 'work' }).key;
};
"""


def test_a_commonjs_handler_loads_with_require(tmp_path):
    with ForgeApp(js_app(tmp_path, COMMONJS, name="src/index.cjs")) as app:
        app.push("work", {"body": {"n": 1}})
        app.run_until_idle()
        assert [a.outcome for a in app.timeline()] == ["succeeded"]
        assert app.kvs.get("cjs") == {"n": 1}


# -- the process around the worker ---------------------------------------------------------------------------


def _is_worker(process: psutil.Process) -> bool:
    """Whether a child is the Node.js worker; short-lived children (the `node --version` probe) may
    already be zombies or gone by the time we look."""
    try:
        return "worker.cjs" in " ".join(process.cmdline())
    except psutil.Error:
        return False


def test_the_worker_ends_when_forgeq_is_killed(tmp_path):
    manifest = js_app(tmp_path, "export async function work() {}\n")
    env = {**os.environ, "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "forgeq", "run", str(manifest)],
        cwd=manifest.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        workers: list[psutil.Process] = []
        while not workers and time.monotonic() < deadline:
            workers = [p for p in psutil.Process(process.pid).children(recursive=True) if _is_worker(p)]
            time.sleep(0.05)
        assert workers, "no Node.js worker started"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        gone, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_watch_mode_reloads_a_javascript_handler(tmp_path):
    manifest = js_app(
        tmp_path, "export async function work(event) { console.log('version 1 for', event.body.n); }\n"
    )
    app_dir = manifest.parent
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORGEQ_DB", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "forgeq", "run", "manifest.yml", "--watch", "--logs"],
        cwd=app_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if text in line:
                return
        pytest.fail(f"no {text!r} in:\n{''.join(lines)}")

    def push(n: int) -> None:
        done = forgeq(
            "push",
            "--queue",
            "work",
            "--body",
            json.dumps({"n": n}),
            "--db",
            app_dir / ".forgeq" / "state.db",
            "--manifest",
            "absent.yml",
            cwd=app_dir,
        )
        assert done.returncode == 0, done.stderr

    try:
        wait_for("watching")
        push(1)
        wait_for("version 1 for 1")
        with open(app_dir / "src" / "index.js", "w") as file:
            file.write("export async function work(event) { console.log('version 2 for', event.body.n); }\n")
            file.flush()
            os.fsync(file.fileno())
        wait_for("src/index.js changed")
        wait_for("1 of 1 function loaded")
        push(2)
        wait_for("version 2 for 2")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)

    def workers_left() -> list[psutil.Process]:
        return [
            p
            for p in psutil.process_iter(["cmdline", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE
            and str(app_dir) in " ".join(p.info["cmdline"] or [])
            and "worker.cjs" in " ".join(p.info["cmdline"] or [])
        ]

    deadline = time.monotonic() + 30  # the worker ends on its own once its pipe closes
    while workers_left() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not workers_left()
