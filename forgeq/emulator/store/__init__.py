"""Persistence: one SQLite file (or an in-memory database) holding the whole emulator state.

All SQL in forgeq lives in this package. `Store` is the only class callers use.
"""

from forgeq.emulator.store.sqlite import StateLock, Store

__all__ = ["Store", "StateLock"]
