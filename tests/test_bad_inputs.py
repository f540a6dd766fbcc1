"""Every kind of bad input gets one clear line and the documented exit code, never a traceback, and
never changes or loses stored state (reliability.md §3.3-3.5, docs/architecture.md exit codes).

Table-driven: each Case runs the real CLI in a subprocess against a throwaway app and asserts
the exit code, that stderr names the problem (file, line, key or limit), that no "Traceback"
appears anywhere, and that the state file is absent or byte-for-byte unchanged afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import forgeq

pytestmark = pytest.mark.timeout(120)

GOOD_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/bad-inputs
modules:
  consumer:
    - key: c
      queue: work
      function: f
  function:
    - key: f
      handler: index.handler
"""

HANDLER = "def handler(event, context):\n    return None\n"


def _functions(*lines: str) -> str:
    return "modules:\n  function:\n" + "\n".join(lines) + "\n"


@dataclass
class Case:
    id: str
    argv: list[str]  # after `forgeq`; {m} = the manifest, {db} = the state file, {app} = the app folder
    code: int
    says: tuple[str, ...]  # each must appear in stderr
    manifest: str = GOOD_MANIFEST
    files: dict[str, str | bytes] = field(default_factory=dict)
    setup: Callable[[Path, Path], None] | None = None  # (app folder, state file) -> None
    state: str = "absent"  # "absent": never created; "unchanged": same bytes before and after; "any"


def _push_one(app: Path, db: Path) -> None:
    done = forgeq(
        "push", "--queue", "work", "--body", '{"n": 1}', "--manifest", app / "manifest.yml", "--db", db
    )
    assert done.returncode == 0, done.stderr


def _garbage(app: Path, db: Path) -> None:
    db.write_bytes(b"this is not a database\n" * 10)


def _truncated(app: Path, db: Path) -> None:
    _push_one(app, db)
    size = db.stat().st_size
    with db.open("r+b") as handle:
        handle.truncate(min(size, 4096 + 100))


