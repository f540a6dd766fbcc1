"""A read-only look at a state file for `forgeq doctor`: never creates, migrates or locks it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from forgeq.emulator.store import schema


def probe(path: Path) -> dict[str, Any]:
    """{exists, bytes, schema_version, events, error}; bytes include the -wal and -shm files."""
    sizes = [p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.is_file()]
    found: dict[str, Any] = {
        "exists": path.is_file(),
        "bytes": sum(sizes),
        "schema_version": None,
        "events": None,
        "error": None,
    }
    if not found["exists"]:
        return found
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error as error:
        found["error"] = str(error)
        return found
    try:
        found["schema_version"] = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "events" in tables:
            found["events"] = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        if found["schema_version"] > schema.SCHEMA_VERSION:
            found["error"] = (
                f"written by a newer forgeq (schema {found['schema_version']}; this one reads {schema.SCHEMA_VERSION})"
            )
    except sqlite3.Error as error:
        found["error"] = f"not a forgeq state file ({error})"
    finally:
        conn.close()
    return found
