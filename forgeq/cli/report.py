"""`forgeq report`: write the run's pictures to one self-contained HTML file (docs/report.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgeq.cli.common import DbOption, ManifestOption, examples, open_store, virtual_now
from forgeq.cli.selection import SinceFilter, UntilFilter

DEFAULT_OUT = Path("forgeq-report.html")
EXAMPLES = examples(
    "forgeq report                              # forgeq-report.html: the active span, first push to last attempt",
    "forgeq report --since 0 --until 1h -o first-hour.html",
    "forgeq report -o - | gzip > report.html.gz",
    docs="docs/report.md (what each picture shows)",
)


def report(
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="FILE", help="The HTML file to write ('-' for standard output).")
    ] = DEFAULT_OUT,
    since: SinceFilter = None,
    until: UntilFilter = None,
    manifest: ManifestOption = Path("manifest.yml"),
    db: DbOption = None,
) -> None:
    """Write an HTML report of the state: attempts over time, queue depth, quota, histogram, dropped events."""
    import os
    import sys

    from forgeq.emulator.errors import InputError
    from forgeq.emulator.timespec import parse_window
    from forgeq.emulator.tools.report import render_report

    store = open_store(manifest, db)
    try:
        start, end = parse_window(since, until, virtual_now(store))
        data = store.report_data(since=start, until=end)
    finally:
        store.close()
    resolved = manifest.resolve()
    title = resolved.parent.name if manifest.exists() else Path(store.path).name
    source = (
        os.path.relpath(store.path) if Path(store.path).resolve().is_relative_to(Path.cwd()) else store.path
    )
    # A lone surrogate a handler stored shows as U+FFFD, as a browser shows it: the page is UTF-8.
    page = render_report(data, title=title, source=source).encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if str(out) == "-":
        sys.stdout.write(page)
        return
    if out.is_dir():
        raise InputError(f"--out {out} is a folder", "pass the path of a file, such as report.html")
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_text(page, encoding="utf-8")
        os.replace(partial, out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise InputError(f"cannot write {out}: {error.strerror}", "pass another --out") from None
    size = len(page.encode())
    typer.echo(
        f"wrote {out} ({size / 1024:.0f} KB): {data.totals['attempts']:,} attempts, "
        f"{data.totals['dropped'] + data.totals['trigger_lost']:,} dropped or lost; open it in a browser"
    )
