"""The app's own pushers: web triggers and UI resolvers, called as Forge calls them.

A web trigger gets the request object Forge builds and must return `{statusCode, headers, body}`;
a UI resolver is called as @forge/bridge's invoke(key, payload) calls it from its module. Both run
under the same runtime, store, quotas and timeline as the consumers: what they push is queued and
runs, what they store is stored. Python apps here; JavaScript apps in test_pushers_js.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import forgeq, forgeq_json, write_app

from forgeq.emulator import limits
from forgeq.emulator.errors import HandlerLoadError, InputError
from forgeq.emulator.store import Store
from forgeq.testing import ForgeApp, InvokeError

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/pushers-test
  runtime:
    name: nodejs20.x
modules:
  webtrigger:
    - key: import-hook
      function: import
    - key: static-hook
      function: static
      response:
        type: static
        outputs:
          - key: accepted
            statusCode: 202
            contentType: application/json
            body: '{"accepted": true}'
    - key: odd-hook
      function: odd
  jira:issuePanel:
    - key: status-panel
      resource: main
      resolver:
        function: ui
      title: Import status
  jira:globalPage:
    - key: admin-page
      resource: main
      resolver:
        function: ui
      title: Import
  confluence:globalPage:
    - key: broken-page
      resource: main
      resolver:
        function: broken-ui
      title: Broken
  jira:entityProperty:
    - key: import-property
      entityType: issue
      propertyKey: imported
  consumer:
    - key: import-consumer
      queue: import-queue
      function: work
  function:
    - key: import
      handler: hooks.import_hook
    - key: static
      handler: hooks.static_hook
    - key: odd
      handler: hooks.odd_hook
    - key: ui
      handler: ui.handler
    - key: broken-ui
      handler: broken.handler
    - key: work
      handler: work.handler
resources:
  - key: main
    path: static/build
"""

FILES = {
    "src/hooks.py": """
        import json

        from forgeq.events import Queue
        from forgeq.kvs import kvs

        queue = Queue(key="import-queue")


        def import_hook(request, context):
            count = json.loads(request["body"])["count"]
            events = [{"body": {"n": n}} for n in range(count)]
            for start in range(0, count, 50):
                queue.push(events[start:start + 50])
            kvs.set("import", {"count": count, "done": 0})
            print(f"queued {count}")
            return {
                "statusCode": 202,
                "headers": {"Content-Type": ["application/json"]},
                "body": json.dumps({"queued": count, "request": request, "context": context}),
            }


        def static_hook(request, context):
            return {"outputKey": request["queryParameters"].get("output", ["accepted"])[0]}


        def odd_hook(request, context):
            kind = request["queryParameters"]["kind"][0]
            if kind == "raise":
                raise KeyError("token")
            if kind == "none":
                return None
            if kind == "no-status":
                return {"body": "hi"}
            if kind == "dict-body":
                return {"statusCode": 200, "body": {"a": 1}}
            if kind == "string-header":
                return {"statusCode": 204, "headers": {"x-a": "1"}}
            return {"statusCode": 200, "body": "fine"}
    """,
    "src/ui.py": """
        import time

        from forgeq.events import InvocationError, Queue
        from forgeq.kvs import kvs
        from forgeq.resolver import Resolver

        resolver = Resolver()


        @resolver.define("getStatus")
        def get_status(request):
            return {"import": kvs.get("import"), "context": request["context"], "payload": request["payload"]}


        @resolver.define("start")
        def start(request):
            job = Queue(key="import-queue").push([{"body": {"n": n}} for n in range(request["payload"]["count"])]).job_id
            return {"job": job}


        @resolver.define("fail")
        def fail(request):
            raise ValueError("Hello")


        @resolver.define("retry")
        def retry(request):
            return InvocationError(retry_after=5)


        @resolver.define("slow")
        def slow(request):
            time.sleep(5)


        handler = resolver.get_definitions()
    """,
    "src/broken.py": """
        raise RuntimeError("this UI resolver's module cannot load")
    """,
    "src/work.py": """
        from forgeq.kvs import kvs


        def handler(event, context):
            status = kvs.get("import")
            kvs.set("import", {**status, "done": status["done"] + 1})
    """,
}


def line_of(file: str, text: str) -> int:
    """The line of FILES[file] (as written to disk) holding `text`."""
    lines = textwrap.dedent(FILES[file]).lstrip().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


@pytest.fixture
def app_manifest(tmp_path: Path) -> Path:
    return write_app(tmp_path / "app", MANIFEST, FILES)


