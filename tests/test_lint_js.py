"""`forgeq lint` on JavaScript and TypeScript apps: the handler modules and what they import, read
with tree-sitter; package.json and the versions installed in node_modules (their package.json files)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import forgeq, write_app
from nodejs import requires_node
from test_published_apps import published

from forgeq.emulator.tools.lint import lint_app

__all__ = ["published"]  # the session fixture that installs the corpus's npm packages

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/lint-js
{runtime}modules:
  consumer:
    - key: v1-consumer
      queue: work
      resolver:
        function: listener
        method: event-listener
    - key: v1-missing
      queue: other
      resolver:
        function: listener
        method: not-defined
  trigger:
    - key: on-issue
      function: trigger
      events: [avi:jira:created:issue]
  function:
    - key: listener
      handler: index.handler
    - key: trigger
      handler: trigger.run
"""

INDEX = """
const Resolver = require('@forge/resolver').default;
const { storage, startsWith } = require('@forge/api');
const { defineListeners } = require('./listeners');

const resolver = new Resolver();
defineListeners(resolver);
exports.handler = resolver.getDefinitions();
"""

LISTENERS = """
import api from '@forge/api';
import { Queue, InvocationError } from '@forge/events';
import { kvs } from '@forge/kvs';

const queue = new Queue({ key: 'work' });
const typo = new Queue({ key: 'wrok' });
const bad = new Queue({ key: 'not a queue' });

export function defineListeners(resolver) {
  resolver.define('event-listener', async ({ payload }) => {
    const value = await api.storage.get(payload.key); // forgeq: ignore[FQ603]
    if (!value) throw new InvocationError({ retryAfter: 30 });
    await kvs.set(payload.key, value);
  });
}
"""

TRIGGER = """
import { Queue } from '@forge/events';

interface IssueEvent { issue: { key: string } }

export const runn = async (event: IssueEvent): Promise<void> => {
  await new Queue({ key: 'work' }).push([{ body: { key: event.issue.key } }]);
};
"""


def lint_js_app(tmp_path: Path, *, runtime: str = "  runtime:\n    name: nodejs20.x\n", api: str = "7.2.2", files: dict[str, str] | None = None) -> dict:
    root = tmp_path / "app"
    sources = {"src/index.js": INDEX, "src/listeners.js": LISTENERS, "src/trigger.ts": TRIGGER, **(files or {})}
    write_app(root, MANIFEST.format(runtime=runtime), sources)
    (root / "package.json").write_text(json.dumps({"name": "lint-js", "dependencies": {"@forge/api": f"^{api}", "@forge/resolver": "1.6.3"}}, indent=2))
    for name, version in (("api", api), ("resolver", "1.6.3"), ("events", "0.8.30")):
        package = root / "node_modules" / "@forge" / name
        package.mkdir(parents=True)
        (package / "package.json").write_text(json.dumps({"name": f"@forge/{name}", "version": version}))
    return lint_app(root / "manifest.yml", relative_to=root).as_dict()


def codes(report: dict) -> list[tuple[str, str, int | None, str]]:
    return [(f["code"], f["file"], f["line"], f["message"]) for f in report["findings"]]


def line_of(source: str, text: str) -> int:
    import textwrap

    return next(n for n, line in enumerate(textwrap.dedent(source).lstrip().splitlines(), 1) if text in line)


