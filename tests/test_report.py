"""`forgeq report`: the HTML report, rendered in a real headless Chromium and checked against the state.

The browser tests need Debian's `chromium` (`apt-get install -y chromium`); they skip, saying so,
only when it is absent. Set FORGEQ_REPORT_SCREENSHOT=path.png to keep the screenshot the test takes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, forgeq, forgeq_json, write_app

from forgeq.emulator.store.report_queries import ATTEMPTS_CAP

FLAKY_APP = REPO / "tests" / "apps" / "flaky-backoff"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install -y chromium): the report is not rendered",
)
# Running as root in a container: no sandbox, no GPU, and nothing that reaches the network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
WINDOW = (1000, 1600)


def chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    done = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


# -- a small DOM, from what Chromium dumps ------------------------------------------------------


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.texts: list[str] = []

    def text(self) -> str:
        return "".join(self.texts) + "".join(child.text() for child in self.children)

    def walk(self) -> list[Node]:
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.walk()
            if (tag is None or n.tag == tag)
            and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


VOID = {"meta", "br", "col", "img", "input", "link", "hr", "source", "wbr"}


class DomBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.texts.append(data)


def parse(markup: str) -> Node:
    builder = DomBuilder()
    builder.feed(markup)
    return builder.root


def number(text: str) -> int:
    return int(text.strip().replace(",", ""))


# -- a PNG reader (8-bit RGB/RGBA, what Chromium writes), to look at the pixels -----------------


def png_pixels(path: Path) -> tuple[int, int, Counter[tuple[int, int, int]]]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, width, height, channels = 8, b"", 0, 0, 0
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        chunk = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG format"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    colours: Counter[tuple[int, int, int]] = Counter()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        for i in range(0, stride, channels):
            colours[(line[i], line[i + 1], line[i + 2])] += 1
        previous = line
    return width, height, colours


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


# -- the state: the flaky app, 500 + 200 events, run until idle --------------------------------


@pytest.fixture(scope="module")
def flaky_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("flaky")
    app = root / "app"
    shutil.copytree(FLAKY_APP, app, ignore=shutil.ignore_patterns("__pycache__", ".forgeq"))
    manifest = app / "manifest.yml"
    for queue, count in (("issue-sync", 500), ("audit-log", 200)):
        done = forgeq(
            "push",
            "--queue",
            queue,
            "--body",
            '{"issueKey": "DEMO-1"}',
            "--count",
            str(count),
            "--manifest",
            manifest,
        )
        assert done.returncode == 0, done.stderr
    done = forgeq("run", manifest, "--until-idle", "--quiet", "--seed", "3")
    assert done.returncode == 0, done.stderr
    page = root / "report.html"
    done = forgeq("report", "--manifest", manifest, "--out", page)
    assert done.returncode == 0, done.stderr
    assert f"wrote {page}" in done.stdout
    queues = forgeq_json("inspect", "queue", "--manifest", manifest)["queues"]
    events = forgeq_json("inspect", "events", "--manifest", manifest, "--limit", "5000")["events"]
    return {
        "root": root,
        "manifest": manifest,
        "page": page,
        "queues": queues,
        "events": events,
        "db": app / ".forgeq" / "state.db",
    }


def test_report_is_one_file_that_fetches_nothing(flaky_report: dict[str, Any]) -> None:
    page = flaky_report["page"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # No script, no external resource of any kind, and a policy that would forbid both anyway.
    assert "<script" not in page.lower()
    for reference in ("src=", "href=", "url(", "@import", "http://", "https://"):
        assert reference not in page.replace('xmlns="http://www.w3.org/2000/svg"', ""), reference
    assert "default-src 'none'" in page
    assert len(page.encode()) < 200_000


@needs_chromium
def test_report_in_chromium_shows_what_the_state_holds(flaky_report: dict[str, Any], tmp_path: Path) -> None:
    dom = parse(chromium(flaky_report["page"], tmp_path, "--dump-dom").stdout)
    queues, events = flaky_report["queues"], flaky_report["events"]

    tiles = {
        node.attrs["data-stat"]: node.find_all("b")[0].text()
        for node in dom.find_all(None)
        if "data-stat" in node.attrs
    }
    from forgeq.emulator.tools.report import _duration

    drained = max(e["finished_at"] for e in events) - min(e["enqueued_at"] for e in events)
    assert tiles.pop("drain") == _duration(drained)
    stats = {name: number(text) for name, text in tiles.items()}
    assert stats["pushed"] == sum(sum(counts.values()) for counts in queues.values()) == 700
    assert stats["succeeded"] == sum(q["succeeded"] for q in queues.values())
    assert stats["dropped"] == sum(q["dropped"] for q in queues.values())
    assert stats["dropped"] > 0, "the flaky app should drop some events under seed 3"
    assert stats["retried"] == sum(1 for e in events if e["retry_count"] > 0)
    assert stats["attempts"] == sum(e["attempts"] for e in events)

    # The timeline: one lane per queue, and its bars account for every attempt, by outcome.
    bars = dom.find_all("path", **{"class": "bars"})
    assert {bar.attrs["data-lane"] for bar in bars} == {"issue-sync", "audit-log"}
    per_lane = Counter[str]()
    for bar in bars:
        per_lane[bar.attrs["data-lane"]] += int(bar.attrs["data-count"])
    for queue in ("issue-sync", "audit-log"):
        assert per_lane[queue] == sum(e["attempts"] for e in events if e["queue"] == queue)
    dropped_bars = sum(int(b.attrs["data-count"]) for b in bars if b.attrs["data-outcome"] == "dropped")
    assert dropped_bars == stats["dropped"]
    legend = {
        n.attrs["data-outcome"]: int(n.attrs["data-count"])
        for n in dom.find_all("span")
        if "data-outcome" in n.attrs
    }
    assert sum(legend.values()) == stats["attempts"]

    # Every figure is drawn: timeline, depth, histogram, and quota (or its empty state).
    sections = {node.attrs["id"]: node for node in dom.find_all("section")}
    assert set(sections) == {"timeline", "depth", "quota", "histogram", "errors", "dropped"}
    for name in ("timeline", "depth", "histogram"):
        assert sections[name].find_all("svg"), name
    from forgeq.emulator.store import Store

    store = Store(flaky_report["db"])
    has_quota = bool(store.quota_rows())
    store.close()
    assert bool(sections["quota"].find_all("svg")) == has_quota
    assert bool(sections["quota"].find_all(id="quota-empty")) == (not has_quota)
    peaks = {
        n.attrs["data-lane"]: int(n.attrs["data-peak"])
        for n in sections["depth"].find_all("text")
        if "data-peak" in n.attrs
    }
    assert set(peaks) == {"issue-sync", "audit-log"} and all(peak > 0 for peak in peaks.values())

    # The histogram: finished events by attempts, split by how they finished.
    expected = Counter(
        (str(e["attempts"]), e["state"]) for e in events if e["state"] in ("succeeded", "dropped")
    )
    drawn = Counter[tuple[str, str]]()
    for rect in dom.find_all("rect", **{"class": "hist"}):
        drawn[(rect.attrs["data-attempts"], rect.attrs["data-final"])] += int(rect.attrs["data-count"])
    assert drawn == expected

    # The dropped table: exactly the dropped events, each with its last error.
    rows = sections["dropped"].find_all("tr")[1:]
    dropped = {e["seq"]: e for e in events if e["state"] == "dropped"}
    assert {int(row.attrs["data-seq"]) for row in rows} == set(dropped)
    for row in rows:
        text = row.text()
        assert "retries exhausted" in text
        assert dropped[int(row.attrs["data-seq"])]["last_error"] in text
    assert f"{len(dropped)} dropped events" in sections["dropped"].text()
    # The handler's `<503 ...>` reached the page as text.
    assert "downstream answered <503 Service Unavailable>" in sections["errors"].text()


@needs_chromium
def test_report_screenshot_shows_the_charts(flaky_report: dict[str, Any], tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(flaky_report["page"], tmp_path, f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}")
    keep = os.environ.get("FORGEQ_REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
    width, height, colours = png_pixels(shot)
    assert (width, height) == WINDOW
    from forgeq.emulator.tools.report import BACKING_OFF, COLOURS

    # The charts are drawn in their colours, in more than a few stray pixels each.
    for colour in (COLOURS["succeeded"], COLOURS["retry"], COLOURS["error"], BACKING_OFF):
        assert colours[rgb(colour)] > 200, colour
    assert colours[rgb(COLOURS["dropped"])] > 20
    # And the page is not blank: the background is not everything.
    assert colours.most_common(1)[0][1] < 0.9 * width * height


# -- escaping: user text is shown, never run ---------------------------------------------------

PAYLOAD = "<script>document.body.setAttribute('data-pwned','script')</script>"
IMAGE = "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"

HOSTILE_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/hostile
modules:
  consumer:
    - key: queue-consumer
      queue: work
      resolver:
        function: consumer-function
        method: listener
  function:
    - key: consumer-function
      handler: index.handler
"""

