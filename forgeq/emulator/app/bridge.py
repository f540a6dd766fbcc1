"""JavaScript handlers: a warm Node.js worker runs them; their platform requests are served here.

A function whose handler resolves to a .js/.ts/.jsx/.tsx/.cjs/.mjs file (manifest.py) is loaded by
`Bridge.load`: one Node.js process per app (forgeq/emulator/app/worker/worker.cjs), started at the first such
load and kept for the run, imports the app's module and checks its export. `JsHandler` is then
the function's `LoadedHandler.call`: the engine calls it inside `execute()` with Forge's arguments;
it sends them to the worker and, while it waits, serves the worker's platform requests (each one a
call of Forge's own `@forge/events` / `@forge/kvs` code through `global.__forge_fetch__`) with the
Invocation's methods, the same ones the Python SDK calls (platform/api.py).

The protocol is newline-delimited JSON over the worker's stdin and stdout (worker.cjs has the
messages); there is no network listener. forgeq reads the worker's answers on its own thread (a
timeout's SIGALRM interrupts the wait) and, while a long message of its own waits for room in the
pipe, keeps reading, so neither side can block the other. A timed-out or interrupted attempt leaves the worker in an unknown state:
it is killed, and the next attempt starts a fresh one (modules load again, as on a cold start).
The queue is untouched: it lives in the store, not in the worker.

What the attempt printed comes back with its answer and is written to sys.stdout inside the call,
where execute() captures it as the attempt's log. A thrown JavaScript error becomes a Python
exception whose class is named after the JavaScript class (TypeError, ForgeKvsAPIError,
RateLimitError, ...) and whose message ends with its first stack frame in the app (index.js:12);
the full JavaScript stack goes to the attempt's log, as Forge's logs show it.

Under one --seed, `Math.random` and `crypto.randomUUID` in the worker are seeded per attempt from
the string the engine seeds Python's `random` with, with Python's own algorithm (pyrandom.cjs):
a JavaScript handler draws the numbers its Python port draws.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeq import runtime
from forgeq.emulator.app import packages, sandbox
from forgeq.emulator.app.handlers import user_variables
from forgeq.emulator.app.node import NodeProblem, NodeRuntime, check
from forgeq.emulator.app.replies import no_invocation
from forgeq.emulator.errors import HandlerLoadError
from forgeq.jsontext import parse

if TYPE_CHECKING:
    from forgeq.emulator.app.manifest import Function, Manifest

WORKER = Path(__file__).resolve().parent / "worker" / "worker.cjs"
START_TIMEOUT_SECONDS = 30.0
LOAD_TIMEOUT_SECONDS = 60.0
STDERR_LINES_KEPT = 40
REMEMBERED_INVOCATIONS = 64  # late output of older attempts is dropped (a timer minutes later)

Serve = Callable[[dict[str, Any]], dict[str, Any]]


# The messages' encoder, made once (json.dumps makes one a call when given options): ASCII JSON,
# without NaN (JSON.parse refuses it).
_MESSAGE = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class WorkerExited(Exception):
    """The Node.js worker ended while forgeq was waiting for it."""


class JavaScriptError(Exception):
    """An error thrown by JavaScript code; each JavaScript class gets a subclass of its own name."""

    js_type = "Error"

    def __init__(self, message: str, stack: str | None = None, code: str | None = None, plain: str | None = None) -> None:
        super().__init__(message)
        self.stack = stack
        self.code = code
        self.plain = message if plain is None else plain  # the JavaScript error's own message, without where


class NodeWorkerExited(JavaScriptError):
    """The worker process ended during the attempt (process.exit, a crash of Node.js)."""


_ERROR_CLASSES: dict[str, type[JavaScriptError]] = {}


def javascript_error(described: dict[str, Any]) -> JavaScriptError:
    """The Python exception for a JavaScript error as worker.cjs describes it: `TypeError: ... (index.js:12)`."""
    name = str(described.get("type") or "Error")
    if described.get("kind") == "unhandled rejection":
        name, message = "UnhandledRejection", f"{name}: {described.get('message')}"
    elif described.get("kind") == "uncaught exception":
        name, message = "UncaughtException", f"{name}: {described.get('message')}"
    else:
        message = str(described.get("message"))
    if not name.isidentifier():
        name = "Error"
    cls = _ERROR_CLASSES.get(name)
    if cls is None:
        cls = type(name, (JavaScriptError,), {"js_type": name, "__module__": "javascript"})
        _ERROR_CLASSES[name] = cls
    where = described.get("where")
    return cls(f"{message} ({where})" if where else message, described.get("stack"), described.get("code"), message)


class Worker:
    """One Node.js process running forgeq/emulator/app/worker/worker.cjs for one app folder."""

    def __init__(self, node: NodeRuntime, app_dir: Path, options: dict[str, Any] | None = None) -> None:
        self.node = node
        self.app_dir = app_dir
        self.stderr: deque[str] = deque(maxlen=STDERR_LINES_KEPT)
        self.ids = 0
        self.buffer = bytearray()  # what the worker wrote that is not yet a whole line
        # The invocations of the last attempts, by message id: a "late" message names one (worker.cjs).
        self.invocations: OrderedDict[int, runtime.Platform] = OrderedDict()
        env = {**os.environ, **user_variables(os.environ)}  # as `forge tunnel` does: FORGE_USER_VAR_X is process.env.X
        # A session of its own: Ctrl-C in the terminal is forgeq's to handle, between attempts.
        self.process = subprocess.Popen(
            [node.path, str(WORKER), str(app_dir), json.dumps(options or {})],
            cwd=app_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            bufsize=0,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin = self.process.stdin.fileno()
        self.stdout = self.process.stdout.fileno()
        self.kept = {self.stdin, self.stdout, self.process.stderr.fileno() if self.process.stderr else self.stdout}
        sandbox.KEPT_FDS.update(self.kept)  # a Python handler that closes descriptors leaves these alone
        os.set_blocking(self.stdin, False)
        self._finalizer = weakref.finalize(self, _terminate, self.process)
        threading.Thread(target=self._read_stderr, name="forgeq-node-stderr", daemon=True).start()
        try:
            ready = self._next(time.monotonic() + START_TIMEOUT_SECONDS)
        except (WorkerExited, TimeoutError) as error:
            self.kill()
            raise WorkerExited(f"the Node.js worker did not start: {error}") from None
        if json.loads(ready).get("t") != "ready":
            self.kill()
            raise WorkerExited(f"the Node.js worker did not start: it said {bytes(ready[:200])!r}")

    def _read_stderr(self) -> None:
        """Keep the last lines Node.js itself wrote (the app's output is captured in the worker)."""
        stream = self.process.stderr
        assert stream is not None
        with contextlib.suppress(OSError, ValueError), stream:
            for line in stream:
                self.stderr.append(line.decode("utf-8", "replace").rstrip())

    def alive(self) -> bool:
        return self.process.poll() is None

    def exchange(self, message: dict[str, Any], serve: Serve, timeout: float | None) -> dict[str, Any]:
        """Send `message`, serve the worker's calls until its answer comes, and return the answer."""
        self.ids += 1
        message["id"] = self.ids
        self._send(message)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            answer = parse(self._next(deadline).decode())  # JSON.stringify's UTF-8 line: json's scanner alone reads it
            if answer.get("t") == "call":
                self._send({"t": "reply", "id": answer["id"], **serve(answer)})
            elif answer.get("t") == "late":
                invocation = self.invocations.get(answer.get("inv"))
                if invocation is not None:
                    invocation.late(str(answer.get("text") or ""))
            elif answer.get("id") == message["id"]:
                return answer  # type: ignore[no-any-return]

    def remember(self, message_id: int, invocation: runtime.Platform) -> None:
        self.invocations[message_id] = invocation
        while len(self.invocations) > REMEMBERED_INVOCATIONS:
            self.invocations.popitem(last=False)

    def _send(self, message: dict[str, Any]) -> None:
        """Write one message. While the pipe is full, keep reading what the worker writes, so that
        neither side can wait on the other (the worker writes its pipe synchronously). ASCII JSON:
        its escapes carry a lone surrogate, which a JavaScript string may hold, both ways."""
        data = memoryview(_MESSAGE.encode(message).encode("ascii") + b"\n")
        while data:
            try:
                data = data[os.write(self.stdin, data) :]
                continue
            except BlockingIOError:
                pass
            except (BrokenPipeError, OSError):
                raise WorkerExited(self._ending()) from None
            readable, _, _ = select.select([self.stdout], [self.stdin], [])
            if readable and not self._fill():
                raise WorkerExited(self._ending())

    def _fill(self) -> bool:
        """Read what the worker wrote (blocks until something comes); False at its end."""
        chunk = os.read(self.stdout, 1 << 16)
        self.buffer += chunk
        return bool(chunk)

    def _next(self, deadline: float | None) -> bytes:
        """The worker's next line. SIGALRM (a timeout) interrupts the wait."""
        scanned = 0  # a long message comes in many reads: look for its end only in what is new
        while True:
            newline = self.buffer.find(b"\n", scanned)
            if newline >= 0:
                line = bytes(self.buffer[:newline])
                del self.buffer[: newline + 1]
                return line
            scanned = len(self.buffer)
            if deadline is not None:
                readable, _, _ = select.select([self.stdout], [], [], max(0.0, deadline - time.monotonic()))
                if not readable:
                    raise TimeoutError("no answer in time")
            if not self._fill():
                raise WorkerExited(self._ending())

    def _ending(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=2)
        code = self.process.returncode
        how = (
            "is still running"
            if code is None
            else f"exited with code {code}"
            if code >= 0
            else f"was killed by signal {-code}"
        )
        said = " | ".join(line for line in list(self.stderr)[-3:] if line)
        return f"the Node.js worker {how}" + (f": {said}" if said else "")

    def stop(self) -> None:
        """End the worker: it exits when its stdin closes; kill it if it does not at once."""
        sandbox.KEPT_FDS.difference_update(self.kept)
        if self.alive():
            with contextlib.suppress(OSError, ValueError):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.kill()
        self._finalizer.detach()
        self._close_pipes()

    def kill(self) -> None:
        sandbox.KEPT_FDS.difference_update(self.kept)
        _terminate(self.process)
        self._finalizer.detach()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):  # stderr: its reader closes it
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            process.wait(timeout=5)


