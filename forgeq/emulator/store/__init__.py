"""Persistence: one SQLite file (or an in-memory database) holding the whole emulator state.

All SQL in forgeq lives in this package. `Store` is the only class callers use.

Imports: the shared modules only (errors, ids, limits); it knows nothing of the SDK, the loop or
the app. crashpoints.py is the crash harness's hook at the store's commit and claim points;
identity.py knows a state file by its device and inode, whatever path names it.
"""

from forgeq.emulator.store.sqlite import StateLock, Store

__all__ = ["Store", "StateLock"]
