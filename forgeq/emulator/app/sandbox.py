"""What handler code may not do to the process it shares with forgeq.

Python handlers run in forgeq's own process, so a few calls that are harmless in a Forge function's
sandbox would end or cripple forgeq itself. Once the loop starts, `install()` puts a guard in front
of each; the guard lets forgeq's own code through and answers handler code (an attempt bound to the
port, a handler module being imported, or a thread other than the main one) as a sandbox would:

- `os._exit(n)`, a signal to forgeq's own process (`os.kill`, `os.killpg`, `signal.raise_signal`,
  `signal.pthread_kill`) and `os.abort()` raise `ProcessExit`: the attempt (or the module's load)
  fails with that reason, and the run goes on. Before, `os._exit(0)` at a module's top level ended
  `run --until-idle` with exit 0 and every event still pending;
- `signal.signal` for SIGINT or SIGTERM (the clean stop) holds while the handler runs (asyncio.run
  sets its own); forgeq's handler is back after the attempt. SIGALRM (timeouts), `signal.alarm`,
  `signal.setitimer` and blocking those signals with `signal.pthread_sigmask` are left out, noted;
- `sys.setrecursionlimit` holds for the attempt; forgeq's own limit comes back after it;
- `os.close`, `os.closerange`, `os.dup2` and `open(fd)` leave forgeq's descriptors alone (the state file, its
  write-ahead log and flight log, the Node.js worker's pipes, standard streams): `os.close` of one
  is EBADF, as if the handler's process did not have it, which on Forge it does not;
- `atexit.register` from handler code is counted: `forgeq run` then ends without running those hooks
  (one could hang, or end the process with its own code), as it ends without waiting for a
  thread a handler left running;
- after `fork()`, the child runs handler code only: the SDK is unbound there, forgeq's descriptors
  are closed, and when the handler returns into forgeq the child exits (`exit_if_forked`).

What cannot be caught (a crash of Python, SIGKILL from outside, the kernel's OOM killer, ctypes)
ends the process for real: the flight log redelivers the attempt and quarantines an event, or a
module, that does it again (store/flight.py, loop/engine.py).
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import errno
import io
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from forgeq import runtime
from forgeq.emulator.safetext import shown

# SIGINT and SIGTERM stop a run cleanly; SIGALRM ends an attempt past its timeout.
FORGEQ_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGALRM})

KEPT_FDS: set[int] = set()  # descriptors forgeq keeps open (the Node.js worker's pipes)
KEPT_PATHS: set[str] = set()  # and any descriptor on these files (a state file, SQLite's -wal and -shm, the flight log)
STATE_FILE_SIDES = ("", "-wal", "-shm", "-journal", "-flight")

loading = False  # a handler module's top level is running (handlers.py)
forked = False  # this process is a child a handler forked
tripped = False  # a guard acted since the last settle(): one flag for the loop to read per attempt
refused: str | None = None  # the first call refused (os._exit, a signal to forgeq): it fails the attempt
notes: list[str] = []  # what the guard refused or left out, for the attempt or load that did it
_saved_recursion_limit: int | None = None
_saved_handlers: dict[int, Any] = {}  # forgeq's SIGINT and SIGTERM handlers, while handler code has its own
exit_hooks = 0  # atexit callbacks handler code registered: `forgeq run` ends without running them

_real: dict[str, Callable[..., Any]] = {}
posix = sys.modules.get("posix")  # os's functions again, under their own module (None off POSIX)


class ProcessExit(BaseException):
    """What handler code gets for ending or signalling forgeq's process: BaseException, so a plain
    `except Exception` cannot keep the attempt going as if it had happened."""


_FORGEQ = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep


def handler_code() -> bool:
    """Whether a guard's caller is handler code: code outside forgeq (the handler's, or the library
    it called), in an attempt, a module import, or a thread other than forgeq's main one."""
    try:
        caller = sys._getframe(2).f_code.co_filename
    except ValueError:  # called straight from C (an atexit hook, a thread's target)
        caller = ""
    if caller.startswith(_FORGEQ):
        return False  # forgeq's own call, even while an attempt is bound (a crash point, its printer)
    return runtime.bound() is not None or loading or threading.current_thread() is not threading.main_thread()


def keep_state_file(path: str) -> None:
    """Descriptors on this state file and its companions are forgeq's (the engine, as it starts)."""
    KEPT_PATHS.update(path + side for side in STATE_FILE_SIDES)