class Bridge:
    """The JavaScript handlers of one Handlers: the worker, started on first need, and restarted."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.node: NodeRuntime | None = None
        self.current: Worker | None = None
        self.warnings: list[str] = []
        self.packages: list[packages.Package] | None = None  # the app's @forge packages, read at the first load
        self.problems: list[packages.Problem] = []

    def load(self, function: Function, file: Path, where: str) -> JsHandler:
        """Import `file` in the worker and check that it exports the handler; raise HandlerLoadError if not."""
        relative = file.relative_to(self.manifest.app_dir)
        try:
            node, warning = check(self.manifest.runtime)
        except NodeProblem as problem:
            # One line on the timeline, so the way out goes into the message itself.
            raise HandlerLoadError(
                f"{where}: {relative} runs on Node.js, but {problem.message}: {problem.hint}"
            ) from None
        if warning is not None and warning not in self.warnings:
            self.warnings.append(warning)
        if self.packages is None:
            self.packages = packages.installed(self.manifest.app_dir)
            self.problems = packages.problems(self.packages)
            self.warnings.extend(str(problem) for problem in self.problems)
        self.node = node
        try:
            worker = self.worker()
            answer = worker.exchange(
                {"t": "load", "file": str(file), "export": function.attribute},
                no_invocation,
                LOAD_TIMEOUT_SECONDS,
            )
        except TimeoutError:
            self.discard()
            raise HandlerLoadError(
                f"{where}: importing {relative} did not finish within {LOAD_TIMEOUT_SECONDS:g} s",
                "does its top-level code wait for something that never comes?",
            ) from None
        except WorkerExited as exited:
            self.discard()
            raise HandlerLoadError(f"{where}: {exited} while importing {relative}") from None
        if answer.get("logs"):  # what the module printed at import, as a Python module's print shows
            sys.stdout.write(answer["logs"])
        if not answer.get("ok"):
            raise _load_error(where, relative, function.attribute, answer)
        return JsHandler(self, function, file)

    def worker(self) -> Worker:
        """The running worker, started (again) if there is none or it has ended."""
        if self.current is not None and not self.current.alive():
            self.discard()
        if self.current is None:
            assert self.node is not None
            self.current = Worker(self.node, self.manifest.app_dir, self._worker_options())
        return self.current

    def _worker_options(self) -> dict[str, Any]:
        """What the worker provides for the app's package eras (worker/transports.cjs)."""
        app_dir = self.manifest.app_dir
        return {
            # global.api only where a copy needs it: with it, @forge/api 2.10-6.0 take the sandbox's way too.
            "legacyApi": any(package.needs_sandbox for package in self.packages or []),
            "storageAdapters": [
                {"api": os.path.realpath(app_dir / problem.package.path), "storage": problem.adapt_storage}
                for problem in self.problems
                if problem.adapt_storage
            ],
            "allowedEgress": ["*"],  # egress rules are the platform's (fetch), not the package's
        }

    def discard(self) -> None:
        """Kill the worker (its state is unknown); the next attempt starts a fresh one."""
        if self.current is not None:
            self.current.kill()
            self.current = None

    def close(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None


def _load_error(where: str, relative: Path, attribute: str, answer: dict[str, Any]) -> HandlerLoadError:
    error = answer.get("error") or {}
    kind, message, at = error.get("type") or "Error", error.get("message"), error.get("where")
    if answer.get("problem"):
        return HandlerLoadError(
            f"{where}: {relative} {message}",
            f"export `{attribute}` from it, or fix `handler` in the manifest",
        )
    # The timeline shows a load error's message only: a way out that matters goes into it.
    if kind == "SyntaxError":
        jsx = (
            "; JSX needs a transpiler in the app: npm install --save-dev sucrase"
            if relative.suffix == ".jsx"
            else ""
        )
        return HandlerLoadError(
            f"{where}: {at or relative}: SyntaxError: {message}{jsx}", "fix the file; --watch reloads it"
        )
    if error.get("code") == "FORGEQ_NO_TRANSPILER":
        return HandlerLoadError(f"{where}: {message}")
    if error.get("code") == "ERR_MODULE_NOT_FOUND":
        return HandlerLoadError(
            f"{where}: importing {relative.name} failed: {message}; did `npm install` run in the app folder?"
        )
    return HandlerLoadError(
        f"{where}: importing {relative.name} failed: {kind}: {message}" + (f" ({at})" if at else "")
    )


class JsHandler:
    """A function's JavaScript entry point, called by the engine like a Python handler."""

    def __init__(self, bridge: Bridge, function: Function, file: Path) -> None:
        self.bridge = bridge
        self.function = function
        self.file = file

    def __repr__(self) -> str:
        return f"<JavaScript handler {self.function.handler} in {self.file}>"

    def __call__(self, *args: Any) -> Any:
        invocation = runtime.current()
        message: dict[str, Any] = {
            "t": "invoke",
            "file": str(self.file),
            "export": self.function.attribute,
            "args": list(args),
            "seed": invocation.seed(),
            "runtime": invocation.app_context(self.function.key),
            "timeoutMs": int(self.function.timeout_seconds * 1000),
        }

        def serve(call: dict[str, Any]) -> dict[str, Any]:
            if call.get("inv") != message["id"]:
                return no_invocation(call)
            return invocation.platform_request(call)

        try:
            worker = self.bridge.worker()
            answer = worker.exchange(message, serve, None)
            worker.remember(message["id"], invocation)
        except WorkerExited as exited:
            self.bridge.discard()
            invocation.notes.append(
                "the Node.js worker ended during this attempt; the next attempt starts a fresh one"
            )
            raise NodeWorkerExited(str(exited)) from None
        except BaseException:
            # Timed out (SIGALRM) or interrupted while JavaScript ran: the worker's state is unknown.
            self.bridge.discard()
            invocation.notes.append(
                "forgeq stopped the Node.js worker running this attempt; the next attempt starts a fresh one (modules load again)"
            )
            raise
        if answer.get("logs"):
            sys.stdout.write(answer["logs"])
        invocation.notes.extend(answer.get("notes") or [])
        if not answer.get("ok"):
            error = answer.get("error") or {}
            stack = str(error.get("stack") or "")
            invocation.notes.extend(
                str(problem) for problem in self.bridge.problems if not problem.runs_here and f"{problem.where}/" in stack
            )
            raise javascript_error(error)
        return answer.get("value")