HOSTILE_HANDLER = """
from forgeq.resolver import Resolver

resolver = Resolver()


@resolver.define("listener")
def listener(request):
    raise RuntimeError(%r)


handler = resolver.get_definitions()
""" % (PAYLOAD + IMAGE)


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    manifest = write_app(root / "app", HOSTILE_MANIFEST, {"src/index.py": HOSTILE_HANDLER})
    body = json.dumps({"note": "</code></td>" + IMAGE + PAYLOAD})
    done = forgeq("push", "--queue", "work", "--body", body, "--count", "3", "--manifest", manifest)
    assert done.returncode == 0, done.stderr
    done = forgeq("run", manifest, "--until-idle", "--quiet")
    assert done.returncode == 0, done.stderr
    page = root / "report.html"
    done = forgeq("report", "--manifest", manifest, "--out", page)
    assert done.returncode == 0, done.stderr
    return page


def test_report_escapes_errors_and_bodies(hostile_report: Path) -> None:
    page = hostile_report.read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page
    assert (
        "&lt;script&gt;document.body.setAttribute(&#x27;data-pwned&#x27;,&#x27;script&#x27;)&lt;/script&gt;"
        in page
    )


@needs_chromium
def test_report_script_in_an_error_does_not_run(hostile_report: Path, tmp_path: Path) -> None:
    markup = chromium(hostile_report, tmp_path, "--dump-dom").stdout
    assert "data-pwned" not in markup.split("<main>")[0]  # the body element carries no injected attribute
    dom = parse(markup)
    assert not dom.find_all("script") and not dom.find_all("img")
    body = dom.find_all("body")[0]
    assert "data-pwned" not in body.attrs
    rows = dom.find_all("table", id="dropped-table")[0].find_all("tr")[1:]
    assert len(rows) == 3
    for row in rows:
        # Shown as text, exactly as the handler raised it and as the body was pushed.
        assert PAYLOAD + IMAGE in row.text()
        assert "</code></td>" + IMAGE + PAYLOAD in row.text().replace('\\"', '"')