def settle() -> tuple[str | None, list[str]]:
    """After an attempt or a load: forgeq's recursion limit and signal handlers back; what was
    refused, and what was noted."""
    global _saved_recursion_limit, tripped, refused
    if _saved_recursion_limit is not None:
        _real["setrecursionlimit"](_saved_recursion_limit)
        _saved_recursion_limit = None
    for signum, saved in _saved_handlers.items():
        if signal.getsignal(signum) is not saved:
            _real["signal"](signum, saved)
            notes.append(f"the handler left a {_signal_name(signum)} handler in place: forgeq's own is back (its clean stop)")
    _saved_handlers.clear()
    taken, first = notes[:], refused
    notes.clear()
    tripped, refused = False, None
    return first, taken


def _note(text: str) -> None:
    global tripped
    notes.append(text)
    tripped = True


def exit_if_forked() -> None:
    """In a child a handler forked, the handler's code is done: the child ends here, before forgeq's."""
    if forked:
        _real["_exit"](0)


# -- the guards ---------------------------------------------------------------------------------------


def _refuse(what: str) -> None:
    global refused
    text = f"{what}: refused, forgeq's process is not the handler's to end"
    if refused is None:
        refused = text
    _note(text)
    raise ProcessExit(text)


def _exit(code: Any = 0) -> None:
    if handler_code() and not forked:
        _refuse(f"the handler called os._exit({shown(code, 20)})")
    _real["_exit"](code)


def _own_targets(pid: int) -> bool:
    return pid in (0, -1, os.getpid(), -os.getpgid(0))


def _kill(pid: int, sig: int) -> None:
    if sig and handler_code() and not forked and _own_targets(pid):
        _refuse(f"the handler sent {_signal_name(sig)} to forgeq's own process")
    _real["kill"](pid, sig)


def _killpg(pgid: int, sig: int) -> None:
    if sig and handler_code() and not forked and pgid in (0, os.getpgid(0)):
        _refuse(f"the handler sent {_signal_name(sig)} to forgeq's process group")
    _real["killpg"](pgid, sig)


def _raise_signal(sig: int) -> None:
    if handler_code() and not forked:
        _refuse(f"the handler raised {_signal_name(sig)} in forgeq's own process")
    _real["raise_signal"](sig)


def _pthread_kill(thread_id: int, sig: int) -> None:
    if sig and handler_code() and not forked:
        _refuse(f"the handler sent {_signal_name(sig)} to a thread of forgeq's own process")
    _real["pthread_kill"](thread_id, sig)


def _abort() -> None:
    if handler_code() and not forked:
        _refuse("the handler called os.abort()")
    _real["abort"]()


def _signal(signum: int, handler: Any) -> Any:
    global tripped
    if signum in FORGEQ_SIGNALS and handler_code() and not forked:
        if signum == signal.SIGALRM:  # forgeq's timeout of this very attempt
            _note("the handler set a SIGALRM handler: left out, forgeq's timeouts use that signal")
            return signal.getsignal(signum)
        # SIGINT, SIGTERM: the handler's while it runs (asyncio.run sets its own), forgeq's again after
        _saved_handlers.setdefault(signum, signal.getsignal(signum))
        tripped = True
    return _real["signal"](signum, handler)


def _alarm(seconds: int) -> int:
    if handler_code() and not forked:
        _note("the handler called signal.alarm: left out, forgeq's timeouts use that timer")
        return 0
    result: int = _real["alarm"](seconds)
    return result


def _setitimer(which: int, seconds: float, interval: float = 0.0) -> tuple[float, float]:
    if which == signal.ITIMER_REAL and handler_code() and not forked:
        _note("the handler set the real-time interval timer: left out, forgeq's timeouts use it")
        return (0.0, 0.0)
    result: tuple[float, float] = _real["setitimer"](which, seconds, interval)
    return result


def _pthread_sigmask(how: int, mask: Iterable[int]) -> set[signal.Signals]:
    wanted = set(mask)
    if how != signal.SIG_UNBLOCK and wanted & FORGEQ_SIGNALS and handler_code() and not forked:
        _note("the handler blocked SIGINT, SIGTERM or SIGALRM: left unblocked, forgeq needs them")
        wanted -= FORGEQ_SIGNALS
    result: set[signal.Signals] = _real["pthread_sigmask"](how, wanted)
    return result


def _setrecursionlimit(limit: int) -> None:
    global _saved_recursion_limit, tripped
    if handler_code() and not forked and _saved_recursion_limit is None:
        _saved_recursion_limit = sys.getrecursionlimit()  # forgeq's, back after the attempt
        tripped = True
    _real["setrecursionlimit"](limit)


