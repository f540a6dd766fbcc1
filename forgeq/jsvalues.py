"""How JavaScript reads a JSON-like value where Forge's packages test it: truthiness, `Number()`,
`String()`, `\\s`, and a type's name as an error message shows it.

Forge's npm packages check their arguments with JavaScript's loose rules (`if (!queueName)`,
`delayInSeconds > 900`, `retryAfter <= 0`, `/^[a-zA-Z0-9-_]+$/.test(key)`), so `"1000"` is a delay over
900 and `[]` is truthy. forgeq's Python SDK applies the same rules to the same values: JSON's types
map as JSON.parse maps them (None is null, a list or tuple an Array, a dict an Object). Python has
no `undefined`: an argument left out is.
"""

from __future__ import annotations

import math
import re
from typing import Any

from forgeq.jsontext import number_text, stringify

# ECMAScript's WhiteSpace and LineTerminator: what `\s` matches and `Number()` trims.
WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# Patterns compiled at their first use (re's cache), not at import: only a string's `Number()` needs
# them, and every command imports this module (bench/README.md, Round 4).
_DECIMAL = r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
_RADIX = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}
_RADIX_DIGITS = {16: r"[0-9a-fA-F]+", 8: r"[0-7]+", 2: r"[01]+"}
_TRIM = f"^[{WHITESPACE}]+|[{WHITESPACE}]+$"


def truthy(value: Any) -> bool:
    """JavaScript's truthiness: false, 0, NaN, "" and null are falsy; [] and {} are not."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0
    if isinstance(value, str):
        return value != ""
    return True


def to_number(value: Any) -> float:
    """`Number(value)`: null 0, true 1, "12" 12, "" 0, [5] 5, [] 0, {} NaN; NaN for any other Python value."""
    if value is None or value is False:
        return 0.0
    if value is True:
        return 1.0
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return _string_to_number(value)
    if isinstance(value, list | tuple):
        return _string_to_number(to_string(value))
    return math.nan


def _string_to_number(text: str) -> float:
    text = re.sub(_TRIM, "", text)
    if text == "":
        return 0.0
    if re.fullmatch(_DECIMAL, text):
        return float(text.replace("Infinity", "inf"))
    base = _RADIX.get(text[:2])
    if base is not None and re.fullmatch(_RADIX_DIGITS[base], text[2:]):
        try:
            return float(int(text[2:], base))
        except OverflowError:
            return math.inf
    return math.nan


def to_string(value: Any, _seen: frozenset[int] = frozenset()) -> str:
    """`String(value)`: null "null", 1.0 "1", [1, [2, null]] "1,2,", {} "[object Object]"."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return number_text(to_number(value))
    if isinstance(value, list | tuple):
        if id(value) in _seen:
            return ""  # Array.prototype.join leaves out an array already being joined
        inner = _seen | {id(value)}
        return ",".join("" if item is None else to_string(item, inner) for item in value)
    if isinstance(value, dict) or callable(getattr(value, "toJSON", None)):
        return "[object Object]"  # an object with toJSON stands for a JavaScript object (an InvocationError, a Filter)
    return str(value)


def type_name(value: Any) -> str:
    """A JSON value's type as forgeq's messages name it: null, boolean, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__  # a Python value JSON has no type for


def shown(value: Any, limit: int = 60) -> str:
    """A value as a message quotes it: its JSON text (the same from either language), cut at `limit`."""
    try:
        text = stringify(value)
    except (TypeError, ValueError):
        text = repr(value)  # a Python value JSON has no text for
    return text if len(text) <= limit else text[: limit - 3] + "..."


def spread(value: Any) -> dict[str, Any]:
    """`{...value}`: an object's own fields, a string's or an array's items by index, nothing for null or a number."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str | list | tuple):
        return {str(index): item for index, item in enumerate(value)}
    return {}


def typeof(value: Any) -> str:
    """JavaScript's `typeof` for a value JSON can hold: null and arrays are "object"."""
    name = type_name(value)
    return "object" if name in ("null", "array") else name


def property_error(value: Any, name: str, *, setting: bool) -> TypeError | None:
    """The TypeError strict-mode JavaScript throws for `value.name = x` (setting) or reading `value.name`,
    or None where it throws none: on null, and when setting a property of a string, number or boolean."""
    if value is None:
        if setting:
            return TypeError(f"Cannot set properties of null (setting '{name}')")
        return TypeError(f"Cannot read properties of null (reading '{name}')")
    if setting and isinstance(value, str | int | float):
        return TypeError(f"Cannot create property '{name}' on {typeof(value)} '{to_string(value)}'")
    return None
