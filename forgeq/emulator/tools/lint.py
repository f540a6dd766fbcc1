"""`forgeq lint`: the manifest validator's problems plus checks on handler code, read with `ast`.

Handler code is parsed, never imported or run: Python with `ast`, JavaScript and TypeScript with
tree-sitter (linting/javascript.py, linting/jsapp.py). Each finding has a stable code (linting/rules.py),
names file and line, and says which Forge behaviour makes it a bug. Silence one with a comment
on its line, `# forgeq: ignore[FQ105]` (`// forgeq: ignore[FQ105]` in JavaScript; `# forgeq: ignore`
for every code on the line), with
`# forgeq: ignore-file[FQ105]` anywhere in a file, or with `--ignore FQ105`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from forgeq.emulator import limits
from forgeq.emulator.app.manifest import JS_SUFFIXES, Manifest, is_inside, load_manifest, resolve_handler_file
from forgeq.emulator.errors import InputError, ManifestError, Problem
from forgeq.emulator.jsoninput import bounded_bytes
from forgeq.emulator.tools.linting import jsapp
from forgeq.emulator.tools.linting.jsapp import uses_javascript
from forgeq.emulator.tools.linting.names import check_names
from forgeq.emulator.tools.linting.pushes import check_pushes
from forgeq.emulator.tools.linting.retries import check_retries
from forgeq.emulator.tools.linting.rules import RULES, Finding
from forgeq.emulator.tools.linting.shapes import check_shapes, find_roles
from forgeq.emulator.tools.linting.source import Role, SourceFile
from forgeq.emulator.tools.linting.storage import check_storage

MANIFEST_NAME = "manifest.yml"
_IGNORE = re.compile(r"(?:#|//)\s*forgeq:\s*ignore(-file)?(?:\[([A-Za-z0-9,\s]*)\])?")  # Python, JavaScript
_SKIPPED_DIRS = {
    "__pycache__",
    "node_modules",
    ".venv",
    "venv",
    ".git",
    ".forgeq",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
}
MAX_SOURCE_BYTES = limits.MAX_SOURCE_BYTES


@dataclass
class LintReport:
    manifest: str
    findings: list[Finding] = field(default_factory=list)
    silenced: int = 0
    files: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)  # module kinds forgeq does not run (not findings)

    def as_dict(self) -> dict[str, object]:
        return {
            "manifest": self.manifest,
            "findings": [finding.as_dict() for finding in self.findings],
            "silenced": self.silenced,
            "files": self.files,
            "not_run": self.not_run,
        }


def parse_codes(values: Iterable[str], option: str = "--ignore") -> set[str]:
    """`--ignore FQ101,fq105` -> {"FQ101", "FQ105"}; an unknown code is bad input."""
    codes: set[str] = set()
    for value in values:
        for part in value.split(","):
            code = part.strip().upper()
            if not code:
                continue
            if code not in RULES:
                raise InputError(f"{option} {part.strip()}: no such rule", "`forgeq lint --rules` lists them")
            codes.add(code)
    return codes


def manifest_file(path: Path) -> Path:
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.exists():
        raise InputError(f"no manifest at {path}", "pass the app's manifest.yml or its folder")
    return path


def lint_app(
    path: Path, ignore: Iterable[str] = (), relative_to: Path | None = None, select: Iterable[str] = ()
) -> LintReport:
    """Lint the app whose manifest is `path` (or the folder holding it).

    `ignore` silences rules; `select` turns on rules that are off by default (FQ108).
    """
    path = manifest_file(path)
    ignored = parse_codes(ignore)
    selected = parse_codes(select, option="--select")
    ignored |= {code for code, rule in RULES.items() if not rule.default and code not in selected}
    linter = _Linter(path, ignored, relative_to or Path.cwd())
    return linter.run()


class _Linter:
    def __init__(self, path: Path, ignored: set[str], relative_to: Path) -> None:
        self.path = path
        self.app_dir = path.resolve().parent
        self.ignored = ignored
        self.relative_to = relative_to.resolve()
        self.report = LintReport(self.display(path))
        self.found: list[Finding] = []
        self.texts: dict[str, list[str]] = {}

    def display(self, path: Path) -> str:
        resolved = path.resolve()
        try:
            return str(resolved.relative_to(self.relative_to))
        except ValueError:
            return str(resolved)

    # -- collecting ---------------------------------------------------------------------------------

    def add(
        self,
        code: str,
        file: str,
        line: int | None,
        column: int | None,
        message: str,
        end_line: int | None = None,
    ) -> None:
        self.found.append(Finding(code, file, line, column, message, end_line))

    def add_at(self, code: str, source: SourceFile, node: ast.AST | int | None, message: str) -> None:
        if isinstance(node, int) or node is None:
            self.add(code, source.name, node, None, message)
            return
        line = getattr(node, "lineno", None)
        column = getattr(node, "col_offset", None)
        end = getattr(node, "end_lineno", None) if isinstance(node, ast.expr) else line
        self.add(code, source.name, line, column + 1 if column is not None else None, message, end)

    def run(self) -> LintReport:
        manifest = self._manifest()
        sources = self._sources(manifest)
        by_module: dict[str, SourceFile] = {}
        if manifest is not None:
            for function in manifest.functions.values():
                found, _ = resolve_handler_file(self.app_dir, function.module_path)
                if found is not None and found.resolve() in sources:
                    by_module[function.module_path] = sources[found.resolve()]
        roles: list[Role] = []
        if manifest is not None:
            roles = find_roles(manifest, by_module, self._shape_report)
        for source in sources.values():

            def report(code: str, node: ast.AST, message: str, source: SourceFile = source) -> None:
                self.add_at(code, source, node, message)

            check_names(source, report)
            check_retries(source, roles, report)
            check_pushes(source, manifest, roles, report)
            check_storage(source, manifest, report)
        check_shapes(roles, self._shape_report)
        if manifest is not None and uses_javascript(manifest):
            self._javascript(manifest)
        self._finish()
        return self.report

    def _javascript(self, manifest: Manifest) -> None:
        """The JavaScript/TypeScript handlers, their imports and the app's packages (linting/jsapp.py)."""

        app = jsapp.read_app(manifest, self.display, self.add)
        for source in app.sources.values():
            self.texts[source.name] = source.text.splitlines()
        self.report.files.extend(app.files)
        jsapp.check_app(manifest, app, self.report.manifest, self.add, self.display)

    def _shape_report(
        self, code: str, source: SourceFile | None, node: ast.AST | int | None, message: str
    ) -> None:
        if source is None:
            self.add(code, self.report.manifest, node if isinstance(node, int) else None, None, message)
        else:
            self.add_at(code, source, node, message)

    def _manifest(self) -> Manifest | None:
        name = self.report.manifest
        self.texts[name] = _read_lines(self.path)
        try:
            manifest = load_manifest(self.path)
        except ManifestError as error:
            for problem in error.problems:
                self._problem("FQ001", name, problem)
            return None
        for warning in manifest.warnings:
            self._problem("FQ002", name, warning)
        self.report.not_run = [f"{problem.path.removeprefix('modules.')}: {problem.message}" for problem in manifest.unemulated]
        return manifest

    def _problem(self, code: str, name: str, problem: Problem) -> None:
        message = f"{problem.path}: {problem.message}" if problem.path else problem.message
        self.add(code, name, problem.line, problem.column, message)

    def _sources(self, manifest: Manifest | None) -> dict[Path, SourceFile]:
        files: list[Path] = []
        if manifest is not None:
            for function in manifest.functions.values():
                found, _ = resolve_handler_file(self.app_dir, function.module_path)
                if found is None:
                    continue
                if found.suffix in JS_SUFFIXES:
                    continue  # read by _javascript
                files.append(found)
        src = self.app_dir / "src"
        if src.is_dir():
            files.extend(
                p
                for p in sorted(src.rglob("*.py"))
                if not any(part in _SKIPPED_DIRS for part in p.relative_to(src).parts[:-1])
            )
        sources: dict[Path, SourceFile] = {}
        for file in files:
            resolved = file.resolve()
            if resolved in sources or not resolved.is_file() or not is_inside(resolved, self.app_dir):
                continue  # a symlink out of the app folder is never read (the manifest check reports it)
            source = self._parse(resolved)
            if source is not None:
                sources[resolved] = source
        return sources

    def _parse(self, path: Path) -> SourceFile | None:
        name = self.display(path)
        self.report.files.append(name)
        try:
            raw = bounded_bytes(path, MAX_SOURCE_BYTES)
        except OSError as error:
            self.add("FQ003", name, None, None, f"cannot be read: {error.strerror}")
            return None
        if len(raw) > MAX_SOURCE_BYTES:
            self.add(
                "FQ003",
                name,
                None,
                None,
                f"is over {MAX_SOURCE_BYTES // 1024 // 1024} MB; not a handler module lint will read",
            )
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            self.add("FQ003", name, None, None, f"is not UTF-8 text (byte {error.start})")
            return None
        self.texts[name] = text.splitlines()
        try:
            tree = ast.parse(text, filename=str(path))
        except SyntaxError as error:
            self.add(
                "FQ003",
                name,
                error.lineno,
                error.offset,
                f"SyntaxError: {error.msg}: the module cannot be loaded",
            )
            return None
        except (ValueError, RecursionError) as error:
            self.add("FQ003", name, None, None, f"cannot be parsed: {error}")
            return None
        return SourceFile(path, name, text, tree)

    # -- silencing and order --------------------------------------------------------------------------

    def _finish(self) -> None:
        seen: set[tuple[str, str, int | None, int | None, str]] = set()
        kept: list[Finding] = []
        for finding in sorted(self.found, key=lambda f: (f.file, f.line or 0, f.column or 0, f.code)):
            identity = (finding.code, finding.file, finding.line, finding.column, finding.message)
            if identity in seen:
                continue
            seen.add(identity)
            if finding.code in self.ignored or self._silenced(finding):
                if RULES[
                    finding.code
                ].default:  # an off-by-default rule that was not asked for is not "silenced"
                    self.report.silenced += 1
                continue
            kept.append(finding)
        self.report.findings = kept

    def _silenced(self, finding: Finding) -> bool:
        lines = self.texts.get(finding.file, [])
        for text in lines:
            for match in _IGNORE.finditer(text):
                if match.group(1) and _covers(match.group(2), finding.code):
                    return True
        if finding.line is None:
            return False
        last = max(finding.line, finding.end_line or finding.line)
        for number in range(finding.line, last + 1):
            if 0 < number <= len(lines):
                for match in _IGNORE.finditer(lines[number - 1]):
                    if not match.group(1) and _covers(match.group(2), finding.code):
                        return True
        return False


def _covers(codes: str | None, code: str) -> bool:
    if codes is None:
        return True
    return code in {part.strip().upper() for part in codes.split(",")}


def _read_lines(path: Path) -> list[str]:
    try:
        return bounded_bytes(path, MAX_SOURCE_BYTES).decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []
