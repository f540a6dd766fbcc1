"""Every number forgeq enforces or models, in one place, with where it comes from.

Each Forge figure names the Atlassian page it comes from; docs/fidelity.md has the links. forgeq's own choices are marked.
"""

from __future__ import annotations

# Async events, push side (Atlassian's "Async events API" limits; docs/fidelity.md, platform limits).
MAX_EVENTS_PER_PUSH = 50
MAX_PUSH_BYTES = 200 * 1024
MAX_DELAY_SECONDS = 900
PUSHED_EVENTS_PER_MINUTE = 500
MAX_PUSH_COUNT = 1_000_000  # forgeq's choice: the most one `forgeq push --count` takes, so a typo cannot fill the disk
# Functions with timeoutSeconds over 55 ("long-running"): each event at most 100 KB (Atlassian's
# async events limits page). forgeq's choice: checked at push, on the event's JSON text.
MAX_LONG_RUNNING_EVENT_BYTES = 100 * 1024
# forgeq's choice (Forge documents no nesting limit for events): an event nests at most 512 levels,
# as deep as every JSON reader and writer forgeq hands it to (Python's json, the worker, --json).
MAX_EVENT_DEPTH = 512
CYCLIC_INVOCATION_LIMIT = 1000

# Retries (Atlassian's "Async events API": retries; docs/fidelity.md).
MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 900.0
V1_MAX_RETRIES = 4
TRIGGER_MAX_RETRIES = 4
RETENTION_SECONDS = 24 * 3600
MAX_RETRY_DATA_BYTES = 4 * 1024
# ECO-759: a retry is silently lost when body plus retryData exceed this.
RETRY_PAYLOAD_BYTES = 200 * 1024

# forgeq's choice for the undocumented automatic backoff after an app-level error
# (thrown error, timeout): 60 s doubling, capped at Forge's "gaps up to about 15 min".
AUTO_RETRY_FIRST_DELAY = 60.0
AUTO_RETRY_MAX_DELAY = 900.0

# Functions (Atlassian's "Platform quotas and limits" and the manifest reference).
DEFAULT_TIMEOUT_SECONDS = 55.0
MAX_TIMEOUT_SECONDS = 900.0
MAX_LOG_BYTES_PER_INVOCATION = 200 * 1024
# The runtime of a web trigger and of a UI resolver, whatever the function's `timeoutSeconds` says
# (Atlassian's "Invocation limits": timeoutSeconds applies to consumers and scheduled triggers only).
WEBTRIGGER_TIMEOUT_SECONDS = 55.0
UI_RESOLVER_TIMEOUT_SECONDS = 25.0
# What a call's row keeps of its answer, for `inspect timeline` (forgeq's choice; the caller gets it whole).
CALL_ANSWER_KEPT_CHARS = 4096
# forgeq's choice: how much of an error a handler raised is kept on its attempt and shown on the
# timeline (its logs keep up to the 200 KB above), and how much of a value a message quotes.
MAX_ERROR_TEXT_CHARS = 4000
MAX_REASON_CHARS = 200
MAX_QUOTED_CHARS = 80
# forgeq's choice for a count or row number given on the command line: more than a state holds, and
# inside SQLite's 64-bit integers (a bigger one could not even be asked for).
MAX_CLI_COUNT = 10**15
MAX_MESSAGE_CHARS = 1000  # one line of an error, warning or notice, however much input it quotes
# forgeq's choices: how far a run, a rate or a time may reach on the emulator's clock (its timeline
# shows offsets up to ten years), and how many installations one run serves.
MAX_VIRTUAL_SPAN_SECONDS = 10 * 365 * 86400.0
MAX_INSTALLATIONS = 10_000
# `forgeq push --idempotency-key` (forgeq's own: Forge has no idempotency key): as long as HTTP APIs allow one.
MAX_IDEMPOTENCY_KEY_CHARS = 255

# JSON a person hands forgeq (push --body, @file, --set, --payload, import), checked before parsing
# (jsoninput.py). forgeq's choices: far above what Forge's 200 KB push limit leaves room for, and
# nesting that every JSON reader and writer forgeq uses (Python's json, JSON.parse) handles.
MAX_JSON_INPUT_BYTES = 16 * 1024 * 1024
MAX_JSON_INPUT_DEPTH = 512
MAX_IMPORT_BYTES = 2 * 1024 * 1024 * 1024  # `forgeq import` reads the document whole
# A YAML file forgeq reads (manifest.yml, stubs.yml, a fault scenario, --storage-limits and
# --product-limits files): forgeq's choice, far above any real one.
MAX_YAML_INPUT_BYTES = 16 * 1024 * 1024
# A handler's source file that lint and `forgeq invoke`'s resolver-key reading take in: forgeq's
# choice, far above any handwritten module.
MAX_SOURCE_BYTES = 2 * 1024 * 1024
EXPORT_NESTING = 8  # an export's own levels above the bodies and values it holds

