"""`forgeq push`: fire product events at the app's triggers, or put events on one of its queues.

It never imports user code: it records the events in the state file and the loop of `forgeq run`
delivers them, whether that loop is already running in another terminal or starts later. Its
options and help are declared to typer in forgeq/cli/commands.py; this module imports no typer.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from forgeq.statefile import open_store, virtual_now


def push(
    event: str | None = None,
    queue: str | None = None,
    body: str | None = None,
    delay: float | None = None,
    concurrency_key: str | None = None,
    concurrency_limit: int | None = None,
    count: int = 1,
    rate: float | None = None,
    project: str | None = None,
    sets: list[str] | None = None,
    payload: Path | None = None,
    installation: str | None = None,
    list_events: bool = False,
    manifest: Path = Path("manifest.yml"),
    db: Path | None = None,
    json_output: bool = False,
    idempotency_key: str | None = None,
) -> None:
    """Fire product events at the app's triggers, or push to a queue (`forgeq run` delivers them)."""
    from forgeq.cli import render
    from forgeq.emulator.errors import InputError

    if list_events:
        if event is not None or queue is not None:
            raise InputError("--list takes no event and no --queue")
        listing = product_listing(manifest)
        if json_output:
            render.json_out(listing)
        else:
            render.product_events_table(listing)
        return
    if event is not None and queue is not None:
        raise InputError("give either a product event or --queue, not both")
    if queue is not None:
        given = [name for name, value in (("--rate", rate), ("--project", project), ("--set", sets), ("--payload", payload)) if value]
        if given:
            raise InputError(f"{', '.join(given)} apply to product events, not to --queue")
        from forgeq.emulator import limits  # not products.firing: a queue push needs none of it

        if count < 1 or count > limits.MAX_PUSH_COUNT:
            raise InputError(f"--count must be from 1 to {limits.MAX_PUSH_COUNT}, not {count}", "push more with several commands")
        if installation is not None and not installation.strip():
            raise InputError("--installation must not be empty")
        concurrency = concurrency_option(concurrency_key, concurrency_limit)
        result = push_to_queue(queue, body, delay, count, installation, manifest, db, concurrency, idempotency_key, show_progress=not json_output)
        if json_output:
            render.json_out(result)
        else:
            render.pushed(result)
        return
    if event is None:
        raise InputError("nothing to push", "pass a product event such as issue-created (see `forgeq push --list`), or --queue NAME --body JSON")
    if body is not None or delay is not None:
        raise InputError("--body and --delay apply to --queue; a product event takes --set PATH=VALUE or --payload FILE")
    if idempotency_key is not None:
        raise InputError("--idempotency-key applies to --queue pushes (one transaction each)", "a product event import is fired in chunks")
    if concurrency_key is not None or concurrency_limit is not None:
        raise InputError("--concurrency-key and --concurrency-limit apply to --queue", "a trigger sets a key on the events it pushes")
    fired = {"kind": "product", **fire_product(event, count, rate, project, sets or [], payload, installation, manifest, db, show_progress=not json_output)}
    if json_output:
        for warning in fired["warnings"]:
            render.warn(warning)
        render.json_out(fired)
    else:
        render.fired(fired)


