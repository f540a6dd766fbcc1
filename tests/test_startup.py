"""`forgeq run`'s start-up: what a plain run imports, and the PyYAML pattern forgeq compiles for it.

The command's fixed cost is mostly imports (bench/README.md, Round 4): modules that a plain run
never uses are imported where they are used. These tests keep it so: a run of an app whose handler
only writes to the KVS must not import them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import forgeq, write_app

from forgeq.emulator.app.yamlload import REFUSED

# What a plain run (a consumer writing to the KVS; no entities, products, web triggers, legacy
# storage, stubs or schedules) does not import, and where each is imported once it is needed.
NOT_IMPORTED = (
    "forgeq.emulator.app.entities",  # a manifest declaring app.storage.entities
    "forgeq.emulator.platform.conditions",  # an entity query or a transaction's condition
    "forgeq.emulator.platform.legacy_storage",  # @forge/api's storage
    "forgeq.emulator.platform.webtriggers",  # webTrigger.getUrl
    "forgeq.emulator.platform.site.calls",  # a product request (or a stub's answer)
    "forgeq.emulator.store.entity_scans",  # an entity's index, synced or queried
    "forgeq.emulator.store.report_data",  # `forgeq report`
    "forgeq.emulator.store.transfer_rows",  # `forgeq export`, `forgeq import`
    "uuid",  # ids.derived_uuid_reference, for a test
    "platform",  # imported by uuid
    "hashlib",  # a push from a handler (its job id), an entity query; ids take blake2b from _blake2
)

_PROBE = """
import sys
from forgeq.launcher import main
sys.argv = ["forgeq", *sys.argv[1:]]
main()
import yaml
sys.stderr.write("MODULES " + " ".join(sorted(sys.modules)) + "\\n")
sys.stderr.write("READER " + ascii(yaml.reader.Reader.NON_PRINTABLE.pattern) + "\\n")
sys.stderr.write("QUIET " + str(sys.modules["forgeq.emulator.store.process"]._done) + "\\n")
"""


def test_a_plain_run_imports_none_of_what_it_does_not_use(tmp_path: Path) -> None:
    manifest = write_app(
        tmp_path / "app",
        """
        app:
          id: ari:cloud:ecosystem::app/startup
        modules:
          consumer:
            - key: simple-consumer
              queue: simple
              function: write
          function:
            - key: write
              handler: index.handler
        """,
        {"src/index.py": 'from forgeq.kvs import kvs\n\n\ndef handler(event, context):\n    kvs.set(event["eventId"], event["body"])\n'},
    )
    db = tmp_path / "state.db"
    pushed, lines = _probe(tmp_path, "push", "--queue", "simple", "--body", '{"n": 1}', "--count", "3", "-m", manifest, "--db", db)
    assert pushed.returncode == 0, pushed.stderr
    imported = set(lines["MODULES"].split())
    assert "forgeq.emulator.store.sqlite" in imported, "the listing must be there to mean anything"
    # A queue push fires no product event: none of products/ (its payloads import difflib and hashlib).
    assert sorted(imported.intersection([*NOT_IMPORTED, "forgeq.emulator.products.firing"])) == []
    done, lines = _probe(tmp_path, "run", manifest, "--until-idle", "--quiet", "--storage-limits", "none", "--db", db)
    assert done.returncode == 0 and "succeeded: 3 queue events" in done.stdout, done.stderr
    imported = set(lines["MODULES"].split())
    assert {"forgeq.emulator.loop.engine", "forgeq.kvs", "yaml"} <= imported, "the listing must be there to mean anything"
    assert sorted(imported.intersection(NOT_IMPORTED)) == []
    assert lines["READER"] == ascii(REFUSED)  # yaml was imported by forgeq's manifest reader, with its pattern
    from forgeq.emulator.store.process import linked_library

    assert lines["QUIET"] == str(linked_library() is not None), "the launcher's run turns SQLite's memory statistics off"


def _probe(folder: Path, *args: str | Path) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """`forgeq ARGS` in a fresh interpreter, and what it imported (MODULES) and yaml's Reader pattern (READER)."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *map(str, args)], cwd=folder, capture_output=True, text=True, timeout=120
    )
    return done, dict(line.split(" ", 1) for line in done.stderr.splitlines() if line.startswith(("MODULES ", "READER ", "QUIET ")))


def test_the_yaml_readers_pattern_refuses_what_pyyamls_refuses() -> None:
    """REFUSED names the characters PyYAML's Reader pattern does not allow: the same, code point by code point."""
    from forgeq.emulator.app import yamlload

    every = "".join(map(chr, range(0x110000)))
    theirs = re.compile(yamlload._NON_PRINTABLE)
    ours = re.compile(REFUSED)
    assert [m.start() for m in ours.finditer(every)] == [m.start() for m in theirs.finditer(every)]
    assert len(ours.findall(every)) == 2111  # C0 and C1 controls but tab, newlines and NEL; DEL; surrogates; U+FFFE/F


def test_pyyamls_reader_still_names_a_control_character(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yml"
    manifest.write_text("app:\n  id: ari:cloud:ecosystem::app/x\x07\n", encoding="utf-8")
    done = forgeq("run", manifest, "--until-idle", "--db", tmp_path / "state.db")
    assert done.returncode == 2
    assert "invalid YAML: unacceptable character #x0007: special characters are not allowed" in done.stderr, done.stderr
    assert not (tmp_path / "state.db").exists()


_MEMORY = """
import ctypes, sqlite3, sys
from forgeq.emulator.store.process import quiet_memory_statistics
quiet = quiet_memory_statistics() if sys.argv[1] == "quiet" else False
conn = sqlite3.connect(sys.argv[2])
conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
conn.executemany("INSERT INTO t VALUES (?, ?)", [(str(i), "x" * 100) for i in range(2000)])
conn.commit()
used = ctypes.CDLL("libsqlite3.so.0").sqlite3_memory_used() if quiet else -1
print(quiet, used, conn.execute("SELECT count(*) FROM t").fetchone()[0])
"""


def test_the_launchers_commands_run_sqlite_without_its_memory_statistics(tmp_path: Path) -> None:
    """`forgeq run` and `push` turn SQLite's memory statistics off before their connection opens
    (store/process.py): SQLite then counts no memory in use, and works as before."""
    done = subprocess.run([sys.executable, "-c", _MEMORY, "quiet", tmp_path / "a.db"], capture_output=True, text=True, timeout=60)
    quiet, used, rows = done.stdout.split()
    assert rows == "2000", done.stderr
    if quiet == "False":  # SQLite is built into this Python's module: nothing to change, nothing changed
        pytest.skip("this Python's sqlite3 does not load libsqlite3")
    assert used == "0", "with the statistics off SQLite counts nothing"
    plain = subprocess.run([sys.executable, "-c", _MEMORY.replace("if quiet else -1", ""), "plain", tmp_path / "b.db"], capture_output=True, text=True, timeout=60)
    assert int(plain.stdout.split()[1]) > 100_000, "by default SQLite counts the memory its pages hold"
