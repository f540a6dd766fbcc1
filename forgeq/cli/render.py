"""All terminal output. The only module that imports rich (and only where a table needs it).

The live timeline is plain text with ANSI colours written straight to stdout: it runs once per
attempt on the hot path, and must stay readable without colour (NO_COLOR, a pipe, a file).
"""

from __future__ import annotations

import json
import os
import sys
from collections import deque
from typing import Any, TextIO

from forgeq.emulator import limits
from forgeq.emulator.loop.clock import wall_time
from forgeq.emulator.loop.timeline import AttemptReport, Notice
from forgeq.emulator.safetext import bounded_middle
from forgeq.emulator.store.schema import CALL_KINDS
from forgeq.emulator.wording import plural as plural
from forgeq.jsontext import escape_surrogates, pretty
from forgeq.launcher import clock_text as clock_text  # typer- and rich-free (`inspect queue` fast path)
from forgeq.launcher import queue_table as queue_table

_COLOURS = {
    "succeeded": "32",
    "retry": "33",
    "error": "31",
    "timeout": "31",
    "dropped": "1;31",
    "lost": "1;31",
    "warning": "33",
    "info": "36",
}


wall = wall_time  # the wall clock of run's figures: the loop's own (loop/clock.py)


def use_colour(stream: TextIO) -> bool:
    """NO_COLOR (no-color.org) wins; then FORCE_COLOR (force-color.org), over TERM=dumb and a pipe."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "0") not in ("", "0"):
        return True
    return os.environ.get("TERM") != "dumb" and stream.isatty()


# C0 controls but tab and newline, DEL and C1: shown as \xNN, never sent to the terminal as they are.
_CONTROL_CHARACTERS = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))}


def printable(text: str) -> str:
    """Text a handler controls (errors, logs, notes): an escape sequence in it is shown, not obeyed."""
    return text.translate(_CONTROL_CHARACTERS)


def seconds_text(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}s"


class PipeSafeStream:
    """stdout that survives its reader going away (`forgeq run | head`): the first broken pipe
    calls `on_closed` (the run stops gracefully, committing what it did) and output goes nowhere."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.on_closed: Any = None
        self.closed_by_reader = False

    def isatty(self) -> bool:
        return self.stream.isatty()

    def write(self, text: str) -> int:
        if self.closed_by_reader:
            return len(text)
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._closed()
            return len(text)

    def flush(self) -> None:
        if not self.closed_by_reader:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._closed()

    def _closed(self) -> None:
        self.closed_by_reader = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stream.fileno())  # later prints (the summary) go nowhere, without an error
        os.close(devnull)
        if self.on_closed is not None:
            self.on_closed()


class TimelinePrinter:
    """One line per attempt: time, queue, event, attempt, outcome, then what happens next and why."""

    def __init__(self, stream: TextIO, show_logs: bool = False) -> None:
        self.stream = stream
        self.colour = use_colour(stream)
        self.show_logs = show_logs
        # queue, event and attempt columns grow to the widest seen, so that later lines line up
        self.widths = [0, 0, 0]
        self.idle = False

    def _paint(self, text: str, style: str) -> str:
        code = _COLOURS.get(style)
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and code else text

    def attempt(self, report: AttemptReport) -> None:
        self.idle = False
        self.stream.write(self.lines(report) + "\n")

    def went_idle(self, now: float) -> None:
        """Once each time the run runs out of work (run without --until-idle), so it never looks hung."""
        if not self.idle:
            self.idle = True
            self.stream.write(idle_line(now) + "\n")
            self.stream.flush()

    def lines(self, report: AttemptReport) -> str:
        """The attempt's line (columns padded so that the timeline lines up), then its notes and logs."""
        site = f" [{report.installation}]" if report.installation != "site-1" else ""
        call = report.kind in CALL_KINDS  # a web trigger or UI resolver call: one attempt, never retried
        target = f"{report.target} ({report.kind}){site}" if call else f"{report.target}{site}"
        seq, attempt = f"#{report.seq}", "call" if call else f"try {report.attempt}"
        widths = self.widths
        widths[0], widths[1], widths[2] = max(widths[0], min(len(target), 40)), max(widths[1], len(seq)), max(widths[2], len(attempt))
        parts = [
            clock_text(report.started_at),
            target.ljust(widths[0]),
            seq.ljust(widths[1]),
            attempt.ljust(widths[2]),
            self._paint(f"{report.outcome:<9}", report.outcome),
        ]
        if report.outcome in ("retry", "error", "timeout") and not call:
            if report.retry_after_asked is not None and report.retry_after_asked != report.retry_after_applied:
                parts.append(f"asked {seconds_text(report.retry_after_asked)} applied {seconds_text(report.retry_after_applied)}")
            else:
                parts.append(f"retry in {seconds_text(report.retry_after_applied)}")
            if report.next_at is not None:
                parts.append(f"at {clock_text(report.next_at)}")
            if report.reason:
                parts.append(printable(report.reason))
        if report.drop_reason:
            parts.append(printable(report.drop_reason))
        if report.error:
            parts.append(f"- {printable(report.error)}")
        if report.quota_refusals:
            parts.append(self._paint(f"[quota: {plural(report.quota_refusals, 'storage call')} refused 429]", "warning"))
        lines = ["  ".join(parts)]
        lines.extend(f"    {self._paint(request_text(r), 'warning' if r['status'] == 429 else '')}" for r in report.requests)
        lines.extend(f"    note: {printable(note)}" for note in report.notes)
        if self.show_logs and report.logs:
            lines.extend(f"    | {printable(line)}" for line in report.logs.rstrip("\n").split("\n"))
        return "\n".join(lines).rstrip()

    def notice(self, notice: Notice) -> None:
        self.stream.write(self.notice_line(notice) + "\n")

    def notice_line(self, notice: Notice) -> str:
        text = printable(bounded_middle(notice.text, limits.MAX_MESSAGE_CHARS))  # a notice may quote 100 KB of input
        return f"{clock_text(notice.at)}  {self._paint(notice.level.upper(), notice.level)}  {text}"

    def close(self, now: float | None = None, wall_seconds: float | None = None) -> None:
        self.stream.flush()


