"""`forgeq lint`: planted mistakes are found with the right code and line; correct code stays quiet.

Each planted line carries `# expect: FQnnn` (or several codes); a test passes only when lint's
findings are exactly those (code, line) pairs: nothing missed, nothing extra.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from conftest import DEMO_APP, REPO, forgeq, write_app

from forgeq.emulator.errors import InputError
from forgeq.emulator.tools.lint import lint_app
from forgeq.emulator.tools.linting.rules import RULES

SEED_LITERAL = REPO / "tests" / "apps" / "seed-guide-literal"
FLAKY_APP = REPO / "tests" / "apps" / "flaky-backoff"

V2_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/lint-test
modules:
  consumer:
    - key: work-consumer
      queue: work
      function: work-fn
  function:
    - key: work-fn
      handler: index.handler
"""

V1_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/lint-test
modules:
  consumer:
    - key: work-consumer
      queue: work
      resolver:
        function: work-fn
        method: listener
  function:
    - key: work-fn
      handler: index.handler
"""

TRIGGER_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/lint-test
modules:
  trigger:
    - key: created-trigger
      function: created-fn
      events:
        - avi:jira:created:issue
  consumer:
    - key: work-consumer
      queue: work
      function: work-fn
  function:
    - key: created-fn
      handler: index.on_created
    - key: work-fn
      handler: index.handler
"""

_EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9 ,]+)")