@pytest.fixture
def app(app_manifest: Path):
    forge = ForgeApp(app_manifest)
    yield forge
    forge.close()


# -- web triggers -------------------------------------------------------------------------------------


def test_a_web_trigger_pushes_from_its_body_and_its_events_run(app):
    response = app.webtrigger(
        "import-hook", body={"count": 120}, headers={"X-Token": "abc", "Accept": ["a", "b"]}, query={"apples": "green,red"}, path="hello/world"
    )
    assert (response.status_code, response.status_text, response.ok) == (202, "Accepted", True)
    assert response.header("content-type") == "application/json"
    answer = response.json()
    assert answer["queued"] == 120
    request = answer["request"]
    assert request["method"] == "POST"
    assert request["headers"]["x-token"] == ["abc"] and request["headers"]["accept"] == ["a", "b"]
    assert request["headers"]["content-type"] == ["application/json"]
    assert request["queryParameters"] == {"apples": ["green", "red"]}
    assert request["userPath"] == "/hello/world" and request["path"].startswith("/x1/") and request["path"].endswith("/hello/world")
    assert json.loads(request["body"]) == {"count": 120}
    assert answer["context"]["installContext"] == "ari:cloud:jira::site/site-1"
    assert [p["events"] for p in response.pushed] == [50, 50, 20]
    assert response.logs == "queued 120\n"

    call = app.event(response.call)
    assert (call.kind, call.target, call.state, call.attempts) == ("webtrigger", "import-hook", "answered", 1)
    [attempt] = app.timeline(response.call)
    assert attempt.outcome == "succeeded" and attempt.storage_calls == 1
    pushed = app.events("import-queue")
    assert len(pushed) == 120
    assert {app.store.event(e.seq).parent_id for e in pushed} == {response.call}  # the call's children

    app.run_until_idle()
    assert app.kvs.get("import") == {"count": 120, "done": 120}
    assert len(app.events("import-queue", state="succeeded")) == 120


def test_what_forge_answers_when_a_web_trigger_does_not_return_a_response(app):
    def call(kind: str):
        return app.webtrigger("odd-hook", query={"kind": kind})

    raised = call("raise")
    assert (raised.status_code, raised.body, raised.ok) == (500, "", False)
    assert raised.error == f"KeyError: 'token' (src/hooks.py:{line_of('src/hooks.py', 'raise KeyError')})"
    assert any("the web trigger threw; Forge answers 500" in note for note in raised.notes)
    for kind, why in (
        ("none", "returned nothing, not an object with statusCode"),
        ("no-status", "statusCode is null"),
        ("dict-body", "body is of type object, not a string"),
    ):
        response = call(kind)
        assert (response.status_code, response.ok) == (500, False), kind
        assert why in (response.error or ""), (kind, response.error)
        assert app.timeline(response.call)[0].outcome == "error"
    odd_text = app.webtrigger("odd-hook", body="\udc80", query={"kind": "fine", "x": "\ud800"})  # lone surrogates, as argv can hold
    assert odd_text.ok and app.event(odd_text.call).body["body"] == "\udc80"
    lenient = call("string-header")
    assert (lenient.status_code, lenient.headers, lenient.ok) == (204, {"x-a": ["1"]}, True)
    assert any("Forge documents an array of strings" in note for note in lenient.notes)


def test_a_static_web_trigger_answers_with_the_output_its_function_names(app):
    response = app.webtrigger("static-hook")
    assert (response.status_code, response.headers, response.json()) == (202, {"content-type": ["application/json"]}, {"accepted": True})
    unknown = app.webtrigger("static-hook", query={"output": "nope"})
    assert (unknown.status_code, unknown.ok) == (500, False)
    assert "{outputKey} naming one of its outputs (accepted)" in (unknown.error or "")


def test_a_web_trigger_meets_the_push_limit_of_its_installation(app):
    response = app.webtrigger("import-hook", body={"count": 550})
    assert (response.status_code, response.ok) == (500, False)
    assert response.error is not None and response.error.startswith("RateLimitError: Too many requests.")
    assert len(app.events("import-queue")) == 500  # the pushes made before the refused one stay, as on Forge


def test_an_unknown_web_trigger_is_bad_input(app):
    with pytest.raises(InputError, match="no webtrigger module 'nope'.*import-hook, static-hook, odd-hook"):
        app.webtrigger("nope")


# -- UI resolvers ---------------------------------------------------------------------------------------


