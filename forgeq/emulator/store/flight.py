"""The flight log: which leased events' attempts have started, kept beside the state file.

A lease (the event in its run's row of `leases`) says an event is in the loop's window and *may* run before the next
commit; the flight log says its attempt *did* start. Each attempt writes the event's number (8
bytes into the memory-mapped file, no system call, no fsync: the page cache keeps a killed
process's writes) before the handler runs; each commit rewrites the log without the events it
acknowledged. After a crash,
`Store.reclaim_running` redelivers, and counts a crash for, only the leased events whose attempt
started: the rest of the window goes back to waiting as it was, with no `redelivered` note and no
step towards quarantine. So the window's size costs nothing in the crash contract.

Without a readable log (a power cut, a file removed, a state a schema-1 run left), every leased
event counts as started: the contract as it was before the log, never an unmarked redelivery.
"""

from __future__ import annotations

import mmap
import os
import struct
from contextlib import suppress

_ENTRY = struct.Struct("<q")
_FIRST_SIZE = 4096  # 512 entries; doubled when a run starts more attempts between two commits


class FlightLog:
    """Event numbers in a file mapped into memory: an entry costs a store, not a system call.

    Entries are written in order; a zero (no event has number 0) ends the list.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path  # None: an in-memory state, nothing to recover
        self.fd: int | None = None
        self.map: mmap.mmap | None = None
        self.started: list[int] = []

    def _open(self, size: int) -> mmap.mmap:
        assert self.path is not None
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if self.map is None:
            os.ftruncate(self.fd, 0)  # a fresh log: whatever an earlier run left is gone (zeros)
        else:
            self.map.close()  # growing: the entries stay
        os.ftruncate(self.fd, size)
        self.map = mmap.mmap(self.fd, size)
        return self.map

    def start(self, event: int) -> None:
        """The event's attempt is about to run (called before the handler)."""
        if self.path is None:
            return
        journal = self.map
        offset = len(self.started) * _ENTRY.size
        if journal is None or offset + _ENTRY.size > len(journal):
            journal = self._open(max(_FIRST_SIZE, 2 * (len(journal) if journal is not None else 0)))
        _ENTRY.pack_into(journal, offset, event)
        self.started.append(event)

    def release(self, events: set[int]) -> None:
        """After a commit: forget the attempts it acknowledged (their leases are gone)."""
        journal = self.map
        if not self.started or journal is None:
            return
        keep = [event for event in self.started if event not in events]
        if len(keep) == len(self.started):
            return
        # Write what stays, then zero the rest: a kill in between leaves more entries, never fewer.
        for index, event in enumerate(keep):
            _ENTRY.pack_into(journal, index * _ENTRY.size, event)
        journal[len(keep) * _ENTRY.size : len(self.started) * _ENTRY.size] = bytes((len(self.started) - len(keep)) * _ENTRY.size)
        self.started = keep

    def read(self) -> set[int] | None:
        """Events whose attempt a dead run started, or None when that is unknown."""
        if self.path is None:
            return None
        try:
            with open(self.path, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        if len(data) % _ENTRY.size:
            return None  # not a flight log this forgeq wrote: unknown
        found = set()
        for (number,) in _ENTRY.iter_unpack(data):
            if number == 0:
                break
            found.add(number)
        return found

    def reset(self) -> None:
        """A run starts: nothing of it has started yet (the file now exists, so a crash can tell)."""
        if self.path is None:
            return
        self.close()
        self._open(_FIRST_SIZE)
        self.started = []

    def close(self) -> None:
        if self.map is not None:
            with suppress(OSError, ValueError):
                self.map.close()
            self.map = None
        if self.fd is not None:
            with suppress(OSError):
                os.close(self.fd)
            self.fd = None