def fire_product(
    event: str,
    count: int,
    rate: float | None,
    project: str | None,
    sets: list[str],
    payload_file: Path | None,
    installation: str | None,
    manifest: Path,
    db: Path | None,
    *,
    show_progress: bool,
) -> dict[str, Any]:
    from forgeq.cli import render
    from forgeq.emulator import limits
    from forgeq.emulator.products.firing import check_arguments, fire_product_events
    from forgeq.emulator.settings import DEFAULT_INSTALLATION

    base_payload = read_payload_file(payload_file) if payload_file is not None else None
    site = installation or DEFAULT_INSTALLATION
    # Everything is checked before the state file is opened (or created): bad input leaves no trace.
    check_arguments(event, count=count, now=limits.VIRTUAL_EPOCH, installation=site, project_key=project, sets=sets, base_payload=base_payload, rate=rate)
    loaded = None
    if manifest.exists():
        from forgeq.emulator.app.manifest import load_manifest

        loaded = load_manifest(manifest)  # reads YAML only: handler code is never imported here
    store = open_store(manifest, db, must_exist=False)
    try:
        with render.push_progress(count, enabled=show_progress) as progress:
            fired = fire_product_events(
                store, event, count=count, now=virtual_now(store), installation=site,
                project_key=project, sets=sets, base_payload=base_payload, rate=rate, manifest=loaded, progress=progress,
            )  # fmt: skip
    finally:
        store.close()
    return fired.as_dict()


def read_payload_file(path: Path) -> Any:
    from forgeq.emulator import jsoninput

    return jsoninput.read_file(path, f"--payload {path}")


def product_listing(manifest: Path) -> dict[str, Any]:
    """Every product event forgeq has a template for, with the app's triggers that receive each."""
    from forgeq.emulator.products import payloads

    loaded = None
    if manifest.exists():
        from forgeq.emulator.app.manifest import load_manifest

        loaded = load_manifest(manifest)
    events = []
    for alias, event_type, product, description in payloads.list_event_types():
        triggers = list(dict.fromkeys(t.key for t, _e in loaded.triggers_for(event_type))) if loaded else []
        events.append({"alias": alias, "event_type": event_type, "product": product, "description": description, "triggers": triggers})
    listing: dict[str, Any] = {"events": events, "manifest": str(manifest) if loaded else None}
    if loaded is not None:
        known = {e["event_type"] for e in events}
        listing["other_subscriptions"] = sorted({e.event_type for t in loaded.triggers for e in t.events} - known)
        listing["app_account_id"] = payloads.app_account_id(loaded.app_id)
    return listing


def read_body(body: str | None, option: str = "--body") -> Any:
    """JSON given on the command line, or @file.json, checked before it is parsed (jsoninput.py)."""
    from forgeq.emulator import jsoninput

    if body is None:
        return {}
    if body.startswith("@"):
        path = Path(body[1:])
        return jsoninput.read_file(path, str(path))
    return jsoninput.parse(body, option)


def concurrency_option(key: str | None, limit: int | None) -> dict[str, Any] | None:
    """`{key, limit}` from --concurrency-key and --concurrency-limit, which come together."""
    from forgeq.emulator.errors import InputError

    if key is None and limit is None:
        return None
    if key is None or limit is None:
        raise InputError("--concurrency-key and --concurrency-limit go together", "give both, e.g. --concurrency-key jira-api --concurrency-limit 5")
    if not key.strip():
        raise InputError("--concurrency-key must not be empty")
    if limit < 1:
        raise InputError(f"--concurrency-limit must be 1 or more, not {limit}")
    return {"key": key, "limit": limit}


