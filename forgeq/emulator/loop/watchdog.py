"""The timeout watchdog: one thread for the whole loop stops a handler at its `timeoutSeconds`.

Per attempt the loop only writes the attempt's deadline (`arm`) and clears it (`disarm`): no system
call, where a timer armed and disarmed per attempt cost two `setitimer` and two `sigaction` calls.
A daemon thread sleeps until the earliest deadline it knows of; when the running attempt's has
passed, it sends SIGALRM to the main thread, whose handler raises HandlerTimeout in the handler's
frame, also out of a blocking call (a sleep, a read from the Node.js worker), which the signal
interrupts. Deadlines are wall time, also under the virtual clock: a hang costs real seconds.

A handler that swallows HandlerTimeout (a bare `except BaseException`) is hit again every second,
and from the second time traced (`_Alarm`): no try/except keeps it alive for long.

The SIGALRM handler is installed only while the loop runs (`guard()`, entered by `Emulator.run`
and `Emulator.step`; an attempt outside them guards itself). A SIGALRM the watchdog did not send
goes to the handler it replaced (pytest-timeout's, say), and nobody's interval timer is touched.
Timeouts are enforced on the main thread only, where Python runs signal handlers.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import CodeType
from typing import Any

from forgeq.emulator.loop.clock import wall_time

REPEAT_SECONDS = 1.0  # a handler that swallowed the timeout is hit again this often
# asyncio's own frames are never traced (its cleanup must run); located without importing it
_ASYNCIO_DIR = os.path.join(os.path.dirname(os.__file__), "asyncio")


class HandlerTimeout(BaseException):
    """Raised inside a handler when its time is up; BaseException so `except Exception` cannot keep it."""


class _Alarm:
    """One attempt's timeout signals. A handler that swallows the first HandlerTimeout is then
    traced: HandlerTimeout is raised again on every line it runs, which no try/except can keep for
    long, since the except block's own lines raise it anew.

    CPython drops a trace function that raises; a profile hook puts it back each time a handler
    frame is left, so the caller's except block is traced too (swallowers nested in swallowers).
    Tracing covers only the handler's frames: it stops at forgeq's own frames (`boundaries`: the
    invocation's `execute` and `_await`) and ends for good once the handler's outermost frame is gone.
    """

    def __init__(self, boundaries: frozenset[CodeType]) -> None:
        self.boundaries = boundaries
        self.fired = 0
        self.traced: list[Any] = []
        self.saved: tuple[Any, Any] = (None, None)  # the trace and profile functions before tracing
        self.done = False

    def hit(self, frame: Any) -> None:
        self.fired += 1
        if self.fired >= 2 and not self.done:
            if self.fired == 2:
                self.saved = (sys.gettrace(), sys.getprofile())
                sys.setprofile(self._profiler)
            self._trace(frame)
        raise HandlerTimeout()

    def _trace(self, frame: Any) -> None:
        sys.settrace(self._tracer)
        while frame is not None and frame.f_code not in self.boundaries:
            if not frame.f_code.co_filename.startswith(_ASYNCIO_DIR):  # asyncio's own cleanup must run
                frame.f_trace = self._tracer
                frame.f_trace_lines = True
                self.traced.append(frame)
            frame = frame.f_back

    def _tracer(self, frame: Any, event: str, arg: Any) -> Any:
        if self.done:
            return None
        back = frame.f_back
        if event == "call" and (back is None or back.f_code in self.boundaries or frame.f_code.co_filename.startswith(_ASYNCIO_DIR)):
            return None  # forgeq's own code, called once the handler's frames are unwinding; asyncio's
        if event == "line":
            raise HandlerTimeout()
        return self._tracer

    def _profiler(self, frame: Any, event: str, arg: Any) -> None:
        if event != "return" or self.done or frame.f_code in self.boundaries:
            return
        if frame.f_back is None or frame.f_back.f_code in self.boundaries:
            self.stop()  # the handler's outermost frame is gone: forgeq's code runs untraced
        else:
            self._trace(frame.f_back)

    def stop(self) -> None:
        if self.fired >= 2 and not self.done:
            self.done = True
            trace, profile = self.saved
            sys.setprofile(profile)
            sys.settrace(trace)
            for frame in self.traced:
                frame.f_trace = None
            self.traced.clear()


class Watchdog:
    """The process's one timeout watchdog (`WATCHDOG`): signals are per process, so is it."""

    def __init__(self) -> None:
        self.deadline = math.inf  # wall_time() at which the running attempt times out; inf: none is armed
        self.boundaries: frozenset[CodeType] = frozenset()  # forgeq's frames around a handler (invocation.py)
        self._alarm: _Alarm | None = None  # the running attempt's, once its deadline has passed
        self._depth = 0  # guard() nesting; the SIGALRM handler is installed while it is above 0
        self._previous: Any = None  # the SIGALRM handler guard() replaced
        self._sent = False  # the pending SIGALRM is the watchdog's
        self._lock = threading.Lock()  # the thread sends only while the handler is installed
        self._wake = threading.Event()
        self._wake_at = math.inf  # when the thread wakes next
        self._thread: threading.Thread | None = None
        self._main = threading.main_thread().ident

    @property
    def guarding(self) -> bool:
        return self._depth > 0


    @contextmanager
    def guard(self) -> Iterator[None]:
        """Install the SIGALRM handler for the length of a run (nests; a no-op off the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        if self._depth == 0:
            self._previous = signal.signal(signal.SIGALRM, self._on_signal)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="forgeq-timeout-watchdog", daemon=True)
                self._thread.start()
        self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    signal.signal(signal.SIGALRM, self._previous if self._previous is not None else signal.SIG_DFL)
                    self._previous = None

    def arm(self, seconds: float, now: float) -> bool:
        """An attempt starts at `now` (wall_time()) with `seconds` to run; False (not armed) outside
        guard() or off the main thread, where a handler cannot be timed out."""
        if not self._depth or threading.get_ident() != self._main:
            return False
        deadline = now + seconds
        self.deadline = deadline
        if deadline < self._wake_at:  # the thread sleeps past it: wake it (rare: a shorter timeout)
            self._wake.set()
        return True

    def disarm(self) -> int:
        """The attempt is over; return how many times its deadline fired (0: it ran in time)."""
        self.deadline = math.inf
        alarm = self._alarm
        if alarm is None:
            return 0
        self._alarm = None
        alarm.stop()
        return alarm.fired

    def _on_signal(self, signum: int, frame: Any) -> None:
        if not self._sent:  # someone else's alarm (pytest-timeout's): theirs to handle
            if callable(self._previous):
                self._previous(signum, frame)
            return
        self._sent = False
        if wall_time() < self.deadline:
            return  # sent for an attempt that has ended since
        if self._alarm is None:
            self._alarm = _Alarm(self.boundaries)
        self._alarm.hit(frame)

    def _watch(self) -> None:
        main = self._main
        assert main is not None
        while True:
            self._wake.clear()
            deadline = self.deadline
            now = wall_time()
            wake = deadline
            if now >= deadline:
                with self._lock:
                    if self._depth > 0 and self.deadline == deadline:
                        self._sent = True
                        signal.pthread_kill(main, signal.SIGALRM)
                wake = now + REPEAT_SECONDS
            self._wake_at = wake
            if self.deadline != deadline:
                continue  # armed meanwhile: look again
            self._wake.wait(None if wake == math.inf else wake - now)

    def _forked(self) -> None:
        # A child process (a handler that forks) has no watchdog thread, and the parent's thread may
        # have held the lock at the fork: fresh ones. Its handlers run without a timeout, as a child
        # never inherited an interval timer either.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._wake_at = math.inf
        self._thread = None


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG._forked)
