"""What the storage quotas and the platform limits read from the state.

A mixin of `Store` (see sqlite.py). Usage is written by `Store.commit` from `WriteBatch.quota`:
one row per (installation, metric, window start), with the units used, the calls refused and the
limit in force.
"""

from __future__ import annotations

import sqlite3
from typing import Any

_WINDOW_COLUMNS = ("installation", "metric", "window_start", "window_seconds", "used", "refused", "quota")


# Per installation and metric: the fullest window, its quota, the calls refused, the windows (quota_peaks).
_PEAKS = "SELECT installation, metric, max(used), max(quota), sum(refused), count(*), max(window_seconds)"


class QuotaStore:
    conn: sqlite3.Connection

    def quota_used(self, installation: str, metric: str, window_start: float) -> int:
        row = self.conn.execute(
            "SELECT used FROM quota_windows WHERE installation = ? AND metric = ? AND window_start = ?",
            (installation, metric, window_start),
        ).fetchone()
        return 0 if row is None else int(row[0])

    def quota_windows(
        self, installation: str | None = None, metric: str | None = None, since: float | None = None
    ) -> list[dict[str, Any]]:
        """Recorded windows in time order (then installation, metric)."""
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("installation", installation), ("metric", metric)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            clauses.append("window_start >= ?")
            args.append(since)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        cursor = self.conn.execute(
            f"SELECT {', '.join(_WINDOW_COLUMNS)} FROM quota_windows{where} ORDER BY window_start, installation, metric",
            args,
        )
        return [dict(zip(_WINDOW_COLUMNS, row, strict=True)) for row in cursor]

    def open_quota_windows(self, at: float) -> dict[tuple[str, str, float], tuple[int, int]]:
        """The windows open at `at` (one per installation and metric), with their units used and
        calls refused: what a run that starts at `at` finds there before its first call."""
        cursor = self.conn.execute(
            "SELECT installation, metric, window_start, used, refused FROM quota_windows "
            "WHERE window_start <= ? AND window_start + window_seconds > ?",
            (at, at),
        )
        return {(row[0], row[1], row[2]): (row[3], row[4]) for row in cursor}

    def quota_peaks(
        self, since: float | None = None, found: dict[tuple[str, str, float], tuple[int, int]] | None = None
    ) -> list[dict[str, Any]]:
        """Per installation and metric: the fullest window, and the calls refused in all windows
        (with `since`: the windows still open at that time or later, as a run's summary counts them;
        with `found`, what open_quota_windows(since) said when the run started: a window the run
        did not touch is left out, and its earlier refusals are not the run's)."""
        names = ("installation", "metric", "used", "quota", "refused", "windows", "window_seconds")
        if since is None or found is None:
            where = " WHERE window_start + window_seconds > ?" if since is not None else ""
            cursor = self.conn.execute(
                f"{_PEAKS} FROM quota_windows{where} GROUP BY installation, metric ORDER BY installation, metric",
                [since] if since is not None else [],
            )
            return [dict(zip(names, row, strict=True)) for row in cursor]
        peaks: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self.conn.execute(
            f"{_PEAKS} FROM quota_windows WHERE window_start > ? GROUP BY installation, metric",
            (since,),
        ):
            peaks[(row[0], row[1])] = dict(zip(names, row, strict=True))
        for installation, metric, start, used, refused, quota, seconds in self.conn.execute(
            "SELECT installation, metric, window_start, used, refused, quota, window_seconds FROM quota_windows "
            "WHERE window_start <= ? AND window_start + window_seconds > ?",
            (since, since),
        ):
            used_before, refused_before = found.get((installation, metric, start), (0, 0))
            if (used, refused) == (used_before, refused_before):
                continue
            peak = peaks.setdefault(
                (installation, metric),
                {"installation": installation, "metric": metric, "used": 0, "quota": quota, "refused": 0, "windows": 0, "window_seconds": seconds},
            )
            peak["used"] = max(peak["used"], used)
            if quota is not None:  # as SQL's max(quota), which passes over NULL
                peak["quota"] = quota if peak["quota"] is None else max(peak["quota"], quota)
            peak["refused"] += refused - refused_before
            peak["windows"] += 1
            peak["window_seconds"] = max(peak["window_seconds"], seconds)
        return [peaks[key] for key in sorted(peaks)]

    def tree_pushes(self, root_id: int) -> int:
        """Push requests made so far by handlers in the invocation tree started by event `root_id`
        (each handler push is one job; events_by_root indexes the pushed events)."""
        row = self.conn.execute(
            "SELECT count(DISTINCT job_id) FROM events WHERE root_id = ? AND parent_id IS NOT NULL AND job_id IS NOT NULL",
            (root_id,),
        ).fetchone()
        return int(row[0])
