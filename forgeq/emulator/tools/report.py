"""The HTML report: the run's pictures as one self-contained file (inline SVG, inline CSS, no script).

Pure functions from `ReportData` (aggregated in SQL by store/report_queries.py) to a string. Why
inline SVG written here rather than a plotting library: see docs/report.md. In short, no
dependency, a file of tens of kilobytes that opens offline, and a size bounded by the bins and
caps, not by the number of attempts (one path per queue and outcome, not one shape per attempt).

Every string that comes from the state (queue names, errors, bodies, installations) goes through
`esc`; the page also carries a Content-Security-Policy that forbids scripts and network access.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable

from forgeq.emulator.store.report_data import QuotaSeries, ReportData
from forgeq.emulator.store.report_queries import OUTCOME_ORDER

COLOURS = {
    # Okabe-Ito, readable with the common colour-vision deficiencies; retry (blue) and error (orange)
    # differ in hue and lightness for every kind of colour blindness, dropped is near-black, lost grey.
    "succeeded": "#009E73",
    "retry": "#0072B2",
    "error": "#E69F00",
    "timeout": "#CC79A7",
    "dropped": "#1B1B1B",
    "lost": "#8C8C8C",
}
OUTCOME_HELP = {
    "succeeded": "the handler returned",
    "retry": "returned an InvocationError: retried after its retryAfter",
    "error": "threw: retried with the platform's backoff",
    "timeout": "ran past timeoutSeconds: retried with the platform's backoff",
    "dropped": "the last attempt: the event went to the dropped-event ledger",
    "lost": "a trigger's last attempt: the event is lost",
}
BACKLOG = "#56B4E9"
BACKING_OFF = COLOURS["retry"]
LIMIT = "#A50F15"
WIDTH = 960
LEFT = 56
RIGHT = 16
PLOT = WIDTH - LEFT - RIGHT
LANE_HEIGHT = 54
DEPTH_HEIGHT = 46
QUOTA_HEIGHT = 54
AXIS_HEIGHT = 22
NICE_STEPS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
)

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1b1b1b;
  background: #fafafa; margin: 0; }
main { max-width: 960px; margin: 0 auto; padding: 20px 16px 40px; }
h1 { font-size: 22px; margin: 0 0 2px; }
h2 { font-size: 16px; margin: 28px 0 4px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
p { margin: 4px 0; }
.sub, .note { color: #555; font-size: 12.5px; }
.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(118px, 1fr)); gap: 8px; margin: 14px 0 4px; }
.stat { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 6px 10px; }
.stat b { display: block; font-size: 19px; font-variant-numeric: tabular-nums; }
.stat span { color: #555; font-size: 12px; }
.stat.bad b { color: #A50F15; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12.5px; margin: 4px 0 6px; }
.dash { display: inline-block; width: 16px; border-top: 2px dashed #A50F15; vertical-align: 3px; margin-right: 4px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; vertical-align: -1px; margin-right: 4px; }
svg { display: block; max-width: 100%; height: auto; background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; fill: #333; }
svg .lane-label { font-size: 12px; }
svg .lane-label .name { font-weight: 600; }
svg .muted { fill: #777; }
svg .bad { fill: #A50F15; }
table.fixed { table-layout: fixed; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 12.5px; margin-top: 6px; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { word-break: break-word; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
td code, .mono { font: 11.5px ui-monospace, "DejaVu Sans Mono", monospace; }
td code.body { color: #555; font-size: 11px; display: block; white-space: pre-wrap; word-break: break-all; margin-top: 4px; }
details summary { cursor: pointer; color: #0072B2; font-size: 12px; }
ol.tries { margin: 4px 0; padding-left: 18px; font-size: 12px; }
.empty { background: #fff; border: 1px dashed #ccc; border-radius: 6px; padding: 14px; color: #555; }
footer { margin-top: 32px; color: #777; font-size: 12px; }
"""
CSS += "".join(f"ol.tries .o-{name} {{ color: {colour}; }}\n" for name, colour in COLOURS.items())


def esc(value: object) -> str:
    """Text from the state, safe in HTML text, attributes and inline SVG."""
    return html.escape(str(value), quote=True)


