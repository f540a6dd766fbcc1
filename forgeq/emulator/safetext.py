"""Text from handlers and people, made safe to keep and to show.

Whatever a handler raises, returns or prints, and whatever a person types, ends up in SQLite (whose
Python binding refuses a lone surrogate), in a terminal (whose encoder does too) and in one-line
messages. Python strings may hold lone surrogates ("\\ud800" is valid JSON, and JavaScript strings
hold them freely); `repr` of a 5000-digit integer raises (Python's 4300-digit limit); `repr` of a
value may be megabytes long or raise. These helpers never raise and never return more than asked.
"""

from __future__ import annotations

from typing import Any

# A lone surrogate is written as JSON escapes it (jsontext.escape_surrogates): the text reads the
# same in the state file, a terminal and --json.
from forgeq.jsontext import escape_surrogates


def bounded(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def bounded_middle(text: str, limit: int) -> str:
    """`text` cut in the middle to about `limit` characters: a message keeps its start (what it is
    about) and its end (what to do), and a quoted input of 100 KB in between shrinks to a glimpse."""
    if len(text) <= limit:
        return text
    keep = max(limit - 40, 20)
    return f"{text[: keep * 3 // 4]}… [{len(text) - keep} characters cut] …{text[len(text) - keep // 4 :]}"


def safe_text(text: str, limit: int) -> str:
    return bounded(escape_surrogates(text), limit)


def shown(value: Any, limit: int = 80) -> str:
    """`repr(value)` for a message: bounded, well formed, and never raising."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        digits = int(value.bit_length() * 0.30103) + 1
        return f"{'-' if value < 0 else ''}an integer of about {digits} digits"
    if isinstance(value, str) and len(value) > limit:  # repr of a megabyte string is a megabyte
        head = escape_surrogates(repr(value[:limit]))
        return f"{head[:-1]}…{head[-1]} ({len(value)} characters)"
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} nested too deep to show>"
    except Exception:  # noqa: BLE001 - a __repr__ that raises, an integer past Python's digit limit
        text = f"<{type(value).__name__} object>"
    return bounded(escape_surrogates(text), limit)