def test_invoke_calls_the_resolver_with_the_ui_context_and_sees_the_store(app):
    app.webtrigger("import-hook", body={"count": 2})
    value = app.invoke("getStatus", {"page": 1}, function="ui")
    assert value["import"] == {"count": 2, "done": 0}
    assert value["payload"] == {"page": 1}
    context = value["context"]
    assert context["moduleKey"] == "status-panel"
    assert context["extension"]["type"] == "jira:issuePanel"
    assert context["extension"]["issue"]["key"] == "DEMO-1"
    assert context["accountId"] and context["cloudId"] == "site-1"
    assert context["installContext"] == "ari:cloud:jira::site/site-1"
    assert context["localId"].endswith("/static/status-panel")
    page = app.invoke("getStatus", module="admin-page", extension={"custom": 1}, account_id="user-2")["context"]
    assert (page["moduleKey"], page["extension"], page["accountId"]) == ("admin-page", {"type": "jira:globalPage", "custom": 1}, "user-2")


def test_what_a_resolver_pushes_is_queued_and_runs(app):
    app.webtrigger("import-hook", body={"count": 0})
    job = app.invoke("start", {"count": 7}, function="ui")["job"]
    assert app.job(job).stats() == {"success": 0, "inProgress": 7, "failed": 0}
    app.run_until_idle()
    assert app.job(job).stats() == {"success": 7, "inProgress": 0, "failed": 0}
    app.close()  # a failure report after the close shows each call once
    report = app.describe()
    assert report.count("import-hook (webtrigger)") == 1 and report.count("start (resolver)") == 1, report


def test_invoke_rejects_as_the_bridge_does_when_the_resolver_fails(app):
    with pytest.raises(InvokeError) as failed:
        app.invoke("fail", function="ui")
    error = failed.value
    assert error.message == "There was an error invoking the function - Hello"
    assert (error.error_type, error.status_code) == ("INVOCATION_FAILED", 400)
    assert error.error == f"ValueError: Hello (src/ui.py:{line_of('src/ui.py', 'raise ValueError')})"
    assert app.timeline(error.call)[0].outcome == "error"
    with pytest.raises(InvokeError, match="There was an error invoking the function - Resolver has no definition for 'nope'."):
        app.invoke("nope", function="ui")
    with pytest.raises(InvokeError, match="only async events retry"):
        app.invoke("retry", function="ui")


def test_a_ui_resolver_has_25_seconds(app, monkeypatch):
    monkeypatch.setattr(limits, "UI_RESOLVER_TIMEOUT_SECONDS", 0.3)  # Forge's 25 s, shortened for the test
    with pytest.raises(InvokeError, match="Function timed out. Limit of 0.3 seconds") as failed:
        app.invoke("slow", function="ui")
    assert app.timeline(failed.value.call)[0].outcome == "timeout"


def test_choosing_the_resolver_function(app):
    # broken.py holds no resolver lint can read: it may define getStatus too, so forgeq asks
    with pytest.raises(InputError) as ambiguous:
        app.invoke("getStatus")
    assert ambiguous.value.message == (
        "the UI modules' resolvers are 2 functions: ui, broken-ui; ui defines 'getStatus', and broken-ui may too "
        "(not every key its resolver defines can be read)"
    )
    assert ambiguous.value.hint == "say which function (or module) to call"
    with pytest.raises(InputError, match="function 'nope': no UI module's resolver is that function"):
        app.invoke("getStatus", function="nope")
    with pytest.raises(InputError, match="module 'nope': no UI module with that key"):
        app.invoke("getStatus", module="nope")
    assert app.invoke("getStatus", function="ui")["context"]["moduleKey"] == "status-panel"  # its first module


TWO_RESOLVERS = """
app:
  id: ari:cloud:ecosystem::app/two-resolvers
  runtime:
    name: nodejs20.x
modules:
  jira:issuePanel:
    - key: issue-panel
      resource: main
      resolver:
        function: panel
      title: Issue
  jira:adminPage:
    - key: admin-page
      resource: main
      resolver:
        function: admin
      title: Settings
  function:
    - key: panel
      handler: panel.handler
    - key: admin
      handler: admin.handler
resources:
  - key: main
    path: static/build
"""