def render_report(data: ReportData, *, title: str, source: str) -> str:
    """The whole page. `title` names the app, `source` the state file; both are escaped here."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Defence in depth on top of escaping: no script runs and nothing is fetched, ever.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>forgeq report: {esc(title)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        _header(data, title, source),
        '<section id="timeline"><h2>Attempts over time, per queue</h2>',
        _timeline(data),
        "</section>",
        '<section id="depth"><h2>Queue depth over time</h2>',
        _depth(data),
        "</section>",
        '<section id="quota"><h2>Quota use per window, against its limit</h2>',
        _quota(data),
        "</section>",
        '<section id="histogram"><h2>Attempts per event</h2>',
        _histogram(data),
        "</section>",
        '<section id="errors"><h2>Why attempts failed</h2>',
        _errors(data),
        "</section>",
        '<section id="dropped"><h2>Dropped events</h2>',
        _dropped(data),
        "</section>",
        f"<footer>Written by <b>forgeq report</b> from {esc(source)}. One file, no scripts, nothing fetched: "
        "it opens offline and can be attached to an issue. Times are offsets from the first push.</footer>",
        "</main></body></html>",
        "",
    ]
    return "\n".join(parts)


# -- header ------------------------------------------------------------------------------------


def _header(data: ReportData, title: str, source: str) -> str:
    totals = data.totals
    clock = "virtual clock" if data.clock == "virtual" else "real clock"
    started = dt.datetime.fromtimestamp(data.start, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    drain = data.drain_seconds
    stats = [
        ("pushed", "queue events pushed", totals["pushed"], False),
        ("succeeded", "succeeded", totals["succeeded"], False),
        ("retried", "retried", totals["retried"], False),
        ("dropped", "dropped", totals["dropped"], totals["dropped"] > 0),
        ("attempts", "attempts", totals["attempts"], False),
    ]
    for key, label in (("waiting", "still waiting"), ("blocked", "blocked"), ("cancelled", "cancelled")):
        if totals[key]:
            stats.append((key, label, totals[key], key == "blocked"))
    if totals["trigger_invocations"]:
        # The timeline's retries and the histogram's second attempts include the triggers': so do the cards.
        stats.append(("trigger_invocations", "trigger invocations", totals["trigger_invocations"], False))
        stats.append(("trigger_retried", "triggers retried", totals["trigger_retried"], False))
        stats.append(("trigger_lost", "lost by triggers", totals["trigger_lost"], totals["trigger_lost"] > 0))
        if totals["trigger_waiting"]:
            stats.append(("trigger_waiting", "triggers still waiting", totals["trigger_waiting"], False))
    # The same counts as the quota chart below: storage calls refused (429) and pushes over the push limit.
    stats.append(("storage_refused", "storage calls refused", totals["storage_refused"], totals["storage_refused"] > 0))
    stats.append(("pushes_refused", "pushes refused", totals["pushes_refused"], totals["pushes_refused"] > 0))
    if totals.get("product_calls"):
        stats.append(("product_calls", "product calls", totals["product_calls"], False))
        stats.append(("product_refusals", "product calls refused (429)", totals["product_refusals"], totals["product_refusals"] > 0))
    tiles = "".join(
        f'<div class="stat{" bad" if bad else ""}" data-stat="{key}"><b>{value:,}</b><span>{esc(label)}</span></div>'
        for key, label, value, bad in stats
    )
    drain_tile = (
        f'<div class="stat" data-stat="drain"><b>{_duration(drain)}</b><span title="from the first push to the last event finished">drain time</span></div>'
        if drain is not None
        else ""
    )
    return (
        f"<header><h1>forgeq report: {esc(title)}</h1>"
        f'<p class="sub">State <span class="mono">{esc(source)}</span> · {clock} · '
        f"from {started} ({_offset(0)}) to {_offset(data.end - data.start)}: the active span, from the first push to the last attempt "
        "(<code>forgeq report --since T --until T</code> draws another)</p>"
        f'<div class="stats">{tiles}{drain_tile}</div></header>'
    )


# -- the time axis ----------------------------------------------------------------------------


def _x(data: ReportData, seconds_from_start: float) -> float:
    return LEFT + PLOT * seconds_from_start / (data.end - data.start)


def _ticks(span: float) -> tuple[float, list[float]]:
    step = next(
        (s for s in NICE_STEPS if span / s <= 10), NICE_STEPS[-1] * math.ceil(span / NICE_STEPS[-1] / 10)
    )
    return step, [step * i for i in range(int(span // step) + 1)]


def _axis(data: ReportData, top: float, bottom: float) -> str:
    """Vertical grid lines from `top` to `bottom`, and offset labels under `bottom`."""
    _step, ticks = _ticks(data.end - data.start)
    out = []
    for tick in ticks:
        x = _x(data, tick)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#ececec"/>')
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" class="muted">{_offset(tick)}</text>'
        )
    return "".join(out)


def _offset(seconds: float) -> str:
    """One format for every time on the page, the timeline's without its milliseconds: +00:35:00, +1d 02:00:00."""
    whole = int(round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"+{days}d {clock}" if days else f"+{clock}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _window(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _svg(height: float, body: Iterable[str], label: str, width: float = WIDTH) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="{esc(label)}">{"".join(body)}</svg>'
    )


