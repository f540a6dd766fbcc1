"""The typer declarations of `forgeq run` and `forgeq push`: their options, help texts and examples.

Their bodies (forgeq/cli/run.py, forgeq/cli/push.py) import no typer: the launcher parses the
usual invocations itself and calls them without building the typer app, which costs about 0.15 s
of start-up (forgeq/launcher.py). Each declaration hands what typer parsed to its body, whose
parameters and defaults are the same (tests/test_performance_loop.py compares them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgeq.cli import push as push_body
from forgeq.cli import run as run_body
from forgeq.cli.common import (
    DEFAULT_SEED,
    DbOption,
    ManifestArgument,
    ManifestChoice,
    ManifestOption,
    SeedOption,
    examples,
)

RUN_EXAMPLES = examples(
    "forgeq run --until-idle                 # deliver what is queued, then stop",
    "forgeq run --for 7d                     # a virtual week, scheduled triggers included",
    "forgeq run --watch                      # keep running; every save reloads the handlers",
    "forgeq run --until-idle --timeline      # a line per attempt (the default through a pipe)",
    "forgeq run -m app/manifest.yml --seed 7 --storage-limits 2023",
    docs="docs/cli.md (output, exit codes), docs/fidelity.md (the limits), docs/testing.md (--faults)",
)

PUSH_EXAMPLES = examples(
    "forgeq push issue-created --count 1000                 # a bulk import: product events to every subscribed trigger",
    "forgeq push issue-created --set issue.fields.summary=Hi # a payload field of your own",
    "forgeq push --list                                     # the product events forgeq can make",
    "forgeq push --queue q --body '{\"issueKey\": \"A-1\"}' --count 200",
    "forgeq push --queue q --body @event.json --delay 60",
    docs="docs/product-events.md, docs/json.md (push --json)",
)


def run(
    manifest_argument: ManifestArgument = None,
    manifest: ManifestChoice = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop when no event is pending (burst mode; future scheduled-trigger runs do not count).")
    ] = False,
    run_for: Annotated[
        str | None,
        typer.Option("--for", metavar="DURATION", help="Run until this much time has passed on the emulator's clock: 7d, 12h, 30m, 45s."),
    ] = None,
    seed: SeedOption = DEFAULT_SEED,
    clock: Annotated[str, typer.Option("--clock", metavar="virtual|real", help="virtual (time jumps to the next due event) or real.")] = "virtual",
    db: DbOption = None,
    timeline: Annotated[
        bool, typer.Option("--timeline", help="A line per attempt (the default when the output is not a terminal).")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No line per attempt: drops, losses and warnings as they happen, a status, the summary.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="No line per attempt; the summary as one JSON document at the end (docs/json.md).")
    ] = False,
    logs: Annotated[bool, typer.Option("--logs", help="Show what handlers print under their attempt (on with --watch).")] = False,
    invocation_ms: Annotated[float, typer.Option("--invocation-ms", metavar="MS", help="Modelled virtual duration of an invocation.")] = 100.0,
    storage_call_ms: Annotated[float, typer.Option("--storage-call-ms", metavar="MS", help="Modelled virtual duration of a storage call.")] = 20.0,
    product_call_ms: Annotated[
        float, typer.Option("--product-call-ms", metavar="MS", help="Modelled virtual duration of a product call (requestJira, fetch, ...).")
    ] = 100.0,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", metavar="N", help="Invocations of one installation running at once on the virtual clock (0: no limit)."),
    ] = 50,
    no_timeouts: Annotated[bool, typer.Option("--no-timeouts", help="Do not enforce timeoutSeconds (like forge tunnel).")] = False,
    max_attempts: Annotated[int | None, typer.Option("--max-attempts", metavar="N", help="Stop after this many attempts.")] = None,
    faults: Annotated[
        Path | None,
        typer.Option("--faults", metavar="FILE", help="A YAML fault scenario: failed attempts, storage 429s, latency, duplicates (docs/testing.md)."),
    ] = None,
    storage_limits: Annotated[
        str,
        typer.Option(
            "--storage-limits",
            metavar="SPEC",
            help="Storage quotas: 2025 (1000 requests/s, 4000 read and 4000 write units/min), 2023 (per 20 s), none, "
            "a YAML file, or figures such as 2025,write_units=100 (docs/fidelity.md).",
        ),
    ] = "2025",
    product_limits: Annotated[
        str,
        typer.Option(
            "--product-limits",
            metavar="SPEC",
            help="Jira's and Confluence's rate limits for apps: 2026 (65,000 points/hour, burst and per-issue write limits), "
            "2025 (burst limits), none, a YAML file, or figures such as 2026,points=1000 (docs/product-site.md).",
        ),
    ] = "2026",
    platform_limits: Annotated[
        str,
        typer.Option(
            "--platform-limits", metavar="on|off", help="on: 500 pushed events/min, 1000 cyclic pushes, retryData 4 KB, ECO-759; off: none of them."
        ),
    ] = "on",
    eco759: Annotated[
        bool, typer.Option("--eco759/--no-eco759", help="Emulate ECO-759: a retry is silently lost when body plus retryData exceed 200 KB.")
    ] = True,
    installations: Annotated[
        int, typer.Option("--installations", metavar="N", help="Serve N installations, site-1 .. site-N, each with its own store and quota.")
    ] = 1,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Reload handler modules and the manifest when their files change; events of a broken handler wait.")
    ] = False,
) -> None:
    """Run the app's consumers and triggers over the queue in the state file.

    On a terminal a live status shows the clocks, attempts per second, events done and waiting, and
    an estimate of the time left; drops, losses and warnings are printed as they happen. Through a
    pipe, or with --timeline, every attempt gets a line. Ctrl-C stops after the attempt in flight
    (exit 130); a second Ctrl-C stops at once.
    """
    run_body.run(**locals())


def push(
    event: Annotated[
        str | None, typer.Argument(metavar="EVENT", help="A product event: an alias (issue-created, ...) or a full avi: type. Or use --queue.")
    ] = None,
    queue: Annotated[str | None, typer.Option("--queue", metavar="QUEUE", help="Push to this queue, as Queue(key=...).push would.")] = None,
    body: Annotated[str | None, typer.Option("--body", metavar="JSON", help="With --queue: the event body, JSON or @file.json.")] = None,
    delay: Annotated[float | None, typer.Option("--delay", metavar="SECONDS", help="With --queue: delayInSeconds, 0-900.")] = None,
    concurrency_key: Annotated[
        str | None, typer.Option("--concurrency-key", metavar="KEY", help="With --queue: the event's concurrency key (docs/fidelity.md); needs --concurrency-limit.")
    ] = None,
    concurrency_limit: Annotated[
        int | None, typer.Option("--concurrency-limit", metavar="N", help="With --queue: how many events of the key may run at once.")
    ] = None,
    count: Annotated[int, typer.Option("--count", "-n", metavar="N", help="How many events to push.")] = 1,
    rate: Annotated[
        float | None, typer.Option("--rate", metavar="PER_SECOND", help="Product events per second of the emulator's clock; default: all at once, as a bulk import.")
    ] = None,
    project: Annotated[str | None, typer.Option("--project", metavar="KEY", help="The Jira project key (Confluence space key) in the payloads; default DEMO.")] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", metavar="PATH=VALUE", help="Override a payload field: PATH=VALUE, VALUE as JSON or text. Repeatable.")
    ] = None,
    payload: Annotated[Path | None, typer.Option("--payload", metavar="FILE", help="A JSON file with your own product event payload.")] = None,
    installation: Annotated[str | None, typer.Option("--installation", "-i", metavar="SITE", help="The installation (site) to push to.")] = None,
    list_events: Annotated[bool, typer.Option("--list", help="List the product events forgeq can make, and the triggers that receive them.")] = False,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print what was pushed as JSON.")] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="KEY",
            help="With --queue: push at most once under this key; a retry of the same push prints the first one's result "
            "(Forge has no such key: this is for scripts). Example: --idempotency-key import-2024-06-01",
        ),
    ] = None,
) -> None:
    """Fire product events at the app's triggers, or push to a queue (`forgeq run` delivers them)."""
    push_body.push(**locals())