def test_lint_reads_a_javascript_apps_modules_imports_and_packages(tmp_path: Path):
    report = lint_js_app(tmp_path)
    assert report["files"] == ["src/index.js", "src/trigger.ts", "src/listeners.js"]
    found = {(code, file, line) for code, file, line, _ in codes(report)}
    manifest = MANIFEST.format(runtime="  runtime:\n    name: nodejs20.x\n")
    assert found == {
        ("FQ004", "manifest.yml", line_of(manifest, "handler: trigger.run")),
        ("FQ005", "manifest.yml", line_of(manifest, "key: v1-missing")),
        ("FQ603", "src/index.js", line_of(INDEX, "startsWith")),
        ("FQ601", "src/trigger.ts", line_of(TRIGGER, "@forge/events")),
        ("FQ601", "src/listeners.js", line_of(LISTENERS, "@forge/kvs")),
        ("FQ301", "src/listeners.js", line_of(LISTENERS, "wrok")),
        ("FQ302", "src/listeners.js", line_of(LISTENERS, "not a queue")),
        ("FQ101", "src/listeners.js", line_of(LISTENERS, "throw new")),
    }, codes(report)
    messages = {(code, file): message for code, file, _, message in codes(report)}
    assert "names `run`, which src/trigger.ts does not export" in messages[("FQ004", "manifest.yml")]
    assert "method 'not-defined', which src/index.js's resolver does not define (it defines: event-listener)" in messages[("FQ005", "manifest.yml")]
    assert "'@forge/kvs' is imported but not declared in package.json nor installed: the module cannot load" in messages[("FQ601", "src/listeners.js")]
    assert "'@forge/events' is imported but not declared in package.json: it is installed (0.8.30) only because" in messages[("FQ601", "src/trigger.ts")]
    assert report["silenced"] == 1  # `api.storage` on its line, silenced with `// forgeq: ignore[FQ603]`
    # FQ603 twice on the same line (`storage` and `startsWith`), one finding each
    assert [m for c, _, _, m in codes(report) if c == "FQ603"] == [
        "`storage` from '@forge/api' is the legacy storage API (deprecated, removed in @forge/api 8); `kvs` of @forge/kvs reaches the same store",
        "`startsWith` from '@forge/api' is the legacy storage API (deprecated, removed in @forge/api 8); `kvs` of @forge/kvs reaches the same store",
    ]


def test_the_legacy_storage_api_with_forge_api_8_is_an_error_and_no_runtime_is_the_sandbox(tmp_path: Path):
    # expect: FQ006
    # expect: FQ604
    report = lint_js_app(tmp_path, runtime="", api="8.3.0")
    by_code = {code: (file, line, message) for code, file, line, message in codes(report)}
    assert by_code["FQ006"][0] == "manifest.yml"
    assert "no `app.runtime.name`: the app runs on the legacy sandbox runtime, which Forge stopped running on 28 February 2025" in by_code["FQ006"][2]
    assert "FQ603" not in by_code
    removed = [(file, message.split(":")[0]) for code, file, _, message in codes(report) if code == "FQ604"]
    # `api.storage` is found too: its line silences FQ603, not FQ604
    assert removed == [("src/index.js", "`storage` from '@forge/api'"), ("src/index.js", "`startsWith` from '@forge/api'"), ("src/listeners.js", "`api.storage`")]
    assert next(f for f in report["findings"] if f["code"] == "FQ604")["severity"] == "error"


def test_a_syntax_error_is_found_where_it_is_and_the_rest_is_still_read(tmp_path: Path):
    broken = "export const run = async (event) => {\n  const x = ;\n};\nthrow new InvocationError();\n"
    report = lint_js_app(tmp_path, files={"src/trigger.ts": broken})
    found = [(code, file, line) for code, file, line, _ in codes(report) if file == "src/trigger.ts"]
    assert ("FQ003", "src/trigger.ts", 2) in found and ("FQ101", "src/trigger.ts", 4) in found


def test_a_handler_module_that_re_exports_is_read_through(tmp_path: Path):
    """`export { handler } from './worker'` (an index.ts that gathers the app's handlers): the
    re-exported modules are read as imports are, their resolver definitions and queues checked."""
    index = "export { handler } from './listeners';\nexport * from './more';\n"
    more = "import { Queue } from '@forge/events';\nexport const extra = new Queue({ key: 'nowhere' });\n"
    listeners = "import Resolver from '@forge/resolver';\nconst resolver = new Resolver();\n" \
        "resolver.define('event-listener', async () => {});\nexport const handler = resolver.getDefinitions();\n"
    report = lint_js_app(tmp_path, files={"src/index.js": index, "src/listeners.js": listeners, "src/more.js": more})
    assert {"src/listeners.js", "src/more.js"} <= set(report["files"])
    five = next(m for c, _, _, m in codes(report) if c == "FQ005")
    assert "'not-defined', which src/index.js's resolver does not define (it defines: event-listener)" in five  # 'event-listener' is found
    assert ("FQ301", "src/more.js", 2) in {(c, f, n) for c, f, n, _ in codes(report)}


