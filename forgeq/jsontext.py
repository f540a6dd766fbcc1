"""JSON text as JavaScript writes it (`JSON.stringify`), and compact JSON text from json's C encoder.

Forge's packages measure every limit on `JSON.stringify`'s text (the 200 KB push, the 240 KiB value,
the 4 KB retryData) and send that text to the platform, so forgeq stores and measures that text
too, whichever language the handler is written in. `stringify(value)` is it for a Python value:

- numbers as `Number.prototype.toString` writes them: `1` for 1.0, `1e-7`, `1e+21`, `0` for -0.0,
  and an integer beyond 2**53 as the nearest double JavaScript would hold (`18446744073709552000`);
- NaN and +/-Infinity as `null`;
- a lone surrogate as `\\ud800` (ES2019's well-formed JSON.stringify), a high and low surrogate
  side by side as the one character JavaScript would see;
- an object's integer-like keys first, ascending, as JavaScript orders an object's properties;
- an object with a `toJSON()` method written as what it returns (an InvocationError is the plain
  `{_retry, retryOptions}` object it stands for);
- a circular structure refused with V8's TypeError message; a Python value no JSON type holds (a
  datetime, a set) refused with json's own TypeError, or given to `default`.

`compact(value)` is json.dumps's compact text without its wrapping (one C encoder per call, a third
of the cost on small values): `stringify` tries it first and repairs only what JavaScript writes
differently, which the common value (strings, small integers) never holds.
"""

from __future__ import annotations

import functools
import json
import json.scanner
import re
import threading
from collections.abc import Callable
from json import encoder
from typing import Any

_MAKE_ENCODER: Callable[..., Any] | None = getattr(encoder, "c_make_encoder", None)  # None without the C accelerator
_MAX_SAFE = 2**53
_INFINITY = float("inf")


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")  # JSONEncoder.default's words