def _damaged(app: Path, db: Path) -> None:
    _push_one(app, db)
    size = db.stat().st_size
    with db.open("r+b") as handle:  # every page after the first (which holds the schema) overwritten
        handle.seek(4096)
        handle.write(b"\xde\xad\xbe\xef" * ((size - 4096) // 4))


def _newer(app: Path, db: Path) -> None:
    _push_one(app, db)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()


def _foreign(app: Path, db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes(x)")
    conn.commit()
    conn.close()


def _folder(app: Path, db: Path) -> None:
    db.mkdir()


def _symlink_out(app: Path, db: Path) -> None:
    outside = app.parent / "outside.py"
    outside.write_text(HANDLER)
    (app / "src" / "link.py").symlink_to(outside)


def _src_symlink_out(app: Path, db: Path) -> None:
    outside = app.parent / "elsewhere"
    outside.mkdir()
    (outside / "index.py").write_text(HANDLER)
    (app / "src" / "index.py").unlink()
    (app / "src").rmdir()
    (app / "src").symlink_to(outside)


BILLION_LAUGHS = "\n".join(
    [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
)

RUN = ["run", "{m}", "--until-idle", "--db", "{db}"]

# fmt: off
CASES: list[Case] = [
    # -- manifest (M1-M8, X1): `forgeq run` refuses before touching any state --------------------
    Case("M1-syntax", RUN, 2, ("manifest.yml:7:6:", "expected"), GOOD_MANIFEST.replace("      function: f", "     function: f")),
    Case("M1-tab", RUN, 2, ("manifest.yml:2:", "'\\t'"), "app:\n\tid: x\n"),
    Case("M2-duplicate-key", RUN, 2, ("manifest.yml:3:", "duplicate key 'id'", "first at line 2"), GOOD_MANIFEST.replace("  id: ari", "  id: one\n  id: ari")),
    Case("M3-duplicate-module-key", RUN, 2, ("manifest.yml:", "found duplicate module key 'f'"), GOOD_MANIFEST.replace("    - key: c\n", "    - key: f\n")),
    Case("M4-unknown-property", RUN, 2, ("manifest.yml:11:", "should NOT have additional property 'colour'"), GOOD_MANIFEST + "      colour: red\n"),
    Case("M5-undefined-function", RUN, 2, ("manifest.yml:7:", "references undefined function module with key 'nope'"), GOOD_MANIFEST.replace("function: f", "function: nope")),
    Case("M5-missing-file", RUN, 2, ("manifest.yml:10:", "cannot find associated file", "src/missing.py"), GOOD_MANIFEST.replace("index.handler", "missing.handler")),
    Case("M6-queue-too-long", RUN, 2, ("manifest.yml:6:", "1-36 characters"), GOOD_MANIFEST.replace("queue: work", "queue: " + "q" * 37)),
    Case("M6-queue-slash", RUN, 2, ("manifest.yml:6:", "queue 'a/b'"), GOOD_MANIFEST.replace("queue: work", "queue: a/b")),
    Case("M6-function-key-too-long", RUN, 2, ("manifest.yml:", "exceeds 23 characters"), GOOD_MANIFEST.replace("key: f\n", "key: " + "f" * 24 + "\n").replace("function: f", "function: " + "f" * 24)),
    Case("M6-handler-format", RUN, 2, ("manifest.yml:10:", "must be in format <module>.<function>"), GOOD_MANIFEST.replace("index.handler", "index")),
    Case("M6-timeout-zero", RUN, 2, ("manifest.yml:11:", "timeoutSeconds", "from 1 to 900"), GOOD_MANIFEST + "      timeoutSeconds: 0\n"),
    Case("M6-timeout-901", RUN, 2, ("manifest.yml:11:", "from 1 to 900, not 901"), GOOD_MANIFEST + "      timeoutSeconds: 901\n"),
    Case("M6-timeout-nan", RUN, 2, ("manifest.yml:11:", "not nan"), GOOD_MANIFEST + "      timeoutSeconds: .nan\n"),
    Case("M6-two-consumers-one-queue", RUN, 2, ("manifest.yml:", "queue 'work' already has consumer 'c'"), GOOD_MANIFEST.replace("  function:\n", "    - key: d\n      queue: work\n      function: f\n  function:\n")),
    Case("M6-v1-without-method", RUN, 2, ("manifest.yml:", "resolver.method"), GOOD_MANIFEST.replace("      function: f\n  function", "      resolver: {function: f}\n  function")),
    Case("M7-empty", RUN, 2, ("manifest.yml", "empty"), ""),
    Case("M7-only-comments", RUN, 2, ("manifest.yml", "empty"), "# nothing here\n"),
    Case("M7-top-level-list", RUN, 2, ("manifest.yml:1:", "must be a mapping", "list"), "- a\n- b\n"),
    Case("M7-scalar", RUN, 2, ("manifest.yml:1:", "must be a mapping"), "just words\n"),
    Case("M7-binary", RUN, 2, ("manifest.yml", "not UTF-8"), bytes(range(128, 256)) * 20),  # type: ignore[arg-type]
    Case("M7-nul-byte", RUN, 2, ("manifest.yml", "NUL byte"), "app:\n  id: x\x00\n"),
    Case("M7-ten-megabytes", RUN, 2, ("manifest.yml", "over 1024 KiB"), "a: " + "x" * (10 * 1024 * 1024) + "\n"),
    Case("M7-billion-laughs", RUN, 2, ("manifest.yml:", "alias bomb"), BILLION_LAUGHS + "\n"),
    Case("M7-deep-flow-nesting", RUN, 2, ("manifest.yml", "nested deeper than 64 levels"), "a: " + "[" * 5000 + "]" * 5000 + "\n"),
    Case("M7-deep-block-nesting", RUN, 2, ("manifest.yml:", "nested deeper than 64 levels"), "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "v: 1\n"),
    Case("M7-merge-key", RUN, 2, ("manifest.yml:2:", "merge keys"), "modules:\n  <<: {function: []}\n"),
    Case("M7-complex-key", RUN, 2, ("manifest.yml:1:", "mapping key must be a plain value"), "? [a, b]\n: c\n"),
    # crashers found by tests/test_manifest_fuzz.py, kept as regression cases
    Case("M7-fuzz-unicode-escape", RUN, 2, ("manifest.yml:1:", "invalid YAML"), 'app: "\\UFFFFFFFF"\n'),
    Case("M7-fuzz-escape-past-unicode", RUN, 2, ("manifest.yml:1:", "invalid YAML"), 'app: "\\U00110000"\n'),
    Case("M7-fuzz-bad-date", RUN, 2, ("manifest.yml:1:", "cannot read '2001-13-45' as timestamp"), "app: 2001-13-45\n"),
    Case("M7-fuzz-bad-int-tag", RUN, 2, ("manifest.yml:1:", "cannot read 'abc' as int"), "app: !!int abc\n"),
    Case("M7-fuzz-empty-int-tag", RUN, 2, ("manifest.yml:1:", "cannot read '' as int"), "app: !!int\n"),
    Case("M7-fuzz-bad-timestamp-tag", RUN, 2, ("manifest.yml:1:", "as timestamp"), "app: !!timestamp x\n"),
    Case("M7-modules-not-mapping", RUN, 2, ("manifest.yml:1:", "modules", "must be a mapping"), "modules: [1, 2]\n"),
    Case("M8-python-tag", RUN, 2, ("manifest.yml:1:", "unknown YAML tag", "python/object/apply"), '!!python/object/apply:os.system ["touch pwned"]\n'),
    Case("M8-python-tag-nested", RUN, 2, ("manifest.yml:2:", "unknown YAML tag"), 'modules:\n  function: !!python/object/apply:os.system ["touch pwned"]\n'),
    Case("M8-python-name-scalar", RUN, 2, ("manifest.yml:1:", "python/name"), "app: !!python/name:os.system\n"),
    Case("X1-dot-dot", RUN, 2, ("manifest.yml:4:", "'../../x.fn'", "<module>.<function>"), _functions("    - key: f", "      handler: ../../x.fn")),
    Case("X1-absolute", RUN, 2, ("manifest.yml:4:", "'/abs/x.fn'"), _functions("    - key: f", "      handler: /abs/x.fn")),
    Case("X1-backslash", RUN, 2, ("manifest.yml:", "<module>.<function>"), _functions("    - key: f", "      handler: 'a\\..\\b.fn'")),
    Case("X1-symlink-outside", RUN, 2, ("manifest.yml:4:", "resolves outside the app folder"), _functions("    - key: f", "      handler: link.handler"), setup=_symlink_out),
    Case("X1-src-symlink-outside", RUN, 2, ("manifest.yml:", "resolves outside the app folder"), setup=_src_symlink_out),
    Case("M-no-such-manifest", ["run", "{app}/nope.yml", "--until-idle", "--db", "{db}"], 2, ("nope.yml", "no such file")),
    Case("M-manifest-is-folder", ["run", "{app}/src", "--until-idle", "--db", "{db}"], 2, ("src", "is a folder")),
    # -- push (P1-P7) ---------------------------------------------------------------------------------------
    Case("P6-invalid-json", ["push", "--queue", "work", "--body", '{"a": ', "-m", "{m}", "--db", "{db}"], 2, ("--body", "invalid JSON at line 1 column 7")),
    Case("P6-nan-is-not-json", ["push", "--queue", "work", "--body", '{"a": NaN}', "-m", "{m}", "--db", "{db}"], 2, ("--body", "NaN is not JSON")),
    Case("P6-missing-body-file", ["push", "--queue", "work", "--body", "@missing.json", "-m", "{m}", "--db", "{db}"], 2, ("missing.json", "no such file")),
    # a file whose size says nothing (a device, a pipe, /proc): read up to the limit, never whole
    Case("F-endless-body", ["push", "--queue", "work", "--body", "@/dev/zero", "-m", "{m}", "--db", "{db}"], 2, ("/dev/zero", "MiB")),
    Case("F-endless-manifest", ["run", "/dev/zero", "--until-idle", "--db", "{db}"], 2, ("/dev/zero", "larger than forgeq reads")),
    Case("F-endless-faults", ["run", "{m}", "--until-idle", "--faults", "/dev/zero", "--db", "{db}"], 2, ("/dev/zero", "larger than forgeq reads")),
    Case("F-endless-quota", ["run", "{m}", "--until-idle", "--storage-limits", "/dev/zero", "--db", "{db}"], 2, ("--storage-limits /dev/zero", "larger than forgeq reads")),
    Case("P6-body-file-not-utf8", ["push", "--queue", "work", "--body", "@{app}/bin.json", "-m", "{m}", "--db", "{db}"], 2, ("bin.json", "cannot read"), files={"bin.json": b"\xff\xfe{}"}),
    Case("P6-body-file-bad-json", ["push", "--queue", "work", "--body", "@{app}/b.json", "-m", "{m}", "--db", "{db}"], 2, ("b.json", "invalid JSON at line 2 column 1"), files={"b.json": '{"a":\n}'}),
    Case("P6-count-zero", ["push", "--queue", "work", "--count", "0", "-m", "{m}", "--db", "{db}"], 2, ("--count", "not 0")),
    Case("P6-count-negative", ["push", "--queue", "work", "--count", "-1", "-m", "{m}", "--db", "{db}"], 2, ("--count", "not -1")),
    Case("P6-count-huge", ["push", "--queue", "work", "--count", "100000000000", "-m", "{m}", "--db", "{db}"], 2, ("--count", "1000000")),
    Case("P6-count-not-a-number", ["push", "--queue", "work", "--count", "lots", "-m", "{m}", "--db", "{db}"], 2, ("--count", "valid integer")),
    Case("P7-queue-bad-chars", ["push", "--queue", "a/b", "-m", "{m}", "--db", "{db}"], 2, ("--queue 'a/b'", "alphanumeric")),
    Case("P7-queue-empty", ["push", "--queue", "", "-m", "{m}", "--db", "{db}"], 2, ("--queue ''",)),
    Case("P4-body-list", ["push", "--queue", "work", "--body", "[1]", "-m", "{m}", "--db", "{db}"], 2, ("InvalidPayloadError", "Event body must be an object.")),
    Case("P4-body-null", ["push", "--queue", "work", "--body", "null", "-m", "{m}", "--db", "{db}"], 2, ("InvalidPayloadError",)),
    Case("P4-body-string", ["push", "--queue", "work", "--body", '"text"', "-m", "{m}", "--db", "{db}"], 2, ("Event body must be an object.",)),
    Case("P3-delay-negative", ["push", "--queue", "work", "--delay", "-1", "-m", "{m}", "--db", "{db}"], 2, ("InvalidPushSettingsError", "between 0 and 900")),
    Case("P3-delay-901", ["push", "--queue", "work", "--delay", "901", "-m", "{m}", "--db", "{db}"], 2, ("between 0 and 900",)),
    Case("P2-payload-too-big", ["push", "--queue", "work", "--body", "@{app}/big.json", "-m", "{m}", "--db", "{db}"], 2, ("PayloadTooBigError", "200KB"), files={"big.json": json.dumps({"a": "é" * 110 * 1024})}),
    Case("P-installation-empty", ["push", "--queue", "work", "--installation", " ", "-m", "{m}", "--db", "{db}"], 2, ("--installation",)),
    # JSON past what a parser or JavaScript holds: checked before parsing, one line, exit 2 (never 70)
    Case("P6-body-nested-10000", ["push", "--queue", "work", "--body", '{"a": ' + "[" * 10000 + "]" * 10000 + "}", "-m", "{m}", "--db", "{db}"], 2, ("--body", "nested 10001 levels deep", "limit of 512")),
    Case("P6-body-file-nested-10000", ["push", "--queue", "work", "--body", "@{app}/deep.json", "-m", "{m}", "--db", "{db}"], 2, ("deep.json", "nested 10000 levels deep"), files={"deep.json": "[" * 10000 + "]" * 10000}),
    Case("P6-body-5000-digit-integer", ["push", "--queue", "work", "--body", '{"n": 1' + "0" * 5000 + "}", "-m", "{m}", "--db", "{db}"], 2, ("--body", "a number of 5001 characters", "Infinity")),
    Case("P6-body-1e400", ["push", "--queue", "work", "--body", '{"n": 1e400}', "-m", "{m}", "--db", "{db}"], 2, ("--body", "1e400 is beyond the largest number",)),
    Case("P6-set-nested-10000", ["push", "issue-created", "--set", "issue.fields.x=" + "[" * 10000 + "]" * 10000, "-m", "{m}", "--db", "{db}"], 2, ("--set", "nested 10000 levels deep")),
    Case("P6-set-5000-digit-integer", ["push", "issue-created", "--set", "issue.fields.x=1" + "0" * 5000, "-m", "{m}", "--db", "{db}"], 2, ("--set", "a number of 5001 characters")),
    Case("P6-payload-nested-10000", ["push", "issue-created", "--payload", "{app}/deep.json", "-m", "{m}", "--db", "{db}"], 2, ("--payload", "nested 10001 levels deep"), files={"deep.json": '{"a": ' + "[" * 10000 + "]" * 10000 + "}"}),
    Case("I-import-nested-10000", ["import", "{app}/deep.json", "-m", "{m}", "--db", "{db}"], 2, ("deep.json", "nested 10001 levels deep"), files={"deep.json": '{"a": ' + "[" * 10000 + "]" * 10000 + "}"}),
    Case("I-import-5000-digit-integer", ["import", "{app}/big.json", "-m", "{m}", "--db", "{db}"], 2, ("big.json", "a number of 5001 characters"), files={"big.json": '{"format": "forgeq-export", "format_version": 1' + "0" * 5000 + "}"}),
    # a name too long for any manifest, an input echoed in a message: short and one line
    Case("P7-queue-100KB", ["push", "--queue", "q" * 100_000, "-m", "{m}", "--db", "{db}"], 2, ("--queue 'qqq", "(100000 characters)", "1-36 characters")),
    Case("P7-queue-100KB-bad-chars", ["push", "--queue", "q/" * 50_000, "-m", "{m}", "--db", "{db}"], 2, ("--queue 'q/q/", "alphanumeric")),
    Case("P-event-100KB", ["push", "e" * 100_000, "-m", "{m}", "--db", "{db}"], 2, ("unknown product event", "characters cut")),
    # numbers past what SQLite, the clock or memory hold: refused where they are given
    Case("CLI-limit-past-sqlite", ["inspect", "events", "--limit", "9" * 23, "-m", "{m}", "--db", "{db}"], 2, ("--limit must be 1 to",), setup=_push_one, state="unchanged"),
    Case("CLI-event-past-sqlite", ["inspect", "timeline", "9" * 23, "-m", "{m}", "--db", "{db}"], 2, ("no event '99999",), setup=_push_one, state="unchanged"),
    Case("CLI-event-5000-digits", ["replay", "--event", "1" * 5000, "--dry-run", "-m", "{m}", "--db", "{db}"], 2, ("no such event",), setup=_push_one, state="unchanged"),
    Case("CLI-installations-huge", ["run", "{m}", "--installations", "9" * 23, "--db", "{db}"], 2, ("--installations", "from 1 to 10000")),
    Case("CLI-invocation-ms-nan", ["run", "{m}", "--invocation-ms", "nan", "--db", "{db}"], 2, ("--invocation-ms",)),
    Case("CLI-for-centuries", ["run", "{m}", "--for", "99999999d", "--db", "{db}"], 2, ("--for", "at most 10 years")),
    Case("CLI-rate-tiny", ["push", "issue-created", "--rate", "1e-300", "--count", "3", "-m", "{m}", "--db", "{db}"], 2, ("--rate", "past forgeq's clock")),
    Case("CLI-path-too-long", ["run", "{m}", "--storage-limits", "x" * 100_000, "--db", "{db}"], 2, ("File name too long",)),
    Case("CLI-argument-not-utf8", ["push", "--queue", "work", "--installation", "site-\udcff", "-m", "{m}", "--db", "{db}"], 2, ("not UTF-8",)),
    # `handler: index.__class__` names what every module has: refused by push and run, as lint does
    Case("M6-handler-dunder-push", ["push", "--queue", "work", "-m", "{m}", "--db", "{db}"], 2, ("manifest.yml:10:", "`__class__`, which every Python module has"), GOOD_MANIFEST.replace("index.handler", "index.__class__")),
    Case("M6-handler-dunder-run", RUN, 2, ("manifest.yml:10:", "`__class__`"), GOOD_MANIFEST.replace("index.handler", "index.__class__")),
    # a bounded run that leaves events no handler can take fails, and says how many
    Case("R-blocked-until-idle", ["run", "{m}", "--until-idle", "--quiet", "--db", "{db}"], 1, ("1 event blocked", "importing src/index.py failed: ValueError: broken"), files={"src/index.py": "raise ValueError('broken')\n"}, setup=_push_one, state="any"),
    # -- CLI usage --------------------------------------------------------------------------------------------
    Case("CLI-unknown-command", ["frobnicate"], 2, ("No such command 'frobnicate'",)),
    Case("CLI-unknown-option", ["run", "{m}", "--turbo"], 2, ("No such option", "--turbo")),
    Case("CLI-seed-not-int", ["run", "{m}", "--seed", "abc", "--db", "{db}"], 2, ("--seed", "valid integer")),
    Case("CLI-clock", ["run", "{m}", "--clock", "sideways", "--db", "{db}"], 2, ("--clock", "sideways")),
    Case("CLI-max-attempts-zero", ["run", "{m}", "--max-attempts", "0", "--db", "{db}"], 2, ("--max-attempts", "not 0")),
    Case("CLI-invocation-ms-negative", ["run", "{m}", "--invocation-ms", "-5", "--db", "{db}"], 2, ("--invocation-ms",)),
    Case("CLI-for-not-duration", ["run", "{m}", "--for", "soon", "--db", "{db}"], 2, ("--for 'soon'", "duration")),
    Case("CLI-installations-zero", ["run", "{m}", "--installations", "0", "--db", "{db}"], 2, ("--installations", "not 0")),
    Case("CLI-faults-missing", ["run", "{m}", "--faults", "{app}/nope.yml", "--db", "{db}"], 2, ("nope.yml",)),
    Case("CLI-faults-bad-yaml", ["run", "{m}", "--faults", "{app}/f.yml", "--db", "{db}"], 2, ("f.yml:2:",), files={"f.yml": "faults: [\n"}),
    Case("CLI-inspect-state", ["inspect", "events", "--state", "nope", "-m", "{m}", "--db", "{db}"], 2, ("--state 'nope'",), setup=_push_one, state="unchanged"),
    Case("CLI-inspect-limit", ["inspect", "events", "--limit", "0", "-m", "{m}", "--db", "{db}"], 2, ("--limit",), setup=_push_one, state="unchanged"),
    Case("CLI-inspect-no-such-event", ["inspect", "timeline", "999", "-m", "{m}", "--db", "{db}"], 2, ("no event '999'",), setup=_push_one, state="unchanged"),
    Case("CLI-inspect-no-state", ["inspect", "queue", "-m", "{m}", "--db", "{db}"], 2, ("no state file",)),
    # -- state file (S1, S2): exit 4, the file never rewritten -----------------------------------------------
    Case("S1-garbage", ["inspect", "queue", "-m", "{m}", "--db", "{db}"], 4, ("state.db is not a forgeq state file", "file is not a database"), setup=_garbage, state="unchanged"),
    Case("S1-garbage-run", RUN, 4, ("not a forgeq state file",), setup=_garbage, state="unchanged"),
    Case("S1-garbage-push", ["push", "--queue", "work", "-m", "{m}", "--db", "{db}"], 4, ("not a forgeq state file",), setup=_garbage, state="unchanged"),
    Case("S1-truncated", RUN, 4, ("state.db", "malformed"), setup=_truncated, state="unchanged"),
    Case("S1-damaged-pages", ["inspect", "events", "-m", "{m}", "--db", "{db}"], 4, ("state.db", "malformed", "move it aside"), setup=_damaged, state="unchanged"),
    Case("S1-damaged-pages-queue", ["inspect", "queue", "-m", "{m}", "--db", "{db}"], 4, ("state.db", "malformed"), setup=_damaged, state="unchanged"),
    Case("S1-damaged-pages-run", RUN, 4, ("state.db", "malformed"), setup=_damaged, state="unchanged"),
    Case("S1-folder", ["inspect", "queue", "-m", "{m}", "--db", "{db}"], 4, ("is a folder",), setup=_folder, state="any"),
    Case("S1-foreign-sqlite", ["push", "--queue", "work", "-m", "{m}", "--db", "{db}"], 4, ("is an SQLite database but not a forgeq state file",), setup=_foreign, state="unchanged"),
    Case("S2-newer-schema", RUN, 4, ("newer forgeq", "schema 99"), setup=_newer, state="unchanged"),
]
# fmt: on

# Cases whose message must carry file:line (the closing note's "exit 2 with file and line").
WITH_LINE = [
    c.id
    for c in CASES
    if c.code == 2 and any(":" in s and s.split(":")[0].endswith((".yml", ".json")) for s in c.says)
]


def _fill(argv: list[str], app: Path, db: Path) -> list[str]:
    return [
        a.replace("{m}", str(app / "manifest.yml")).replace("{db}", str(db)).replace("{app}", str(app))
        for a in argv
    ]


def _digest(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    for name in (path, Path(f"{path}-wal")):
        if name.is_file():
            digest.update(name.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(tmp_path: Path, case: Case) -> None:
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "index.py").write_text(HANDLER)
    manifest = case.manifest
    (app / "manifest.yml").write_bytes(
        manifest if isinstance(manifest, bytes) else textwrap.dedent(manifest).lstrip().encode()
    )
    for name, content in case.files.items():
        (app / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    db = tmp_path / "state" / "state.db"
    db.parent.mkdir()
    if case.setup is not None:
        case.setup(app, db)
    before = _digest(db)
    done = forgeq(*_fill(case.argv, app, db), cwd=app, timeout=60)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output[-3000:]
    assert done.returncode == case.code, f"exit {done.returncode}: {done.stderr[-1500:]}"
    for text in case.says:
        assert text in done.stderr, f"{text!r} not in {done.stderr[-1500:]!r}"
    assert all(len(line) <= 1200 for line in done.stderr.splitlines()), "a message is one line of bounded length"
    if case.code != 2 or case.argv[0] != "frobnicate":
        assert done.stderr.strip(), "an error must say what is wrong"
    if case.state == "absent":
        assert not db.exists(), "a refused input must not create the state file"
    elif case.state == "unchanged":
        assert _digest(db) == before, "a refused input must not change the state file"
    assert not (app / "pwned").exists()


def test_manifest_errors_name_file_and_line() -> None:
    # The closing note counts these: every manifest case says file:line.
    assert len(WITH_LINE) >= 30, WITH_LINE


def test_a_busy_state_file_is_exit_3(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock past busy_timeout: exit 3, nothing half-written."""
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "index.py").write_text(HANDLER)
    (app / "manifest.yml").write_text(textwrap.dedent(GOOD_MANIFEST).lstrip())
    db = app / ".forgeq" / "state.db"
    assert forgeq("push", "--queue", "work", cwd=app).returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = forgeq("push", "--queue", "work", cwd=app)  # waits busy_timeout (5 s), then gives up
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "Traceback" not in done.stderr
    assert done.returncode == 3, done.stderr
    assert "state.db" in done.stderr and "locked" in done.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    conn.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_read_only_state_file_is_refused_clearly(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "index.py").write_text(HANDLER)
    (app / "manifest.yml").write_text(textwrap.dedent(GOOD_MANIFEST).lstrip())
    assert forgeq("push", "--queue", "work", cwd=app).returncode == 0
    db = app / ".forgeq" / "state.db"
    db.chmod(0o400)
    try:
        done = forgeq("run", "--until-idle", cwd=app)
    finally:
        db.chmod(0o600)
    assert "Traceback" not in done.stderr
    assert done.returncode == 4 and "read-only" in done.stderr, done.stderr


# -- KVS inputs from handler code (K1, K2): Forge's error code, nothing stored ------------------------

KVS_HANDLER = """
import json
import os

from forgeq.kvs import ForgeKvsAPIError, kvs


def nested(depth):
    value = 1
    for _ in range(depth):
        value = {"a": value}
    return value


VALUES = {
    "small": lambda: {"ok": True},
    "at-size": lambda: "x" * (240 * 1024 - 2),
    "over-size": lambda: "x" * (240 * 1024 - 1),
    "at-depth": lambda: nested(32),
    "over-depth": lambda: nested(33),
    "set": lambda: {1, 2},
    "bytes": lambda: b"raw",
    "nan": lambda: float("nan"),
    "none": lambda: None,
}


def handler(event, context):
    body = event["body"]
    key = body["key"] if "key" in body else "k-" + body["value"]
    try:
        kvs.set(key, VALUES[body.get("value", "small")]())
        outcome = "ok"
    except ForgeKvsAPIError as error:
        outcome = error.code
    with open(os.environ["KVS_JOURNAL"], "a") as journal:
        journal.write(json.dumps({"case": body["case"], "outcome": outcome}) + "\\n")
"""

KVS_CASES = [
    ("empty-key", {"key": ""}, "KEY_TOO_SHORT"),
    ("whitespace-key", {"key": "   "}, "INVALID_KEY"),
    ("slash-key", {"key": "a/b"}, "INVALID_KEY"),
    ("emoji-key", {"key": "key-\U0001f600"}, "INVALID_KEY"),
    ("key-500", {"key": "k" * 500}, "ok"),
    ("key-501", {"key": "k" * 501}, "KEY_TOO_LONG"),
    ("dash-and-hash", {"key": "a-b#c:d.e_f g"}, "ok"),
    ("value-at-240KiB", {"value": "at-size"}, "ok"),
    ("value-over-240KiB", {"value": "over-size"}, "MAX_SIZE"),
    ("depth-at-limit", {"value": "at-depth"}, "ok"),
    ("depth-over-limit", {"value": "over-depth"}, "MAX_DEPTH"),
    ("value-set", {"value": "set"}, "INVALID_VALUE"),
    ("value-bytes", {"value": "bytes"}, "INVALID_VALUE"),
    ("value-nan", {"value": "nan"}, "INVALID_VALUE"),
    ("value-none", {"value": "none"}, "INVALID_VALUE"),
]


def test_bad_kvs_inputs_from_a_handler(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "index.py").write_text(KVS_HANDLER)
    (app / "manifest.yml").write_text(textwrap.dedent(GOOD_MANIFEST).lstrip())
    journal = tmp_path / "journal.jsonl"
    for name, body, _ in KVS_CASES:
        done = forgeq("push", "--queue", "work", "--body", json.dumps({"case": name, **body}), cwd=app)
        assert done.returncode == 0, done.stderr
    done = forgeq("run", "--until-idle", "--quiet", cwd=app, env={"KVS_JOURNAL": str(journal)})
    assert done.returncode == 0 and "Traceback" not in done.stdout + done.stderr, done.stderr
    outcomes = {line["case"]: line["outcome"] for line in map(json.loads, journal.read_text().splitlines())}
    assert outcomes == {name: expected for name, _, expected in KVS_CASES}
    conn = sqlite3.connect(app / ".forgeq" / "state.db")
    stored = {row[0] for row in conn.execute("SELECT key FROM kvs")}
    conn.close()
    assert stored == {"k" * 500, "a-b#c:d.e_f g", "k-at-size", "k-at-depth"}  # only the accepted writes