# -- the command's edges ------------------------------------------------------------------------


def test_report_before_any_run_shows_empty_states(make_app: Any, tmp_path: Path) -> None:
    manifest = make_app(HOSTILE_MANIFEST, {"src/index.py": HOSTILE_HANDLER})
    assert forgeq("push", "--queue", "work", "--count", "2", "--manifest", manifest).returncode == 0
    done = forgeq("report", "--manifest", manifest, "--out", "-")
    assert done.returncode == 0, done.stderr
    page = done.stdout
    for empty in ("timeline-empty", "quota-empty", "histogram-empty", "errors-empty", "dropped-empty"):
        assert f'id="{empty}"' in page, empty
    assert re.search(r'data-stat="pushed"><b>2</b>', page)
    assert re.search(r'data-stat="waiting"><b>2</b>', page)
    assert 'data-stat="drain"' not in page  # nothing drained yet


TRIGGER_MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/test
modules:
  trigger:
    - key: on-created
      function: created
      events: [avi:jira:created:issue]
  function:
    - key: created
      handler: index.created
"""
TRIGGER_HANDLER = """
from forgeq.events import InvocationError


def created(event, context):
    if event["issue"]["key"].endswith(("1", "2")) and not event.get("retryContext"):
        return InvocationError(retry_after=60)  # the trigger's first try of DEMO-1 and DEMO-2 asks for a retry
    return None