class StatusPrinter:
    """The default on a terminal (and `-q`): a live status instead of a line per attempt.

    On a terminal, rich draws one line, redrawn at most every 0.2 s of wall time: the virtual and
    wall clocks, attempts and their rate, events finished this run and still waiting, drops and
    losses, an estimate of the time left. Drops, losses and notices are printed above it as they
    happen (the first MAX_NOTABLE drops), so a long run leaves a readable log. Elsewhere (a pipe,
    a file) the notable lines are printed as they happen and the status once, at the end.
    """

    MAX_NOTABLE = 20
    REDRAW_SECONDS = 0.2
    ETA_WINDOW = 5.0
    # The loop sends it no report of an attempt that simply succeeded, the commonest: the status
    # counts attempts from `progress`, told after each commit (forgeq/emulator/loop/timeline.py).
    wants_successes = False

    def __init__(self, stream: TextIO, waiting: Any, show_logs: bool = False, live: bool | None = None) -> None:
        self.stream = stream
        self.wall = wall_time
        self.waiting = waiting  # () -> events not finished, read from the state file
        self.timeline = TimelinePrinter(stream, show_logs)  # formats the lines printed above the status
        self.live_display: Any = None
        self.counts: dict[str, int] = {}
        self.finished = 0
        self.notable = 0
        self.now = 0.0
        self.started = wall_time()
        self.last_draw = 0.0
        self.pending: int | None = None
        self.idle = False
        self.recent: deque[tuple[float, int]] = deque()  # (wall, events finished) at each draw: the ETA's rate
        if stream.isatty() if live is None else live:
            from rich.live import Live

            self.live_display = Live("", console=_console(stream), transient=True, auto_refresh=False)
            self.live_display.start()

    def attempt(self, report: AttemptReport) -> None:
        """An attempt that did more than succeed (or succeeded with notes or logs): counted by `progress`."""
        self.idle = False
        if report.outcome in ("dropped", "lost"):
            self._drop(report)

    def progress(self, outcomes: dict[str, int], last_ended_at: float) -> None:
        """The run's attempts by outcome so far, after a commit."""
        self.counts = {name: count for name, count in outcomes.items() if count}
        self.finished = sum(self.counts.get(name, 0) for name in ("succeeded", "dropped", "lost"))
        if self.counts:
            self.now = max(self.now, last_ended_at)
            self.idle = False
        if self.live_display is not None and self.wall() - self.last_draw >= self.REDRAW_SECONDS:
            self.draw()

    def _drop(self, report: AttemptReport) -> None:
        self.notable += 1
        if self.notable <= self.MAX_NOTABLE:
            self._print(self.timeline.lines(report))
        elif self.notable == self.MAX_NOTABLE + 1:
            self._print(f"{clock_text(report.started_at)}  (more drops and losses: the summary counts them; forgeq inspect dropped lists them)")

    def notice(self, notice: Notice) -> None:
        self.now = max(self.now, notice.at)
        self._print(self.timeline.notice_line(notice))

    def went_idle(self, now: float) -> None:
        """Nothing is due and the run waits (run without --until-idle): say so once, keep the status fresh."""
        self.now = now
        if not self.idle:
            self.idle = True
            if self.live_display is None:
                self._print(idle_line(now))
        if self.live_display is not None and self.wall() - self.last_draw >= self.REDRAW_SECONDS:
            self.draw()

    def _print(self, text: str) -> None:
        if self.live_display is not None:
            from rich.text import Text

            self.live_display.console.print(Text.from_ansi(text), soft_wrap=True)
        else:
            self.stream.write(text + "\n")

    def draw(self) -> None:
        self.last_draw = self.wall()
        self.pending = self.waiting()
        self.recent.append((self.last_draw, self.finished))
        while len(self.recent) > 2 and self.last_draw - self.recent[1][0] >= self.ETA_WINDOW:
            self.recent.popleft()
        if self.live_display is not None:
            from rich.text import Text

            self.live_display.update(Text(self.line()), refresh=True)

    def line(self) -> str:
        """Two lines that fit 80 columns:
        `+02:15:00.000 virtual  12.30s wall  45210 attempts (3812/s)  ETA ~16s`
        `  done 40100  waiting 59900  dropped 0  lost 0  (succeeded 40100, retry 5110)`."""
        wall = self.wall() - self.started
        attempts = sum(self.counts.values())
        first = [f"{clock_text(self.now)} virtual", f"{wall:.2f}s wall", plural(attempts, "attempt") + (f" ({attempts / wall:.0f}/s)" if wall > 0 else "")]
        if self.idle:
            first.append("idle; Ctrl-C stops")
        elif (eta := self.eta()) is not None:
            first.append(f"ETA {'<1s' if eta < 1 else '~' + duration_text(round(eta))}")
        second = [f"done {self.finished}"] + ([f"waiting {self.pending}"] if self.pending is not None else [])
        second += [f"dropped {self.counts.get('dropped', 0)}", f"lost {self.counts.get('lost', 0)}"]
        outcomes = ", ".join(f"{name} {self.counts[name]}" for name in _OUTCOME_ORDER if self.counts.get(name) and name not in ("dropped", "lost"))
        return "  ".join(first) + "\n  " + "  ".join(second) + (f"  ({outcomes})" if outcomes else "")

    def eta(self) -> float | None:
        """Wall seconds left at the rate events finished over the last ETA_WINDOW seconds, none before
        that: a bulk import finishes its first-try successes in a burst, then its retries trickle,
        so the rate since the start would promise the end long before it comes."""
        if not self.recent or not self.pending:
            return None
        since, finished_then = self.recent[0]
        span, done = self.wall() - since, self.finished - finished_then
        return self.pending * span / done if span >= self.ETA_WINDOW and done > 0 else None

    def close(self, now: float | None = None, wall_seconds: float | None = None) -> None:
        if now is not None:
            self.now = now
        if wall_seconds is not None:
            self.wall = lambda: self.started + wall_seconds  # the summary's figure, to the digit
        if self.live_display is not None:
            self.live_display.stop()
        self.pending = self.waiting()
        self.idle = False
        first, second = self.line().split("\n")
        self.stream.write(first.split("  ETA ~")[0] + "\n" + second + "\n")  # the last status stays, as a record
        self.stream.flush()


def request_text(request: dict[str, Any]) -> str:
    """A product call under its attempt: method, path, status, the Retry-After the app received, why."""
    text = f"{request['method']} {printable(request['path'])} -> {request['status']}"
    if request.get("retry_after") is not None:
        text += f"  Retry-After {seconds_text(request['retry_after'])}"
    if request.get("reason"):
        text += f"  ({printable(request['reason'])})"
    return text


def timeline_printer(show_logs: bool = False) -> TimelinePrinter:
    return TimelinePrinter(PipeSafeStream(sys.stdout), show_logs)  # type: ignore[arg-type]