def push_to_queue(
    queue: str,
    body: str | None,
    delay: float | None,
    count: int,
    installation: str | None,
    manifest: Path,
    db: Path | None,
    concurrency: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    *,
    show_progress: bool = False,
) -> dict[str, Any]:
    from forgeq.cli import render
    from forgeq.emulator import limits
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.loop.pushing import new_events
    from forgeq.emulator.safetext import shown
    from forgeq.emulator.settings import DEFAULT_INSTALLATION
    from forgeq.events import EventsError, Queue, validate_push

    if idempotency_key is not None and not 1 <= len(idempotency_key) <= limits.MAX_IDEMPOTENCY_KEY_CHARS:
        raise InputError(f"--idempotency-key must have 1 to {limits.MAX_IDEMPOTENCY_KEY_CHARS} characters, not {len(idempotency_key)}")
    try:
        Queue(key=queue)
    except EventsError as error:
        raise InputError(f"--queue {shown(queue, limits.MAX_QUOTED_CHARS)}: {error}") from None
    if len(queue) > limits.QUEUE_NAME_MAX:  # @forge/events pushes it; no manifest can name it (Forge's 1-36)
        raise InputError(
            f"--queue {shown(queue, 40)}: a queue name has 1-{limits.QUEUE_NAME_MAX} characters in a manifest, "
            "so no consumer could ever receive these events"
        )
    event: dict[str, Any] = {"body": read_body(body)}
    if delay is not None:
        event["delayInSeconds"] = delay
    if concurrency is not None:
        event["concurrency"] = concurrency
    try:
        validate_push([event])
    except EventsError as error:
        raise InputError(f"{type(error).__name__}: {error}") from None
    warnings = []
    if manifest.exists():
        from forgeq.emulator.app.manifest import load_manifest
        from forgeq.emulator.platform.queues import check_publish
        from forgeq.events import refused
        from forgeq.runtime import PlatformRefusal

        app = load_manifest(manifest)
        try:
            check_publish(app, queue, [event])  # the platform's own limits (a long-running consumer's 100 KB)
        except PlatformRefusal as refusal:
            refusal_error = refused(refusal)
            raise InputError(f"{type(refusal_error).__name__}: {refusal_error}") from None
        if app.consumer_for(queue) is None:
            warnings.append(f"no consumer in {manifest} listens on queue '{queue}'; the events wait until one does")
    store = open_store(manifest, db, must_exist=False)
    site = installation or DEFAULT_INSTALLATION
    now = virtual_now(store)
    # `count` copies of one event: its row is built once (JSON, delay) and inserted `count` times.
    row = next(new_events(queue, [event], installation=site, now=now, job_id=None))
    if idempotency_key is not None:
        return _push_once(store, idempotency_key, queue, site, now, row, count, warnings)
    with render.push_progress(count, enabled=show_progress) as progress:
        job_id, seqs = store.push_job(queue, site, now, "cli", _counted(itertools.repeat(row, count), progress))
    store.close()
    # first_event / last_event as a product push names them; first / last kept for scripts written before
    return {
        "kind": "queue", "queue": queue, "installation": site, "job_id": job_id, "count": len(seqs),
        "first_event": seqs[0], "last_event": seqs[-1], "first": seqs[0], "last": seqs[-1], "warnings": warnings,
    }  # fmt: skip


def _counted(rows: Iterable[Any], progress: Callable[[int], None], every: int = 5000) -> Iterator[Any]:
    """The rows, calling `progress(n)` each `every` rows (a large push's bar moves while it inserts)."""
    done = 0
    for row in rows:
        yield row
        done += 1
        if done % every == 0:
            progress(every)
    progress(done % every)


def _push_once(store: Any, key: str, queue: str, site: str, now: float, row: Any, count: int, warnings: list[str]) -> dict[str, Any]:
    """push_job at most once under `key` (--idempotency-key): a retry of the same push reports the
    first one's result; the same key for another push is refused."""
    import hashlib

    from forgeq.emulator import limits
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.safetext import shown

    request = hashlib.sha256(json.dumps([queue, site, row.body, row.extra, count], ensure_ascii=True).encode()).hexdigest()
    try:
        done = store.push_job_once(key, request, queue, site, now, "cli", itertools.repeat(row, count))
    finally:
        store.close()
    if done["request"] != request:
        raise InputError(
            f"--idempotency-key {shown(key, limits.MAX_QUOTED_CHARS)} was used for another push "
            f"(job {done['job_id']}, #{done['first']}..#{done['last']}): nothing pushed",
            "pass a new key for a new push",
        )
    return {
        "kind": "queue", "queue": queue, "installation": site, "job_id": done["job_id"], "count": done["count"],
        "first_event": done["first"], "last_event": done["last"], "first": done["first"], "last": done["last"],
        "warnings": warnings, "idempotency_key": key, "repeated": done["repeated"],
    }  # fmt: skip
