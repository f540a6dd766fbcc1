"""Which Node.js runs an app's JavaScript handlers, and whether it fits `app.runtime.name`.

`FORGEQ_NODE` names the node executable to use; otherwise `node` is looked up on PATH. Forge runs
the version that `app.runtime.name` names (nodejs18.x, nodejs20.x, nodejs22.x, ...). A local
Node.js of another major version runs the app with a warning: an older one may lack what the code
uses (it would fail here, and not on Forge), a newer one may accept code that Forge refuses.
Published apps name the runtime of their year, and Node.js 20 runs almost all of them, so forgeq
runs them rather than refusing. forgeq's worker itself needs Node.js 20.6 or newer (module hooks,
`module.register`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

MIN_VERSION = (20, 6, 0)
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
_RUNTIME = re.compile(r"^nodejs(\d+)\.x$")
_found: dict[str, NodeRuntime | None] = {}


@dataclass(frozen=True)
class NodeRuntime:
    path: str
    version: tuple[int, int, int]

    @property
    def text(self) -> str:
        return ".".join(map(str, self.version))


class NodeProblem(Exception):
    """Why JavaScript handlers cannot run here: `message` and `hint`, for a HandlerLoadError."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def find_node() -> NodeRuntime | None:
    """The Node.js to use (FORGEQ_NODE, else `node` on PATH) and its version, or None if there is none."""
    wanted = os.environ.get("FORGEQ_NODE") or "node"
    if wanted in _found:
        return _found[wanted]
    path = shutil.which(wanted)
    runtime = None
    if path is not None:
        try:
            done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            done = None
        match = _VERSION.match(done.stdout.strip()) if done is not None and done.returncode == 0 else None
        if match:
            major, minor, patch = (int(part) for part in match.groups())
            runtime = NodeRuntime(path, (major, minor, patch))
    _found[wanted] = runtime
    return runtime


def runtime_major(runtime_name: str | None) -> int | None:
    """20 for `nodejs20.x`; None for a name that is not a Node.js runtime (or no name)."""
    match = _RUNTIME.match(runtime_name or "")
    return int(match.group(1)) if match else None


def check(runtime_name: str | None) -> tuple[NodeRuntime, str | None]:
    """The Node.js to run JavaScript handlers with, and a warning if its major version is not Forge's.

    Raises NodeProblem when there is none, or it is older than forgeq's worker.
    """
    wanted = runtime_major(runtime_name)
    install = f"Node.js {wanted} (app.runtime.name is {runtime_name})" if wanted else "Node.js 20 or newer"
    node = find_node()
    if node is None:
        named = os.environ.get("FORGEQ_NODE")
        where = (
            f"FORGEQ_NODE={named} is not an executable Node.js"
            if named
            else "Node.js is not installed here (no `node` on PATH)"
        )
        raise NodeProblem(where, f"install {install}, or set FORGEQ_NODE to its path")
    if node.version < MIN_VERSION:
        minimum = ".".join(map(str, MIN_VERSION))
        raise NodeProblem(
            f"Node.js {node.text} ({node.path}) is too old for forgeq's worker, which needs {minimum} or newer",
            f"install {install}, or set FORGEQ_NODE",
        )
    warning = None
    if wanted is not None and node.version[0] < wanted:
        warning = (
            f"app.runtime.name is {runtime_name}; JavaScript handlers run on this machine's Node.js {node.text}, "
            f"an older major version: code that needs Node.js {wanted} fails here (install it, or set FORGEQ_NODE to it)"
        )
    elif wanted is not None and node.version[0] > wanted:
        warning = (
            f"app.runtime.name is {runtime_name}; JavaScript handlers run on this machine's Node.js {node.text}, "
            f"a newer major version: code that runs here may not run on Forge"
        )
    return node, warning