def _bar_path(bars: list[tuple[float, float, float, float]]) -> str:
    """Many rectangles as one path: (x, y, width, height) each."""
    return "".join(f"M{x:.1f} {y:.1f}h{w:.1f}v{h:.1f}h{-w:.1f}z" for x, y, w, h in bars)


# -- attempts timeline --------------------------------------------------------------------------


def _timeline(data: ReportData) -> str:
    lanes = [lane for lane in data.lanes if lane.attempts]
    if not lanes:
        return '<p class="empty" id="timeline-empty">No attempt yet: push events and run <code>forgeq run --until-idle</code>.</p>'
    legend = "".join(
        f'<span data-outcome="{name}" data-count="{data.outcomes.get(name, 0)}" title="{esc(OUTCOME_HELP[name])}">'
        f'<i class="swatch" style="background:{COLOURS[name]}"></i>{name} {data.outcomes.get(name, 0):,}</span>'
        for name in OUTCOME_ORDER
        if data.outcomes.get(name) or name in ("succeeded", "retry", "dropped")
    )
    others = sorted(set(data.outcomes) - set(OUTCOME_ORDER))
    legend += "".join(
        f'<span data-outcome="{esc(name)}">{esc(name)} {data.outcomes[name]:,}</span>' for name in others
    )
    band = LANE_HEIGHT + 20
    height = 8 + band * len(lanes) + AXIS_HEIGHT
    bin_width = PLOT / data.bins
    body = [_axis(data, 8, height - AXIS_HEIGHT)]
    for row, lane in enumerate(lanes):
        top = 8 + row * band
        baseline = top + 18 + LANE_HEIGHT
        totals = {index: sum(cell.values()) for index, cell in lane.bins.items()}
        scale = _lane_scale(list(totals.values()))
        cut_bars = sorted((i for i in totals if totals[i] > scale), key=lambda i: -totals[i])
        cut = ""
        if cut_bars:
            shown = ", ".join(
                f"{totals[i]:,} at {_offset(i * data.bin_seconds)}" for i in sorted(cut_bars[:3])
            )
            cut = f" · cut bars: {shown}{' and more' if len(cut_bars) > 3 else ''}"
        body.append(
            f'<text x="{LEFT}" y="{top + 12}" class="lane-label"><tspan class="name">{esc(lane.label)}</tspan>'
            f'<tspan class="muted"> · {lane.attempts:,} attempts on {lane.events:,} events · '
            f"scale 0 to {scale:,} per {_duration(data.bin_seconds)}{cut}</tspan></text>"
        )
        body.append(f'<line x1="{LEFT}" y1="{baseline}" x2="{LEFT + PLOT}" y2="{baseline}" stroke="#bbb"/>')
        body.append(
            f'<text x="{LEFT - 6}" y="{baseline - LANE_HEIGHT + 8}" text-anchor="end" class="muted">{scale:,}</text>'
        )
        body.append(f'<text x="{LEFT - 6}" y="{baseline}" text-anchor="end" class="muted">0</text>')
        stacked = dict.fromkeys(lane.bins, 0.0)
        names = [
            *OUTCOME_ORDER,
            *sorted({o for cell in lane.bins.values() for o in cell} - set(OUTCOME_ORDER)),
        ]
        for outcome in names:
            bars = []
            count = 0
            for index in sorted(lane.bins):
                n = lane.bins[index].get(outcome, 0)
                if not n:
                    continue
                count += n
                # A cut bar keeps its proportions: its stack fills the lane.
                h = LANE_HEIGHT * n / max(scale, totals[index])
                y = baseline - stacked[index] - h
                stacked[index] += h
                bars.append((LEFT + index * bin_width + 0.3, y, max(bin_width - 0.6, 0.8), h))
            if bars:
                body.append(
                    f'<path class="bars" data-lane="{esc(lane.label)}" data-outcome="{esc(outcome)}" data-count="{count}" '
                    f'fill="{COLOURS.get(outcome, "#999")}" d="{_bar_path(bars)}"><title>{esc(lane.label)}: {count:,} {esc(outcome)}</title></path>'
                )
        for index in cut_bars:
            # A white notch marks a bar cut at the top of the scale; the lane label gives its count.
            x = LEFT + index * bin_width
            body.append(
                f'<rect class="cut" x="{x:.1f}" y="{baseline - LANE_HEIGHT + 5}" width="{bin_width:.1f}" height="2.5" fill="#fff">'
                f"<title>{totals[index]:,} attempts</title></rect>"
            )
    note = (
        f'<p class="note">Each bar counts the attempts that started in one {_duration(data.bin_seconds)} slice of the run; '
        "each queue has its own scale, and a bar far taller than the rest is cut (notched; its count is in the queue's label). "
        "Hover a colour for its total.</p>"
    )
    if data.hidden_lanes:
        note += (
            f'<p class="note">The {data.hidden_lanes} least busy queues and triggers share the last lane.</p>'
        )
    return f'<div class="legend">{legend}</div>' + _svg(height, body, "attempts over time per queue") + note