def expected(source: str) -> set[tuple[str, int]]:
    pairs = set()
    for number, line in enumerate(textwrap.dedent(source).lstrip().splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            pairs |= {(code.strip(), number) for code in match.group(1).split(",") if code.strip()}
    return pairs


def lint(
    tmp_path: Path, manifest: str, source: str, name: str = "app", select: tuple[str, ...] = ()
) -> set[tuple[str, int | None]]:
    path = write_app(tmp_path / name, manifest, {"src/index.py": source})
    report = lint_app(path, relative_to=path.parent, select=select)
    return {(f.code, f.line) for f in report.findings}


def assert_exact(tmp_path: Path, manifest: str, source: str, select: tuple[str, ...] = ()) -> None:
    assert lint(tmp_path, manifest, source, select=select) == expected(source)


# -- retry logic -----------------------------------------------------------------------------------------


def test_raised_invocation_error_and_missing_or_out_of_range_retry_after(tmp_path):
    source = """
    import random
    from forgeq.events import InvocationError, InvocationErrorCode
    from forgeq.kvs import ForgeKvsAPIError, kvs

    RETRY_LATER = 1200
    REASON = InvocationErrorCode.FUNCTION_RETRY_REQUEST


    def handler(event, context):
        retry_context = event.get("retryContext")
        retry_count = retry_context["retryCount"] if retry_context else 0
        if retry_count > 10:
            return None
        code = event["body"]["code"]
        if code == 1:
            raise InvocationError(retry_after=30, retry_reason=REASON)  # expect: FQ101
        if code == 2:
            return InvocationError()  # expect: FQ102
        if code == 3:
            return InvocationError({"retryReason": "FUNCTION_RETRY_REQUEST"})  # expect: FQ102
        if code == 4:
            return InvocationError(retry_after=RETRY_LATER, retry_reason=REASON)  # expect: FQ103
        if code == 5:
            return InvocationError(retry_after=0, retry_reason=REASON)  # expect: FQ104
        if code == 6:
            return InvocationError(retry_after=30)  # expect: FQ108
        if code == 7:
            return InvocationError({"retry_after": 30, "retryReason": REASON})  # expect: FQ102
        if code == 8:
            return InvocationError(retry_after=20 * 2**retry_count + random.random() * 10, retry_reason=REASON)  # expect: FQ103
        if code == 9:
            return InvocationError(retry_after=min(20 * 2**retry_count, 900), retry_reason=REASON)
        return InvocationError({"retryAfter": random.uniform(1, 900), "retryReason": REASON})
    """
    assert_exact(tmp_path, V2_MANIFEST, source, select=("FQ108",))
    without_fq108 = {pair for pair in expected(source) if pair[0] != "FQ108"}
    assert lint(tmp_path, V2_MANIFEST, source, name="default") == without_fq108
    found = lint_app(tmp_path / "default" / "manifest.yml", relative_to=tmp_path).findings
    assert "can reach 20490 s" in next(f.message for f in found if f.line == 30)  # 20 * 2**10 + 10


def test_an_uncapped_v2_backoff_passes_900_seconds(tmp_path):
    source = """
    from forgeq.events import InvocationError


    def handler(event, context):  # expect: FQ107
        retry_context = event.get("retryContext")
        retry_count = retry_context["retryCount"] if retry_context else 0
        return InvocationError(retry_after=15 * 2**retry_count, retry_reason="FUNCTION_RETRY_REQUEST")  # expect: FQ103
    """
    assert_exact(tmp_path, V2_MANIFEST, source)
    (finding,) = [f for f in lint_app(tmp_path / "app", relative_to=tmp_path).findings if f.code == "FQ103"]
    assert "from retryCount 6" in finding.message  # 15 * 2**6 = 960


def test_a_v1_backoff_is_judged_with_at_most_four_retries(tmp_path):
    source = """
    import random
    from forgeq.events import InvocationError, InvocationErrorCode
    from forgeq.kvs import ForgeKvsAPIError, kvs
    from forgeq.resolver import Resolver

    resolver = Resolver()


    @resolver.define("listener")
    def listener(request):
        payload = request["payload"]
        retry_context = payload.get("retryContext")
        count = retry_context["retryCount"] if retry_context else 0
        try:
            kvs.set("k", payload)
        except ForgeKvsAPIError as error:
            if error.status != 429:
                raise
            if payload.get("slow"):
                return InvocationError(retry_after=100 * 2**count, retry_reason="FUNCTION_RETRY_REQUEST")  # expect: FQ103
            return InvocationError(retry_after=20 * 2**count + random.random() * 100, retry_reason="FUNCTION_RETRY_REQUEST")


    handler = resolver.get_definitions()
    """
    assert_exact(tmp_path, V1_MANIFEST, source)
    found = lint_app(tmp_path / "app" / "manifest.yml", relative_to=tmp_path / "app").findings
    assert "1600 s" in found[0].message  # 100 * 2**4: the 5th attempt's delay, clamped to 900


def test_retrying_every_exception(tmp_path):
    source = """
    from forgeq.events import InvocationError
    from forgeq.kvs import ForgeKvsAPIError, kvs


    def later():
        return InvocationError(retry_after=60, retry_reason="FUNCTION_RETRY_REQUEST")


    def handler(event, context):
        retry_context = event.get("retryContext") or {}
        if retry_context.get("retryCount", 0) >= 3:
            return None
        try:
            kvs.set("a", event["body"])
        except Exception:  # expect: FQ105
            return InvocationError(retry_after=60, retry_reason="FUNCTION_RETRY_REQUEST")
        try:
            kvs.set("b", event["body"])
        except ForgeKvsAPIError as error:  # expect: FQ105
            print("failed", error)
            return later()
        try:
            kvs.set("c", event["body"])
        except:  # expect: FQ105
            return later()
        try:
            kvs.set("d", event["body"])
        except ForgeKvsAPIError as error:
            if error.code in ("RATE_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS"):
                return later()
            return None
        try:
            kvs.set("e", event["body"])
        except (KeyError, ForgeKvsAPIError) as error:  # expect: FQ105
            return later()
        try:
            kvs.set("f", event["body"])
        except Exception:
            return None
    """
    assert_exact(tmp_path, V2_MANIFEST, source)


def test_retry_context_read_without_a_guard(tmp_path):
    source = """
    from forgeq.events import InvocationError


    def handler(event, context):
        count = event["retryContext"]["retryCount"]  # expect: FQ106
        data = event.get("retryContext")["retryData"]  # expect: FQ106
        retry_context = event.get("retryContext")
        reason = retry_context["retryReason"]  # expect: FQ106
        also = retry_context.get("retryReason")  # expect: FQ106
        empty = event.get("retryContext", {})
        again = empty["retryCount"]  # expect: FQ106
        fine = empty.get("retryCount", 0)
        if retry_context:
            fine = retry_context["retryCount"]
        fine = retry_context["retryCount"] if retry_context is not None else 0
        fine = retry_context and retry_context["retryCount"]
        if "retryContext" in event:
            fine = event["retryContext"]["retryCount"]
        try:
            fine = event["retryContext"]["retryCount"]
        except KeyError:
            fine = 0
        if count + data + reason + also + again + fine > 3:
            return None
        return InvocationError(retry_after=30, retry_reason="FUNCTION_RETRY_REQUEST")


    def early_exit(event, context):
        retry_context = event.get("retryContext")
        if not retry_context:
            return None
        return retry_context["retryCount"]
    """
    assert_exact(tmp_path, V2_MANIFEST, source)


def test_a_v2_consumer_that_never_stops_retrying(tmp_path):
    source = """
    import random
    from forgeq.events import InvocationError, InvocationErrorCode
    from forgeq.kvs import ForgeKvsAPIError, kvs


    def handler(event, context):  # expect: FQ107
        retry_delay = 0
        if event.get("retryContext"):
            retry_delay = min(20 * 2 ** event["retryContext"]["retryCount"] + random.random() * 100, 900)
        try:
            kvs.set("most-recent-issue-created", event["body"]["issueKey"])
        except ForgeKvsAPIError as error:
            if error.code != "RATE_LIMIT_EXCEEDED":
                return None
            return InvocationError(  # (the guide's 2025 variant: a first retry after 0 s)
                retry_after=retry_delay,  # expect: FQ104
                retry_reason=InvocationErrorCode.FUNCTION_RETRY_REQUEST,
            )
    """
    found = lint(tmp_path, V2_MANIFEST, source)
    assert found == expected(source)
    stops = source.replace(
        "            if error.code != ",
        '            if event.get("retryContext", {}).get("retryCount", 0) > 5 or error.code != ',
    )
    assert ("FQ107", 7) not in lint(tmp_path, V2_MANIFEST, stops, name="stops")
    v1 = lint(
        tmp_path,
        V1_MANIFEST,
        "from forgeq.resolver import Resolver\nr = Resolver()\nr.define('listener', lambda request: None)\nhandler = r.get_definitions()\n",
        name="v1",
    )
    assert v1 == set()


# -- event shapes ----------------------------------------------------------------------------------------


def test_a_v1_consumer_reading_v2_fields(tmp_path):
    source = """
    from forgeq.resolver import Resolver
    from forgeq.kvs import kvs

    resolver = Resolver()


    @resolver.define("listener")
    def listener(request):
        body = request["body"]  # expect: FQ201
        payload = request["payload"]
        issue = payload["body"]["issueKey"]  # expect: FQ201
        retry_context = request.get("retryContext")  # expect: FQ201
        inside = payload.get("retryContext")
        job = request["context"]["jobId"]
        kvs.set("k", [body, issue, retry_context, inside, job, payload["issueKey"]])


    handler = resolver.get_definitions()
    """
    assert_exact(tmp_path, V1_MANIFEST, source)


def test_a_v2_consumer_reading_v1_fields(tmp_path):
    source = """
    from forgeq.kvs import kvs


    def handler(event, context):
        payload = event["payload"]  # expect: FQ202
        body = event["body"]
        retry_context = body.get("retryContext")  # expect: FQ202
        job = context["jobId"]  # expect: FQ202
        kvs.set("k", [payload, retry_context, job, event["jobId"], event.get("retryContext")])
    """
    assert_exact(tmp_path, V2_MANIFEST, source)


def test_consumer_versions_against_the_handler_they_point_at(tmp_path):
    resolver_behind_v2 = """
    from forgeq.resolver import Resolver

    resolver = Resolver()
    resolver.define("listener", lambda request: None)
    handler = resolver.get_definitions()  # expect: FQ202
    """
    assert_exact(tmp_path, V2_MANIFEST, resolver_behind_v2)
    missing_method = """
    from forgeq.resolver import Resolver

    resolver = Resolver()


    @resolver.define("listen")
    def listen(request):
        return None


    handler = resolver.get_definitions()  # expect: FQ005
    """
    assert lint(tmp_path, V1_MANIFEST, textwrap.dedent(missing_method), name="method") == expected(
        missing_method
    )
    missing_attribute = "def handle(event, context):\n    return None\n"
    report = lint_app(
        write_app(tmp_path / "attribute", V2_MANIFEST, {"src/index.py": missing_attribute}),
        relative_to=tmp_path / "attribute",
    )
    assert [(f.code, f.file, f.line) for f in report.findings] == [("FQ004", "manifest.yml", 10)]


# -- pushes ----------------------------------------------------------------------------------------------


def test_push_mistakes(tmp_path):
    source = """
    from forgeq.events import InvocationError, Queue, RateLimitError

    work = Queue(key="work")
    typo = Queue(key="wrok")  # expect: FQ301
    bad = Queue(key="work queue")  # expect: FQ302
    js_style = Queue({"key": "work"})
    bare = Queue("work")  # expect: FQ302
    js_typo = Queue({"key": "wrok"})  # expect: FQ301


    def on_created(event, context):
        work.push({"body": {"key": event["issue"]["key"]}})  # expect: FQ305
        try:
            typo.push({"body": {}})  # expect: FQ301
            Queue(key="nowhere").push({"body": {}})  # expect: FQ301
        except RateLimitError:
            return None
        return None


    def handler(event, context):  # expect: FQ107
        items = event["body"]["items"]
        work.push([{"body": {"n": n}} for n in range(60)])  # expect: FQ303
        work.push([{"body": item} for item in items])  # expect: FQ303
        for item in items:
            work.push({"body": item})  # expect: FQ304
        for start in range(0, len(items), 50):
            try:
                work.push([{"body": item} for item in items[start : start + 50]])
            except RateLimitError:
                return InvocationError(retry_after=60, retry_reason="FUNCTION_RETRY_REQUEST")
        for n in range(10):
            work.push({"body": {"n": n}})
        work.push({"issueKey": "DEMO-1"})  # expect: FQ306
        work.push({"body": "DEMO-1"})  # expect: FQ306
        work.push({"body": {}, "delayInSeconds": 1000})  # expect: FQ306
        work.push({"body": {}, "delayInSeconds": 2.5})  # expect: FQ307
        work.push({"body": {}}, {"delayInSeconds": 5})  # expect: FQ306
        work.push([])  # expect: FQ306
        batch = []
        for item in items:
            batch.append({"body": item})
        work.push(batch)  # expect: FQ303
        return None
    """
    assert_exact(tmp_path, TRIGGER_MANIFEST, source)


def test_v2_push_settings_to_a_v1_consumer_and_unawaited_calls(tmp_path):
    source = """
    from forgeq.events import Queue
    from forgeq.kvs import kvs
    from forgeq.resolver import Resolver

    work = Queue(key="work")
    resolver = Resolver()


    @resolver.define("listener")
    async def listener(request):
        payload = request["payload"]
        work.push({"body": payload, "delayInSeconds": 30})  # expect: FQ203, FQ308
        kvs.set("last", payload)  # expect: FQ308
        await kvs.set("awaited", payload)
        await work.push({"body": payload})
        stored = kvs.get("last")
        return stored


    handler = resolver.get_definitions()
    """
    assert_exact(tmp_path, V1_MANIFEST, source)


# -- Python errors Forge would see as thrown errors ------------------------------------------------------


def test_undefined_names_and_possibly_unbound_locals(tmp_path):
    source = """
    from forgeq.events import InvocationError


    def handler(event, context):  # expect: FQ107
        body = event["body"]
        if body.get("retry"):
            delay = 30
        try:
            kvs.set("k", body)  # expect: FQ401
        except Exception as error:
            if getattr(error, "code", None) == "RATE_LIMIT_EXCEEDED":
                return InvocationError(retry_after=delay, retry_reason="FUNCTION_RETRY_REQUEST")  # expect: FQ402
            raise
        return helper(body)  # expect: FQ401
    """
    assert_exact(tmp_path, V2_MANIFEST, source)


def test_storage_calls_forge_refuses(tmp_path):
    manifest = V2_MANIFEST.replace(
        "  id: ari:cloud:ecosystem::app/lint-test\n",
        "  id: ari:cloud:ecosystem::app/lint-test\n  storage:\n    entities:\n"
        "      - name: record\n        attributes:\n          status: {type: string}\n",
    )
    source = """
    from forgeq.kvs import Filter, FilterConditions, kvs

    done = Filter().and_("status", FilterConditions.equal_to("done"))


    def handler(event, context):
        kvs.entity("record").set("a", {"status": "new"})
        kvs.entity("records").get("a")  # expect: FQ501
        kvs.transact().set("a", 1).check("lock", {"conditions": done}).execute()  # expect: FQ502
        kvs.transact().check("a").execute()  # expect: FQ502
        kvs.transact().set("counter", 2).check("lock", {"value": "me"}).delete("tmp").execute()  # expect: FQ503
        kvs.transact().check("lock", {"value": "me", "conditions": done}).execute()  # expect: FQ502
        kvs.transact().check("a", {"entityName": "record", "conditions": done}).execute()
        kvs.transact().check("a", entity_name="record", conditions=done).execute()
        entity = {"entityName": "record", "conditions": done}
        kvs.transact().check("a", entity).execute()
        kvs.transact().set("a", {"status": "new"}, {"entityName": "recrd"}).execute()  # expect: FQ501
        kvs.transact().delete("a", entity_name="ghost").execute()  # expect: FQ501
        kvs.batch_set([{"key": "a", "value": {}, "entityName": "record"}, {"key": "b", "value": {}, "entityName": "rec"}])  # expect: FQ501
        kvs.set("plain", {"entityName": "a value, not an entity"})
        kvs.transact().set("plain", {"entityName": "a value too"}).execute()
    """
    assert_exact(tmp_path, manifest, source)


def test_syntax_errors_and_manifest_problems(tmp_path):
    broken = write_app(
        tmp_path / "broken", V2_MANIFEST, {"src/index.py": "def handler(event, context):\n    return (\n"}
    )
    report = lint_app(broken, relative_to=broken.parent)
    assert [(f.code, f.file, f.line) for f in report.findings] == [("FQ003", "src/index.py", 2)]
    manifest = V2_MANIFEST.replace("key: work-consumer", "key: work consumer").replace(
        "function: work-fn\n", "function: work-fn\n      crossVersion: true\n", 1
    )
    invalid = write_app(
        tmp_path / "invalid", manifest, {"src/index.py": "def handler(event, context):\n    return None\n"}
    )
    report = lint_app(invalid, relative_to=invalid.parent)
    assert [(f.code, f.file, f.line) for f in report.findings] == [("FQ001", "manifest.yml", 5)]
    warned = write_app(
        tmp_path / "warned",
        V2_MANIFEST.replace("function: work-fn\n", "function: work-fn\n      crossVersion: true\n", 1),
        {"src/index.py": "def handler(event, context):\n    return None\n"},
    )
    assert [(f.code, f.line) for f in lint_app(warned, relative_to=warned.parent).findings] == [("FQ002", 8)]


# -- the seed guide, literally --------------------------------------------------------------------------


def test_the_seed_guides_code_ported_literally_gets_the_findings_its_bugs_deserve():
    report = lint_app(SEED_LITERAL, relative_to=SEED_LITERAL)
    found = {(f.code, f.line) for f in report.findings}
    source = (SEED_LITERAL / "src" / "index.py").read_text().splitlines()

    def line_of(text: str) -> int:
        (number,) = [n for n, line in enumerate(source, start=1) if text in line]
        return number

    assert found == {
        ("FQ401", line_of('kvs.set("most-recent-issue-created"')),  # the guide's bug A2: kvs never imported
        ("FQ402", line_of('"retryAfter": retry_delay')),  # the guide's bug A1: retryDelay only set on retries
        ("FQ105", line_of("except Exception as error")),  # the guide's bug B4: every error retried
        ("FQ203", line_of("storage_async_queue.push(")),  # the guide's bug A3: the v2 shape to a v1 consumer
        ("FQ307", line_of("storage_async_queue.push(")),  # the guide's bug A5: a 0.5 s delay
        ("FQ305", line_of("storage_async_queue.push(")),  # the guide's bug B7: RateLimitError loses the issue
    }


def test_correct_apps_lint_clean():
    for app in (DEMO_APP, FLAKY_APP, REPO / "forgeq" / "templates" / "app"):
        report = lint_app(app, relative_to=app)
        assert report.findings == [], f"{app}: " + "; ".join(
            f"{f.location()} {f.code} {f.message}" for f in report.findings
        )
        assert report.files


CLEAN_ZOO = """
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from forgeq.events import InvocationError, InvocationErrorCode, Queue, RateLimitError
from forgeq.kvs import ForgeKvsAPIError, kvs

try:
    import ujson as json
except ImportError:
    import json

work = Queue(key="work")
MAX_RETRY_AFTER = 900
RETRYABLE = {"RATE_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS"}
counter = 0


@dataclass
class Settings:
    base: float = 20.0

    def delay(self, retry_count: int) -> float:
        return min(self.base * 2**retry_count + random.uniform(0, 10), MAX_RETRY_AFTER)


SETTINGS = Settings()


def backoff(retry_count):
    return min(20 * 2**retry_count, MAX_RETRY_AFTER)


def on_created(event, context: Context) -> None:
    global counter
    counter += 1
    try:
        work.push({"body": {"key": event["issue"]["key"], "n": counter}, "delayInSeconds": 5})
    except RateLimitError:
        return InvocationError(retry_after=random.uniform(60, 900), retry_reason=InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED)
    return None


def handler(event, context):
    body = event["body"]
    retry_context = event.get("retryContext") or {}
    retry_count = retry_context.get("retryCount", 0)
    if retry_count >= 6:
        return None
    if (window := retry_context.get("retentionWindow")) is not None and window["remainingTimeMs"] < 60_000:
        return None
    keys = [f"issue-{key}" for key in body.get("keys", [])]
    for chunk_start in range(0, len(keys), 25):
        chunk = keys[chunk_start : chunk_start + 25]
        last = chunk[-1]
    else:
        last = None
    match body.get("kind"):
        case {"name": name}:
            label = name
        case str() as text:
            label = text
        case _:
            label = "none"
    total = 0
    for key in keys:
        total += len(key)
    try:
        kvs.set(f"label-{label}", {"last": last, "total": total, "dump": json.dumps(body)})
    except ForgeKvsAPIError as error:
        if error.code not in RETRYABLE:
            raise
        return InvocationError(
            retry_after=SETTINGS.delay(retry_count),
            retry_reason=InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED,
            retry_data={"key": body.get("key")},
        )
    finally:
        print("done", label)
    helper = lambda value, scale=2: value * scale  # noqa: E731
    return {"ok": helper(total), "name": __name__, "squares": {n: n * n for n in range(3)}}


async def async_handler(event, context):
    retry_context = event.get("retryContext")
    retry_count = retry_context["retryCount"] if retry_context else 0
    if retry_count > 4:
        return None
    try:
        value = await kvs.get("k")
        await kvs.set("k", (value or 0) + 1)
        result = await work.push([{"body": {"n": n}} for n in range(50)])
    except ForgeKvsAPIError as error:
        if error.status == 429:
            return InvocationError(retry_after=backoff(retry_count), retry_reason="FUNCTION_UPSTREAM_RATE_LIMITED")
        raise
    await asyncio.sleep(0)
    return result.job_id


def closure_user(event, context):
    seen = []

    def remember(item):
        seen.append(item)
        return len(seen)

    if event.get("retryContext"):
        attempt = event["retryContext"]["retryCount"]
    else:
        attempt = 0
    with open(__file__) as handle:
        first = handle.readline()
    del first
    return remember(attempt)
"""

ZOO_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/zoo
modules:
  trigger:
    - key: created-trigger
      function: created-fn
      events:
        - avi:jira:created:issue
  consumer:
    - key: work-consumer
      queue: work
      function: work-fn
    - key: async-consumer
      queue: async-work
      function: async-fn
    - key: closure-consumer
      queue: closure-work
      function: closure-fn
  function:
    - key: created-fn
      handler: index.on_created
    - key: work-fn
      handler: index.handler
    - key: async-fn
      handler: index.async_handler
    - key: closure-fn
      handler: index.closure_user
"""


def test_correct_code_in_many_shapes_stays_quiet(tmp_path):
    assert lint(tmp_path, ZOO_MANIFEST, CLEAN_ZOO) == set()


# -- the command ---------------------------------------------------------------------------------------


def test_the_command_exit_codes_json_and_silencing(tmp_path):
    source = """
    from forgeq.events import InvocationError


    def handler(event, context):
        if event["body"].get("x"):
            return InvocationError(retry_after=5000, retry_reason="FUNCTION_RETRY_REQUEST")  # forgeq: ignore[FQ103]
        return InvocationError(retry_after=0, retry_reason="FUNCTION_RETRY_REQUEST")
    """
    app = write_app(
        tmp_path / "app",
        V1_MANIFEST.replace(
            "resolver:\n        function: work-fn\n        method: listener", "function: work-fn"
        ),
        {"src/index.py": source},
    ).parent
    done = forgeq("lint", "--json", cwd=app)
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert [(f["code"], f["file"], f["line"]) for f in data["findings"]] == [
        ("FQ107", "src/index.py", 4),
        ("FQ104", "src/index.py", 7),
    ]
    assert data["silenced"] == 1
    zero = data["findings"][1]
    assert zero["severity"] == "warning" and "1 s" in zero["forge"] and zero["fix"] and zero["column"] == 40

    text = forgeq("lint", app)
    assert text.returncode == 1
    assert (
        "src/index.py:7:" in text.stdout
        and "FQ104" in text.stdout
        and "forge:" in text.stdout
        and "fix:" in text.stdout
    )

    assert forgeq("lint", "--ignore", "FQ104,fq107", cwd=app).returncode == 0
    assert forgeq("lint", "--ignore", "FQ104", "--ignore", "FQ107", cwd=app).stdout.startswith("no findings")
    (app / "src" / "index.py").write_text(
        textwrap.dedent(source).lstrip() + "# forgeq: ignore-file[FQ104, FQ107]\n"
    )
    assert forgeq("lint", app / "manifest.yml").returncode == 0

    bad = forgeq("lint", "--ignore", "FQ999", cwd=app)
    assert bad.returncode == 2 and "FQ999" in bad.stderr
    missing = forgeq("lint", tmp_path / "nowhere")
    assert missing.returncode == 2 and "no manifest" in missing.stderr


def test_every_rule_is_listed_with_its_forge_behaviour():
    done = forgeq("lint", "--rules", "--json")
    assert done.returncode == 0
    rules = json.loads(done.stdout)["rules"]
    assert [r["code"] for r in rules] == list(RULES)
    assert all(r["forge"] and r["fix"] and r["severity"] in ("error", "warning") for r in rules)
    text = Path(__file__).read_text() + (Path(__file__).parent / "test_lint_js.py").read_text()  # JavaScript apps' rules
    planted = set(re.findall(r"expect: (FQ\d{3})", text)) | set(re.findall(r'\("(FQ\d{3})"', text))
    assert planted >= set(RULES), f"rules without a test: {sorted(set(RULES) - planted)}"


def test_lint_never_runs_handler_code(tmp_path):
    marker = tmp_path / "ran"
    app = write_app(
        tmp_path / "app",
        V2_MANIFEST,
        {
            "src/index.py": f"open({str(marker)!r}, 'w').write('x')\n\ndef handler(event, context):\n    return None\n"
        },
    )
    assert lint_app(app, relative_to=app.parent).findings == []
    assert not marker.exists()


def test_a_missing_manifest_is_bad_input(tmp_path):
    with pytest.raises(InputError):
        lint_app(tmp_path / "manifest.yml")


def test_what_lint_finds_in_the_seed_guides_code_is_what_happens_when_it_runs():
    from forgeq.testing import ForgeApp

    with ForgeApp(SEED_LITERAL / "manifest.yml") as app:
        app.push_product_event("issue-created", count=1)
        app.run_until_idle()
        (dropped,) = app.dropped()
        attempts = app.timeline(queue="storage-async-queue")
        written = app.kvs.keys()
    # FQ401: kvs.set raises NameError on every attempt, and the catch-all (FQ105) retries it. On the
    # first delivery retry_delay is unbound (FQ402): the handler throws instead of asking for a retry.
    assert "UnboundLocalError" in (attempts[0].error or "") and "retry_delay" in (attempts[0].error or "")
    assert [a.outcome for a in attempts] == ["error", "retry", "retry", "retry", "dropped"]
    assert dropped.attempts == 5 and written == []
