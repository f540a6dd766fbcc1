"""Compact JSON text, as JSON.stringify writes it, from json's C encoder without json.dumps's wrapping.

`json.dumps(value, separators=(",", ":"), ensure_ascii=False)` builds a JSONEncoder, then a C
encoder, on every call: for the small values of the hot path (a KVS value, a pushed body, a
retryData) that is more than half the call. `compact` builds only the C encoder (a fresh one per
call, so a failed encoding leaves no circular-reference marker behind): same text, same errors
(tests/test_performance_loop.py compares them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder
from typing import Any

_MAKE_ENCODER: Callable[..., Any] | None = getattr(encoder, "c_make_encoder", None)  # None without the C accelerator


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")  # JSONEncoder.default's words


def compact(value: Any, *, allow_nan: bool = True, default: Callable[[Any], Any] | None = None) -> str:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan, default=default)`."""
    make = _MAKE_ENCODER
    if make is None or isinstance(value, str):  # no C accelerator; a bare string is json.dumps's own shortcut
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan, default=default)
    return "".join(make({}, default or _refuse, encoder.encode_basestring, None, ":", ",", False, False, allow_nan)(value, 0))
