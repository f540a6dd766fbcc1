"""Every lint rule: a stable code, what it finds, the Forge behaviour behind it, and the fix.

Codes never change meaning once released; a rule that is retired keeps its number unused.
FQ0xx: the manifest and loading; FQ1xx: retry logic; FQ2xx: event shapes (v1 vs v2);
FQ3xx: pushes; FQ4xx: Python errors that Forge would see as a thrown error; FQ5xx: storage calls
Forge refuses; FQ6xx: a JavaScript or TypeScript app's packages (package.json, node_modules) and
the @forge APIs it uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    title: str
    forge: str  # the Forge behaviour behind the rule, with its source
    fix: str
    default: bool = True  # off-by-default rules run only when asked for (`--select`)


@dataclass(frozen=True)
class Finding:
    code: str
    file: str  # relative to the app folder when inside it
    line: int | None
    column: int | None
    message: str
    end_line: int | None = field(default=None, compare=False)

    @property
    def rule(self) -> Rule:
        return RULES[self.code]

    def location(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}" + (f":{self.column}" if self.column else "")

    def as_dict(self) -> dict[str, Any]:
        rule = self.rule
        return {
            "code": self.code,
            "severity": rule.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "title": rule.title,
            "forge": rule.forge,
            "fix": rule.fix,
        }


_RULES = [
    Rule("FQ001", ERROR, "invalid manifest",
         "Forge's manifest validator refuses the app at `forge deploy`; forgeq refuses to run it.",
         "Fix the manifest at the line shown."),
    Rule("FQ002", WARNING, "manifest entry forgeq does not run",
         "The manifest is valid, but the entry is deprecated or is not emulated by forgeq.",
         "Remove the entry, or expect it not to run locally."),
    Rule("FQ003", ERROR, "handler module does not parse",
         "A module that does not compile cannot be loaded: every event of its functions fails (forgeq: waits, state blocked).",
         "Fix the syntax error."),
    Rule("FQ004", ERROR, "handler attribute not defined",
         "`handler: index.run` names attribute `run` of src/index.py; when it is missing every invocation fails.",
         "Define the attribute, or fix `handler` in the manifest."),
    Rule("FQ005", ERROR, "resolver method not defined",
         "A v1 consumer calls `resolver: {method}` on the function's Resolver; an undefined method throws "
         "`Resolver has no definition for 'X'.` on every delivery.",
         "Define it with `@resolver.define(\"X\")`, or fix `method` in the manifest."),
    Rule("FQ006", ERROR, "app on the legacy sandbox runtime",
         "Without `app.runtime.name` (or with `sandbox`) an app runs on the legacy JavaScript sandbox runtime, which "
         "Forge stopped running on 28 February 2025 (Atlassian: \"Upgrading from the sandbox runtime\"): it no longer works.",
         "Set `app.runtime.name: nodejs22.x` (or nodejs20.x), then check the @forge package versions (FQ602)."),
    Rule("FQ101", ERROR, "InvocationError raised instead of returned",
         "Forge honours only a *returned* InvocationError (the JS constructor returns a plain `{_retry: true}` object); "
         "a thrown one is an app-level error: its retryAfter is ignored, a v2 consumer is retried on the platform's own "
         "backoff, and a product trigger's event is lost.",
         "`return InvocationError(...)` instead of `raise`."),
    Rule("FQ102", WARNING, "InvocationError without retry_after",
         "`InvocationError()` with no options retries after 1 s; with options but no `retryAfter`, the SDK sends none "
         "and what the platform then does is undocumented (forgeq applies 1 s).",
         "Pass `retry_after=` (seconds, 1-900), computed with backoff."),
    Rule("FQ103", WARNING, "retry_after above 900 s",
         "The platform clamps `retryAfter` above 900 s to 900 s, so the backoff you wrote is not the one applied.",
         "Cap the delay: `min(delay, 900)`."),
    Rule("FQ104", WARNING, "retry_after of 0 or less",
         "The SDK raises a `retryAfter` of 0 or less to 1 s: the retry comes at once, with no backoff.",
         "Compute a positive delay on every path, the first delivery included."),
    Rule("FQ105", WARNING, "retry on every exception",
         "Retrying an error a retry cannot fix (INVALID_KEY, KEY_TOO_LONG, MAX_SIZE, MAX_DEPTH, a bug in the handler) "
         "fails the same way every time and uses up the budget: 4 retries in v1, 24 h of retention in v2.",
         "Retry only rate limits: check `error.code in (\"RATE_LIMIT_EXCEEDED\", \"TOO_MANY_REQUESTS\")` or "
         "`error.status == 429`, and re-raise the rest."),
    Rule("FQ106", ERROR, "retryContext read without guarding the first delivery",
         "`retryContext` is present only on retries; on the first delivery it is missing, so reading inside it "
         "throws, and the event fails before your code runs.",
         "`retry_context = event.get(\"retryContext\")` and branch on it, or `.get(\"retryContext\") or {}`."),
    Rule("FQ107", WARNING, "v2 consumer retries until the retention window ends",
         "A v2 function consumer has no retry cap: it is retried until the 24 h retention window ends, then dropped "
         "(Atlassian changelog CHANGE-2642). A consumer that never looks at retryCount retries a permanent failure for 24 h.",
         "Read `event[\"retryContext\"][\"retryCount\"]` (or `retentionWindow.remainingTimeMs`) and stop retrying "
         "after a limit of your own."),
    Rule("FQ108", WARNING, "InvocationError without retry_reason",
         "The docs say retryReason defaults to FUNCTION_RETRY_REQUEST, but the SDK does not fill it in when options are "
         "given: the platform receives none.",
         "Pass `retry_reason=InvocationErrorCode.FUNCTION_RETRY_REQUEST` (or FUNCTION_UPSTREAM_RATE_LIMITED).",
         default=False),
    Rule("FQ201", ERROR, "v1 resolver consumer reads v2 event fields",
         "A v1 consumer's method gets `{payload, context}`: the payload is what was pushed, `retryContext` is inside the "
         "payload and `jobId` in the context; there is no `body`, `queueName` or `eventId`.",
         "Read `request[\"payload\"]`, or switch the manifest to a v2 function consumer."),
    Rule("FQ202", ERROR, "v2 function consumer reads v1 fields",
         "A v2 consumer is called `handler(event, context)`: `event.body` holds what was pushed, `retryContext` is on "
         "the event (not in the body), `jobId` is on the event (not in the context), and `event.payload` is undefined.",
         "Read `event[\"body\"]`, `event.get(\"retryContext\")` and `event[\"jobId\"]`."),
    Rule("FQ203", ERROR, "v2 push settings sent to a v1 resolver consumer",
         "Per-event `delayInSeconds` and `concurrency` are @forge/events 2.x features; a resolver (v1) consumer pairs "
         "with 1.x, where the delay is a setting of the whole push and the object pushed is the payload: on Forge the "
         "consumer's `payload[...]` fields are missing and the delay is never applied.",
         "Move the consumer to a v2 function consumer, or push the plain body with no per-event settings."),
    Rule("FQ301", WARNING, "push to a queue no consumer listens on",
         "Pushing to a queue with no consumer is undocumented; the SDK sends it anyway and nothing ever runs it "
         "(forgeq: the events wait, state blocked).",
         "Fix the queue name, or add a consumer for it to the manifest."),
    Rule("FQ302", ERROR, "invalid queue name",
         "`new Queue({key})` checks the key at once: anything but letters, digits, `-` and `_` throws "
         "InvalidQueueNameError, at import time for a module-level queue.",
         "Use a key matching ^[a-zA-Z0-9_-]+$, passed as `Queue(key=\"name\")`."),
    Rule("FQ303", ERROR, "push of more than 50 events",
         "One push takes at most 50 events; more throws TooManyEventsError and nothing is pushed.",
         "Push in chunks of at most 50."),
    Rule("FQ304", WARNING, "pushes in a loop can pass 500 events per minute",
         "Forge allows 500 pushed events per minute per installation (RateLimitError beyond) and 1000 push requests per "
         "tree of invocations (InvocationLimitReachedError).",
         "Bound the loop, handle RateLimitError (re-queue the rest with a delay), or push fewer, larger batches."),
    Rule("FQ305", WARNING, "trigger push without handling RateLimitError",
         "A product trigger that throws is not retried: the event is lost. A bulk import of 1000 issues makes "
         "1000 pushes against 500 events per minute, so some pushes throw RateLimitError.",
         "Catch RateLimitError and return an InvocationError with a delay (a trigger gets 4 retries)."),
    Rule("FQ306", ERROR, "push that the SDK refuses",
         "@forge/events 2.x validates each push: at least one event, each a `{body: {...}}` object, `delayInSeconds` "
         "from 0 to 900 (NoEventsToPushError, InvalidPayloadError, InvalidPushSettingsError).",
         "Push `{\"body\": {...}}` objects (a list of at most 50), with delayInSeconds in 0-900."),
    Rule("FQ307", WARNING, "fractional delayInSeconds",
         "The SDK lets a fractional delay through, but how the server applies it is undocumented; "
         "forgeq applies it as given.",
         "Use whole seconds."),
    Rule("FQ308", WARNING, "SDK call not awaited in async code",
         "In async code an SDK call returns a Promise (here: an awaitable); on Forge an unawaited call may complete in "
         "a later invocation or never, and its failure escapes your try/except.",
         "`await` it."),
    Rule("FQ401", ERROR, "name not defined",
         "Reading a name that was never defined or imported throws (NameError; ReferenceError in JS): the invocation "
         "fails with an app-level error.",
         "Import or define it."),
    Rule("FQ402", ERROR, "local variable possibly unbound",
         "A variable assigned only on some paths throws when read on the others (UnboundLocalError; ReferenceError in "
         "JS): typically in the except block that was meant to ask for a retry.",
         "Assign it before the branch, on every path."),
    Rule("FQ501", ERROR, "custom entity not declared in the manifest",
         "Custom entities are declared under app.storage.entities; the Custom Entity Store refuses an entity it does "
         "not know (forgeq: INVALID_ENTITY_TYPE), so every call on it fails.",
         "Declare the entity with its attributes and indexes, or fix the name."),
    Rule("FQ502", ERROR, "transaction check without an entity",
         "`transact().check(key, {entityName, conditions})` checks a custom entity item; Forge checks conditions on "
         "entity items only, so a check of a plain key fails the whole transaction.",
         "Keep what you check in a custom entity and pass its entityName and conditions; or, in a Python app, check a "
         "plain key's value with check(key, {'value': v}) (FQ503)."),
    Rule("FQ503", WARNING, "transaction check of a plain key's value (beyond Forge)",
         "forgeq's Python SDK lets `transact().check(key, {'value': v})` check a plain key: the transaction fails with "
         "CONDITIONAL_CHECK_FAILED unless the key holds v (None: unless it does not exist). Forge's check takes custom "
         "entity items only (`{entityName, conditions}`): @forge/kvs sends no value, and the transaction fails with "
         "INVALID_TRANSACTION_REQUEST (Atlassian: KVS transactions).",
         "Fine while the app runs under forgeq; before moving it to JavaScript, keep the checked value in a custom "
         "entity and check it with {entityName, conditions}."),
    Rule("FQ601", ERROR, "@forge package imported but not declared",
         "`forge deploy` bundles what node_modules holds; a package the app imports without declaring it in package.json "
         "is there only while another package pulls it in (its version can change), or not at all: the module then fails "
         "to load (Cannot find module), and every invocation of its functions fails.",
         "Declare it: `npm install @forge/<name>` (pin the version the app was written for)."),
    Rule("FQ602", ERROR, "@forge package version that fails on Forge",
         "Forge stopped running the legacy sandbox runtime on 28 February 2025: a copy of @forge/api before 2.10 or "
         "@forge/events before 0.8 reads its `global.api` and fails to load there. A @forge/api that gets a @forge/storage "
         "made for another version fails every legacy storage call with a TypeError. `forgeq doctor` lists every copy "
         "npm installed, nested ones too (forgeq/emulator/app/packages.py).",
         "Make the change the finding names (upgrade the package that brings the copy in, or pin @forge/storage), then "
         "`npm install`."),
    Rule("FQ603", WARNING, "legacy storage API of @forge/api",
         "`storage` (and `startsWith`) of @forge/api is the legacy storage API: deprecated, and removed from @forge/api 8. "
         "@forge/kvs reaches the same key-value store (Atlassian: \"Migrating to the new Forge KVS\").",
         "Import `kvs` (and `WhereConditions`) from @forge/kvs: storage.get/set/delete(k) -> kvs.get/set/delete(k), "
         "getSecret/setSecret/deleteSecret -> kvs.getSecret/setSecret/deleteSecret, "
         "storage.query().where('key', startsWith(p)) -> kvs.query().where('key', WhereConditions.beginsWith(p)), "
         "storage.entity(e) -> kvs.entity(e)."),
    Rule("FQ604", ERROR, "legacy storage API with @forge/api 8 or newer",
         "@forge/api 8 removed the legacy `storage` export: with 8.x installed, `storage` is undefined and every "
         "`storage.get(...)` throws TypeError, so every invocation that reaches it fails.",
         "Move to @forge/kvs (see FQ603), or pin @forge/api to 7.x until you do."),
]  # fmt: skip

RULES: dict[str, Rule] = {rule.code: rule for rule in _RULES}
