"""What `forgeq report` reads: the whole state aggregated into time bins, never row by row.

A mixin of `Store` (see sqlite.py). Every query here groups in SQL, so the report's size depends
on the number of bins, queues and quota series (all capped), not on the number of attempts: a
state with a million attempts gives a report as small as one with a thousand.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from forgeq.emulator.store import counts, schema

if TYPE_CHECKING:
    from forgeq.emulator.store.report_data import Lane, QuotaSeries, ReportData

# Attempt outcomes as the loop stores them (forgeq/emulator/loop/timeline.py), bottom to top of a bar.
OUTCOME_ORDER = ("succeeded", "retry", "error", "timeout", "dropped", "lost")
# Outcomes after which the event waits out a retry delay (attempts.next_at).
RETRYING_OUTCOMES = ("retry", "error", "timeout")

DEFAULT_BINS = 160
DEFAULT_LANE_CAP = 8
DEFAULT_QUOTA_CAP = 6
DEFAULT_DROPPED_CAP = 200
DEFAULT_HISTOGRAM_CAP = 30
DEFAULT_ERRORS_CAP = 10
# Bodies and errors are cut to this many characters in the dropped table.
TEXT_CAP = 300


ATTEMPTS_CAP = 5  # attempts listed under each dropped event, the first two and the last ones (v1 makes 5, v2 hundreds)


class ReportQueries:
    """Aggregations for the HTML report (forgeq/emulator/tools/report.py draws them)."""

    conn: sqlite3.Connection

    def report_data(
        self,
        *,
        bins: int = DEFAULT_BINS,
        lane_cap: int = DEFAULT_LANE_CAP,
        quota_cap: int = DEFAULT_QUOTA_CAP,
        dropped_cap: int = DEFAULT_DROPPED_CAP,
        histogram_cap: int = DEFAULT_HISTOGRAM_CAP,
        errors_cap: int = DEFAULT_ERRORS_CAP,
        since: float | None = None,
        until: float | None = None,
    ) -> ReportData:
        """The report's figures over the active span (the first push to the last attempt), or over
        [since, until]: the time charts draw that span; the tallies and tables cover the state."""
        # One read transaction: a consistent snapshot even while `forgeq run` commits (WAL).
        self.conn.execute("BEGIN")
        try:
            return self._report_data(bins, lane_cap, quota_cap, dropped_cap, histogram_cap, errors_cap, since, until)
        finally:
            self.conn.execute("ROLLBACK")

    def _report_data(
        self, bins: int, lane_cap: int, quota_cap: int, dropped_cap: int, histogram_cap: int, errors_cap: int,
        since: float | None = None, until: float | None = None,
    ) -> ReportData:  # fmt: skip
        from forgeq.emulator.store.report_data import ReportData

        start, end = self._report_span()
        start, end = since if since is not None else start, until if until is not None else end
        if end <= start:
            end = start + 1.0
        span = max(end - start, 1.0)
        bin_seconds = span / bins
        clock_row = self.conn.execute("SELECT value FROM meta WHERE key = 'clock'").fetchone()
        now_row = self.conn.execute("SELECT value FROM meta WHERE key = 'virtual_now'").fetchone()
        lanes, hidden = self._report_lanes(start, bin_seconds, bins, lane_cap)
        histogram, capped = self._report_histogram(histogram_cap)
        quota, quota_total, windows_total = self._report_quota(start, bin_seconds, bins, quota_cap)
        dropped_total = int(self.conn.execute("SELECT count(*) FROM ledger").fetchone()[0])
        return ReportData(
            start=start,
            end=start + span,
            bins=bins,
            bin_seconds=bin_seconds,
            clock=str(clock_row[0]) if clock_row else "virtual",
            now=float(now_row[0]) if now_row else None,
            totals=self._report_totals(),
            outcomes=dict(
                self.conn.execute("SELECT outcome, count(*) FROM attempts GROUP BY outcome").fetchall()
            ),
            lanes=lanes,
            hidden_lanes=hidden,
            histogram=histogram,
            histogram_capped=capped,
            top_errors=[
                (str(text), int(count))
                for text, count in self.conn.execute(
                    "SELECT coalesce(error, reason, outcome), count(*) FROM attempts WHERE outcome != 'succeeded' "
                    "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
                    (errors_cap,),
                )
            ],
            quota=quota,
            quota_series_total=quota_total,
            quota_windows_total=windows_total,
            dropped=self._report_dropped(dropped_cap),
            dropped_total=dropped_total,
            drop_reasons=[
                (str(reason), int(count))
                for reason, count in self.conn.execute(
                    "SELECT drop_reason, count(*) FROM ledger GROUP BY drop_reason ORDER BY 2 DESC, 1"
                )
            ],
            drain_seconds=self._report_drain(),
        )

    def _report_drain(self) -> float | None:
        row = self.conn.execute(
            f"SELECT min(enqueued_at), max(finished_at), sum(state IN ({schema.PENDING}, {schema.RUNNING}, {schema.BLOCKED})) "
            "FROM events WHERE kind != 'product'"
        ).fetchone()
        if row[0] is None or row[1] is None or row[2]:
            return None
        return float(row[1]) - float(row[0])

    def _report_span(self) -> tuple[float, float]:
        """The active span: from the first push to the last attempt's end or the last event's finish.
        A quota window's tail, a retry never taken or the idle rest of `run --for 7d` would stretch the
        charts until the import they are about is one bar."""
        row = self.conn.execute(
            "SELECT min(t0), max(t1) FROM ("
            "SELECT min(enqueued_at) AS t0, max(coalesce(finished_at, enqueued_at)) AS t1 FROM events WHERE kind != 'product' "
            "UNION ALL SELECT min(started_at), max(ended_at) FROM attempts)"
        ).fetchone()
        if row[0] is None:
            return 0.0, 1.0
        return float(row[0]), float(row[1])

    def _report_totals(self) -> dict[str, int]:
        totals = dict.fromkeys(
            (
                "pushed",
                "succeeded",
                "retried",
                "dropped",
                "waiting",
                "cancelled",
                "blocked",
                "trigger_invocations",
                "trigger_retried",
                "trigger_waiting",
                "trigger_lost",
            ),
            0,
        )
        for (kind, state, retried), count in counts.kind_state_counts(self.conn).items():
            if kind in ("product", *schema.CALL_KINDS):
                continue
            if kind == "queue":
                totals["pushed"] += count
                totals["retried"] += count if retried else 0
                name = {
                    schema.SUCCEEDED: "succeeded",
                    schema.DROPPED: "dropped",
                    schema.CANCELLED: "cancelled",
                    schema.BLOCKED: "blocked",
                }.get(state, "waiting")
                totals[name] += count
            else:
                totals["trigger_invocations"] += count
                totals["trigger_retried"] += count if retried else 0
                totals["trigger_lost"] += count if state == schema.DROPPED else 0
                totals["trigger_waiting"] += count if state not in (schema.SUCCEEDED, schema.DROPPED) else 0
        row = self.conn.execute(
            "SELECT count(*), coalesce(sum(quota_refusals), 0), coalesce(sum(storage_calls), 0) FROM attempts"
        ).fetchone()
        totals["attempts"], totals["quota_refusals"], totals["storage_calls"] = (
            int(row[0]),
            int(row[1]),
            int(row[2]),
        )
        row = self.conn.execute("SELECT count(*), coalesce(sum(status = 429), 0) FROM site_requests").fetchone()
        totals["product_calls"], totals["product_refusals"] = int(row[0]), int(row[1])
        # The quota chart's refusals, per limit: storage calls refused 429, pushes over 500 per minute.
        row = self.conn.execute(
            "SELECT coalesce(sum(refused) FILTER (WHERE metric != 'pushed_events'), 0), "
            "coalesce(sum(refused) FILTER (WHERE metric = 'pushed_events'), 0) FROM quota_windows"
        ).fetchone()
        totals["storage_refused"], totals["pushes_refused"] = int(row[0]), int(row[1])
        return totals

    def _report_lanes(self, start: float, bin_seconds: float, bins: int, cap: int) -> tuple[list[Lane], int]:
        from forgeq.emulator.store.report_data import Lane

        """The busiest `cap` queues get a lane each; past the cap, the rest share one lane."""
        # Ranked by events.attempts (no join); the lanes count the attempt rows themselves below.
        ranked = self.conn.execute(
            "SELECT kind, target, count(*), sum(attempts) FROM events WHERE kind != 'product' "
            "GROUP BY 1, 2 ORDER BY 4 DESC, 3 DESC, 1, 2"
        ).fetchall()
        keep = ranked if len(ranked) <= cap else ranked[: cap - 1]
        lanes: dict[tuple[str, str], Lane] = {}
        for kind, target, events, _attempts in keep:
            label = target if kind == "queue" else f"{target} ({kind})"
            lanes[(kind, target)] = Lane(kind, target, label, events=events)
        hidden = len(ranked) - len(keep)
        other = None
        if hidden:
            other = Lane("other", "", f"{hidden} other queues and triggers", merged=hidden)
            other.events = sum(row[2] for row in ranked[len(keep) :])

        def lane_of(kind: str, target: str) -> Lane | None:
            return lanes.get((kind, target), other)

        bin_sql = "min(?, max(0, CAST((({column}) - ?) / ? AS INTEGER)))"
        args = (bins - 1, start, bin_seconds)
        attempts_sql = (
            f"SELECT e.kind, e.target, {bin_sql.format(column='a.started_at')}, a.outcome, count(*) "
            "FROM attempts a JOIN events e ON e.id = a.event WHERE a.started_at >= ? AND a.started_at < ? GROUP BY 1, 2, 3, 4"
        )
        for kind, target, index, outcome, count in self.conn.execute(attempts_sql, (*args, start, start + bin_seconds * bins)):
            lane = lane_of(kind, target)
            if lane is None:
                continue
            cell = lane.bins.setdefault(index, {})
            cell[outcome] = cell.get(outcome, 0) + count
            lane.outcomes[outcome] = lane.outcomes.get(outcome, 0) + count
            lane.attempts += count

        every = [*lanes.values(), *([other] if other else [])]
        enqueued = {id(lane): [0] * bins for lane in every}
        finished = {id(lane): [0] * bins for lane in every}
        backoff_in = {id(lane): [0] * bins for lane in every}
        backoff_out = {id(lane): [0] * bins for lane in every}
        deltas = (
            (
                enqueued,
                f"SELECT kind, target, {bin_sql.format(column='enqueued_at')}, count(*) FROM events WHERE kind != 'product' GROUP BY 1, 2, 3",
            ),
            (
                finished,
                f"SELECT kind, target, {bin_sql.format(column='finished_at')}, count(*) FROM events "
                "WHERE kind != 'product' AND finished_at IS NOT NULL GROUP BY 1, 2, 3",
            ),
        )
        for target_table, sql in deltas:
            for kind, target, index, count in self.conn.execute(sql, args):
                lane = lane_of(kind, target)
                if lane is not None:
                    target_table[id(lane)][index] += count
        # Retry delays: from the end of an attempt to the time its retry is due (one scan for both).
        backoff_sql = (
            f"SELECT e.kind, e.target, {bin_sql.format(column='a.ended_at')}, {bin_sql.format(column='a.next_at')}, count(*) "
            f"FROM attempts a JOIN events e ON e.id = a.event WHERE a.next_at IS NOT NULL AND a.outcome IN {RETRYING_OUTCOMES!r} "
            "GROUP BY 1, 2, 3, 4"
        )
        for kind, target, began, due, count in self.conn.execute(backoff_sql, args + args):
            lane = lane_of(kind, target)
            if lane is not None:
                backoff_in[id(lane)][began] += count
                backoff_out[id(lane)][due] += count
        for lane in every:
            waiting = backing = 0
            for index in range(bins):
                waiting += enqueued[id(lane)][index] - finished[id(lane)][index]
                backing += backoff_in[id(lane)][index] - backoff_out[id(lane)][index]
                lane.depth.append(waiting)
                # A retry delay can outlast the event (it was cancelled, or dropped by a crash).
                lane.backing_off.append(max(0, min(backing, waiting)))
        return every, hidden

    def _report_histogram(self, cap: int) -> tuple[list[tuple[int, int, int]], bool]:
        rows = self.conn.execute(
            f"SELECT min(attempts, ?), sum(state = {schema.SUCCEEDED}), sum(state = {schema.DROPPED}) FROM events "
            f"WHERE state IN ({schema.SUCCEEDED}, {schema.DROPPED}) AND kind != 'product' GROUP BY 1 ORDER BY 1",
            (cap,),
        ).fetchall()
        capped = bool(self.conn.execute(
            f"SELECT 1 FROM events WHERE state IN ({schema.SUCCEEDED}, {schema.DROPPED}) AND kind != 'product' AND attempts > ? LIMIT 1",
            (cap,),
        ).fetchone())  # fmt: skip
        return [(int(a), int(s), int(d)) for a, s, d in rows], capped

    def _report_quota(
        self, start: float, bin_seconds: float, bins: int, cap: int
    ) -> tuple[list[QuotaSeries], int, int]:
        """Quota series, the closest to their limit first; past the cap, the rest are counted only."""
        from forgeq.emulator.store.report_data import QuotaSeries

        summary = self.conn.execute(
            "SELECT installation, metric, max(window_seconds), max(quota), count(*), max(used), sum(refused), "
            "sum(quota IS NOT NULL AND used >= quota) FROM quota_windows GROUP BY 1, 2 "
            "ORDER BY sum(refused) > 0 DESC, max(CAST(used AS REAL) / coalesce(nullif(quota, 0), 1e18)) DESC, sum(used) DESC, 1, 2"
        ).fetchall()
        windows_total = sum(int(row[4]) for row in summary)
        series = [
            QuotaSeries(
                str(i), str(m), float(w), None if q is None else int(q), int(n), int(p), int(r), int(at or 0)
            )
            for i, m, w, q, n, p, r, at in summary[:cap]
        ]
        wanted = {(s.installation, s.metric): s for s in series}
        if wanted:
            rows = self.conn.execute(
                "SELECT installation, metric, min(?, max(0, CAST((window_start - ?) / ? AS INTEGER))), min(window_start), "
                "max(used), sum(refused) FROM quota_windows WHERE window_start + window_seconds > ? AND window_start < ? GROUP BY 1, 2, 3",
                (bins - 1, start, bin_seconds, start, start + bin_seconds * bins),
            )
            for installation, metric, index, window_start, used, refused in rows:
                found = wanted.get((installation, metric))
                if found is not None:
                    found.bins[int(index)] = (float(window_start), int(used), int(refused))
        return series, len(summary), windows_total

    def _report_dropped(self, cap: int) -> list[dict[str, Any]]:
        # The issue key, where the body or the product payload holds one (json_valid: a body can be any JSON text).
        issue_key = (
            "CASE WHEN json_valid(e.body) THEN coalesce(json_extract(e.body, '$.issueKey'), json_extract(e.body, '$.issue.key'), "
            "json_extract(e.body, '$.payload.issueKey'), json_extract(e.body, '$.body.issueKey')) END"
        )
        cursor = self.conn.execute(
            "SELECT l.event AS seq, e.event_id, e.installation, e.kind, e.target, e.job_id, substr(e.body, 1, ?) AS body, "
            "length(e.body) AS body_length, e.enqueued_at, l.dropped_at, l.drop_reason, substr(l.last_error, 1, ?) AS last_error, "
            f"l.replayed_as, e.attempts, e.retry_count, {issue_key} AS issue_key FROM ledger l JOIN events e ON e.id = l.event "
            "ORDER BY l.dropped_at, l.event LIMIT ?",
            (TEXT_CAP, TEXT_CAP, cap),
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor]
        for row in rows:  # each dropped event's attempts for the table: the first two and the last three
            picked = self.conn.execute(
                "SELECT * FROM (SELECT attempt, started_at, outcome, substr(coalesce(error, reason, ''), 1, 80) FROM attempts "
                "WHERE event = ? ORDER BY attempt LIMIT 2) UNION SELECT * FROM (SELECT attempt, started_at, outcome, "
                "substr(coalesce(error, reason, ''), 1, 80) FROM attempts WHERE event = ? ORDER BY attempt DESC LIMIT ?) ORDER BY 1",
                (row["seq"], row["seq"], ATTEMPTS_CAP - 2),
            )
            row["tries"] = [{"attempt": a, "started_at": t, "outcome": o, "why": why} for a, t, o, why in picked]
        return rows
