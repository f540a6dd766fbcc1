"""JSON that a person hands forgeq (`push --body`, `--body @file`, `--set`, `--payload`, `import`),
checked before it is parsed: its size, its nesting and its numbers.

Python's json module raises RecursionError past about a thousand levels of nesting and ValueError
past 4300 digits in an integer, and reads 1e400 as infinity, which is not JSON; each would have
been an internal error. Each is refused here with one line that names the input, the limit, and
what JavaScript (Forge's runtime) makes of it, checked on the text before the parser runs.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
from itertools import accumulate
from pathlib import Path
from typing import Any

from forgeq.emulator import limits
from forgeq.emulator.errors import InputError

# Possessive quantifiers (Python 3.11): each pattern runs in time linear in the text. Compiled at
# their first use (re's cache), not at import: a run reads no JSON input (bench/README.md, Round 4).
_NOT_BRACKET = r"[^\[\]{}]++"
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_LONG_NUMBER = r"\d{300}|[eE][+-]?\d{3}"  # a cheap first look for the pattern below
# A number token (outside strings) long enough, or with an exponent large enough, to overflow a double.
_SUSPECT_NUMBER = r"(?<![\d.eE+-])-?(?:\d{300}\d*+(?:\.\d++)?(?:[eE][+-]?\d++)?|\d++(?:\.\d++)?[eE][+-]?\d{3}\d*+)"


class JsonInputError(InputError):
    """JSON input that is too large, too deep, or holds a number out of range."""


class InvalidJson(JsonInputError):
    """Text that is not JSON at all (`--set` then takes it as text)."""


def parse(text: str, source: str, *, max_bytes: int = limits.MAX_JSON_INPUT_BYTES, max_depth: int = limits.MAX_JSON_INPUT_DEPTH) -> Any:
    """The JSON value of `text`, or JsonInputError naming `source` (an option or a file) and the problem."""
    if len(text) > max_bytes:
        raise JsonInputError(f"{source}: {len(text)} characters, over forgeq's {max_bytes // (1024 * 1024)} MiB limit for JSON input")
    outside = _outside_strings(text)  # what is left is structure and numbers
    depth = _depth(re.sub(_NOT_BRACKET, "", outside), max_depth)
    if depth > max_depth:
        raise JsonInputError(f"{source}: JSON nested {depth} levels deep, over forgeq's limit of {max_depth}")
    if re.search(_LONG_NUMBER, outside):
        for match in re.finditer(_SUSPECT_NUMBER, outside):
            if math.isinf(float(match.group())):
                token = match.group() if len(match.group()) <= 24 else f"a number of {len(match.group())} characters"
                raise JsonInputError(
                    f"{source}: {token} is beyond the largest number JavaScript holds (about 1.8e308): "
                    "JSON.parse makes it Infinity, which JSON.stringify sends as null"
                )
    try:
        return json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as error:
        where = "" if error.doc in ("NaN", "Infinity", "-Infinity") else f" at line {error.lineno} column {error.colno}"
        raise InvalidJson(f"{source}: invalid JSON{where}: {error.msg}") from None
    except (ValueError, RecursionError) as error:  # what the checks above let through: still one line
        raise JsonInputError(f"{source}: cannot read this JSON ({type(error).__name__})") from None


class TooLarge(OSError):
    """A file past what forgeq reads; its text is the reason alone (no `[Errno 27]`)."""

    def __str__(self) -> str:
        return str(self.strerror)


def bounded_bytes(path: Path | str, max_bytes: int) -> bytes:
    """At most `max_bytes + 1` bytes of the file at `path`: a caller that gets more than `max_bytes`
    refuses the file. What bounds a file whose size says nothing (/dev/zero, a pipe, /proc)."""
    with open(path, "rb") as file:
        return file.read(max_bytes + 1)


def limited_bytes(path: Path | str, max_bytes: int) -> bytes:
    """The bytes of a file a person names, refused past `max_bytes` with TooLarge (an OSError, which
    the callers' `except OSError` already word as one line)."""
    data = bounded_bytes(path, max_bytes)
    if len(data) > max_bytes:
        raise TooLarge(errno.EFBIG, f"larger than forgeq reads ({max_bytes // (1024 * 1024)} MiB)")
    return data


def bounded_text(path: Path | str, max_bytes: int) -> str:
    """limited_bytes() as UTF-8 text; UnicodeDecodeError as `Path.read_text` gives it."""
    return limited_bytes(path, max_bytes).decode("utf-8")


def read_file(path: Path, source: str, **checks: Any) -> Any:
    """parse() of a UTF-8 file, its size checked before it is read."""
    return parse(read_text(path, source, checks.get("max_bytes", limits.MAX_JSON_INPUT_BYTES)), source, **checks)


def read_text(path: Path, source: str, max_bytes: int) -> str:
    """A UTF-8 file's text, refused past `max_bytes`: by its size before a byte is read, and by what
    it gives for a file whose size says nothing (/dev/zero, a pipe, /proc); each failure one line."""
    try:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise JsonInputError(f"{source}: {size} bytes, over forgeq's {max_bytes // (1024 * 1024)} MiB limit for JSON input")
        return bounded_text(path, max_bytes)
    except TooLarge:
        raise JsonInputError(f"{source}: more than {max_bytes // (1024 * 1024)} MiB, over forgeq's limit for JSON input") from None
    except FileNotFoundError:
        raise JsonInputError(f"{source}: no such file {path}") from None
    except IsADirectoryError:
        raise JsonInputError(f"{source}: {path} is a folder") from None
    except UnicodeDecodeError as error:
        raise JsonInputError(f"{source}: cannot read {path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise JsonInputError(f"{source}: cannot read {path}: {error.strerror}") from None


def _outside_strings(text: str) -> str:
    """The text without its strings (each pass in C): escaped backslashes, then escaped quotes go,
    so every quote left opens or closes a string."""
    return "".join(text.replace("\\\\", "").replace('\\"', "").split('"')[::2])


def _depth(brackets: str, limit: int) -> int:
    """How deep the brackets nest: innermost pairs are taken out a level at a time (each pass in C);
    the exact count only when that does not empty them (too deep, or not balanced)."""
    left = brackets
    for _ in range(limit + 1):
        shorter = left.replace("[]", "").replace("{}", "")
        if len(shorter) == len(left):
            break
        left = shorter
    if not left:
        return 0
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _not_json(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON (JSON.parse refuses it)", name, 0)