def compact(value: Any, *, allow_nan: bool = True, default: Callable[[Any], Any] | None = None) -> str:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan, default=default)`."""
    make = _MAKE_ENCODER
    if make is None or isinstance(value, str):  # no C accelerator; a bare string is json.dumps's own shortcut
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan, default=default)
    if not allow_nan or default is not None:
        return "".join(make({}, default or _refuse, encoder.encode_basestring, None, ":", ",", False, False, allow_nan)(value, 0))
    # The common call reuses its thread's encoder: making one, and the markers dict it grows to
    # detect cycles, is a third of the cost of a small document. It is taken out while in use (a
    # call within a call makes its own) and kept only after a success, when its markers are empty
    # again; a failure leaves ids in them, so that encoder is dropped.
    encode = _ENCODERS.__dict__.pop("encode", None) or make({}, _refuse, encoder.encode_basestring, None, ":", ",", False, False, True)
    text = "".join(encode(value, 0))
    _ENCODERS.encode = encode
    return text


_ENCODERS = threading.local()


def parse(text: str) -> Any:
    """`json.loads(text)` for the compact text forgeq stores, without json.loads's Python layers
    (its whitespace scans and decoder object are two thirds of the cost of a small body): json's
    scanner reads the value, and json.loads itself answers whatever that does not take whole."""
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:  # not a JSON value at 0 (whitespace first, or not JSON): json.loads says which
        return json.loads(text)
    if end != len(text):
        return json.loads(text)  # whitespace after, or more than one value
    return value


_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


class CircularJsonError(TypeError):
    """JSON.stringify's TypeError for a structure that contains itself, with V8's message. Its
    name is TypeError, as JavaScript names it, so a handler's error reads the same in both."""


CircularJsonError.__name__ = CircularJsonError.__qualname__ = "TypeError"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _ask(default: Callable[[Any], Any] | None, item: Any) -> Any:
    """What an object JSON has no type for is written as: its toJSON(), as JSON.stringify asks; else `default`'s answer."""
    to_json = getattr(item, "toJSON", None)
    if callable(to_json):
        return to_json()
    return (default or _refuse)(item)


_ASK = functools.partial(_ask, None)


def _shared_encoder(default: Callable[[Any], Any]) -> Callable[[Any, int], list[str]]:
    if _MAKE_ENCODER is None:  # no C accelerator
        return lambda value, _: [json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=default)]
    return _MAKE_ENCODER(None, default, encoder.encode_basestring, None, ":", ",", False, False, True)  # type: ignore[no-any-return]


_ENCODE = _shared_encoder(_ASK)  # stringify's without a `default` of its own (see there)
_TREE = _shared_encoder(_refuse)


def compact_tree(value: Any) -> str:
    """compact's text for a value that cannot hold a cycle (parsed from JSON, or built by forgeq out
    of such values): one encoder shared by every call, without the marks compact keeps to find a
    cycle, which are most of its cost on a small document (a cycle here would end in RecursionError)."""
    return "".join(_TREE(value, 0))


def object_text(value: dict[Any, Any]) -> str | None:
    """stringify's text for a dict that json writes as JSON.stringify does, in ASCII; else None
    (ask stringify, which says why). The commonest value stored, without stringify's choices."""
    try:
        text = "".join(_ENCODE(value, 0))
    except (ValueError, RecursionError, TypeError):
        return None
    return text if text.isascii() and _same_text(value) else None


def stringify(value: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """`JSON.stringify(value)` for a JSON-like Python value (see the module's docstring)."""
    ask = _ASK if default is None else functools.partial(_ask, default)
    try:
        # Without `default`, one C encoder serves every call: it keeps no circular-reference marks
        # (a cycle runs into the recursion limit, and _careful says what JSON.stringify would).
        text = "".join(_ENCODE(value, 0)) if default is None else compact(value, default=ask)
    except (ValueError, RecursionError):  # a cycle, or deeper than json's C encoder goes
        return _careful(value, ask)
    if not _same_text(value):
        return _careful(value, ask)
    return text if text.isascii() else escape_surrogates(text)  # JSON.stringify escapes a lone surrogate


def _same_text(value: Any) -> bool:
    """Whether json writes `value` as JSON.stringify does: no float it lays out otherwise, no integer
    beyond 2**53, no key JavaScript would order first. A walk of the containers only: cheaper than
    searching the text, which strings make long."""
    if type(value) is dict:  # the commonest value, an object of strings: no walk
        for key, item in value.items():
            if type(item) is not str or type(key) is not str or key[:1].isdigit():
                break
        else:
            return True
        try:
            if _plain_object(value):  # the next commonest, objects in objects (a push's {"body": {...}})
                return True
        except RecursionError:  # nested deeper than this frame may go: the walk has no recursion
            pass
    stack = [value]
    pop = stack.pop
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int:
            if -_MAX_SAFE < item < _MAX_SAFE:
                continue
            return False
        if kind is dict:
            for key in item:
                if type(key) is not str or key[:1].isdigit():
                    return False
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif kind is float:
            shown = float.__repr__(item)  # "1.5": the same; "1.0", "1e-07", "1e+16", "nan", "inf": not
            if "e" in shown or shown.endswith(".0") or "n" in shown:
                return False
        else:
            to_json = getattr(item, "toJSON", None)
            if to_json is None and isinstance(item, str):
                continue  # a str subclass (an InvocationErrorCode): json writes its text, as JavaScript would
            if not callable(to_json) or isinstance(item, str | int | float | list | tuple | dict):
                return False  # another subclass, or a value for `default`: the careful encoder decides
            # json wrote what toJSON() answers (an InvocationError, say): check that, asked once more
            # (the careful encoder would ask it again too).
            stack.append(to_json())
    return True


def _plain_object(value: dict[Any, Any]) -> bool:
    """True when `value` and the objects in it hold only strings, null, booleans and safe integers,
    under keys JavaScript keeps in order; False when the walk must decide (a list, a float...)."""
    for key, item in value.items():
        if type(key) is not str or key[:1].isdigit():
            return False
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is dict:
            if not _plain_object(item):
                return False
        elif kind is not int or not -_MAX_SAFE < item < _MAX_SAFE:
            return False
    return True


def number(value: int | float) -> str:
    """A JSON number as JSON.stringify writes it (`null` for NaN and +/-Infinity)."""
    if isinstance(value, int):
        if -_MAX_SAFE < value < _MAX_SAFE:
            return int.__repr__(value)
        try:
            value = float(value)
        except OverflowError:
            return "null"  # JSON.parse reads such a number as Infinity
    if value != value or value in (_INFINITY, -_INFINITY):
        return "null"
    return number_text(value)


def number_text(value: float) -> str:
    """`Number.prototype.toString()` of a double (ECMAScript's Number::toString, radix 10)."""
    if value != value:
        return "NaN"
    if value in (_INFINITY, -_INFINITY):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = float.__repr__(abs(value)).partition("e")  # the shortest digits that round-trip
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)  # digits[:point] is the integer part
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    power = n - 1
    tail = f"e{'+' if power >= 0 else '-'}{abs(power)}"
    return sign + (digits if k == 1 else digits[0] + "." + digits[1:]) + tail


def _surrogates(text: str) -> str:
    """Lone surrogates escaped as JSON.stringify escapes them; a high and a low side by side are one character."""
    paired = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", paired)


def _string(value: str) -> str:
    return escape_surrogates(encoder.encode_basestring(value))


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int) and -_MAX_SAFE < key < _MAX_SAFE:
        return int.__repr__(key)
    if isinstance(key, int | float):
        try:
            return number_text(float(key))
        except OverflowError:
            return "Infinity" if key > 0 else "-Infinity"
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _array_index(key: str) -> int | None:
    """The index an object key stands for when JavaScript orders it first (a canonical uint32 below 2**32-1)."""
    if key.isdigit() and key.isascii() and (key == "0" or key[0] != "0"):
        index = int(key)
        if index < 2**32 - 1:
            return index
    return None


def _items(value: dict[Any, Any]) -> list[tuple[str, Any]]:
    items = [(_key(key), item) for key, item in value.items()]
    indexed = [(index, key, item) for key, item in items if (index := _array_index(key)) is not None]
    if not indexed:
        return items
    indexed.sort(key=lambda entry: entry[0])
    return [(key, item) for _, key, item in indexed] + [(key, item) for key, item in items if _array_index(key) is None]


class _Frame:
    __slots__ = ("container", "entries", "position", "is_object", "label")

    def __init__(self, container: Any, entries: list[tuple[Any, Any]], is_object: bool, label: Any) -> None:
        self.container = container
        self.entries = entries
        self.position = 0
        self.is_object = is_object
        self.label = label  # the key or index under which the parent holds this container


def _careful(value: Any, ask: Callable[[Any], Any]) -> str:
    """The whole JSON.stringify, one value at a time, with an explicit stack (no recursion limit)."""
    out: list[str] = []
    stack: list[_Frame] = []
    active: dict[int, int] = {}  # id of a container being written -> its place in the stack

    def open_container(container: Any, label: Any) -> None:
        place = active.get(id(container))
        if place is not None:
            raise CircularJsonError(_circle_message(stack, place, label))
        if isinstance(container, dict):
            entries: list[tuple[Any, Any]] = _items(container)
            out.append("{")
            is_object = True
        else:
            entries = list(enumerate(container))
            out.append("[")
            is_object = False
        active[id(container)] = len(stack)
        stack.append(_Frame(container, entries, is_object, label))

    def write(item: Any, label: Any) -> None:
        for _ in range(100):  # `default` may hand back another value it must be asked about
            if item is None:
                out.append("null")
            elif item is True:
                out.append("true")
            elif item is False:
                out.append("false")
            elif isinstance(item, str):
                out.append(_string(item))
            elif isinstance(item, int | float):
                out.append(number(item))
            elif isinstance(item, dict | list | tuple):
                open_container(item, label)
            else:
                item = ask(item)
                continue
            return
        raise ValueError("default() kept returning values JSON cannot hold")

    write(value, None)
    while stack:
        frame = stack[-1]
        if frame.position == len(frame.entries):
            out.append("}" if frame.is_object else "]")
            stack.pop()
            del active[id(frame.container)]
            continue
        key, item = frame.entries[frame.position]
        if frame.position:
            out.append(",")
        frame.position += 1
        if frame.is_object:
            out.append(_string(key))
            out.append(":")
        write(item, key)
    return "".join(out)


def _constructor(container: Any) -> str:
    return "Object" if isinstance(container, dict) else "Array"


def _step(label: Any) -> str:
    return f"index {label}" if isinstance(label, int) else f"property '{label}'"


def _circle_message(stack: list[_Frame], start: int, closing: Any) -> str:
    """V8's words (json-stringifier.cc): the start, two steps, an ellipsis, the last step, the closing key."""
    lines = [f"\n    --> starting at object with constructor '{_constructor(stack[start].container)}'"]
    path = stack[start + 1 :]
    shown = path if len(path) <= 3 else [*path[:2], None, path[-1]]
    for frame in shown:
        if frame is None:
            lines.append("\n    |     ...")
        else:
            lines.append(f"\n    |     {_step(frame.label)} -> object with constructor '{_constructor(frame.container)}'")
    lines.append(f"\n    --- {_step(closing)} closes the circle")
    return "Converting circular structure to JSON" + "".join(lines)


def through_json(value: Any, *, default: Callable[[Any], Any] | None = None) -> Any:
    """`JSON.parse(JSON.stringify(value))`: the value as the other side of a request receives it."""
    return json.loads(stringify(value, default=default))


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def depth(text: str) -> int:
    """How deep JSON text nests: 0 for a scalar, 1 for `{}` or `[1]`, 2 for `{"a": []}` (no recursion)."""
    deepest = level = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        if bracket in "[{":
            level += 1
            deepest = max(deepest, level)
        else:
            level -= 1
    return deepest


def pretty(value: Any) -> str:
    """Indented JSON text for `--json` output and files: valid JSON whatever was stored (NaN and
    Infinity of an older state file as null) and writable as UTF-8 (lone surrogates escaped)."""
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:  # NaN or Infinity, or a cycle: JSON.stringify's reading of it
        text = json.dumps(json.loads(stringify(value, default=str)), indent=2, ensure_ascii=False)
    return escape_surrogates(text)


def escape_surrogates(text: str) -> str:
    """`text` with each lone surrogate written as a JSON escape, so that it encodes as UTF-8."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _surrogates(text)
    return text