def _close(fd: int) -> None:
    if handler_code() and not forked and (what := kept(fd)):
        _note(f"the handler closed descriptor {fd} ({what}): refused, it is forgeq's")
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))
    _real["close"](fd)


def _closerange(low: int, high: int) -> None:
    if not handler_code() or forked:
        _real["closerange"](low, high)
        return
    spared = 0
    for fd in _open_descriptors(low, high):
        if kept(fd):
            spared += 1
            continue
        with contextlib.suppress(OSError):
            _real["close"](fd)
    if spared:
        _note(f"the handler closed descriptors {low} to {high}: forgeq's own {spared} left open")


def _dup2(fd: int, fd2: int, inheritable: bool = True) -> int:
    if handler_code() and not forked and fd2 != fd and (what := kept(fd2)):
        _note(f"the handler replaced descriptor {fd2} ({what}): refused, it is forgeq's")
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))
    result: int = _real["dup2"](fd, fd2, inheritable)
    return result


def _atexit_register(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    global exit_hooks
    if handler_code() and not forked:
        exit_hooks += 1
    result: Callable[..., Any] = _real["register"](function, *args, **kwargs)
    return result


def _open(file: Any, *args: Any, **kwargs: Any) -> Any:
    # open(fd) / os.fdopen(fd) of forgeq's descriptor: its close() would close forgeq's file.
    if isinstance(file, int) and handler_code() and not forked and (what := kept(file)):
        _note(f"the handler opened descriptor {file} ({what}) as a file: refused, it is forgeq's")
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))
    return _real["open"](file, *args, **kwargs)


def kept(fd: int) -> str | None:
    """What forgeq keeps on `fd`, or None when it is not forgeq's."""
    if fd in (0, 1, 2):
        return "a standard stream"
    if fd in KEPT_FDS:
        return "forgeq's own"
    if KEPT_PATHS:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
        if target in KEPT_PATHS:
            return "the state file"
    return None


def _open_descriptors(low: int, high: int) -> list[int]:
    try:
        numbers = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: every number up to the process's limit
        import resource

        numbers = list(range(min(high, resource.getrlimit(resource.RLIMIT_NOFILE)[0])))
    return sorted(fd for fd in numbers if low <= fd < high)


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _after_fork_in_child() -> None:
    """A handler forked: the child must never run forgeq's loop, touch its state, or hold its lock."""
    global forked, tripped
    if runtime.bound() is None and not loading:
        return  # forgeq's own fork (subprocess): it execs at once
    forked = tripped = True
    runtime.bind(None)  # an SDK call in the child fails instead of using the parent's connection
    # The parent keeps these; a child that outlives the run must not hold its lock (an flock lives as
    # long as any descriptor of it), and a child inherits none of SQLite's record locks to lose.
    for fd in _open_descriptors(3, 1 << 30):
        if fd in KEPT_FDS or kept(fd) == "the state file":
            with contextlib.suppress(OSError):
                _real["close"](fd)
    # Nor forgeq's standard streams: `forgeq run | tee log` would wait for a child that lingers.
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            _real["dup2"](devnull, fd)
        _real["close"](devnull)


_GUARDS: dict[tuple[Any, str], Callable[..., Any]] = {
    (os, "_exit"): _exit,
    (posix, "_exit"): _exit,
    (os, "kill"): _kill,
    (posix, "kill"): _kill,
    (os, "killpg"): _killpg,
    (posix, "killpg"): _killpg,
    (os, "abort"): _abort,
    (posix, "abort"): _abort,
    (signal, "raise_signal"): _raise_signal,
    (signal, "pthread_kill"): _pthread_kill,
    (signal, "signal"): _signal,
    (signal, "alarm"): _alarm,
    (signal, "setitimer"): _setitimer,
    (signal, "pthread_sigmask"): _pthread_sigmask,
    (sys, "setrecursionlimit"): _setrecursionlimit,
    (os, "close"): _close,
    (posix, "close"): _close,
    (os, "closerange"): _closerange,
    (posix, "closerange"): _closerange,
    (os, "dup2"): _dup2,
    (posix, "dup2"): _dup2,
    (atexit, "register"): _atexit_register,
    (builtins, "open"): _open,
    (io, "open"): _open,
}


def install() -> None:
    """Put the guards in place, once per process (before any handler module is imported)."""
    if _real:
        return
    for (module, name), guard in _GUARDS.items():
        original = getattr(module, name, None) if module is not None else None
        if original is None:
            continue
        _real.setdefault(name, original)
        setattr(module, name, guard)
    if hasattr(os, "register_at_fork"):  # POSIX
        os.register_at_fork(after_in_child=_after_fork_in_child)