def _lane_scale(totals: list[int]) -> int:
    """The top of a lane's scale: the tallest bar, unless a few bars dwarf the rest (a burst of
    first attempts next to a long tail of retries); then the 90th percentile, so the tail shows."""
    if not totals:
        return 1
    ordered = sorted(totals)
    tallest = ordered[-1]
    rest = ordered[: len(ordered) - max(1, len(ordered) // 20)]
    if not rest:
        return tallest
    typical = rest[int(0.9 * (len(rest) - 1))]
    if tallest <= 3 * typical:
        return tallest
    return max(1, math.ceil(typical * 1.5))


# -- queue depth -----------------------------------------------------------------------------


def _depth(data: ReportData) -> str:
    lanes = [lane for lane in data.lanes if any(lane.depth)]
    if not lanes:
        return '<p class="empty" id="depth-empty">No event has waited in a queue yet.</p>'
    band = DEPTH_HEIGHT + 20
    height = 8 + band * len(lanes) + AXIS_HEIGHT
    body = [_axis(data, 8, height - AXIS_HEIGHT)]
    for row, lane in enumerate(lanes):
        top = 8 + row * band
        baseline = top + 18 + DEPTH_HEIGHT
        peak = max(lane.depth)
        peak_at = lane.depth.index(peak)
        body.append(
            f'<text x="{LEFT}" y="{top + 12}" class="lane-label" data-lane="{esc(lane.label)}" data-peak="{peak}">'
            f'<tspan class="name">{esc(lane.label)}</tspan><tspan class="muted"> · peak {peak:,} waiting at '
            f"{_offset((peak_at + 1) * data.bin_seconds)} · {max(lane.backing_off):,} at most in a retry delay</tspan></text>"
        )
        body.append(f'<line x1="{LEFT}" y1="{baseline}" x2="{LEFT + PLOT}" y2="{baseline}" stroke="#bbb"/>')
        body.append(
            f'<text x="{LEFT - 6}" y="{baseline - DEPTH_HEIGHT + 8}" text-anchor="end" class="muted">{peak:,}</text>'
        )
        body.append(f'<text x="{LEFT - 6}" y="{baseline}" text-anchor="end" class="muted">0</text>')
        for series, colour, name in (
            (lane.depth, BACKLOG, "waiting"),
            (lane.backing_off, BACKING_OFF, "in a retry delay"),
        ):
            if any(series):
                body.append(
                    f'<path class="area" data-series="{name}" fill="{colour}" '
                    f'd="{_step_area(data, series, peak, baseline)}"><title>{esc(lane.label)}: events {name}</title></path>'
                )
    legend = (
        f'<div class="legend"><span><i class="swatch" style="background:{BACKLOG}"></i>waiting: pushed and not yet finished</span>'
        f'<span><i class="swatch" style="background:{BACKING_OFF}"></i>of which in a retry delay</span></div>'
    )
    note = f'<p class="note">Sampled at the end of each {_duration(data.bin_seconds)} slice.</p>'
    return legend + _svg(height, body, "queue depth over time") + note


def _step_area(data: ReportData, series: list[int], peak: int, baseline: float) -> str:
    scale = DEPTH_HEIGHT / max(peak, 1)
    width = PLOT / data.bins
    points = [f"M{LEFT} {baseline}"]
    for index, value in enumerate(series):
        y = baseline - value * scale
        points.append(f"V{y:.1f}H{LEFT + (index + 1) * width:.1f}")
    points.append(f"V{baseline}Z")
    return "".join(points)


# -- quota -----------------------------------------------------------------------------------


def _quota(data: ReportData) -> str:
    if not data.quota:
        return (
            '<p class="empty" id="quota-empty">No storage quota window was recorded in this state: the app made no storage '
            "call, or ran with storage limits off.</p>"
        )
    band = QUOTA_HEIGHT + 20
    height = 8 + band * len(data.quota) + AXIS_HEIGHT
    body = [_axis(data, 8, height - AXIS_HEIGHT)]
    for row, series in enumerate(data.quota):
        body.append(_quota_row(data, series, 8 + row * band))
    legend = (
        f'<div class="legend"><span><i class="swatch" style="background:{BACKLOG}"></i>peak use of one window in the slice</span>'
        f'<span><i class="swatch" style="background:{LIMIT}"></i>a window that refused calls</span>'
        f'<span><i class="dash"></i>limit</span></div>'
    )
    note = f'<p class="note">{data.quota_windows_total:,} windows recorded in {data.quota_series_total:,} series.'
    if data.quota_series_total > len(data.quota):
        note += f" The {data.quota_series_total - len(data.quota)} series farthest from their limit are not drawn (forgeq inspect quota lists them)."
    return legend + _svg(height, body, "quota use per window") + note + "</p>"


def _quota_row(data: ReportData, series: QuotaSeries, top: float) -> str:
    baseline = top + 18 + QUOTA_HEIGHT
    ceiling = max(series.quota or 0, series.peak_used, 1) * 1.08
    scale = QUOTA_HEIGHT / ceiling
    bin_width = PLOT / data.bins
    window_width = PLOT * series.window_seconds / (data.end - data.start)
    fine: list[tuple[float, float, float, float]] = []
    refused: list[tuple[float, float, float, float]] = []
    for index, (window_start, used, refusals) in sorted(series.bins.items()):
        h = used * scale
        if window_width > bin_width:
            # Windows longer than a slice: draw each window over its whole span.
            x, w = _x(data, window_start - data.start), window_width
        else:
            x, w = LEFT + index * bin_width, bin_width
        (refused if refusals else fine).append((x + 0.3, baseline - h, max(w - 0.6, 0.8), h))
    limit = f"limit {series.quota:,}" if series.quota is not None else "no limit"
    share = f" ({100 * series.peak_used / series.quota:.0f}%)" if series.quota else ""
    label = (
        f'<text x="{LEFT}" y="{top + 12}" class="lane-label" data-installation="{esc(series.installation)}" '
        f'data-metric="{esc(series.metric)}" data-refused="{series.refused}"><tspan class="name">{esc(series.installation)} · '
        f'{esc(series.metric)}</tspan><tspan class="muted"> · {_window(series.window_seconds)} windows · {limit} · '
        f"peak {series.peak_used:,}{share} · {series.refused:,} refused · {series.windows_at_limit:,} window{'' if series.windows_at_limit == 1 else 's'} at the limit</tspan></text>"
    )
    out = [label, f'<line x1="{LEFT}" y1="{baseline}" x2="{LEFT + PLOT}" y2="{baseline}" stroke="#bbb"/>']
    if fine:
        out.append(f'<path fill="{BACKLOG}" d="{_bar_path(fine)}"/>')
    if refused:
        out.append(
            f'<path fill="{LIMIT}" d="{_bar_path(refused)}"><title>windows that refused calls</title></path>'
        )
    if series.quota is not None:
        y = baseline - series.quota * scale
        out.append(
            f'<line class="limit" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PLOT}" y2="{y:.1f}" stroke="{LIMIT}" stroke-dasharray="5 3"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="muted">{series.quota:,}</text>'
        )
    out.append(f'<text x="{LEFT - 6}" y="{baseline}" text-anchor="end" class="muted">0</text>')
    return "".join(out)


# -- attempts histogram ----------------------------------------------------------------------


def _histogram(data: ReportData) -> str:
    if not data.histogram:
        return '<p class="empty" id="histogram-empty">No event has finished yet.</p>'
    height = 190
    top, baseline = 24, 150
    columns = data.histogram[-1][0]
    slot = min(PLOT / columns, 90)
    tallest = max(s + d for _a, s, d in data.histogram)
    scale = (baseline - top) / tallest
    body = [f'<line x1="{LEFT}" y1="{baseline}" x2="{LEFT + slot * columns}" y2="{baseline}" stroke="#bbb"/>']
    for attempts, succeeded, dropped in data.histogram:
        x = LEFT + (attempts - 1) * slot + slot * 0.15
        w = slot * 0.7
        label = f"{attempts}+" if data.histogram_capped and attempts == columns else str(attempts)
        y = float(baseline)
        for count, colour, name in (
            (succeeded, COLOURS["succeeded"], "succeeded"),
            (dropped, COLOURS["dropped"], "dropped"),
        ):
            if count:
                h = count * scale
                y -= h
                body.append(
                    f'<rect class="hist" data-attempts="{label}" data-final="{name}" data-count="{count}" x="{x:.1f}" y="{y:.1f}" '
                    f'width="{w:.1f}" height="{h:.1f}" fill="{colour}"><title>{count:,} events {name} after {label} '
                    f"attempt{'s' if attempts > 1 else ''}</title></rect>"
                )
        of_which = f'<tspan class="bad"> ({dropped:,} dropped)</tspan>' if dropped else ""
        # The last column's count ends at its bar's right edge: centred, "30 (30 dropped)" ran off the picture.
        anchor, at = ("end", x + w) if attempts == columns and of_which else ("middle", x + w / 2)
        body.append(
            f'<text x="{at:.1f}" y="{y - 4:.1f}" text-anchor="{anchor}">{succeeded + dropped:,}{of_which}</text>'
        )
        body.append(
            f'<text x="{x + w / 2:.1f}" y="{baseline + 15}" text-anchor="middle" class="muted">{label}</text>'
        )
    body.append(
        f'<text x="{LEFT + slot * columns / 2:.1f}" y="{baseline + 32}" text-anchor="middle" class="muted">attempts</text>'
    )
    legend = (
        f'<div class="legend"><span><i class="swatch" style="background:{COLOURS["succeeded"]}"></i>finished: succeeded</span>'
        f'<span><i class="swatch" style="background:{COLOURS["dropped"]}"></i>finished: dropped or lost</span></div>'
    )
    note = '<p class="note">Finished events only (succeeded, dropped or lost), by the number of attempts they took.</p>'
    width = min(WIDTH, max(440, LEFT + slot * columns + RIGHT + 90))
    return legend + _svg(height, body, "attempts per event", width) + note


# -- tables ----------------------------------------------------------------------------------


def _errors(data: ReportData) -> str:
    if not data.top_errors:
        return '<p class="empty" id="errors-empty">No attempt failed.</p>'
    rows = "".join(
        f'<tr><td class="n">{count:,}</td><td class="text">{esc(text)}</td></tr>'
        for text, count in data.top_errors
    )
    reasons = ""
    if data.drop_reasons:
        items = "; ".join(f"{esc(reason)}: {count:,}" for reason, count in data.drop_reasons)
        reasons = f'<p class="note">Why events were dropped: {items}.</p>'
    return f'<table id="errors-table"><thead><tr><th class="n">attempts</th><th>error, or the retry reason returned</th></tr></thead><tbody>{rows}</tbody></table>{reasons}'


def _dropped(data: ReportData) -> str:
    if not data.dropped_total:
        return '<p class="empty" id="dropped-empty">No event was dropped.</p>'
    replays = any(row["replayed_as"] is not None for row in data.dropped)
    columns = [
        ("n", "#", "56px"),
        ("", "issue · queue · installation", "190px"),
        ("n", "attempts", "74px"),
        ("", "pushed → dropped", "190px"),
        ("", "why, and the last error", ""),
    ]
    if replays:
        columns.append(("", "replayed as", "86px"))
    colgroup = "".join(f'<col style="width:{width}">' if width else "<col>" for _c, _t, width in columns)
    head = "".join(
        f'<th class="{css}">{title}</th>' if css else f"<th>{title}</th>" for css, title, _w in columns
    )
    rows = []
    for row in data.dropped:
        body = str(row["body"])
        if row["body_length"] > len(body):
            body += f"… ({row['body_length']:,} characters)"
        issue = f'<b>{esc(row["issue_key"])}</b><br>' if row.get("issue_key") else ""
        shown = row.get("tries", [])
        items = []
        for index, t in enumerate(shown):
            if index and t["attempt"] > shown[index - 1]["attempt"] + 1:
                skipped = t["attempt"] - shown[index - 1]["attempt"] - 1
                items.append(f"<li class=\"gap\">… {skipped:,} more: <code>forgeq inspect timeline {row['seq']}</code></li>")
            items.append(
                f'<li value="{t["attempt"]}"><span class="time">{_offset(t["started_at"] - data.start)}</span> '
                f'<b class="o-{esc(t["outcome"])}">{esc(t["outcome"])}</b> {esc(t["why"])}</li>'
            )
        tries = "".join(items)
        cells = [
            f'<td class="n">{row["seq"]}</td>',
            f'<td class="text">{issue}{esc(row["target"])}<br><span class="sub">{esc(row["installation"])}</span></td>',
            f'<td class="n">{row["attempts"]}</td>',
            f'<td class="time">{_offset(row["enqueued_at"] - data.start)} → {_offset(row["dropped_at"] - data.start)}</td>',
            f'<td class="text">{esc(row["drop_reason"])}<br><span class="sub">{esc(row["last_error"] or "")}</span>'
            f'<details><summary>its {row["attempts"]} attempts and body</summary><ol class="tries">{tries}</ol>'
            f'<code class="body" title="{esc(row["event_id"])}">{esc(body)}</code></details></td>',
        ]
        if replays:
            cells.append(
                f"<td>{'#' + str(row['replayed_as']) if row['replayed_as'] is not None else ''}</td>"
            )
        rows.append(f'<tr data-seq="{row["seq"]}">{"".join(cells)}</tr>')
    note = f'<p class="note" id="dropped-count">{data.dropped_total:,} dropped events'
    if data.dropped_total > len(data.dropped):
        note += f"; the first {len(data.dropped):,} are listed (the whole ledger: <code>forgeq inspect dropped --json</code>)"
    note += ". Replay them once the handler is fixed: <code>forgeq replay --dropped</code>.</p>"
    return (
        f'{note}<table id="dropped-table" class="fixed"><colgroup>{colgroup}</colgroup><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
