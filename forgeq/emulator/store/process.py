"""SQLite's process-wide settings: what a command that owns the whole process may change.

The launcher's `forgeq run` and `forgeq push` (forgeq/launcher.py) call `quiet_memory_statistics()`
before anything opens a connection. SQLite keeps memory statistics by default
(SQLITE_CONFIG_MEMSTATUS): every allocation and free inside SQLite then takes a mutex and updates
counters, about 3% of a delivery's instructions (bench/README.md, round 5). forgeq reads none of those statistics, and SQLite's own list of
recommended options turns them off (https://sqlite.org/compile.html#default_memstatus).

Python's sqlite3 module initialises SQLite when it is imported, and SQLite takes this setting only
while uninitialised: so `sqlite3_shutdown()`, the setting, and SQLite initialises again at the next
open. A shutdown is allowed only while no connection is open anywhere in the process, so this is
for a command's first step, never for the library (`ForgeApp`, the pytest plugin), whose process
may hold connections of its own. Where the library Python uses cannot be reached (SQLite built
into the interpreter, another platform), nothing changes.
"""

from __future__ import annotations

import sqlite3
from typing import Any

_SQLITE_CONFIG_MEMSTATUS = 9
_done = False


def quiet_memory_statistics() -> bool:
    """Turn SQLite's memory statistics off for this process; True if they are off. Call it before any
    connection is opened (see the module's docstring)."""
    global _done
    if _done:
        return True
    library = linked_library()
    if library is None:
        return False
    import ctypes

    if library.sqlite3_shutdown() != 0:
        return False
    _done = bool(library.sqlite3_config(_SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0)) == 0)
    library.sqlite3_initialize()
    return _done


def linked_library() -> Any:
    """The SQLite library Python's sqlite3 module runs on, through ctypes; None when it is built into
    the module (loading the system's library would then configure another copy) or not found."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            if not any("/libsqlite3.so" in line for line in maps):
                return None
        import ctypes

        library = ctypes.CDLL("libsqlite3.so.0")  # the copy already loaded: the same handle
        major, minor, patch = sqlite3.sqlite_version_info
        return library if library.sqlite3_libversion_number() == major * 1_000_000 + minor * 1000 + patch else None
    except (OSError, AttributeError):
        return None
