"""Manifest fuzzing (reliability.md M7, §4): whatever the bytes, `load_manifest` returns a Manifest or
raises ManifestError (exit 2 with file and line), in bounded time; through the CLI, exit 0 or 2 and
never a traceback. Documents come from a schema-shaped strategy (keys Forge knows plus junk) and
from byte mutations of every manifest in the repository's fixtures."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgeq.emulator.app.manifest import Manifest, load_manifest
from forgeq.emulator.errors import ManifestError

REPO = Path(__file__).resolve().parent.parent
FIXTURE_MANIFESTS = sorted(p for p in (REPO / "fixtures").glob("*/manifest.yml")) + sorted(
    (REPO / "tests" / "apps").glob("*/manifest.yml")
)
BOUND = datetime.timedelta(seconds=5)  # any single document: a bound on runaway parsing, not a speed target

SCHEMA_KEYS = [
    "app",
    "id",
    "runtime",
    "name",
    "storage",
    "modules",
    "consumer",
    "function",
    "trigger",
    "scheduledTrigger",
    "key",
    "queue",
    "resolver",
    "method",
    "handler",
    "timeoutSeconds",
    "events",
    "filter",
    "ignoreSelf",
    "expression",
    "interval",
    "endpoint",
    "crossVersion",
    "eventType",
    "payload",
    "workflow",
    "providers",
]
JUNK_KEYS = ["", " ", "<<", "0", "true", "null", "~", "a.b", "x[0]", "ключ", "\t", "-", "?", "&a", "*a"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "index.handler",
            "missing.run",
            "../x.fn",
            "/abs.fn",
            "q" * 40,
            "work",
            "f",
            "avi:jira:created:issue",
            "hour",
            "fiveMinute",
            "nodejs22.x",
        ]
    ),
    st.text(max_size=30),
)


def _documents() -> st.SearchStrategy[Any]:
    keys = st.one_of(st.sampled_from(SCHEMA_KEYS), st.sampled_from(JUNK_KEYS), st.text(max_size=8))
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
        max_leaves=40,
    )


def _shaped() -> st.SearchStrategy[Any]:
    """Mostly-valid manifests: the right skeleton with values and extra keys drawn from the junk above."""
    anything = _documents()
    function = st.fixed_dictionaries(
        {
            "key": st.one_of(st.sampled_from(["f", "g"]), anything),
            "handler": st.one_of(st.just("index.handler"), anything),
        },
        optional={"timeoutSeconds": anything, "extra": anything},
    )
    consumer = st.fixed_dictionaries(
        {"key": st.sampled_from(["c", "d", "f"]), "queue": st.one_of(st.just("work"), anything)},
        optional={"function": st.one_of(st.just("f"), anything), "resolver": anything},
    )
    modules = st.fixed_dictionaries(
        {"function": st.lists(function, max_size=3)},
        optional={
            "consumer": st.lists(consumer, max_size=3),
            "trigger": anything,
            "scheduledTrigger": anything,
        },
    )
    return st.fixed_dictionaries({"modules": modules}, optional={"app": anything})


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "src").mkdir()
    (root / "src" / "index.py").write_text("def handler(event, context):\n    return None\n")
    return root


def _load(app_dir: Path, data: bytes, name: str = "manifest.yml") -> Manifest | ManifestError:
    path = app_dir / name
    path.write_bytes(data)
    try:
        return load_manifest(path)
    except ManifestError as error:
        assert error.problems, "a ManifestError lists its problems"
        for problem in error.problems:
            assert problem.file == str(path)
            assert problem.message
        return error


def _dump(document: Any) -> bytes:
    try:
        return yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")
    except (yaml.YAMLError, ValueError, RecursionError):
        return repr(document).encode("utf-8", "surrogatepass")


@settings(
    max_examples=300,
    deadline=BOUND,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(document=st.one_of(_documents(), _shaped()))
def test_any_yaml_document_loads_or_fails_cleanly(app_dir: Path, document: Any) -> None:
    _load(app_dir, _dump(document))


def _mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    for kind, position, chunk in edits:
        at = position % (len(data) + 1)
        if kind == 0:
            data = data[:at] + chunk + data[at:]
        elif kind == 1:
            data = data[:at] + data[at + len(chunk) :]
        else:
            data = data[:at] + chunk + data[at + len(chunk) :]
    return data


YAML_BYTES = st.binary(max_size=6) | st.sampled_from(
    [
        b":",
        b"-",
        b" ",
        b"\n",
        b"\t",
        b"&a",
        b"*a",
        b"!!",
        b"[",
        b"{",
        b"}",
        b"]",
        b"'",
        b'"',
        b"#",
        b"|",
        b">",
        b"? ",
        b"<<: ",
        b"\x00",
        b"\xff",
        # fragments that once crashed PyYAML's scanner or constructors (regression cases in test_bad_inputs.py)
        b'"\\UFFFFFFFF"',
        b'"\\U00110000"',
        b"!!int x",
        b"!!float y",
        b"!!timestamp z",
        b"2001-13-45",
        b"!!binary @",
    ]
)


@settings(
    max_examples=300,
    deadline=BOUND,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    fixture=st.sampled_from(FIXTURE_MANIFESTS),
    edits=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), YAML_BYTES), min_size=1, max_size=6),
)
def test_mutated_fixture_manifests_load_or_fail_cleanly(
    app_dir: Path, fixture: Path, edits: list[tuple[int, int, bytes]]
) -> None:
    _load(app_dir, _mutate(fixture.read_bytes(), edits))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    document=st.one_of(_shaped(), _documents()),
    edits=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), YAML_BYTES), max_size=3),
)
def test_through_the_cli_exit_0_or_2_and_never_a_traceback(
    app_dir: Path, document: Any, edits: list[tuple[int, int, bytes]]
) -> None:
    manifest = app_dir / "cli.yml"
    manifest.write_bytes(_mutate(_dump(document), edits))
    db = app_dir / "cli-state.db"
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORGEQ_DB", None)
    done = subprocess.run(
        [sys.executable, "-m", "forgeq", "run", str(manifest), "--until-idle", "--db", str(db)],
        capture_output=True, text=True, timeout=60, env=env, cwd=app_dir,
    )  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode in (0, 2), done.stderr
    if done.returncode == 2:
        assert done.stderr.startswith("forgeq: error: ") and "cli.yml" in done.stderr
    for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}.run-lock")):
        leftover.unlink(missing_ok=True)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@settings(
    max_examples=20_000,
    deadline=BOUND,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    document=st.one_of(_documents(), _shaped()),
    edits=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), YAML_BYTES), max_size=4),
)
def test_fuzz_long(app_dir: Path, document: Any, edits: list[tuple[int, int, bytes]]) -> None:
    _load(app_dir, _mutate(_dump(document), edits))
