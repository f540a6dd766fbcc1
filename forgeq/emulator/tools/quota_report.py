"""`forgeq inspect quota`: storage quota and push-limit use per window, from the state file.

Shapes documented in docs/json.md ("inspect quota"). One-second windows (the 2025 request rate) are
many and mostly quiet: unless `all_windows`, only those that refused a call are listed; the
per-metric totals still cover every window.
"""

from __future__ import annotations

from typing import Any

from forgeq.emulator.store import Store

QUIET_WINDOW_SECONDS = 1.0


def quota_report(
    store: Store, installation: str | None = None, metric: str | None = None, all_windows: bool = False
) -> dict[str, Any]:
    windows = []
    hidden = 0
    for row in store.quota_windows(installation, metric):
        if not all_windows and row["window_seconds"] <= QUIET_WINDOW_SECONDS and not row["refused"]:
            hidden += 1
            continue
        windows.append(
            {
                "installation": row["installation"],
                "metric": row["metric"],
                "window_start": row["window_start"],
                "window_end": row["window_start"] + row["window_seconds"],
                "window_seconds": row["window_seconds"],
                "used": row["used"],
                "limit": row["quota"],
                "refused": row["refused"],
            }
        )
    totals = [
        {
            "installation": peak["installation"],
            "metric": peak["metric"],
            "window_seconds": peak["window_seconds"],
            "peak": peak["used"],
            "limit": peak["quota"],
            "refused": peak["refused"],
            "windows": peak["windows"],
        }
        for peak in store.quota_peaks()
        if (installation is None or peak["installation"] == installation)
        and (metric is None or peak["metric"] == metric)
    ]
    return {"windows": windows, "totals": totals, "hidden_quiet_windows": hidden}