def test_storage_calls_forge_refuses_in_javascript(tmp_path: Path):
    manifest = """
    app:
      id: ari:cloud:ecosystem::app/lint-js-entities
      runtime:
        name: nodejs20.x
      storage:
        entities:
          - name: record
            attributes:
              status: {type: string}
    modules:
      function:
        - key: work
          handler: index.handler
    """
    source = """
    import { kvs, Filter, FilterConditions } from '@forge/kvs';
    import { storage } from '@forge/api';

    const done = new Filter().and('status', FilterConditions.equalTo('done'));
    export const handler = async () => {
      await kvs.entity('record').set('a', { status: 'new' });
      await kvs.entity('records').get('a');
      await storage.entity('ghost').get('a');
      await kvs.transact().set('a', { status: 'new' }, { entityName: 'recrd' }).execute();
      await kvs.transact().set('a', { entityName: 'a value' }, { entityName: 'record' }).execute();
      await kvs.transact().check('lock', { value: 'me' }).execute();
      await kvs.transact().check('lock', { entityName: 'record', conditions: done }).execute();
      await kvs.transact().check('lock', { ...options }).execute();
      await kvs.batchSet([{ key: 'a', value: {}, entityName: 'record' }, { key: 'b', value: {}, entityName: 'rec' }]);
      await kvs.set('plain', { entityName: 'a value, not an entity' });
    };
    """
    root = tmp_path / "app"
    write_app(root, manifest, {"src/index.js": source})
    found = [(f["code"], f["line"], f["message"].split(":")[0]) for f in lint_app(root / "manifest.yml", relative_to=root).as_dict()["findings"]]
    assert [f for f in found if f[0].startswith("FQ5")] == [
        ("FQ501", line_of(source, "'records'"), "kvs.entity('records')"),
        ("FQ501", line_of(source, "'ghost'"), "storage.entity('ghost')"),
        ("FQ501", line_of(source, "'recrd'"), "entityName 'recrd'"),
        ("FQ502", line_of(source, "value: 'me'"), "this transaction check names no entityName"),
        ("FQ501", line_of(source, "'rec' }"), "entityName 'rec'"),
    ]


def test_cli_lint_of_a_javascript_app(tmp_path: Path):
    lint_js_app(tmp_path)
    done = forgeq("lint", tmp_path / "app", "--json")
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert {f["code"] for f in data["findings"]} >= {"FQ004", "FQ005", "FQ601", "FQ603"}
    assert data["not_run"] == []


def test_the_javascript_fixture_app_is_clean():
    clean = lint_app(Path(__file__).parent.parent / "fixtures" / "storage-queue-js" / "manifest.yml").as_dict()
    assert (clean["findings"], clean["files"]) == ([], ["fixtures/storage-queue-js/src/index.js"])


@requires_node
def test_lint_of_published_apps_names_the_versions_that_fail_on_forge(published):
    """The corpus's 2022 app: no runtime (the sandbox), copies of @forge/api and @forge/events that need
    the sandbox's global.api (one nested under @forge/resolver), the legacy storage API."""
    app = published["sandbox-2022"].parent
    report = lint_app(app / "manifest.yml", relative_to=app).as_dict()
    package_json = (app / "package.json").read_text()
    versions = [(code, file, line, message.split(" needs ")[0]) for code, file, line, message in codes(report) if code == "FQ602"]
    assert versions == [
        ("FQ602", "package.json", line_of(package_json, '"@forge/api"'), "@forge/api 2.6.1 (node_modules/@forge/api)"),
        ("FQ602", "package.json", line_of(package_json, '"@forge/events"'), "@forge/events 0.5.3 (node_modules/@forge/events)"),
        ("FQ602", "package.json", line_of(package_json, '"@forge/resolver"'), "@forge/api 2.6.0 (node_modules/@forge/resolver/node_modules/@forge/api)"),
    ]
    assert "upgrade @forge/resolver (this copy of @forge/api is its own) to 1.5 or newer" in codes(report)[3][3]
    assert {code for code, *_ in codes(report)} == {"FQ006", "FQ602", "FQ603"}
