"""The state file by identity (its device and inode), whatever path names it.

SQLite keeps a database's -wal and -shm files beside the *path* it was opened with, and forgeq
keeps its flight log (`<db>-flight`) and the run lock's note (`<db>.run-lock`) there too. Two
names for one file would be two write-ahead logs over one database, which corrupts it (two runs
through a hard link ran every event twice and left "Rowid out of order"). So every opener:

- resolves symbolic links, so the siblings sit beside the real file, whichever link was given;
- refuses a file with a second hard link, or a file mounted over its path (`mount --bind`), with
  one line and exit 4: through such a name the siblings would not be the real file's;
- takes the run lock on the file itself (an flock on its inode, which every name shares), so two
  `forgeq run` never both start, through whatever path, bind mount or mount namespace.

POSIX record locks, which SQLite holds on the database file for as long as a connection is open,
belong to the process and the inode: closing *any* descriptor of the file drops all of them
(sqlite.org/howtocorrupt.html, 2.2). So this process keeps one descriptor per state file, shared
and counted by every Store and lock that uses it, and closes it only when the last one is done.
"""

from __future__ import annotations

import os
import re
import stat

from forgeq.emulator.errors import StateBusyError, StateFileError

MOUNTINFO = "/proc/self/mountinfo"  # Linux; elsewhere nothing can be mounted over a file


class StateFile:
    """One state file open in this process: the real path, its identity, one shared descriptor.
    A plain class, not a dataclass: every command that opens a state file imports this module, and
    a dataclass costs the import a generated __init__, __eq__ and __repr__ (bench/README.md, Round 4)."""

    __slots__ = ("path", "key", "fd", "users", "locked")

    def __init__(self, path: str, key: tuple[int, int], fd: int, users: int = 0, locked: bool = False) -> None:
        self.path = path
        self.key = key  # (st_dev, st_ino)
        self.fd = fd
        self.users = users
        self.locked = locked  # this process holds the run lock on it


_OPEN: dict[tuple[int, int], StateFile] = {}


def open_file(path: str, *, create: bool) -> StateFile | None:
    """The state file at `path` (created, private, when missing and `create`), or None when missing.

    Each call must be paired with `release`.
    """
    real = os.path.realpath(path)
    try:
        found = os.stat(real)
    except FileNotFoundError:
        if not create:
            return None
        _create(real)
        found = os.stat(real)
    except OSError as error:
        raise StateFileError(f"cannot open {path}: {error.strerror}", "pass --db with the path of a state file") from None
    check_single_name(real, found)
    key = (found.st_dev, found.st_ino)
    entry = _OPEN.get(key)
    if entry is None:
        try:
            fd = os.open(real, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
        except OSError as error:
            raise StateFileError(f"cannot open {real}: {error.strerror}", "check its permissions, or pass --db with another path") from None
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != key:  # replaced between stat and open: no lock of ours is on it
            os.close(fd)
            raise StateBusyError(f"{real} was replaced while forgeq opened it", "run the command again")
        entry = _OPEN[key] = StateFile(real, key, fd)
    entry.users += 1
    return entry


def release(entry: StateFile) -> None:
    """One user is done; the last one closes the descriptor (no SQLite connection of ours is left on it)."""
    entry.users -= 1
    if entry.users <= 0 and _OPEN.get(entry.key) is entry:
        del _OPEN[entry.key]
        os.close(entry.fd)


def check_single_name(real: str, found: os.stat_result) -> None:
    """Refuse what would give one database two sets of -wal, -shm and flight files."""
    if stat.S_ISDIR(found.st_mode):
        raise StateFileError(f"{real} is a folder, not a forgeq state file", "pass the path of a file with --db")
    if not stat.S_ISREG(found.st_mode):
        raise StateFileError(f"{real} is not a regular file, so not a forgeq state file", "pass the path of a file with --db")
    if found.st_nlink > 1:
        raise StateFileError(
            f"{real} has {found.st_nlink} hard links: SQLite keeps a write-ahead log beside each name, "
            "so two names are two diverging copies of one database",
            f"keep one name (find the others with `find / -xdev -samefile {real}`), or export it and import into a new file",
        )
    if real in mount_points():
        raise StateFileError(
            f"{real} is a file mounted over this path (mount --bind): SQLite would keep its write-ahead log "
            "here, not beside the file itself",
            "open it at the path it is mounted from",
        )


_ESCAPE = re.compile(r"\\([0-7]{3})")


def mount_points() -> set[str]:
    """Where something is mounted, as /proc/self/mountinfo lists it (empty where there is none)."""
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return set()
    points = set()
    for line in lines:
        fields = line.split(" ", 5)
        if len(fields) > 4:  # the fifth field is the mount point, with space, tab, newline and \ escaped
            points.add(_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), fields[4]))
    return points


def _create(real: str) -> None:
    parent = os.path.dirname(real)
    if not os.path.exists(parent):
        try:
            os.makedirs(parent, mode=0o700)
        except OSError as error:
            raise StateFileError(f"cannot create {parent}: {error.strerror}") from None
    try:  # private from the first byte: SQLite gives the -wal and -shm files the same mode
        os.close(os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        pass
    except OSError as error:
        raise StateFileError(f"cannot create {real}: {error.strerror}", "pass --db with a writable path") from None


def try_lock(entry: StateFile) -> bool:
    """Take the run lock (an exclusive flock on the file's inode); False when another holds it."""
    import fcntl

    if entry.locked:
        return False
    try:
        fcntl.flock(entry.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    entry.locked = True
    return True


def unlock(entry: StateFile) -> None:
    import fcntl

    if entry.locked:
        fcntl.flock(entry.fd, fcntl.LOCK_UN)
        entry.locked = False


def locked_elsewhere(entry: StateFile) -> bool:
    """Whether the run lock is held (by another process, or another lock of this one), without taking it."""
    if entry.locked or not try_lock(entry):
        return True
    unlock(entry)
    return False
