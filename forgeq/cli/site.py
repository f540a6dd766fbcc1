"""`forgeq inspect requests` and `forgeq inspect site`: the product calls handlers made, and the
fake site's objects after a run (registered under `inspect` by cli/inspect.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from forgeq.cli.common import DbOption, InstallationOption, JsonOption, ManifestOption, open_store

app = typer.Typer(help="The fake product site after a run: an issue or a page with its history, or every issue.", no_args_is_help=True)


def request_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": row["at"],
        "installation": row["installation"],
        "event": row["event"],
        "attempt": row["attempt"],
        "product": row["product"],
        "principal": row["principal"],
        "method": row["method"],
        "path": row["path"],
        "status": row["status"],
        "retry_after": row["retry_after"],
        "reason": row["reason"],
        "points": row["points"],
    }


def requests(
    status: Annotated[int | None, typer.Option("--status", help="Only requests answered with this status, e.g. 429.")] = None,
    method: Annotated[str | None, typer.Option("--method", help="Only this method: GET, POST, PUT, DELETE.")] = None,
    path: Annotated[str | None, typer.Option("--path", metavar="TEXT", help="Only paths (or fetch URLs) containing this text, e.g. /issue/DEMO-17.")] = None,
    product: Annotated[str | None, typer.Option("--product", help="Only jira, confluence, graphql or fetch.")] = None,
    event: Annotated[int | None, typer.Option("--event", help="Only the requests of this event's attempts.")] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="At most this many (the first ones).")] = 1000,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    installation: InstallationOption = None,
    json_output: JsonOption = False,
) -> None:
    """Every product call handlers made (requestJira, requestConfluence, requestGraph, fetch):
    time, event and attempt, method, path, status, the Retry-After the app received, and why.

    Example: forgeq inspect requests --status 429 --method PUT
    """
    from forgeq.cli import render
    from forgeq.cli.selection import check_page

    check_page(limit)
    store = open_store(manifest, db)
    filters: dict[str, Any] = {
        "installation": installation, "event": event, "status": status, "method": method.upper() if method else None, "path": path, "product": product,
    }  # fmt: skip
    rows = [request_json(row) for row in store.site_requests(**filters, limit=limit)]
    total = store.site_request_count(**filters)
    if json_output:
        render.json_out({"requests": rows, "total": total})
    else:
        render.requests_table(rows, total)


def _app_account(manifest: Path) -> str | None:
    from forgeq.emulator.app.manifest import load_manifest
    from forgeq.emulator.errors import ForgeqError
    from forgeq.emulator.products.payloads import app_account_id

    try:
        return app_account_id(load_manifest(manifest).app_id)
    except ForgeqError:
        return None  # the state can be read without a valid manifest: the app's account shows by id


@app.command("issue", short_help="One issue as Jira would answer it, with its comments and history.")
def issue(
    key: Annotated[str, typer.Argument(metavar="ISSUE", help="The issue's key (DEMO-17) or id (10017).")],
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    installation: InstallationOption = None,
    json_output: JsonOption = False,
) -> None:
    """One issue as Jira would answer it, with its comments, properties and change history.

    Example: forgeq inspect site issue DEMO-17
    """
    from forgeq.cli import render
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.settings import DEFAULT_INSTALLATION
    from forgeq.emulator.tools.site_view import issue_view

    store = open_store(manifest, db)
    site = installation or DEFAULT_INSTALLATION
    view = issue_view(store, site, key, _app_account(manifest))
    if view is None:
        raise InputError(f"no issue '{key}' on the site of {site} in {store.path}", "list them with `forgeq inspect site issues`")
    if json_output:
        render.json_out(view)
    else:
        render.site_issue(view)


@app.command("page")
def page(
    page_id: Annotated[str, typer.Argument(metavar="PAGE_ID", help="The page's id (40017).")],
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    installation: InstallationOption = None,
    json_output: JsonOption = False,
) -> None:
    """One Confluence page, with its content properties and history.

    Example: forgeq inspect site page 40001
    """
    from forgeq.cli import render
    from forgeq.emulator.errors import InputError
    from forgeq.emulator.settings import DEFAULT_INSTALLATION
    from forgeq.emulator.tools.site_view import page_view

    store = open_store(manifest, db)
    site = installation or DEFAULT_INSTALLATION
    view = page_view(store, site, page_id, _app_account(manifest))
    if view is None:
        raise InputError(f"no page '{page_id}' on the site of {site} in {store.path}")
    if json_output:
        render.json_out(view)
    else:
        render.site_page(view)


@app.command("issues")
def issues(
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
    installation: InstallationOption = None,
    json_output: JsonOption = False,
) -> None:
    """Every issue on the site: key, summary, status, labels.

    Example: forgeq inspect site issues --json
    """
    from forgeq.cli import render
    from forgeq.emulator.settings import DEFAULT_INSTALLATION
    from forgeq.emulator.tools.site_view import issue_list

    store = open_store(manifest, db)
    site = installation or DEFAULT_INSTALLATION
    listed = issue_list(store, site)
    if json_output:
        render.json_out({"installation": site, "issues": listed})
    else:
        render.site_issues(site, listed)
