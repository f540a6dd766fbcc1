"""One run per state file, whatever path names it (forgeq/emulator/store/identity.py).

A symbolic link, a second hard link or a bind mount of one state file must never let two `forgeq
run` start, and no name may get a write-ahead log of its own: a symbolic link leads to the real
file (the -wal, -shm and flight files beside it), a second hard link and a file mounted over a
path are refused with one line and exit 4, and the run lock is an flock on the file itself.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import V2_MANIFEST, forgeq, write_app

pytestmark = pytest.mark.timeout(120)

HANDLER = "def handler(event, context):\n    return None\n"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    write_app(root, V2_MANIFEST, {"src/index.py": HANDLER})
    from forgeq.emulator.limits import VIRTUAL_EPOCH
    from forgeq.emulator.loop.pushing import new_events
    from forgeq.emulator.store import Store

    store = Store(_db(root))  # set-up in process; every run below is the real CLI
    store.push_job("work", "site-1", VIRTUAL_EPOCH, "test", new_events("work", [{"body": {}}] * 3, installation="site-1", now=VIRTUAL_EPOCH, job_id=None))
    store.close()
    return root


def _db(app: Path) -> Path:
    return app / ".forgeq" / "state.db"


def _endless_run(app: Path, db: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORGEQ_DB", None)
    return subprocess.Popen(
        [sys.executable, "-m", "forgeq", "run", "--quiet", "--db", str(db)],
        cwd=app,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _held(db: Path) -> bool:
    from forgeq.emulator.store import StateLock

    return StateLock(str(db)).is_held_elsewhere()


@pytest.fixture
def running(app: Path) -> Iterator[subprocess.Popen[str]]:
    """An endless `forgeq run` on the app's state file, by its own path, holding the run lock."""
    run = _endless_run(app, _db(app))
    deadline = time.monotonic() + 30
    while not _held(_db(app)):
        assert run.poll() is None, run.communicate()[1]
        assert time.monotonic() < deadline, "the run never took its lock"
        time.sleep(0.02)
    yield run
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=30)
    assert run.returncode == 0, err


def _second_run(app: Path, db: Path) -> subprocess.CompletedProcess[str]:
    return forgeq("run", "--until-idle", "--quiet", "--db", db, cwd=app, timeout=60)


def test_a_second_run_through_a_symbolic_link_is_refused(app: Path, running: subprocess.Popen[str]) -> None:
    db = _db(app)
    link = app / "link.db"
    link.symlink_to(db)
    folder_link = app / "elsewhere"
    folder_link.symlink_to(db.parent, target_is_directory=True)
    for other in (link, folder_link / "state.db"):
        done = _second_run(app, other)
        assert done.returncode == 3, done.stderr
        assert f"{db} is in use by another `forgeq run` (pid {running.pid})" in done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    pushed = forgeq("push", "--queue", "work", "--db", link, cwd=app)  # the same state, beside the real file
    assert pushed.returncode == 0, pushed.stderr
    assert not Path(f"{link}-wal").exists() and not Path(f"{link}-flight").exists()
    assert Path(f"{db}-flight").exists()


def test_a_state_file_with_a_second_hard_link_is_refused_by_every_command(app: Path) -> None:
    db = _db(app)
    other = app / "other.db"
    os.link(db, other)
    before = db.read_bytes()
    for argv in (
        ["run", "--until-idle", "--db", other],
        ["push", "--queue", "work", "--db", db],
        ["inspect", "queue", "--db", other],  # the launcher's fast path
    ):
        done = forgeq(*argv, cwd=app)
        assert done.returncode == 4, (argv, done.stderr)
        assert "has 2 hard links" in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert db.read_bytes() == before and not Path(f"{other}-wal").exists()
    other.unlink()  # one name again: it runs
    assert forgeq("run", "--until-idle", "--quiet", cwd=app).returncode == 0


def test_a_hard_link_made_while_a_run_holds_the_file_does_not_start_a_second_run(
    app: Path, running: subprocess.Popen[str]
) -> None:
    other = app / "other.db"
    os.link(_db(app), other)
    try:
        done = _second_run(app, other)
        assert done.returncode == 4 and "hard links" in done.stderr, done.stderr
    finally:
        other.unlink()


def _can_bind_mount(tmp_path: Path) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    source, target = tmp_path / "probe-source", tmp_path / "probe-target"
    source.write_text("x")
    target.write_text("")
    if subprocess.run(["mount", "--bind", source, target], capture_output=True).returncode != 0:
        return False
    subprocess.run(["umount", target], capture_output=True)
    return True


def test_a_file_bind_mounted_over_another_path_is_refused_there_and_locked_by_its_inode(
    app: Path, tmp_path: Path
) -> None:
    if not _can_bind_mount(tmp_path):
        pytest.skip("mount --bind needs root (and a mount namespace that allows it)")
    db = _db(app)
    mounted = tmp_path / "mounted" / "state.db"
    mounted.parent.mkdir()
    mounted.write_bytes(b"")
    assert subprocess.run(["mount", "--bind", db, mounted], capture_output=True).returncode == 0
    try:
        run = _endless_run(app, db)
        try:
            deadline = time.monotonic() + 30
            while not _held(db):
                assert run.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
            # the lock is on the file itself: its other path sees it held
            with mounted.open("rb") as other, pytest.raises(BlockingIOError):
                fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            for argv in (["run", "--until-idle", "--db", mounted], ["push", "--queue", "work", "--db", mounted]):
                done = forgeq(*argv, cwd=app)
                assert done.returncode == 4, done.stderr
                assert "mounted over this path" in done.stderr and len(done.stderr.strip().splitlines()) == 1
            assert _second_run(app, db).returncode == 3
        finally:
            run.send_signal(signal.SIGTERM)
            run.communicate(timeout=30)
    finally:
        subprocess.run(["umount", mounted], capture_output=True)
    assert not Path(f"{mounted}-wal").exists()


def test_opening_the_state_file_again_in_one_process_keeps_sqlites_locks(tmp_path: Path) -> None:
    """POSIX record locks belong to the process: closing any descriptor of the file drops them all
    (sqlite.org/howtocorrupt.html 2.2). A second Store, or a lock test, must not close one while a
    connection is open."""
    from forgeq.emulator.store import StateLock, Store

    db = tmp_path / "state.db"
    first = Store(db)
    first.totals()
    inode = db.stat().st_ino

    def sqlite_locks() -> int:
        return sum(1 for line in Path("/proc/locks").read_text().splitlines() if f":{inode} " in line and "POSIX" in line)

    if not Path("/proc/locks").exists():
        pytest.skip("needs /proc/locks (Linux)")
    held = sqlite_locks()
    assert held >= 1, "SQLite holds a shared lock on a WAL database while connected"
    second = Store(db)
    second.totals()
    second.close()
    assert not StateLock(str(db)).is_held_elsewhere()
    lock = StateLock(str(db))
    lock.acquire()
    assert StateLock(str(db)).is_held_elsewhere()
    lock.release()
    assert sqlite_locks() == held
    first.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
