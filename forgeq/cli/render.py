"""All terminal output. The only module that imports rich (and only where a table needs it).

The live timeline is plain text with ANSI colours written straight to stdout: it runs once per
attempt on the hot path, and must stay readable without colour (NO_COLOR, a pipe, a file).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, TextIO

from forgeq.emulator import limits
from forgeq.emulator.timeline import AttemptReport, Notice

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


def wall() -> float:
    return time.perf_counter()


def use_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def clock_text(at: float) -> str:
    """Virtual times as the offset from the emulator's epoch (+1d 02:03:04.050); real ones as wall time."""
    offset = at - limits.VIRTUAL_EPOCH
    if 0 <= offset < 10 * 365 * 86400:
        days, rest = divmod(offset, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        text = f"{int(hours):02d}:{int(minutes):02d}:{seconds:06.3f}"
        return f"+{int(days)}d {text}" if days else f"+{text}"
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


def seconds_text(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}s"


class TimelinePrinter:
    """One line per attempt: time, queue, event, attempt, outcome, then what happens next and why."""

    def __init__(self, stream: TextIO, show_logs: bool = False) -> None:
        self.stream = stream
        self.colour = use_colour(stream)
        self.show_logs = show_logs

    def _paint(self, text: str, style: str) -> str:
        code = _COLOURS.get(style)
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and code else text

    def attempt(self, report: AttemptReport) -> None:
        site = f" [{report.installation}]" if report.installation != "site-1" else ""
        parts = [
            clock_text(report.started_at),
            f"{report.target}{site}",
            f"#{report.seq}",
            f"try {report.attempt}",
            self._paint(f"{report.outcome:<9}", report.outcome),
        ]
        if report.outcome in ("retry", "error", "timeout"):
            if report.retry_after_asked is not None and report.retry_after_asked != report.retry_after_applied:
                parts.append(f"asked {seconds_text(report.retry_after_asked)} applied {seconds_text(report.retry_after_applied)}")
            else:
                parts.append(f"retry in {seconds_text(report.retry_after_applied)}")
            if report.next_at is not None:
                parts.append(f"at {clock_text(report.next_at)}")
            if report.reason:
                parts.append(report.reason)
        if report.drop_reason:
            parts.append(report.drop_reason)
        if report.error:
            parts.append(f"- {report.error}")
        if report.quota_refusals:
            parts.append(self._paint(f"[quota: {report.quota_refusals} storage call(s) refused 429]", "warning"))
        lines = ["  ".join(parts)]
        lines.extend(f"    note: {note}" for note in report.notes)
        if self.show_logs and report.logs:
            lines.extend(f"    | {line}" for line in report.logs.rstrip("\n").split("\n"))
        self.stream.write("\n".join(lines) + "\n")

    def notice(self, notice: Notice) -> None:
        self.stream.write(f"{clock_text(notice.at)}  {self._paint(notice.level.upper(), notice.level)}  {notice.text}\n")

    def close(self) -> None:
        self.stream.flush()


class ProgressPrinter:
    """`--quiet`: one line, rewritten in place on a terminal, printed once at the end otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.counts: dict[str, int] = {}
        self.last_draw = 0.0
        self.now = 0.0

    def attempt(self, report: AttemptReport) -> None:
        self.counts[report.outcome] = self.counts.get(report.outcome, 0) + 1
        self.now = report.ended_at
        if self.live and time.perf_counter() - self.last_draw > 0.1:
            self.last_draw = time.perf_counter()
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def _line(self) -> str:
        counts = "  ".join(f"{name} {n}" for name, n in sorted(self.counts.items()))
        return f"{clock_text(self.now)}  attempts {sum(self.counts.values())}  {counts}"

    def notice(self, notice: Notice) -> None:
        if notice.level != "info":
            self.stream.write(("\n" if self.live else "") + f"{clock_text(notice.at)}  {notice.level.upper()}  {notice.text}\n")

    def close(self) -> None:
        self.stream.write(("\r" if self.live else "") + self._line() + "\n")
        self.stream.flush()


def timeline_printer(show_logs: bool = False) -> TimelinePrinter:
    return TimelinePrinter(sys.stdout, show_logs)


def progress_printer() -> ProgressPrinter:
    return ProgressPrinter(sys.stdout)


def warn(text: str) -> None:
    sys.stderr.write(f"forgeq: warning: {text}\n")


def faults_injected(counts: dict[str, int]) -> None:
    """`run --faults`: one line saying what the scenario did (forgeq/emulator/faults.py)."""
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
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _console() -> Any:
    from rich.console import Console

    width = None if sys.stdout.isatty() else 200  # a pipe or a file gets whole columns
    return Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False, soft_wrap=False, width=width)


def _table(title: str | None, columns: list[str]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in columns:
        table.add_column(column, justify="left" if column in ("queue", "trigger", "key", "value", "error", "state", "event") else "right")
    return table


def queue_table(queues: dict[str, dict[str, int]], now: float, triggers: dict[str, dict[str, int]] | None = None) -> None:
    from forgeq.emulator.store.sqlite import QUEUE_COUNT_NAMES

    console = _console()
    console.print(f"queues at {clock_text(now)}")
    if not queues and not triggers:
        console.print("  (no events)")
        return
    table = _table(None, ["queue", *QUEUE_COUNT_NAMES])
    for name in sorted(queues):
        table.add_row(name, *(str(queues[name].get(c, 0)) for c in QUEUE_COUNT_NAMES))
    for name in sorted(triggers or {}):
        assert triggers is not None
        table.add_row(f"{name} (trigger)", *(str(triggers[name].get(c, 0)) for c in QUEUE_COUNT_NAMES))
    console.print(table)


def summary(data: dict[str, Any]) -> None:
    console = _console()
    events = data["events"]
    triggers = data["triggers"]
    console.print()
    console.print(
        f"summary: {events['pushed']} events pushed, {events['succeeded']} succeeded, {events['retried']} retried, "
        f"{events['dropped']} dropped, {events['pending']} pending"
        + (f", {events['blocked']} blocked" if events["blocked"] else "")
        + (f"; triggers: {triggers['invocations']} invoked, {triggers['lost']} lost" if triggers["invocations"] else "")
    )
    console.print(f"  {data['attempts']} attempts this run; drained in {_duration(data['drain_virtual_seconds'])} virtual, {data['drain_wall_seconds']:.2f}s wall")
    if data["attempts_histogram"]:
        console.print("  attempts per finished event: " + ", ".join(f"{k}: {v}" for k, v in data["attempts_histogram"].items()))
    for quota in data.get("quota_peaks", []):
        console.print(f"  peak storage use [{quota['installation']}]: {quota['metric']} {quota['used']}/{quota['quota']} in one window")
    for item in data["top_errors"]:
        console.print(f"  {item['count']:>6} × {item['error']}")
    for item in data["drop_reasons"]:
        console.print(f"  dropped {item['count']:>6} × {item['reason']}")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def pushed(result: dict[str, Any]) -> None:
    for warning in result.get("warnings", []):
        warn(warning)
    sys.stdout.write(
        f"pushed {result['count']} event(s) to {result['queue']} [{result['installation']}] as job {result['job_id']} "
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
        table.add_row(f"#{row['seq']}", row["queue"], state, str(row["attempts"]), str(row["retry_count"]), clock_text(row["available_at"]), row["last_error"] or "")
    console.print(table)


def event_timeline(data: dict[str, Any]) -> None:
    event = data["event"]
    out = sys.stdout
    out.write(f"event #{event['seq']} {event['event_id']} on {event['queue']} [{event['installation']}] job {event['job_id']}\n")
    out.write(f"  state {event['state']}, {event['attempts']} attempt(s), {event['retry_count']} retr{'y' if event['retry_count'] == 1 else 'ies'}\n")
    out.write(f"  body {json.dumps(event['body'], ensure_ascii=False)[:200]}\n")
    for attempt in data["attempts"]:
        line = f"  {clock_text(attempt['started_at'])}  try {attempt['attempt']}  {attempt['outcome']}"
        if attempt["retry_after_applied"] is not None:
            line += f"  retry in {seconds_text(attempt['retry_after_applied'])}"
            if attempt["retry_after_asked"] is not None and attempt["retry_after_asked"] != attempt["retry_after_applied"]:
                line += f" (asked {seconds_text(attempt['retry_after_asked'])})"
        if attempt["reason"]:
            line += f"  {attempt['reason']}"
        if attempt["error"]:
            line += f"  - {attempt['error']}"
        out.write(line + "\n")
        if attempt["retry_context"]:
            out.write(f"      retryContext {json.dumps(attempt['retry_context'], ensure_ascii=False)}\n")
        for note in attempt["notes"]:
            out.write(f"      note: {note}\n")
    if event["state"] == "dropped" and event["last_error"]:
        out.write(f"  dropped: {event['last_error']}\n")


def kvs_table(installation: str, keys: list[dict[str, Any]]) -> None:
    console = _console()
    console.print(f"key-value store of {installation}: {len(keys)} key(s)")
    table = _table(None, ["key", "value", "updated"])
    for item in keys:
        value = json.dumps(item["value"], ensure_ascii=False)
        table.add_row(item["key"], value if len(value) <= 80 else value[:77] + "...", clock_text(item["updated_at"]))
    console.print(table)
