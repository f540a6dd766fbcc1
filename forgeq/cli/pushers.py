"""`forgeq webtrigger` and `forgeq invoke`: the app's own pushers, called once.

Each call runs the app's function in this process, with what the platform sends it, over the state
file: what it stores is stored, what it pushes is queued for `forgeq run` (running beside it in
another terminal, or started later). The call shows on the timeline as a row of its own
(`forgeq inspect timeline N`); it is never queued or retried (forgeq/emulator/loop/calls.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forgeq.cli.common import DbOption, ManifestOption, open_store

if TYPE_CHECKING:
    from forgeq.emulator.loop.calls import CallResult
    from forgeq.emulator.loop.engine import Emulator

InstallationOption = Annotated[str | None, typer.Option("--installation", "-i", metavar="SITE", help="The installation (site) the call comes from.")]
SeedOption = Annotated[int, typer.Option("--seed", metavar="N", help="Seeds the function's `random`, as `forgeq run --seed` does.")]
StorageLimitsOption = Annotated[str, typer.Option("--storage-limits", metavar="SPEC", help="Storage quotas, as `forgeq run --storage-limits`.")]
NoTimeoutsOption = Annotated[bool, typer.Option("--no-timeouts", help="Do not enforce the 55 s (web trigger) or 25 s (UI resolver) limit.")]


def webtrigger(
    key: Annotated[str, typer.Argument(metavar="KEY", help="The webtrigger module's key in manifest.yml.")],
    method: Annotated[str | None, typer.Option("--method", "-X", help="The HTTP method; default GET, or POST with --body.")] = None,
    body: Annotated[str | None, typer.Option("--body", "-d", metavar="TEXT", help="The request body, as text (JSON or not), or @file.")] = None,
    headers: Annotated[list[str] | None, typer.Option("--header", "-H", metavar="NAME:VALUE", help="A request header, NAME:VALUE. Repeatable.")] = None,
    query: Annotated[list[str] | None, typer.Option("--query", "-q", metavar="NAME=VALUE", help="A query parameter, NAME=VALUE. Repeatable.")] = None,
    path: Annotated[str, typer.Option("--path", help="Path segments after the trigger's URL (the request's userPath), e.g. /hello.")] = "",
    installation: InstallationOption = None,
    seed: SeedOption = 0,
    storage_limits: StorageLimitsOption = "2025",
    no_timeouts: NoTimeoutsOption = False,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the call and the response as JSON (docs/json.md).")] = False,
) -> None:
    """Call a web trigger with the request Forge builds, and print its HTTP response.

    Example: forgeq webtrigger import-hook --body '{"count": 500}'
    """
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.loop.calls import call_webtrigger
    from forgeq.emulator.platform.webtriggers import METHODS

    verb = (method or ("POST" if body is not None else "GET")).upper()
    if verb not in METHODS:
        raise InputError(f"--method {method}: not an HTTP method", f"use one of {', '.join(METHODS)}")
    text = _read_body(body)
    pairs = [_split(item, ":", "--header", "NAME:VALUE, e.g. --header 'x-token: abc'") for item in headers or []]
    params = [_split(item, "=", "--query", "NAME=VALUE, e.g. --query page=2") for item in query or []]
    engine = _engine(manifest, db, seed, storage_limits, no_timeouts)
    try:
        result = call_webtrigger(engine, key, method=verb, body=text, headers=pairs, query=params, user_path=path, installation=installation)
        _settle(engine, result)
    finally:
        _close(engine)
    _show(result, json_output)
    if not result.ok:
        raise typer.Exit(1)


def invoke(
    key: Annotated[str, typer.Argument(metavar="KEY", help="The resolver definition's key, as the UI passes it to invoke().")],
    payload: Annotated[str | None, typer.Option("--payload", "-p", metavar="JSON", help="The payload invoke() sends: JSON, or @file.json.")] = None,
    function: Annotated[str | None, typer.Option("--function", "-f", help="The resolver function to call. Without it (or --module), forgeq calls the UI modules' resolver function whose handler defines KEY; name it when several (or none) do.")] = None,
    module: Annotated[str | None, typer.Option("--module", help="The UI module the call comes from (its key); sets context.moduleKey and extension.type.")] = None,
    extension: Annotated[str | None, typer.Option("--extension", metavar="JSON", help="JSON laid over context.extension, e.g. '{\"issue\": {\"key\": \"APP-7\"}}'.")] = None,
    account_id: Annotated[str | None, typer.Option("--account-id", metavar="ID", help="The user's accountId in the context.")] = None,
    installation: InstallationOption = None,
    seed: SeedOption = 0,
    storage_limits: StorageLimitsOption = "2025",
    no_timeouts: NoTimeoutsOption = False,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the call and its result as JSON (docs/json.md).")] = False,
) -> None:
    """Call a UI resolver as @forge/bridge's invoke(key, payload) does, and print what it returns.

    Example: forgeq invoke getStatus --payload '{"jobId": "..."}'
    """
    from forgeq.cli.push import read_body
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.loop.calls import call_resolver
    from forgeq.emulator.tools.resolver_keys import resolver_function

    value = read_body(payload, "--payload") if payload is not None else None
    overrides = read_body(extension, "--extension") if extension is not None else None
    if overrides is not None and not isinstance(overrides, dict):
        raise InputError("--extension must be a JSON object, laid over context.extension")
    engine = _engine(manifest, db, seed, storage_limits, no_timeouts)
    try:
        function = resolver_function(engine.manifest, key, function, module)
        result = call_resolver(
            engine, key, value, function=function, module=module, installation=installation, account_id=account_id, extension=overrides
        )
        _settle(engine, result)
    finally:
        _close(engine)
    _show(result, json_output)
    if not result.ok:
        raise typer.Exit(1)


def _engine(manifest: Path, db: Path | None, seed: int, storage_limits: str, no_timeouts: bool) -> Emulator:
    """An engine over the state file for one call: not started (no recovery, no schedule), so it
    works beside a running `forgeq run`, as `forgeq push` does."""
    from forgeq.cli import render
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.platform.quota import parse_storage_limits
    from forgeq.emulator.settings import Settings

    parse_storage_limits(storage_limits)
    loaded = load_manifest(manifest)
    for warning in loaded.warnings:
        render.warn(str(warning))
    store = open_store(manifest, db, must_exist=False)
    clock = "real" if store.get_meta("clock") == "real" else "virtual"
    settings = Settings(seed=seed, clock=clock, storage_limits=storage_limits, enforce_timeouts=not no_timeouts)
    return Emulator(loaded, store, settings)


def _settle(engine: Emulator, result: CallResult) -> None:
    """The state's virtual clock moves to the call's end, as a run's would, unless a running
    `forgeq run` owns that clock (it keeps it itself)."""
    from forgeq.emulator.store import StateLock

    if engine.clock.virtual and not StateLock(str(engine.store.path)).is_held_elsewhere():
        engine.clock.advance_to(max(engine.clock.now(), result.ended_at))
        engine.flush()


def _close(engine: Emulator) -> None:
    engine.handlers.close()
    engine.store.close()


def _read_body(body: str | None) -> str | None:
    from forgeq.emulator.errors import InputError

    if body is None or not body.startswith("@"):
        return body
    file = Path(body[1:])
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--body {body}: no such file {file}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"--body {body}: cannot read {file}: {error}") from None


def _split(item: str, separator: str, option: str, hint: str) -> tuple[str, str]:
    from forgeq.emulator.errors import InputError

    name, found, value = item.partition(separator)
    if not found or not name.strip():
        raise InputError(f"{option} {item!r}: not {hint.split(',')[0]}", hint)
    return name.strip(), value.strip() if separator == ":" else value


def _show(result: CallResult, json_output: bool) -> None:
    from forgeq.cli import render

    if json_output:
        render.json_out(call_json(result))
    else:
        render.call_result(result)


def call_json(result: CallResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": result.kind,
        "key": result.target,
        "function": result.function,
        "call": result.seq,
        "outcome": result.outcome,
        "error": result.error,
        "started_at": result.started_at,
        "ended_at": result.ended_at,
        "storage_calls": result.storage_calls,
        "pushed": result.pushed,
        "notes": result.notes,
        "logs": result.logs,
    }
    if result.kind == "webtrigger":
        data["response"] = result.answer
    elif result.ok:
        data["value"] = result.answer
    else:
        data["bridge_error"] = result.answer
    return data