# Manifest (Atlassian's manifest reference).
QUEUE_NAME_MAX = 36
FUNCTION_KEY_MAX = 23
REFERENCE_MAX = 255
MAX_SCHEDULED_TRIGGERS = 5

# Custom entities (Atlassian's "Custom entities" page and @forge/manifest 13.7's schema
# and StorageValidator, which enforces 30 characters per attribute name where the page says 64).
MAX_ENTITIES = 20
ENTITY_NAME_MIN = 3
ENTITY_NAME_MAX = 60
MAX_ENTITY_ATTRIBUTES = 50
ENTITY_ATTRIBUTE_NAME_MAX = 30
MAX_ENTITY_INDEXES = 7
ENTITY_INDEX_NAME_MIN = 3
ENTITY_INDEX_NAME_MAX = 50
ENTITY_RANGE_VALUE_BYTES = 900  # an index's range value
ENTITY_PARTITION_VALUE_BYTES = 1700  # an index's partition values together
ENTITY_INTEGER_MIN = -(2**31)  # "integer" attributes are 32-bit signed
ENTITY_INTEGER_MAX = 2**31 - 1
ENTITY_QUERY_MAX_CONDITIONS = 100
ENTITY_QUERY_MAX_LIMIT = 100  # COMPLEX_QUERY_PAGE_LIMIT_NOT_IN_RANGE: "between 1 and 100"
ENTITY_QUERY_DEFAULT_LIMIT = 10  # forgeq's choice: the KVS query's default (undocumented for entities)

# Transactions (Atlassian's "KVS Transactions" pages). FRGE-1916 caps transactions at
# 1 MB in practice; forgeq enforces the documented 4 MB.
TRANSACTION_MAX_OPERATIONS = 25
TRANSACTION_MAX_BYTES = 4 * 1024 * 1024

# scheduledTrigger timing (Atlassian's manifest reference): the first run about 5 min after a deploy (forgeq: after the
# first `run`), then every interval.
SCHEDULED_FIRST_RUN_SECONDS = 300.0
SCHEDULE_INTERVAL_SECONDS = {"fiveMinute": 300.0, "hour": 3600.0, "day": 86400.0, "week": 604800.0}

# Modelled durations on the virtual clock (forgeq's choice; configurable with --invocation-ms and
# --storage-call-ms). They decide how fast per-second and per-minute windows fill.
INVOCATION_SECONDS = 0.100
STORAGE_CALL_SECONDS = 0.020
# A product REST call (requestJira, requestConfluence, requestGraph, fetch): forgeq's choice, near a
# Jira Cloud GET's usual latency. It decides how fast the burst limits fill (platform/site/limits.py).
PRODUCT_CALL_SECONDS = 0.100
# How many invocations of one installation run at the same time (forgeq's model; Forge does not
# document it). With the durations above, 50 slots deliver ~400 one-write events per second: a
# backlog meets the per-minute write units before the 1000 requests per second (--concurrency).
INVOCATIONS_IN_PARALLEL = 50
# An event whose concurrency key is full waits with exponential backoff (Atlassian's "Concurrency" page for async events; docs/fidelity.md: gaps up to 15 min;
# the first gap is forgeq's choice, after a partner's test that saw 4-16 s): concurrency.py.
CONCURRENCY_WAIT_FIRST_SECONDS = 2.0
CONCURRENCY_WAIT_MAX_SECONDS = 900.0

# The emulator's virtual epoch: Monday 17 Nov 2025 09:00 UTC, the first working day under the
# 2025 storage quotas. Fixed so that two runs from an empty state print the same times.
VIRTUAL_EPOCH = 1763370000.0

# Crash safety (forgeq's choice, docs/fidelity.md).
QUARANTINE_AFTER_CRASHES = 3
ACK_BATCH_EVENTS = 50  # events a step claims at one instant (part of the timeline: the shuffle is within them)
# Events the look-ahead window leases per commit (lookahead.py), and attempts a run of plain steps
# acknowledges per commit. Not part of the timeline: a window replays the steps above. Larger
# windows mean fewer commits; the flight log (store/flight.py) keeps a crash from marking the
# window's unstarted events.
WINDOW_EVENTS = 200
ACK_BATCH_SECONDS = 0.05