TWO_RESOLVER_FILES = {
    "src/panel.py": """
        from forgeq.resolver import Resolver

        resolver = Resolver()


        @resolver.define("getIssue")
        def get_issue(request):
            return {"module": request["context"]["moduleKey"]}


        @resolver.define("ping")
        def ping(request):
            return "panel"


        handler = resolver.get_definitions()
    """,
    "src/admin.py": """
        from forgeq.kvs import kvs
        from forgeq.resolver import Resolver

        settings = Resolver()


        def get_settings(request):
            return {"module": request["context"]["moduleKey"], "settings": kvs.get("settings")}


        settings.define("getSettings", get_settings)
        settings.define("ping", lambda request: "admin")
        handler = settings.get_definitions()
    """,
}


def answers_by_key(app: ForgeApp) -> None:
    """TWO_RESOLVERS' app (its files in Python or JavaScript): invoke(key) reaches the function that
    defines the key, and asks which when both do."""
    app.kvs.set("settings", {"theme": "dark"})
    assert app.invoke("getSettings") == {"module": "admin-page", "settings": {"theme": "dark"}}
    assert app.invoke("getIssue") == {"module": "issue-panel"}
    with pytest.raises(InputError) as both:
        app.invoke("ping")
    assert both.value.message == "the UI modules' resolvers are 2 functions: panel, admin; panel and admin each define 'ping'"


def test_invoke_calls_the_one_resolver_function_that_defines_the_key(tmp_path: Path):
    """An issue panel and an admin page with their own resolvers: `invoke(key)` needs no hint, as on Forge."""
    manifest = write_app(tmp_path / "app", TWO_RESOLVERS, TWO_RESOLVER_FILES)
    with ForgeApp(manifest, store=manifest.parent / ".forgeq" / "state.db") as app:
        answers_by_key(app)
        with pytest.raises(InputError, match=r"; none of them defines 'nope' \(say which function \(or module\) to call\)$"):
            app.invoke("nope")
        assert app.invoke("ping", module="admin-page") == "admin" and app.invoke("ping", function="panel") == "panel"
    data = forgeq_json("invoke", "getSettings", cwd=manifest.parent)  # over the state the test left
    assert (data["function"], data["value"]) == ("admin", {"module": "admin-page", "settings": {"theme": "dark"}})


def test_a_key_read_incompletely_leaves_the_choice_to_the_caller(tmp_path: Path):
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.tools.resolver_keys import definitions, resolver_function

    files = dict(TWO_RESOLVER_FILES)
    files["src/admin.py"] = files["src/admin.py"].replace('settings.define("ping"', 'settings.define("p" + "ing"')
    manifest = load_manifest(write_app(tmp_path / "app", TWO_RESOLVERS, files))
    assert definitions(manifest, ["panel", "admin"])["admin"].complete is False
    assert resolver_function(manifest, "getSettings", None, None) == "admin"  # read, and panel's reading is whole
    with pytest.raises(InputError, match="; panel defines 'ping', and admin may too"):
        resolver_function(manifest, "ping", None, None)
    assert resolver_function(manifest, "ping", "panel", None) == "panel"
    assert resolver_function(manifest, "ping", None, "admin-page") is None  # the module decides


# -- modules forgeq does not run ---------------------------------------------------------------------------


def test_ui_only_functions_load_when_invoked_and_unemulated_kinds_warn_once(app):
    assert "broken-ui" not in app.emulator.handlers.errors  # not loaded at start: the loop never calls it
    assert not [n for n in app.notices if "cannot load" in n.text]
    with pytest.raises(HandlerLoadError, match="function 'broken-ui'.*RuntimeError: this UI resolver's module cannot load"):
        app.invoke("getStatus", function="broken-ui")
    warnings = {w.path: w.message for w in app.manifest.unemulated}
    assert warnings == {
        "modules.jira:issuePanel": "forgeq does not render UI modules; the resolver function 'ui' runs with `forgeq invoke`",
        "modules.jira:globalPage": "forgeq does not render UI modules; the resolver function 'ui' runs with `forgeq invoke`",
        "modules.confluence:globalPage": "forgeq does not render UI modules; the resolver function 'broken-ui' runs with `forgeq invoke`",
        "modules.jira:entityProperty": "forgeq does not emulate this module kind; it is ignored",
    }
    assert app.manifest.warnings == []


