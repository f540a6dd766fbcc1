"""The tests' warm CLI harness (warmcli.py) reads the zygote's replies without losing one."""

from __future__ import annotations

import subprocess
import sys

from warmcli import Zygote


def test_a_reply_read_along_with_the_one_before_is_not_waited_for() -> None:
    # A child that exits at once has its pid and its exit status written back to back: one read
    # of the pipe takes both, and the second must come from what was read, not from a new wait.
    zygote = object.__new__(Zygote)
    zygote.process = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.stdout.write('4242\\n0\\n'); sys.stdout.flush(); time.sleep(30)"],
        stdout=subprocess.PIPE,
    )
    zygote.replies = b""
    try:
        assert zygote._line(20) == "4242"
        assert zygote._line(0.5) == "0"
    finally:
        zygote.process.kill()
        zygote.process.wait()