class NoticePrinter:
    """`run --json`: warnings and errors on standard error, nothing per attempt."""

    stream = sys.stderr
    wants_attempts = False  # the loop makes no AttemptReport for it

    def attempt(self, report: AttemptReport) -> None:
        pass

    def went_idle(self, now: float) -> None:
        pass

    def notice(self, notice: Notice) -> None:
        if notice.level != "info":
            sys.stderr.write(f"{clock_text(notice.at)}  {notice.level.upper()}  {printable(notice.text)}\n")

    def close(self, now: float | None = None, wall_seconds: float | None = None) -> None:
        sys.stderr.flush()


def notice_printer() -> NoticePrinter:
    return NoticePrinter()


def status_printer(waiting: Any, show_logs: bool = False) -> StatusPrinter:
    return StatusPrinter(PipeSafeStream(sys.stdout), waiting, show_logs)  # type: ignore[arg-type]


def is_terminal() -> bool:
    return sys.stdout.isatty()


def idle_line(now: float) -> str:
    return f"{clock_text(now)}  idle: nothing is due; waiting for events (forgeq push, in another terminal); Ctrl-C stops"


def verbose(text: str) -> None:
    """`forgeq -v`: what a command is working on, on standard error."""
    if os.environ.get("FORGEQ_VERBOSE"):
        sys.stderr.write(f"forgeq: {text}\n")


def warn(text: str) -> None:
    sys.stderr.write(f"forgeq: warning: {bounded_middle(text, limits.MAX_MESSAGE_CHARS)}\n")


def faults_injected(counts: dict[str, int]) -> None:
    """`run --faults`: one line saying what the scenario did (forgeq/emulator/tools/faults.py)."""
    names = {
        "failed": "attempts failed",
        "storage_429": "storage calls refused 429",
        "slowed_calls": "storage calls slowed",
        "redelivered": "duplicate deliveries",
        "redeliveries_not_idempotent": "duplicates that changed the store or pushed",
    }
    shown = ", ".join(f"{names.get(name, name)} {n}" for name, n in counts.items())
    sys.stdout.write(f"faults injected: {shown}\n")


def json_out(data: Any) -> None:
    sys.stdout.write(pretty(data) + "\n")


def _console(stream: TextIO | None = None) -> Any:
    from rich.console import Console

    stream = stream or sys.stdout
    width = None if stream.isatty() else 200  # a pipe or a file gets whole columns
    # emoji=False: an ARI such as ari:cloud:jira::site/x holds ":cloud:", which rich would draw as an emoji
    return Console(file=stream, no_color=not use_colour(stream), highlight=False, soft_wrap=False, width=width, emoji=False)