def test_the_manifest_checks_web_triggers_and_ui_resolvers(tmp_path: Path):
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.errors import ManifestError

    bad = MANIFEST.replace("function: static\n", "function: nowhere\n").replace("function: broken-ui", "function: missing-ui")
    bad = bad.replace("      response:\n        type: static\n        outputs:", "      response:\n        type: static\n        not-outputs:")
    path = write_app(tmp_path / "bad", bad, FILES)
    with pytest.raises(ManifestError) as error:
        load_manifest(path)
    messages = [f"{p.path}: {p.message}" for p in error.value.problems]
    assert messages == [
        "modules.webtrigger[1].function: webtrigger references undefined function module with key 'nowhere'",
        "modules.webtrigger[1].response.outputs: a static web trigger needs `outputs`: a list of {key, statusCode, contentType?, body?}",
        "modules.confluence:globalPage[0].resolver.function: confluence:globalPage references undefined function module with key 'missing-ui'",
    ]


# -- the CLI, beside a running loop and without one ------------------------------------------------------------


def test_cli_webtrigger_and_invoke_beside_a_running_loop(app_manifest: Path):
    folder = app_manifest.parent
    run = subprocess.Popen(
        [sys.executable, "-m", "forgeq", "run", "--quiet"], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not (folder / ".forgeq" / "state.db.run-lock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        done = forgeq("webtrigger", "import-hook", "--body", '{"count": 60}', "-H", "X-Token: abc", cwd=folder)
        assert done.returncode == 0, done.stderr
        head, _, body = done.stdout.partition("\n\n")
        assert head.splitlines() == ["HTTP 202 Accepted", "Content-Type: application/json"]
        assert json.loads(body)["request"]["headers"]["x-token"] == ["abc"]
        assert "import-hook (webtrigger)  #1  call  succeeded" in done.stderr
        assert "pushed 50 events to import-queue as job" in done.stderr

        invoked = forgeq("invoke", "getStatus", "--payload", '{"page": 2}', "-f", "ui", "--json", cwd=folder)
        assert invoked.returncode == 0, invoked.stderr
        data = json.loads(invoked.stdout)
        assert (data["kind"], data["key"], data["function"], data["outcome"]) == ("resolver", "getStatus", "ui", "succeeded")
        assert data["value"]["import"]["count"] == 60 and data["value"]["payload"] == {"page": 2}

        failed = forgeq("invoke", "fail", "--function", "ui", "--json", cwd=folder)
        assert failed.returncode == 1
        assert json.loads(failed.stdout)["bridge_error"]["message"] == "There was an error invoking the function - Hello"

        store = Store(folder / ".forgeq" / "state.db")
        try:
            while store.queue_counts(0).get("import-queue", {}).get("succeeded") != 60:
                assert time.monotonic() < deadline, f"the running loop did not deliver the pushes: {store.queue_counts(0)}"
                time.sleep(0.1)
        finally:
            store.close()
    finally:
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=30)
    assert run.returncode == 130, err  # stopped by Ctrl-C
    assert "queue events: 60 pushed, 60 succeeded" in out
    # the calls are answered, never queued: neither pending triggers nor this run's trigger invocations
    assert "calls answered: 1 web trigger call, 2 UI resolver calls" in out and "triggers:" not in out
    assert "succeeded: 60 queue events, 0 trigger invocations" in out
    assert err.count("forgeq does not render UI modules") == 3 and "cannot load" not in out + err
    with ForgeApp(app_manifest, store=folder / ".forgeq" / "state.db") as after:
        assert after.kvs.get("import") == {"count": 60, "done": 60}
        calls = after.events(state="answered")
        assert [(e.kind, e.target) for e in calls] == [("webtrigger", "import-hook"), ("resolver", "getStatus"), ("resolver", "fail")]


def test_cli_bad_input_is_one_line(app_manifest: Path, monkeypatch, capsys):
    from forgeq.cli import main

    monkeypatch.chdir(app_manifest.parent)
    for args, message in (
        (["webtrigger", "nope"], "no webtrigger module 'nope'"),
        (["webtrigger", "import-hook", "-H", "novalue"], "--header 'novalue': not NAME:VALUE"),
        (["webtrigger", "import-hook", "--method", "FETCH"], "--method FETCH: not an HTTP method"),
        (["invoke", "getStatus", "--payload", "{oops"], "--payload: invalid JSON"),
        (["invoke", "getStatus"], "the UI modules' resolvers are 2 functions: ui, broken-ui; ui defines 'getStatus', and broken-ui may too"),
        (["invoke", "getStatus", "-f", "ui", "--extension", "[1]"], "--extension must be a JSON object"),
    ):
        monkeypatch.setattr(sys, "argv", ["forgeq", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        err = capsys.readouterr().err
        assert exited.value.code == 2 and message in err and err.count("\n") == 1, (args, err)
