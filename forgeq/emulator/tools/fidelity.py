"""What this forgeq emulates exactly, approximately, and not at all: the list `forgeq doctor` prints.

docs/fidelity.md holds the reasons and the tests behind each line; its "At a glance" table is
generated from this list (`forgeq doctor --markdown`) and tests/test_doctor.py keeps the two equal.
When you change what forgeq emulates, change it here and regenerate that table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

EXACT = "exact"
APPROXIMATE = "approximate"
NONE = "none"
LEVELS = (EXACT, APPROXIMATE, NONE)
LEVEL_TITLES = {EXACT: "exactly", APPROXIMATE: "approximately", NONE: "not emulated"}


@dataclass(frozen=True)
class Item:
    area: str
    what: str
    level: str
    note: str = ""
    source: str = ""  # the docs/fidelity.md section that tells the choice and its sources

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


ITEMS: tuple[Item, ...] = (
    # -- exactly -------------------------------------------------------------------------------------
    Item("async events", "push validation: 50 events, 200 KB, delayInSeconds 0-900, the SDK's error classes and messages", EXACT, source="docs/fidelity.md: The core: delivery and retries"),
    Item("async events", "the v2 function consumer call and the v1 resolver consumer call, retryContext where each puts it", EXACT, source="docs/fidelity.md: The core: delivery and retries"),
    Item("async events", "retry requests: only a returned InvocationError; retryAfter <= 0 becomes 1 s, above 900 s is clamped", EXACT, source="docs/fidelity.md: The core: delivery and retries"),
    Item("async events", "retry budgets: 4 retries for v1 consumers and triggers, the 24 h retention window for v2", EXACT, source="docs/fidelity.md: The core: delivery and retries"),
    Item("async events", "a trigger that throws loses its event; a scheduled trigger is never retried", EXACT, source="docs/fidelity.md: Product events, triggers and scheduled triggers"),
    Item("async events", "job progress: getStats and cancel, JobDoesNotExistError", EXACT, "`failed` counts dropped events", "docs/fidelity.md: The core: delivery and retries"),
    Item("platform limits", "500 pushed events per minute, 1000 cyclic push requests, retryData 4 KB, ECO-759", EXACT, "fixed minute windows", "docs/fidelity.md: The core: delivery and retries"),
    Item("storage", "KVS get/set/delete/query/secrets/batches: key and value validation, error codes and statuses", EXACT, source="docs/fidelity.md: Storage (KVS), storage quotas and platform limits"),
    Item("storage", "the legacy `storage` API of @forge/api: get/set/delete, secrets, startsWith queries with cursors, storage.entity(), over the same store", EXACT, "@forge/storage's GraphQL and APIError messages; a quota refusal is HTTP 429", "docs/fidelity.md"),
    Item("SDK", "the Python SDK as @forge/events, @forge/kvs and @forge/resolver: JSON.stringify's text for every size and value, JavaScript's loose checks, InvocationError's constructor, the same errors", EXACT, "a differential suite against the real packages; values Python has and JSON has not are refused", "docs/fidelity.md"),
    Item("storage", "storage quotas of the 2025 era (requests/s, read and write units/min) and the 2023 era (per 20 s)", EXACT, "fixed windows", "docs/fidelity.md: Storage (KVS), storage quotas and platform limits"),
    Item("storage", "custom entities: app.storage.entities as Forge validates it, typed items, queries by index (where, filters, sort, cursors), batches with entityName", EXACT, "undocumented cases chosen in docs/fidelity.md", "docs/fidelity.md: Storage (KVS), storage quotas and platform limits"),
    Item("storage", "KVS transactions: sets, deletes and checks, all or nothing, 25 operations, each key once, 4 MB, one write against the quota", EXACT, "beyond Forge, the Python SDK's check(key, {'value': v}) checks a plain key (lint FQ503)", "docs/fidelity.md: Storage (KVS), storage quotas and platform limits"),
    Item("manifest", "Forge's validator for consumer, function, trigger and scheduledTrigger modules", EXACT, source="docs/fidelity.md: The development loop"),
    Item("functions", "timeoutSeconds (default 55, up to 900) and the 200 KB log limit per invocation", EXACT, "timeouts on the wall clock, and on the virtual clock for modelled product-call time", "docs/fidelity.md: The core: delivery and retries"),
    # -- approximately -------------------------------------------------------------------------------
    Item("async events", "the platform's backoff after a thrown error or timeout", APPROXIMATE, "undocumented; forgeq: 60 s doubling, capped at 900 s", "docs/fidelity.md: The core: delivery and retries"),
    Item("async events", "parallel, unordered delivery", APPROXIMATE, "one process; events due together run in a seeded shuffled order", "docs/fidelity.md: The core: delivery and retries"),
    Item("async events", "at-least-once delivery (duplicates)", APPROXIMATE, "a duplicate happens only when injected (faults)", "docs/fidelity.md: The core: delivery and retries"),
    Item("async events", "concurrency keys", APPROXIMATE, "a full key makes the event wait with an exponential backoff (2 s doubling to 900 s, seeded jitter, no order kept); the first gap is forgeq's guess", "docs/fidelity.md: The core: delivery and retries"),
    Item("async events", "a push to a queue with no consumer", APPROXIMATE, "undocumented; forgeq: the events wait (blocked)", "docs/fidelity.md: The core: delivery and retries"),
    Item("async events", "the platform's own checks of a push: queue names and job ids that are not strings, a delayInSeconds that is not a number", APPROXIMATE, "undocumented; forgeq refuses them with 400 (InternalServerError)", "docs/fidelity.md"),
    Item("async events", "100 KB per event for long-running consumers (timeoutSeconds over 55)", APPROXIMATE, "checked at push, against the manifest of the moment (413)", "docs/fidelity.md"),
    Item("async events", "how deep an event may nest", APPROXIMATE, "undocumented; forgeq's limit: 512 levels (400)", "docs/fidelity.md"),
    Item("storage", "query consistency and TTL expiry", APPROXIMATE, "stricter than Forge: queries see every write, TTLs expire exactly", "docs/fidelity.md: Storage (KVS), storage quotas and platform limits"),
    Item("storage", "custom entity indexes and transaction conflicts", APPROXIMATE, "an index is ready when the run starts (Forge: minutes after a deploy); attempts run one at a time, so transactions never conflict", "docs/fidelity.md: Storage (KVS), storage quotas and platform limits"),
    Item("product events", "Jira and Confluence event payloads", APPROXIMATE, "realistic templates; the up-to-3-minute delivery delay is not modelled", "docs/fidelity.md: Product events, triggers and scheduled triggers"),
    Item("product events", "trigger filters", APPROXIMATE, "a subset of Jira expressions is evaluated, others pass unchecked; ignoreSelf uses a stand-in app account", "docs/fidelity.md: Product events, triggers and scheduled triggers"),
    Item("scheduled triggers", "intervals and first run", APPROXIMATE, "first run 300 s after the first `forgeq run`; no per-installation offset", "docs/fidelity.md: Product events, triggers and scheduled triggers"),
    Item("runtime", "the handler runtime", APPROXIMATE, "Python ports of the app's handlers, in-process, with Forge's call shapes", "docs/fidelity.md: JavaScript apps"),
    Item("runtime", "@forge/api 1.x-8.x, @forge/events 0.5-3.x, @forge/resolver 1.3-2.x as apps pin them, nested copies too", APPROXIMATE, "each era's way to the platform; the legacy sandbox's global.api where a copy needs it, named as no longer run by Forge", "docs/fidelity.md"),
    Item("runtime", "a function's sandbox for Python handlers", APPROXIMATE, "they share forgeq's process: os._exit, signals to it, closing its descriptors, fork, threads and exit hooks are refused or contained; a crash of Python is redelivered, then quarantined", "docs/fidelity.md"),
    Item("runtime", "running out of memory", APPROXIMATE, "a Python handler's MemoryError is FUNCTION_OUT_OF_MEMORY and the app's modules load again, as in a fresh runtime; memoryMB is not enforced", "docs/fidelity.md"),
    Item("runtime", "JavaScript/TypeScript handlers with Forge's own @forge packages, on Node.js", APPROXIMATE, "the machine's Node.js, checked against app.runtime.name; modules load as Forge's bundler would", "docs/fidelity.md"),
    Item("product APIs", "a fake Jira and Confluence per installation behind requestJira, requestConfluence (and their Python ports): issues (created and read in bulk too), comments, transitions, properties, links, worklogs, watchers, remote links, fields and other catalogues, boards and sprints, JQL search, users, pages and spaces", APPROXIMATE, "the endpoints apps use most, in Jira's and Confluence's shapes; a JQL subset; seeded by pushed product events; writes fire product events", "docs/product-site.md"),
    Item("product APIs", "Jira's and Confluence's rate limits for apps: the 2026 points quota, burst and per-issue write limits, 429 with Retry-After", APPROXIMATE, "fixed hourly windows; a burst bucket holds one second of its rate", "docs/product-site.md"),
    Item("product APIs", "fetch only to the domains the manifest declares (permissions.external.fetch.backend)", APPROXIMATE, "nothing leaves the machine: a stub answers, or 501", "docs/product-site.md"),
    Item("dev loop", "`forge tunnel`'s reload on save (`forgeq run --watch`)", APPROXIMATE, "goes further: manifest changes apply without a redeploy", "docs/fidelity.md: The development loop"),
    Item("web triggers", "`forgeq webtrigger`: the request Forge builds, the {statusCode, headers, body} answer or static output, a 500 for anything else, the 55 s limit, webTrigger.getUrl's stable URL", APPROXIMATE, "called from the command line or a test, not over HTTPS; header names lower-cased; Forge's 500 carries no body; forceCreate and deleteUrl change no URL", "docs/fidelity.md"),
    Item("UI resolvers", "`forgeq invoke`: a UI module's resolver called as @forge/bridge's invoke() calls it, with the module's context, the bridge's error, the 25 s limit", APPROXIMATE, "context.extension from templates (issue DEMO-1); the frontend is not run", "docs/fidelity.md"),
    # -- not at all ----------------------------------------------------------------------------------
    Item("storage", "per-key rates (1 MB/s writes), weekly capacity and transfer quotas, REQUEST_THROTTLED", NONE, source="docs/fidelity.md: Storage (KVS), storage quotas and platform limits"),
    Item("modules", "Forge Remote endpoints, Forge Workflows consumers, the UI of UI modules, every other module kind", NONE, "`forgeq run` and `forgeq doctor` name each such module kind of the manifest once", "docs/fidelity.md"),
    Item("async events", "app events (appEvents.publish of @forge/events 3.x)", NONE, "answered 501 with a note, in Python as in JavaScript", "docs/fidelity.md"),
    Item("platform", "memory limits (memoryMB), platform-level errors, the invocation rate limit", NONE, "platform errors only when injected", "docs/fidelity.md: The core: delivery and retries"),
    Item("async events", "an idempotency key for pushes", NONE, "Forge has none; `forgeq push --idempotency-key` goes beyond it for scripts", "docs/fidelity.md"),
    Item("platform", "permissions and scopes, licensing (appIsLicensed), installation and upgrade events", NONE, source="docs/fidelity.md: Product events, triggers and scheduled triggers"),
    Item("product APIs", "Atlassian GraphQL, Bitbucket and the product endpoints the fake site does not serve", NONE, "answered 501 with a note, unless stubbed (stubs.yml, app.site.stub)", "docs/product-site.md"),
)  # fmt: skip


def items(level: str | None = None) -> list[Item]:
    return [item for item in ITEMS if level is None or item.level == level]


def markdown_table() -> str:
    """The "At a glance" table of docs/fidelity.md."""
    lines = ["| Emulated | Area | What | Note |", "|---|---|---|---|"]
    for level in LEVELS:
        for item in items(level):
            lines.append(f"| {LEVEL_TITLES[level]} | {item.area} | {item.what} | {item.note or '—'} |")
    return "\n".join(lines)