"""


def test_report_cards_count_the_triggers_retries_as_the_timeline_does(make_app: Any) -> None:
    manifest = make_app(TRIGGER_MANIFEST, {"src/index.py": TRIGGER_HANDLER})
    assert forgeq("push", "issue-created", "--count", "3", "--manifest", manifest).returncode == 0
    assert forgeq("run", "--until-idle", "--manifest", manifest).returncode == 0
    page = forgeq("report", "--manifest", manifest, "--out", "-").stdout
    tiles = dict(re.findall(r'data-stat="([a-z_]+)"><b>([^<]+)</b>', page))
    assert tiles["trigger_invocations"] == "3" and tiles["trigger_retried"] == "2" and tiles["trigger_lost"] == "0"
    assert tiles["pushed"] == "0" and "trigger_waiting" not in tiles


def test_the_last_histogram_column_keeps_its_count_inside_the_picture() -> None:
    from types import SimpleNamespace

    from forgeq.emulator.tools import report

    # 570 events done at once, 30 dropped after 30+ attempts: the last column sits at the right edge
    svg = report._histogram(SimpleNamespace(histogram=[(1, 570, 0), (30, 0, 30)], histogram_capped=True))  # type: ignore[arg-type]
    width = float(re.search(r'<svg[^>]* width="([\d.]+)"', svg).group(1))  # type: ignore[union-attr]
    label = re.search(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)">30<tspan class="bad"> \(30 dropped\)', svg)
    assert label is not None, svg
    assert label.group(2) == "end" and float(label.group(1)) <= width - 8


def test_report_errors_are_one_line(tmp_path: Path) -> None:
    done = forgeq("report", "--db", tmp_path / "missing.db", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no state file" in done.stderr

    from forgeq.emulator.store import Store

    Store(tmp_path / "state.db").close()
    done = forgeq("report", "--db", tmp_path / "state.db", "--out", tmp_path, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "is a folder" in done.stderr


# -- a big state: the report stays bounded ------------------------------------------------------


def build_big_state(
    path: Path, events: int, attempts_per_event: int, queues: int, installations: int
) -> dict[str, int]:
    """A state written through the Store, as the loop writes it: events, attempts, ledger, quota."""
    from forgeq.emulator.store import Store, schema
    from forgeq.emulator.store.batch import AttemptRow, EventUpdate, LedgerRow, NewEvent, WriteBatch

    start = 1763370000.0
    store = Store(path)
    dropped = 0
    chunk = 20_000
    for first in range(0, events, chunk):
        count = min(chunk, events - first)
        seqs = store.insert_events(
            NewEvent(f"site-{(first + i) % installations}", "queue", f"queue-{(first + i) % queues:02d}", None,
                     json.dumps({"n": first + i, "pad": "x" * 40}), None, start + (first + i) * 0.01, start + (first + i) * 0.01)
            for i in range(count)
        )  # fmt: skip
        batch = WriteBatch()
        for seq in seqs:
            t = start + seq * 0.01
            drop = seq % 17 == 0
            for attempt in range(1, attempts_per_event + 1):
                last = attempt == attempts_per_event
                outcome = (
                    ("dropped" if drop else "succeeded") if last else ("retry" if attempt % 2 else "error")
                )
                batch.attempts.append(
                    AttemptRow(seq, attempt, attempt - 1, t, t + 0.05, outcome, None, None if outcome != "error" else f"boom {seq % 50}",
                               None, None if last else 30.0, None if last else t + 30.0, None, 0, 1, None, None, 1.0)
                )  # fmt: skip
                t += 30.05
            state = schema.DROPPED if drop else schema.SUCCEEDED
            batch.updates.append(
                EventUpdate(
                    seq,
                    state,
                    t,
                    attempts_per_event,
                    attempts_per_event - 1,
                    None,
                    None,
                    t,
                    "boom" if drop else None,
                )
            )
            if drop:
                dropped += 1
                batch.ledger.append(
                    LedgerRow(
                        seq, t, "retries exhausted: 4 retries used (v1 resolver consumer)", "boom", None
                    )
                )
        store.commit(batch)
    quota = WriteBatch()
    for site in range(installations):
        for minute in range(200):
            for metric, limit in (("write_units", 4000), ("read_units", 4000)):
                quota.quota[(f"site-{site}", metric, start + 60 * minute)] = [
                    60.0,
                    (minute * 37 + site * 11) % 4100,
                    minute % 7 == 0,
                    limit,
                ]
    store.commit(quota)
    store.close()
    return {"events": events, "attempts": events * attempts_per_event, "dropped": dropped}


def report_of(db: Path, tmp_path: Path) -> str:
    out = tmp_path / f"{db.stem}.html"
    done = forgeq("report", "--db", db, "--out", out, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    return out.read_text(encoding="utf-8")


def elements(page: str) -> int:
    return len(re.findall(r"<[a-z]", page))


def assert_bounded(page: str, expected: dict[str, int]) -> None:
    assert len(page.encode()) < 400_000  # 200 dropped rows with five attempts each, charts bounded by bins and caps
    table = page[
        page.index('<table id="dropped-table"') : page.index(
            "</table>", page.index('<table id="dropped-table"')
        )
    ]
    assert elements(page) - elements(table) < 1000  # charts, tiles, legends: bounded by bins and caps
    # at most 200 rows of a dozen cells, each with its first ATTEMPTS_CAP attempts (three elements each)
    assert elements(table) < 200 * (15 + 3 * ATTEMPTS_CAP)
    assert len(re.findall(r'<path class="bars"', page)) <= 8 * 6  # lanes x outcomes, whatever the attempts
    assert re.search(rf'data-stat="attempts"><b>{expected["attempts"]:,}</b>', page)
    drawn = sum(int(n) for n in re.findall(r'<path class="bars"[^>]* data-count="(\d+)"', page))
    assert drawn == expected["attempts"]  # the "other queues" lane keeps the total
    assert "23 other queues and triggers" in page
    assert len(re.findall(r'<tr data-seq="', page)) == 200
    assert f"{expected['dropped']:,} dropped events; the first 200 are listed" in page


def test_report_of_a_big_state_stays_bounded(tmp_path: Path) -> None:
    small = build_big_state(tmp_path / "small.db", 6_000, 3, 30, 12)
    big = build_big_state(tmp_path / "big.db", 40_000, 5, 30, 12)
    small_page, big_page = (
        report_of(tmp_path / "small.db", tmp_path),
        report_of(tmp_path / "big.db", tmp_path),
    )
    assert_bounded(small_page, small)
    assert_bounded(big_page, big)
    # 33x the attempts; the report grows by the width of a few numbers and by the dropped rows' attempt lists
    # (3 attempts an event in the small state, 5 in the big one; at most 5 each), not with the attempts.
    assert len(big_page) < 1.5 * len(small_page)
    assert "series farthest from their limit are not drawn" in big_page


@pytest.mark.slow
def test_report_of_a_million_attempts_stays_bounded(tmp_path: Path) -> None:
    expected = build_big_state(tmp_path / "million.db", 200_000, 5, 30, 12)
    assert expected["attempts"] == 1_000_000
    assert_bounded(report_of(tmp_path / "million.db", tmp_path), expected)
