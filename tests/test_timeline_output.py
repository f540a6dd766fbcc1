"""The live timeline of `forgeq run` (colours, NO_COLOR, pipes, --quiet) and the time filters' syntax."""

from __future__ import annotations

import re
import sqlite3

import pytest
from conftest import V2_MANIFEST, forgeq

from forgeq.emulator import limits
from forgeq.emulator.errors import InputError
from forgeq.emulator.timespec import parse_point, parse_window

HANDLER = """
from forgeq.events import InvocationError
from forgeq.kvs import kvs

def handler(event, context):
    n = event["body"]["n"]
    if n == 1 and "retryContext" not in event:
        return InvocationError(retry_after=2000, retry_reason="FUNCTION_UPSTREAM_RATE_LIMITED")
    kvs.set(f"key-{n}", {"n": n})
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def app(make_app):
    manifest = make_app(V2_MANIFEST, {"src/index.py": HANDLER})
    for body, count in (('{"n": 1}', "1"), ('{"n": 2}', "3")):
        done = forgeq("push", "--queue", "work", "--body", body, "--count", count, cwd=manifest.parent)
        assert done.returncode == 0, done.stderr
    return manifest.parent


def run(app, *args, env=None):
    done = forgeq(
        "run",
        "manifest.yml",
        "--until-idle",
        "--storage-limits",
        "2025,write_units=1",
        *args,
        cwd=app,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_one_line_per_attempt_with_what_happens_next_and_why(app):
    out = run(app)  # a pipe: no colour
    assert not ANSI.search(out)
    attempts = [line for line in out.splitlines() if re.match(r"\+\S+  work  #\d+  try \d+  ", line)]
    # The clamp: asked for 2000 s, Forge applies 900 s; the retry's due time (900 s after the attempt
    # ended, which takes its modelled duration) and reason follow.
    assert any(
        re.fullmatch(
            r"\+00:00:00\.000  work  #1  try 1  retry      asked 2000s applied 900s  at \+00:15:00\.\d{3}  FUNCTION_UPSTREAM_RATE_LIMITED",
            line,
        )
        for line in attempts
    ), attempts
    assert any(re.fullmatch(r"\+00:15:00\.\d{3}  work  #1  try 2  succeeded ?", line) for line in attempts), (
        attempts
    )
    # One write unit a minute: the other writes of that minute are refused, marked on their line.
    refused = [line for line in attempts if "[quota: 1 storage call refused 429]" in line]
    assert refused and all(" error " in line and "RATE_LIMIT_EXCEEDED" in line for line in refused)
    assert all(
        re.search(
            r"  retry in (60|120|240)s  at \+00:0\d:\d\d\.\d{3}  FUNCTION_PLATFORM_UNKNOWN_ERROR  - ", line
        )
        for line in refused
    )
    done = [line for line in attempts if " succeeded" in line]
    assert len(done) == 4  # every event, once
    assert len(attempts) == 1 + 4 + len(refused)


def copy_state(app, target):
    source = sqlite3.connect(app / ".forgeq" / "state.db")
    copy = sqlite3.connect(target)
    source.backup(copy)
    copy.close()
    source.close()
    return target


def test_colours_follow_force_color_and_no_color(app, tmp_path):
    coloured = run(app, "--db", copy_state(app, tmp_path / "a.db"), env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert "\x1b[32msucceeded" in coloured and "\x1b[33mretry" in coloured and "\x1b[31merror" in coloured
    plain = run(app, "--db", copy_state(app, tmp_path / "b.db"), env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    timeline = lambda out: [line for line in out.splitlines() if line.startswith("+")]  # noqa: E731
    assert not any(ANSI.search(line) for line in timeline(plain))
    assert not re.search(r"\x1b\[[0-9;]*3\dm", plain)  # NO_COLOR: no colour anywhere (bold may stay)
    # the same text, with or without colour
    assert [ANSI.sub("", line) for line in timeline(coloured)] == timeline(plain)


def test_quiet_prints_one_status_then_the_summary_whose_counts_agree(app):
    out = run(app, "--quiet")
    lines = out.splitlines()
    assert not any(" try " in line for line in lines)
    status = [line for line in lines if " virtual  " in line and line.startswith("+")]
    assert len(status) == 1 and re.search(r"virtual  \d+\.\d\ds wall  (\d+) attempts", status[0]), status
    after = lines[lines.index(status[0]) + 1]
    counts = re.fullmatch(r"  done 4  waiting 0  dropped 0  lost 0  \(succeeded 4, retry 1, error (\d+)\)", after)
    assert counts is not None, after
    # the summary counts what the status counted, with the same names
    assert f"  attempts: succeeded 4, retry 1, error {counts[1]}" in lines
    assert "  succeeded: 4 queue events, 0 trigger invocations" in lines
    assert "  queue events: 4 pushed, 4 succeeded, 3 retried, 0 pending" in lines
    assert "attempts per event finished this run:" in out
    assert "storage quota [site-1]: write_units 1/1 per minute at the peak" in out


NOW = limits.VIRTUAL_EPOCH + 3600.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", limits.VIRTUAL_EPOCH + 900),
        ("+15m", limits.VIRTUAL_EPOCH + 900),
        ("1h30m", limits.VIRTUAL_EPOCH + 5400),
        ("90", limits.VIRTUAL_EPOCH + 90),
        ("500ms", limits.VIRTUAL_EPOCH + 0.5),
        ("+00:15:00.050", limits.VIRTUAL_EPOCH + 900.05),
        ("+1d 02:03:04", limits.VIRTUAL_EPOCH + 93784),
        ("00:15", limits.VIRTUAL_EPOCH + 900),
        ("-15m", NOW - 900),
        ("now", NOW),
        ("2025-11-17T09:15:00Z", limits.VIRTUAL_EPOCH + 900),
        ("2025-11-17 09:15:00", limits.VIRTUAL_EPOCH + 900),  # no zone: UTC
        ("2025-11-17T10:15:00+01:00", limits.VIRTUAL_EPOCH + 900),
    ],
)
def test_time_filters_read_offsets_clock_text_and_dates(text, expected):
    assert parse_point(text, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["yesterday", "15x", "-", "1h-5m", "", "+"])
def test_a_time_that_is_not_one_is_refused_naming_the_option(text):
    with pytest.raises(InputError, match="--until .* is not a time"):
        parse_point(text, NOW, "--until")


def test_a_window_that_ends_before_it_starts_is_refused():
    assert parse_window("10m", "20m", NOW) == (limits.VIRTUAL_EPOCH + 600, limits.VIRTUAL_EPOCH + 1200)
    with pytest.raises(InputError, match="before --since"):
        parse_window("20m", "10m", NOW)
