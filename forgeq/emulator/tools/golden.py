"""Golden timelines: a run's attempts and key-value changes as JSON, compared with a later run.

The document leaves out everything that depends on the machine (wall-clock durations, logs) and
writes times as seconds since the app was created, so it is the same on every machine for one
seed. One attempt per line keeps a diff readable: a changed retry shows as one line out, one in.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

from forgeq.jsontext import escape_surrogates

FORMAT = "forgeq-golden/1"
MAX_DIFF_LINES = 60

_ATTEMPT_FIELDS = (
    "event", "kind", "target", "installation", "attempt", "retry_count", "outcome", "reason", "error",
    "retry_after_asked", "retry_after_applied", "quota_refusals", "storage_calls",
)  # fmt: skip


class GoldenMismatch(AssertionError):
    """The run differs from its golden file; the message holds a unified diff."""


def _time(value: float | None, origin: float) -> float | None:
    return None if value is None else round(value - origin, 6)


def document(
    *,
    seed: int,
    origin: float,
    attempts: list[dict[str, Any]],
    kvs_before: dict[str, dict[str, Any]],
    kvs_after: dict[str, dict[str, Any]],
    dropped: list[dict[str, Any]],
) -> dict[str, Any]:
    timeline = []
    for row in attempts:
        item = {
            name: round(row[name], 6) if isinstance(row[name], float) else row[name]
            for name in _ATTEMPT_FIELDS
        }
        item["at"] = _time(row["started_at"], origin)
        item["ended"] = _time(row["ended_at"], origin)
        item["next_at"] = _time(row["next_at"], origin)
        item["retry_context"] = json.loads(row["retry_context"]) if row["retry_context"] else None
        item["notes"] = row["notes"].split("\n") if row["notes"] else []
        timeline.append(item)
    return {
        "format": FORMAT,
        "seed": seed,
        "attempts": timeline,
        "kvs": kvs_changes(kvs_before, kvs_after),
        "dropped": [
            {
                "event": row["event"],
                "target": row["target"],
                "drop_reason": row["drop_reason"],
                "last_error": row["last_error"],
                "at": _time(row["dropped_at"], origin),
            }
            for row in dropped
        ],
    }


def kvs_changes(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per installation: keys set (new or changed, with their value) and keys deleted. Secrets as digests."""
    changes: dict[str, dict[str, Any]] = {}
    for installation in sorted(set(before) | set(after)):
        old, new = before.get(installation, {}), after.get(installation, {})
        written = {
            key: _shown(key, value)
            for key, value in sorted(new.items())
            if key not in old or old[key] != value
        }
        deleted = sorted(key for key in old if key not in new)
        if written or deleted:
            changes[installation] = {"set": written, "deleted": deleted}
    return changes


def _shown(key: str, value: Any) -> Any:
    if key.startswith("secret/"):
        return "sha256:" + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
    return value


def dumps(doc: dict[str, Any]) -> str:
    """Pretty JSON with one attempt, one dropped event and one key per line."""

    def line(value: Any) -> str:
        return escape_surrogates(json.dumps(value, ensure_ascii=False, sort_keys=False))

    out = ["{", f'  "format": {line(doc["format"])},', f'  "seed": {line(doc["seed"])},', '  "attempts": [']
    out += [
        f"    {line(item)}{',' if i < len(doc['attempts']) - 1 else ''}"
        for i, item in enumerate(doc["attempts"])
    ]
    out += ["  ],", '  "kvs": {']
    sites = list(doc["kvs"].items())
    for index, (site, change) in enumerate(sites):
        out.append(f"    {line(site)}: {{")
        out.append('      "set": {')
        written = list(change["set"].items())
        out += [
            f"        {line(k)}: {line(v)}{',' if i < len(written) - 1 else ''}"
            for i, (k, v) in enumerate(written)
        ]
        out.append("      },")
        out.append(f'      "deleted": {line(change["deleted"])}')
        out.append("    }" + ("," if index < len(sites) - 1 else ""))
    out += ["  },", '  "dropped": [']
    out += [
        f"    {line(item)}{',' if i < len(doc['dropped']) - 1 else ''}"
        for i, item in enumerate(doc["dropped"])
    ]
    out += ["  ]", "}"]
    return "\n".join(out) + "\n"


def assert_matches(doc: dict[str, Any], path: Path, *, update: bool) -> None:
    """Write `path` when updating or when it is missing; otherwise raise GoldenMismatch on a difference."""
    __tracebackhide__ = True  # pytest: show the test's line, not this one
    text = dumps(doc)
    if update or not path.exists():
        if not path.exists() and not update:
            warnings.warn(f"forgeq: wrote a new golden timeline {path}; check it in", stacklevel=3)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    recorded_text = path.read_text(encoding="utf-8")
    try:
        recorded = json.loads(recorded_text)
    except json.JSONDecodeError as error:
        raise GoldenMismatch(
            f"{path} is not JSON ({error}); rerun with --forge-update-golden (or FORGEQ_UPDATE_GOLDEN=1) to rewrite it"
        ) from None
    if recorded == json.loads(text):
        return
    raise GoldenMismatch(_explain(recorded, doc, dumps(recorded), text, path))


def _explain(
    recorded: dict[str, Any], current: dict[str, Any], recorded_text: str, current_text: str, path: Path
) -> str:
    lines = [f"the run differs from the golden timeline {path}:"]
    old, new = recorded.get("attempts", []), current["attempts"]
    if len(old) != len(new):
        lines.append(f"  attempts: {len(old)} recorded, {len(new)} now")
    for index, (a, b) in enumerate(zip(old, new, strict=False)):
        if a != b:
            fields = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            what = ", ".join(f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in fields[:4])
            lines.append(
                f"  first difference at attempt line {index + 1} (event #{b.get('event')} attempt {b.get('attempt')}): {what}"
            )
            break
    if recorded.get("kvs") != current["kvs"]:
        lines.append("  key-value changes differ")
    if recorded.get("dropped") != current["dropped"]:
        lines.append(f"  dropped: {len(recorded.get('dropped', []))} recorded, {len(current['dropped'])} now")
    diff = list(
        difflib.unified_diff(
            recorded_text.splitlines(), current_text.splitlines(), "golden", "this run", lineterm="", n=1
        )
    )
    if len(diff) > MAX_DIFF_LINES:
        diff = diff[:MAX_DIFF_LINES] + [f"... ({len(diff) - MAX_DIFF_LINES} more diff lines)"]
    lines += diff
    lines.append(
        "if the change is intended, rerun with --forge-update-golden (or FORGEQ_UPDATE_GOLDEN=1) to accept it"
    )
    return "\n".join(lines)