def _table(title: str | None, columns: list[str]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in columns:
        table.add_column(column, justify="left" if column in ("queue", "trigger", "key", "value", "error", "state", "event") else "right")
    return table


def summary(data: dict[str, Any], stopped: str | None = None) -> None:
    """Two labelled blocks: this run, then the whole state; drops and losses first in each."""
    out = sys.stdout
    run, state = data["run"], data["state"]
    red = "1;31"
    out.write("\n")
    rate = f", {run['attempts_per_second']:.0f} attempts/s" if run["attempts_per_second"] else ""
    ended = f"; {stopped}" if stopped else ""
    out.write(
        f"this run: {plural(run['attempts'], 'attempt')} in {duration_text(run['virtual_seconds'])} virtual, "
        f"{run['wall_seconds']:.2f}s wall{rate}{ended}\n"
    )
    losses = f"  dropped {run['dropped']}, lost {run['lost']}"
    out.write((_styled(losses, red, out) if run["dropped"] or run["lost"] else losses) + "\n")
    for item in run["drop_reasons"]:
        out.write(f"    {item['count']:>6} {item['fate']}: {printable(str(item['reason']))}\n")
    done = run["succeeded"]
    out.write(
        f"  succeeded: {plural(done['queue'], 'queue event')}, {plural(done['trigger'], 'trigger invocation')}"
        + (f", {plural(done['product'], 'product event')} delivered" if done["product"] else "")
        + "\n"
    )
    if run["outcomes"]:
        out.write("  attempts: " + ", ".join(f"{name} {run['outcomes'][name]}" for name in _OUTCOME_ORDER if run["outcomes"].get(name)) + "\n")
    if run["attempts_histogram"]:
        out.write("  attempts per event finished this run:\n")
        out.writelines(f"    {line}\n" for line in histogram_lines(run["attempts_histogram"], out))
    if run["top_errors"]:
        out.write("  top errors:\n")
        out.writelines(f"    {item['count']:>6} × {printable(str(item['error']))}\n" for item in run["top_errors"])
    out.writelines(f"  {line}\n" for line in _limit_lines(run["limits"]))
    events, triggers, products = state["events"], state["triggers"], state["products"]
    out.write(f"state: {state['path']}\n")
    replayed = f" ({events['replayed']} replayed)" if events["replayed"] else ""
    lost_replayed = f" ({triggers['replayed']} replayed)" if triggers["replayed"] else ""
    losses = f"  dropped {events['dropped']}{replayed}, lost {triggers['lost']}{lost_replayed}"
    out.write((_styled(losses, red, out) if events["dropped"] or triggers["lost"] else losses) + "\n")
    waiting = events["pending"] + triggers["pending"]
    blocked = events["blocked"] + triggers["blocked"]
    out.write(
        f"  queue events: {events['pushed']} pushed, {events['succeeded']} succeeded, {events['retried']} retried, "
        f"{events['pending']} pending" + (f", {events['cancelled']} cancelled" if events["cancelled"] else "") + "\n"
    )
    if triggers["invocations"] or products["fired"]:
        out.write(
            f"  triggers: {triggers['invocations']} invoked, {triggers['succeeded']} succeeded, {triggers['retried']} retried, "
            f"{triggers['pending']} pending; product events: {products['fired']} fired, {products['delivered']} delivered\n"
        )
    calls = state["calls"]
    if any(calls.values()):
        out.write(f"  calls answered: {plural(calls['webtrigger'], 'web trigger call')}, {plural(calls['resolver'], 'UI resolver call')}\n")
    if blocked:
        out.write(_styled(f"  blocked: {plural(blocked, 'event')} {'waits' if blocked == 1 else 'wait'} for a handler that cannot be loaded", "33", out) + "\n")
    if not waiting and not blocked and not stopped:
        out.write("  nothing left to deliver\n")


_OUTCOME_ORDER = ("succeeded", "retry", "error", "timeout", "dropped", "lost")


def _limit_lines(limits: list[dict[str, Any]]) -> list[str]:
    """`push limit [site-1]: 500/500 pushed events per minute at the peak, 500 pushes refused`."""
    lines = []
    for item in limits:
        refused = item.get("refused") or 0
        what = "push" if item["limit"] == "push limit" else "call"
        tail = f", {plural(refused, what)} refused" if refused else ""
        if _bucket(item["metric"]):
            lines.append(
                f"{item['limit']} [{item['installation']}]: {item['metric']} {item['used']} in a second at the peak "
                f"({_bucket_text(item['quota'])}){tail}"
            )
            continue
        lines.append(
            f"{item['limit']} [{item['installation']}]: {item['metric']} {item['used']}/{item['quota']} "
            f"per {window_text(item['window_seconds'])} at the peak{tail}"
        )
    return lines


def _bucket(metric: str) -> bool:
    """A product's burst limit (`jira_burst GET /rest/...`, platform/site/limits.py): a token bucket,
    so one second may take more than its rate (a full bucket, then what refills) without a refusal."""
    return "_burst " in metric


def _bucket_text(rate: Any) -> str:
    return f"a token bucket refilled at {rate} a second: after a quiet spell, a second takes more"


def window_text(seconds: float) -> str:
    return {1: "second", 20: "20 seconds", 60: "minute", 3600: "hour"}.get(int(seconds), duration_text(seconds))


HISTOGRAM_WIDTH = 30


def histogram_lines(histogram: dict[str, int], stream: TextIO) -> list[str]:
    """`attempts  bar  count` per line; the bar is `#` where the terminal cannot show a block."""
    encoding = (getattr(stream, "encoding", None) or "ascii").lower()
    block = "\u2588" if encoding.startswith("utf") else "#"
    top = max(histogram.values(), default=0) or 1
    width = max(len(key) for key in histogram)
    lines = []
    for attempts, count in histogram.items():
        bar = block * max(1, round(count * HISTOGRAM_WIDTH / top)) if count else ""
        lines.append(f"{attempts:>{width}} {bar:<{HISTOGRAM_WIDTH}} {count}")
    return lines


def duration_text(seconds: float) -> str:
    """A span: `0.25s`, `45s`, `15m00s`, `2h05m00s`, `7d00h00m` (one format for every span forgeq prints)."""
    if seconds < 120:
        return f"{round(seconds, 3):g}s"
    if seconds >= 86400:
        days, rest = divmod(int(seconds), 86400)
        return f"{days}d{rest // 3600:02d}h{rest % 3600 // 60:02d}m"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def pushed(result: dict[str, Any]) -> None:
    for warning in result.get("warnings", []):
        warn(warning)
    if result.get("repeated"):
        sys.stdout.write(
            f"already pushed under idempotency key {result['idempotency_key']!r}: {plural(result['count'], 'event')} to {result['queue']} "
            f"[{result['installation']}] as job {result['job_id']} (#{result['first']}..#{result['last']}); nothing pushed again\n"
        )
        return
    sys.stdout.write(
        f"pushed {plural(result['count'], 'event')} to {result['queue']} [{result['installation']}] as job {result['job_id']} "
        f"(#{result['first']}..#{result['last']})\n"
    )


def events_table(rows: list[dict[str, Any]]) -> None:
    console = _console()
    if not rows:
        console.print("(no events)")
        return
    table = _table(None, ["event", "queue", "state", "attempts", "retries", "due", "error"])
    for row in rows:
        state = "retrying" if row["retrying"] else row["state"]
        table.add_row(f"#{row['seq']}", row["queue"], state, str(row["attempts"]), str(row["retry_count"]), clock_text(row["available_at"]), _cell(printable(row["last_error"] or "")))
    console.print(table)


def event_timeline(data: dict[str, Any]) -> None:
    event = data["event"]
    out = sys.stdout
    if event["kind"] in CALL_KINDS:
        _call_timeline(event, data["attempts"], out)
        return
    what = {"product": "product event", "trigger": "trigger event", "scheduled": "scheduled trigger run"}.get(event["kind"], "event")
    where = "of type" if event["kind"] == "product" else "on"
    job = f" job {event['job_id']}" if event["job_id"] else ""
    out.write(f"{what} #{event['seq']} {event['event_id']} {where} {event['queue']} [{event['installation']}]{job}\n")
    if event.get("parent") is not None:
        out.write(f"  from event #{event['parent']} (forgeq inspect timeline {event['parent']})\n")
    out.write(f"  state {event['state']}, {plural(event['attempts'], 'attempt')}, {plural(event['retry_count'], 'retry')}\n")
    children = data.get("children") or []
    if children:
        led = ", ".join(f"#{c['seq']} {c['queue']} ({c['state']})" for c in children[:10]) + (", ..." if len(children) > 10 else "")
        verb = "delivered to" if event["kind"] == "product" else "pushed"
        out.write(f"  {verb}: {led}\n")
    elif event["kind"] == "product" and event["state"] == "delivered":
        out.write("  delivered to no trigger (none subscribes, or every filter left it out)\n")
    if event.get("replay_of") is not None:
        out.write(f"  a replay of #{event['replay_of']} (forgeq replay)\n")
    out.write(f"  body {escape_surrogates(json.dumps(event['body'], ensure_ascii=False))[:200]}\n")
    for attempt in data["attempts"]:
        line = f"  {clock_text(attempt['started_at'])}  try {attempt['attempt']}  {attempt['outcome']}"
        if attempt["retry_after_applied"] is not None:
            # A dropped attempt records the retry Forge's rules would have asked for, had any budget been left.
            verb = "would retry in" if attempt["outcome"] in ("dropped", "lost") else "retry in"
            line += f"  {verb} {seconds_text(attempt['retry_after_applied'])}"
            if attempt["retry_after_asked"] is not None and attempt["retry_after_asked"] != attempt["retry_after_applied"]:
                line += f" (asked {seconds_text(attempt['retry_after_asked'])})"
        if attempt["reason"]:
            line += f"  {printable(attempt['reason'])}"
        if attempt["error"]:
            line += f"  - {printable(attempt['error'])}"
        out.write(line + "\n")
        if attempt["retry_context"]:
            out.write(f"      retryContext {escape_surrogates(json.dumps(attempt['retry_context'], ensure_ascii=False))}\n")
        for request in attempt.get("requests", ()):
            out.write(f"      {request_text(request)}\n")
        for note in attempt["notes"]:
            out.write(f"      note: {printable(note)}\n")
    if event["state"] == "dropped" and event["last_error"]:
        out.write(f"  dropped: {printable(event['last_error'])}\n")


def _call_timeline(call: dict[str, Any], attempts: list[dict[str, Any]], out: TextIO) -> None:
    """`inspect timeline N` of a web trigger or UI resolver call: what was sent, what came back."""
    extra = call.get("extra") or {}
    what = "web trigger" if call["kind"] == "webtrigger" else "UI resolver definition"
    module = f", module {extra['module']}" if extra.get("module") else ""
    out.write(f"call #{call['seq']}: {what} {call['queue']} (function {extra.get('function')}{module}) [{call['installation']}], {call['state']}\n")
    out.write(f"  sent {printable(escape_surrogates(json.dumps(call['body'], ensure_ascii=False)))[:300]}\n")
    for attempt in attempts:
        line = f"  {clock_text(attempt['started_at'])}  {attempt['outcome']}"
        if attempt["error"]:
            line += f"  - {printable(attempt['error'])}"
        out.write(line + "\n")
        for note in attempt["notes"]:
            out.write(f"      note: {printable(note)}\n")
    out.write(f"  answered {printable(escape_surrogates(json.dumps(extra.get('answer'), ensure_ascii=False)))[:300]}\n")


def footer(shown: int, total: int, offset: int, noun: str, hint: str = "--limit N and --offset N page through them") -> None:
    """`showing 1-100 of 2345 events`, under a listing that --limit (or --offset) cut short."""
    if shown < total:
        first = offset + 1 if shown else offset
        sys.stdout.write(f"showing {first}-{offset + shown} of {plural(total, noun)}; {hint}\n")


def kvs_table(installation: str, keys: list[dict[str, Any]], entities: dict[str, int] | None = None, total: int | None = None) -> None:
    console = _console()
    console.print(f"key-value store of {installation}: {plural(len(keys) if total is None else total, 'key')}")
    table = _table(None, ["key", "value", "updated"])
    for item in keys:
        value = escape_surrogates(json.dumps(item["value"], ensure_ascii=False))
        table.add_row(item["key"], value if len(value) <= 80 else value[:77] + "...", clock_text(item["updated_at"]))
    console.print(table)
    if entities:
        listed = ", ".join(f"{name} ({plural(count, 'item')})" for name, count in entities.items())
        console.print(f"custom entities: {listed}; see one with --entity NAME")


def entity_table(listing: dict[str, Any]) -> None:
    console = _console()
    order = f" in index {listing['index']}" if listing["index"] else " by key"
    partition = f" partition {json.dumps(listing['partition'], ensure_ascii=False)}" if listing["partition"] else ""
    console.print(f"entity {listing['entity']} of {listing['installation']}{order}{partition}: {plural(len(listing['items']), 'item')}")
    ranged = listing["range"]
    table = _table(None, ["key", *([ranged] if ranged else []), "value", "updated"])
    for item in listing["items"]:
        value = json.dumps(item["value"], ensure_ascii=False)
        position = [json.dumps(item["value"].get(ranged), ensure_ascii=False)] if ranged else []
        table.add_row(item["key"], *position, value if len(value) <= 80 else value[:77] + "...", clock_text(item["updated_at"]))
    console.print(table)


# -- product events (`forgeq push EVENT`) -----------------------------------------------------------

PROGRESS_MIN_EVENTS = 1000  # smaller pushes finish before a bar is worth drawing


class _PushProgress:
    """A rich progress bar on a terminal for a large push; a no-op otherwise (a pipe, --json, small)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.bar: Any = None
        self.task: Any = None
        if enabled and total >= PROGRESS_MIN_EVENTS and sys.stdout.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=_console(), transient=True
            )
        self.done = 0

    def __enter__(self) -> _PushProgress:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task("pushing", total=self.total)
        return self

    def __call__(self, done: int) -> None:
        if self.bar is not None:
            self.done += done
            # The last row read, the transaction still has to commit (a second or two for 1e5 events).
            self.bar.update(self.task, advance=done, description="committing" if self.done >= self.total else "pushing")

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def push_progress(total: int, enabled: bool = True) -> _PushProgress:
    return _PushProgress(total, enabled)


def fired(result: dict[str, Any]) -> None:
    """The one-line summary of `forgeq push EVENT`."""
    for warning in result.get("warnings", []):
        warn(warning)
    name = result["event_type"] + (f" ({result['alias']})" if result["alias"] else "")
    first, last = result["first_seq"], result["last_seq"]
    numbers = f"#{result['first_event']}" + (f"..#{result['last_event']}" if result["last_event"] != result["first_event"] else "")
    if result["event_type"].startswith("avi:jira:"):
        ids = f"issues {result['project']}-{first}" + (f"..{result['project']}-{last}" if last != first else "")
    else:
        ids = f"sequence {first}" + (f"..{last}" if last != first else "")
    if result["rate"] is None or result["count"] == 1:
        when = f"due at {clock_text(result['first_at'])}"
    else:
        when = f"due {clock_text(result['first_at'])}..{clock_text(result['last_at'])} ({result['rate']:g}/s)"
    triggers = ", ".join(result["triggers"]) if result["triggers"] else "none"
    sys.stdout.write(
        f"pushed {result['count']} {name} {'event' if result['count'] == 1 else 'events'} [{result['installation']}] {numbers}, "
        f"{ids}, {when}; triggers: {triggers}\n"
    )


def product_events_table(listing: dict[str, Any]) -> None:
    """`forgeq push --list`."""
    console = _console()
    table = _table(None, ["alias", "event type", "product", "trigger", "description"])
    for column in table.columns:
        column.justify = "left"
    for item in listing["events"]:
        table.add_row(item["alias"], item["event_type"], item["product"], ", ".join(item["triggers"]) or "-", item["description"])
    console.print(table)
    if listing.get("other_subscriptions"):
        console.print("the app also subscribes to (push these with --payload FILE): " + ", ".join(listing["other_subscriptions"]))
    if listing.get("app_account_id"):
        console.print(f"the app's own account id (ignoreSelf compares atlassianId with it): {listing['app_account_id']}")


def quota_table(report: dict[str, Any]) -> None:
    """`inspect quota`: per window, units used against the limit and calls refused; then the peaks."""
    console = _console()
    windows = report["windows"]
    if not windows and not report["totals"]:
        console.print("no storage calls or pushes recorded yet")
        return
    table = _table(None, ["window", "length", "installation", "metric", "used", "limit", "refused"])
    table.columns[2].justify = "left"
    table.columns[3].justify = "left"
    for row in windows:
        full = row["limit"] is not None and row["used"] >= row["limit"]
        used = f"{row['used']}" + (" (full)" if full else "")
        refused = str(row["refused"]) if row["refused"] else "-"
        table.add_row(
            clock_text(row["window_start"]), duration_text(row["window_seconds"]), row["installation"], row["metric"], used, str(row["limit"]), refused
        )
    console.print(table)
    if report["hidden_quiet_windows"]:
        console.print(f"({report['hidden_quiet_windows']} one-second windows that refused nothing are not listed; --all lists them)")
    console.print()
    console.print("peak per metric:")
    for total in report["totals"]:
        if _bucket(total["metric"]):
            peak = f"peak {total['peak']} in a second ({_bucket_text(total['limit'])})"
        else:
            peak = f"peak {total['peak']}/{total['limit']} per {duration_text(total['window_seconds'])}"
        console.print(
            f"  [{total['installation']}] {total['metric']}: {peak}, {plural(total['refused'], 'call')} refused over {plural(total['windows'], 'window')}",
            markup=False,
        )


# -- jobs, the ledger, replay, export / import / reset ----------------------------------------------


def _cell(text: Any) -> Any:
    """Table text taken literally (an error message may hold [brackets] rich would read as markup)."""
    from rich.text import Text

    return Text("" if text is None else str(text))


def _short(text: str | None, width: int = 80) -> str:
    if not text:
        return ""
    line = printable(" ".join(text.split()))
    return line if len(line) <= width else line[: width - 3] + "..."


def jobs_table(rows: list[dict[str, Any]]) -> None:
    console = _console()
    if not rows:
        console.print("(no jobs)")
        return
    columns = ["job", "queue", "site", "created", "success", "inProgress", "failed", "retrying", "cancelled", "origin"]
    table = _table(None, columns)
    for index in (0, 1, 2, 9):
        table.columns[index].justify = "left"
    for row in rows:
        stats, detail = row["stats"], row["detail"]
        table.add_row(
            _cell(row["job_id"]), _cell(row["queue"]), _cell(row["installation"]), clock_text(row["created_at"]),
            str(stats["success"]), str(stats["inProgress"]), str(stats["failed"]), str(detail["retrying"]),
            str(detail["cancelled"]) + (" (job cancelled)" if row["cancelled_at"] is not None else ""), _cell(row["origin"]),
        )  # fmt: skip
    console.print(table)


def dropped_table(rows: list[dict[str, Any]], total: int) -> None:
    console = _console()
    if not rows:
        console.print(f"no entry at this --offset ({total} in all)" if total else "no dropped or lost event")
        return
    console.print(f"{plural(total, 'dropped or lost event')}")
    table = _table(None, ["event", "queue", "fate", "dropped at", "tries", "why", "last error", "replayed as"])
    for index in (0, 1, 2, 5, 6, 7):
        table.columns[index].justify = "left"
    for row in rows:
        replayed = ""
        if row["replayed_as"] is not None:
            replayed = f"#{row['replayed_as']}" + (f" ({row['replay_state']})" if row["replay_state"] else "")
        site = f" [{row['installation']}]" if row["installation"] != "site-1" else ""
        table.add_row(
            f"#{row['seq']}", _cell(row["queue"] + site), row["fate"], clock_text(row["dropped_at"]), str(row["attempts"]),
            _cell(_short(row["reason"], 60)), _cell(_short(row["last_error"], 70)), replayed,
        )  # fmt: skip
    console.print(table)
    console.print("every detail: forgeq inspect dropped --json; every attempt: forgeq inspect timeline EVENT", markup=False)


def job_timeline(data: dict[str, Any]) -> None:
    job = data["job"]
    stats = job["stats"]
    sys.stdout.write(
        f"job {job['job_id']} on {job['queue']} [{job['installation']}], pushed at {clock_text(job['created_at'])} ({job['origin']}): "
        f"success {stats['success']}, inProgress {stats['inProgress']}, failed {stats['failed']}"
        + (f", cancelled {job['detail']['cancelled']}" if job["detail"]["cancelled"] else "")
        + "\n"
    )
    for timeline in data["timelines"]:
        sys.stdout.write("\n")
        event_timeline(timeline)


def replayed(rows: list[dict[str, Any]], dry_run: bool) -> None:
    """`forgeq replay`: one line per event, what it was dropped for and what it became."""
    out = sys.stdout
    out.write(("would replay" if dry_run else "replayed") + f" {plural(len(rows), 'event')}:\n")
    for row in rows:
        site = f" [{row['installation']}]" if row["installation"] != "site-1" else ""
        line = f"  #{row['seq']} {row['queue']}{site}  {row['fate']} at {clock_text(row['dropped_at'])} after {plural(row['attempts'], 'attempt')}"
        if not dry_run:
            line += f"  -> #{row['new_seq']}"
        line += f"  ({_short(row['reason'], 60)})"
        if row["last_error"]:
            line += f"  last error: {_short(row['last_error'], 80)}"
        out.write(line + "\n")
    if dry_run:
        out.write("nothing was changed; run again without --dry-run to replay them\n")
    else:
        jobs = sorted({row["new_job_id"] for row in rows if row["new_job_id"]})
        if jobs:
            out.write(f"new job(s): {', '.join(jobs)}\n")
        out.write("`forgeq run` delivers them\n")


def exported(counts: dict[str, int], target: str) -> None:
    secrets = (
        f"; {plural(counts['secrets_left_out'], 'secret')} left out (--include-secrets keeps them)"
        if counts["secrets_left_out"]
        else (f"; {plural(counts['secrets'], 'secret')} included" if counts["secrets"] else "")
    )
    in_flight = f"; {plural(counts['in_flight'], 'attempt')} in flight exported as pending" if counts["in_flight"] else ""
    sys.stderr.write(
        f"exported {plural(counts['events'], 'event')} with {plural(counts['attempts'], 'attempt')}, {plural(counts['jobs'], 'job')}, "
        f"{plural(counts['dropped'], 'ledger entry')}, {plural(counts['keys'], 'key')}, {plural(counts['items'], 'entity item')}, "
        f"{plural(counts['quota_windows'], 'quota window')} to {target}"
        f"{secrets}{in_flight}\n"
    )


def imported(counts: dict[str, int], source: str, target: str) -> None:
    sys.stdout.write(
        f"imported {source} into {target}: {plural(counts.get('events', 0), 'event')}, {plural(counts.get('attempts', 0), 'attempt')}, "
        f"{plural(counts.get('jobs', 0), 'job')}, {plural(counts.get('ledger', 0), 'ledger entry')}, "
        f"{plural(counts.get('kvs', 0), 'key')}, {plural(counts.get('entities', 0), 'entity item')}, {plural(counts.get('quota_windows', 0), 'quota window')}\n"
    )


def reset_done(deleted: dict[str, int], target: str) -> None:
    held = ", ".join(f"{n} {table}" for table, n in sorted(deleted.items()) if n)
    sys.stdout.write(f"reset {target}: deleted {held or 'nothing (it was empty)'}\n")


def confirm(question: str) -> bool:
    """Ask on the terminal; a closed stdin answers no."""
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


# -- lint, init, doctor (forgeq/cli/lint.py, init.py, doctor.py) ----------------------------------------


def _styled(text: str, code: str, stream: TextIO) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if use_colour(stream) else text


def lint_findings(report: dict[str, Any]) -> None:
    """One block per finding: where, code and what; the Forge behaviour behind it; the fix."""
    out = sys.stdout
    findings = report["findings"]
    for finding in findings:
        where = finding["file"] + (f":{finding['line']}" if finding["line"] else "") + (f":{finding['column']}" if finding["line"] and finding["column"] else "")
        colour = "31" if finding["severity"] == "error" else "33"
        out.write(f"{where}: {_styled(finding['code'], '1;' + colour, out)} {finding['message']}\n")
        out.write(f"    forge: {finding['forge']}\n")
        out.write(f"    fix: {finding['fix']}\n")
    files = len(report["files"])
    silenced = f", {report['silenced']} silenced" if report["silenced"] else ""
    for kind in report.get("not_run", []):
        out.write(f"not run by forgeq: {kind}\n")
    if findings:
        out.write("silence a finding with `# forgeq: ignore[CODE]` (`// forgeq: ignore[CODE]` in JavaScript) on its line, or everywhere with --ignore CODE\n")
        errors = sum(1 for f in findings if f["severity"] == "error")
        out.write(f"{plural(len(findings), 'finding')} ({plural(errors, 'error')}, {plural(len(findings) - errors, 'warning')}) in {report['manifest']} and {plural(files, 'source file')}{silenced}\n")
    else:
        out.write(f"no findings: {report['manifest']} and {plural(files, 'source file')} look right{silenced}\n")


def plain(text: str) -> None:
    sys.stdout.write(text + "\n")


def lint_rules(rules: list[dict[str, str]]) -> None:
    out = sys.stdout
    for rule in rules:
        off = "  (off by default: --select it)" if not rule.get("default", True) else ""
        out.write(f"{_styled(rule['code'], '1', out)}  {rule['severity']:<7}  {rule['title']}{off}\n")
        out.write(f"    forge: {rule['forge']}\n    fix: {rule['fix']}\n")


def initialized(folder: str, files: list[str], next_steps: list[str]) -> None:
    out = sys.stdout
    out.write(f"created a Forge app in {folder}:\n")
    for name in files:
        out.write(f"  {name}\n")
    out.write("next:\n")
    for step in next_steps:
        out.write(f"  {step}\n")


def doctor(data: dict[str, Any]) -> None:
    """What this install emulates, its state file, its versions."""
    out = sys.stdout
    versions = data["versions"]
    out.write(f"forgeq {versions['forgeq']} on Python {versions['python']} ({data['platform']}), SQLite {versions['sqlite']}\n")
    out.write("  " + ", ".join(f"{name} {version}" for name, version in versions["packages"].items()) + "\n")
    state = data["state"]
    out.write(f"state file: {state['path']}")
    if state["exists"]:
        busy = "; a `forgeq run` is using it" if state.get("in_use") else ""
        out.write(f" ({_bytes(state['bytes'])}{busy})\n")
        if state.get("events") is not None:
            out.write(f"  {plural(state['events'], 'event')}, schema version {state.get('schema_version')}\n")
        if state.get("error"):
            out.write(f"  cannot be read: {state['error']}\n")
    else:
        out.write(" (not created yet: `forgeq push` or `forgeq run` creates it)\n")
    modules = data["modules"]
    out.write(f"module kinds run: {', '.join(modules['run'])}; and {modules['ui_resolvers']}\n")
    manifest = data.get("manifest")
    if manifest:
        out.write(f"manifest: {manifest['path']} ({manifest['status']})\n")
        if manifest.get("not_run"):
            out.write(f"  module kinds forgeq does not run: {', '.join(manifest['not_run'])}\n")
    packages = data.get("packages")
    if packages and packages["installed"]:
        out.write("@forge packages in node_modules:\n")
        for package in packages["installed"]:
            era = f": {package['era']}" if package.get("era") else ""
            out.write(f"  {package['name']} {package['version']} ({package['path']}){era}\n")
        for problem in packages["problems"]:
            out.write(f"  {_styled('problem', '1', out)}: {problem['name']} {problem['version']} ({problem['path']}) {problem['problem']}: {problem['fix']}\n")
    titles = {"exact": "emulated exactly", "approximate": "emulated approximately", "none": "not emulated"}
    for level in ("exact", "approximate", "none"):
        items = [item for item in data["fidelity"] if item["level"] == level]
        out.write(f"\n{_styled(titles[level], '1', out)} ({len(items)}):\n")
        for item in items:
            out.write(f"  - {item['area']}: {item['what']}")
            out.write(f" — {item['note']}\n" if item.get("note") else "\n")
    out.write(f"\nthe choices behind each line: {data['fidelity_doc']}\n")


def _bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def info(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def call_result(result: Any) -> None:
    """`forgeq webtrigger` / `forgeq invoke`: the attempt on stderr, the answer on stdout."""
    err = sys.stderr
    printer = TimelinePrinter(err, show_logs=True)
    printer.attempt(
        AttemptReport(
            result.seq, "", "site-1", result.kind, result.target, None, 1, 0, result.started_at, result.ended_at, result.outcome,
            None, result.error, notes=list(result.notes), logs=result.logs,
        )
    )  # fmt: skip
    for push in result.pushed:
        err.write(f"    pushed {plural(push['events'], 'event')} to {push['queue']} as job {push['job_id']}\n")
    out = sys.stdout
    if result.kind == "webtrigger":
        response = result.answer
        out.write(f"HTTP {response['statusCode']} {response['statusText']}".rstrip() + "\n")
        for name, values in response["headers"].items():
            for value in values:
                out.write(escape_surrogates(f"{printable(name)}: {printable(value)}\n"))
        body = escape_surrogates(printable(response["body"]))  # a handler's text may hold a lone surrogate
        out.write("\n" + body + ("\n" if body and not body.endswith("\n") else ""))
    elif result.ok:
        out.write(pretty(result.answer) + "\n")
    else:
        err.write(escape_surrogates(f"invoke('{printable(result.target)}') rejected: Error: {printable(result.answer['message'])}\n"))


# -- the fake product site -------------------------------------------------------------------------


def requests_table(rows: list[dict[str, Any]], total: int) -> None:
    """`inspect requests`: one line per product call."""
    console = _console()
    if not rows:
        console.print("no product request recorded" + (" with these filters" if total == 0 else ""))
        return
    console.print(plural(total, "product request") + (f", the first {len(rows)} listed" if len(rows) < total else ""))
    table = _table(None, ["time", "event", "try", "product", "as", "method", "path", "status", "Retry-After", "why"])
    for index in (3, 4, 5, 6, 9):
        table.columns[index].justify = "left"
    for row in rows:
        site = f" [{row['installation']}]" if row["installation"] != "site-1" else ""
        table.add_row(
            clock_text(row["at"]), f"#{row['event']}{site}", str(row["attempt"]), row["product"], _cell(row["principal"]), row["method"],
            _cell(_short(row["path"], 70)), str(row["status"]), seconds_text(row["retry_after"]) if row["retry_after"] is not None else "",
            _cell(row["reason"] or ""),
        )  # fmt: skip
    console.print(table)


def _change_text(entry: dict[str, Any]) -> str:
    action = entry.get("action", "changed")
    items = entry.get("items") or []
    parts = [action]
    for item in items:
        before = item.get("fromString") if item.get("fromString") is not None else item.get("from")
        after = item.get("toString") if item.get("toString") is not None else item.get("to")
        parts.append(f"{item.get('field')}: {json.dumps(before, ensure_ascii=False) if before is not None else '-'} -> {json.dumps(after, ensure_ascii=False) if after is not None else '-'}")
    for name in ("comment", "property", "version", "link"):
        if entry.get(name) is not None:
            parts.append(f"{name} {entry[name]}")
    return "; ".join(parts)


def _history(history: list[dict[str, Any]], out: TextIO) -> None:
    out.write("history:\n")
    for entry in history:
        who = entry.get("actor_name") or entry.get("actor") or "-"
        out.write(f"  {clock_text(entry['at'])}  {printable(_change_text(entry))}  by {printable(str(who))}  ({printable(entry['source'])})\n")


def site_issue(view: dict[str, Any]) -> None:
    """`inspect site issue KEY`: the issue's main fields, comments, properties, then its history."""
    out = sys.stdout
    if view["deleted"]:
        out.write(f"issue {view['key']} [{view['installation']}] was deleted\n")
        _history(view["history"], out)
        return
    issue = view["issue"]
    fields = issue["fields"]
    out.write(f"issue {issue['key']} (id {issue['id']}) [{view['installation']}]\n")
    out.write(f"  summary   {printable(str(fields.get('summary')))}\n")
    out.write(f"  status    {(fields.get('status') or {}).get('name')}   type {(fields.get('issuetype') or {}).get('name')}   priority {(fields.get('priority') or {}).get('name')}\n")
    for name in ("assignee", "reporter"):
        person = fields.get(name)
        out.write(f"  {name:<9} {printable(person['displayName']) + ' (' + person['accountId'] + ')' if person else '-'}\n")
    out.write(f"  labels    {', '.join(fields.get('labels') or []) or '-'}\n")
    out.write(f"  created   {fields.get('created')}   updated {fields.get('updated')}\n")
    links = [
        f"{link['type']['outward']} {link['outwardIssue']['key']}" if "outwardIssue" in link else f"{link['type']['inward']} {link['inwardIssue']['key']}"
        for link in fields.get("issuelinks") or ()
    ]
    if links:
        out.write(f"  links     {printable('; '.join(links))}\n")
    if fields.get("timespent"):
        from forgeq.emulator.platform.site.jira_worklogs import duration_text

        out.write(f"  logged    {duration_text(int(fields['timespent']))}\n")
    custom = {name: value for name, value in fields.items() if name.startswith("customfield_")}
    for name, value in custom.items():
        out.write(f"  {name} {printable(json.dumps(value, ensure_ascii=False))[:200]}\n")
    comments = fields["comment"]["comments"]
    out.write(f"  comments  {len(comments)}\n")
    for comment in comments:
        from forgeq.emulator.platform.site.shapes import plain

        author = (comment.get("author") or {}).get("displayName", "-")
        out.write(f"    #{comment['id']} {printable(author)}: {printable(plain(comment.get('body')))[:120]}\n")
    for name, value in view["properties"].items():
        out.write(f"  property  {printable(name)} = {printable(json.dumps(value, ensure_ascii=False))[:200]}\n")
    _history(view["history"], out)


def site_page(view: dict[str, Any]) -> None:
    out = sys.stdout
    page = view["page"]
    out.write(f"page {page.get('id')} [{view['installation']}]  {printable(str(page.get('title')))}\n")
    out.write(f"  space {(page.get('space') or {}).get('key')}   status {page.get('status')}   version {(page.get('version') or {}).get('number')}\n")
    body = ((page.get("body") or {}).get("storage") or {}).get("value")
    if body:
        out.write(f"  body  {printable(body)[:200]}\n")
    for name, value in view["properties"].items():
        out.write(f"  property  {printable(name)} = {printable(json.dumps(value, ensure_ascii=False))[:200]}\n")
    _history(view["history"], out)


def site_issues(installation: str, issues: list[dict[str, Any]]) -> None:
    console = _console()
    console.print(f"issues on the site of {installation}: {len(issues)}")
    table = _table(None, ["key", "status", "labels", "summary", "updated"])
    for index in (0, 1, 2, 3):
        table.columns[index].justify = "left"
    for item in issues:
        table.add_row(item["key"], _cell(item["status"] or ""), _cell(", ".join(item["labels"])), _cell(_short(item["summary"], 60)), clock_text(item["updated_at"]))
    console.print(table)
