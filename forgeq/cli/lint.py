"""`forgeq lint [MANIFEST]`: the manifest's problems and the handler code's retry mistakes, before running anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgeq.cli.common import JsonOption, ManifestChoice, examples, manifest_from

EXAMPLES = examples(
    "forgeq lint                          # the app in this folder",
    "forgeq lint -m ../app/manifest.yml   # or: forgeq lint ../app",
    "forgeq lint --ignore FQ107 --json",
    "forgeq lint --rules                  # every rule, the Forge behaviour behind it, the fix",
    docs="docs/fidelity.md (the Forge behaviours each rule stands on)",
)


def lint(
    manifest_argument: Annotated[
        Path | None, typer.Argument(metavar="MANIFEST", show_default=False, help="The app's manifest.yml, or the folder that holds it (as -m).")
    ] = None,
    manifest: ManifestChoice = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            metavar="CODE",
            help="Silence a rule everywhere: --ignore FQ107 (repeat it, or separate codes with commas).",
        ),
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select", metavar="CODE", help="Turn on a rule that is off by default: --select FQ108 (`--rules` marks them)."
        ),
    ] = None,
    rules: Annotated[
        bool,
        typer.Option("--rules", help="List every rule: its code, the Forge behaviour behind it, the fix."),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Check the manifest and the handler code (read, never run) against Forge's rules.

    Exit code 0 when clean, 1 when there are findings, 2 when the manifest cannot be found.
    Silence one finding with `# forgeq: ignore[FQ105]` on its line.
    """
    from forgeq.cli import render

    if rules:
        from dataclasses import asdict

        from forgeq.emulator.tools.linting.rules import RULES

        listed = [asdict(rule) for rule in RULES.values()]
        if json_output:
            render.json_out({"rules": listed})
        else:
            render.lint_rules(listed)
        return
    from forgeq.emulator.tools.lint import lint_app

    report = lint_app(manifest_from(manifest_argument, manifest), ignore or [], select=select or [])
    data = report.as_dict()
    if json_output:
        render.json_out(data)
    else:
        render.lint_findings(data)
    if report.findings:
        raise typer.Exit(code=1)
