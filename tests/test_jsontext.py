"""forgeq.jsontext and forgeq.jsvalues against the real thing: Node.js's JSON.stringify, Number(),
String() and loose comparisons, on the same values (generated, and the edges by hand).

Each value crosses to Node.js in a form that rebuilds it exactly (floats by their repr, strings by
their UTF-16 code units, objects as key/value pairs in order), so the comparison is of the two
encoders, not of a JSON round trip.
"""

from __future__ import annotations

import json
import math
import random
import struct
import subprocess
from typing import Any

import pytest
from nodejs import NODE, requires_node

from forgeq import jsvalues
from forgeq.jsontext import CircularJsonError, compact, depth, number_text, stringify, through_json

pytestmark = requires_node

REBUILD = r"""
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
function rebuild(v) {
  if (v === null || typeof v === 'boolean') return v;
  if ('i' in v) return Number(v.i);
  if ('f' in v) return Number(v.f.replace('inf', 'Infinity').replace('nan', 'NaN'));
  if ('s' in v) return String.fromCharCode(...v.s);
  if ('a' in v) return v.a.map(rebuild);
  const o = {};
  for (const [k, x] of v.o) o[rebuild(k)] = rebuild(x);
  return o;
}
function shown(n) { return Number.isNaN(n) ? 'NaN' : n === Infinity ? 'Infinity' : n === -Infinity ? '-Infinity' : n; }
const out = {
  stringify: input.stringify.map((v) => JSON.stringify(rebuild(v))),
  loose: input.loose.map((raw) => {
    const v = rebuild(raw);
    const n = Number(v);
    return [!!v, shown(n), String(v), v <= 0, v > 900, v < 0];
  }),
  cycles: input.cycles.map((source) => {
    try { JSON.stringify(new Function(source)()); return null; } catch (e) { return e.message; }
  }),
};
process.stdout.write(JSON.stringify(out));
"""


def carried(value: Any) -> Any:
    """`value` in the form REBUILD turns back into the same JavaScript value."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {"i": str(value)}
    if isinstance(value, float):
        return {"f": repr(value)}
    if isinstance(value, str):
        units = value.encode("utf-16-le", "surrogatepass")
        return {"s": [int.from_bytes(units[i : i + 2], "little") for i in range(0, len(units), 2)]}
    if isinstance(value, list | tuple):
        return {"a": [carried(item) for item in value]}
    return {"o": [[carried(key), carried(item)] for key, item in value.items()]}


def generated(seed: int, count: int) -> list[Any]:
    rnd = random.Random(seed)

    def a_float() -> float:
        pick = rnd.random()
        if pick < 0.25:
            return float(struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0])
        if pick < 0.5:
            return float(rnd.randint(-(10**6), 10**6))
        if pick < 0.75:
            return rnd.choice(EDGE_FLOATS)
        return rnd.uniform(-1, 1) * 10 ** rnd.randint(-30, 30)

    def a_string() -> str:
        pieces = []
        for _ in range(rnd.randint(0, 6)):
            pick = rnd.random()
            if pick < 0.5:
                pieces.append(chr(rnd.randint(32, 126)))
            elif pick < 0.6:
                pieces.append(chr(rnd.randint(0, 31)))
            elif pick < 0.7:
                pieces.append(rnd.choice(["\ud800", "\udfff", "\udbff", "\udc00"]))
            elif pick < 0.85:
                pieces.append(chr(rnd.choice([rnd.randint(0x80, 0xD7FF), rnd.randint(0x10000, 0x10FFFF)])))
            else:
                pieces.append(rnd.choice(["\u2028", "\x7f", '"', "\\", "/", "\ufeff"]))
        return "".join(pieces)

    def a_key() -> str:
        pick = rnd.random()
        if pick < 0.3:
            return str(rnd.choice([0, 1, 2, 10, 99, 4294967294, 4294967295, 12345678901]))
        if pick < 0.4:
            return rnd.choice(["01", "-1", "1.5", "00", " 1"])
        return a_string()

    def a_value(level: int = 0) -> Any:
        pick = rnd.random()
        if level > 4 or pick < 0.15:
            return a_float()
        if pick < 0.3:
            return rnd.choice([rnd.randint(-1000, 1000), rnd.randint(-(2**60), 2**60), *EDGE_INTS])
        if pick < 0.45:
            return a_string()
        if pick < 0.5:
            return rnd.choice([None, True, False])
        if pick < 0.75:
            return [a_value(level + 1) for _ in range(rnd.randint(0, 4))]
        return {a_key(): a_value(level + 1) for _ in range(rnd.randint(0, 4))}

    return [a_value() for _ in range(count)]


EDGE_FLOATS = [
    0.0, -0.0, 1.0, 1e21, 1e20, 1e16, 1e15, 1e-6, 1e-7, 1e-5, 9.999999999999999e20, 123e-20, 5e-324,
    1.7976931348623157e308, math.nan, math.inf, -math.inf, 0.1, 1 / 3, 2.0**60, 2.0**53, 2.0**53 + 2, 0.1 + 0.2,
]  # fmt: skip
EDGE_INTS = [2**53, 2**53 - 1, -(2**53), 2**64, 10**21, 10**25 + 1, 10**400, -(10**400)]

# Python structures holding themselves, and the JavaScript that builds the same.
CYCLES: list[tuple[str, str]] = [
    ("a = {'x': 1}; a['self'] = a", "const a = {x: 1}; a.self = a; return a"),
    ("b = {'p': {'q': [1, {}]}}; b['p']['q'][1]['r'] = b", "const b = {p: {q: [1, {}]}}; b.p.q[1].r = b; return b"),
    ("c = []; c.append(c)", "const c = []; c.push(c); return c"),
    (
        "d = {'p': {'q': {'r': {'s': {'t': {}}}}}}; d['p']['q']['r']['s']['t']['u'] = d['p']; d = [{'body': d}]",
        "const d = {p: {q: {r: {s: {t: {}}}}}}; d.p.q.r.s.t.u = d.p; return [{body: d}]",
    ),
    ("e = {'a': {'b': {'c': {}}}}; e['a']['b']['c']['d'] = e", "const e = {a: {b: {c: {}}}}; e.a.b.c.d = e; return e"),
    ("f = {'a': [[{'z': 1}]]}; f['a'][0][0]['5'] = f['a']", "const f = {a: [[{z: 1}]]}; f.a[0][0]['5'] = f.a; return f"),
    ("g = {'k': 'v'}; g[\"it's\"] = g", "const g = {k: 'v'}; g[\"it's\"] = g; return g"),
]

LOOSE = [
    "", " ", "12", " 12 ", "\u00a012\ufeff", "0x1f", "0X1F", "-0x5", "1_0", ".5", "5.", "+5", "1e3", "1e", "e5",
    "Infinity", "-Infinity", "+Infinity", "infinity", "0b11", "0o17", "0b", "abc", "1,2", "\u200b1", "\u20281\u2029",
    "1e400", "-0", "00012", "0.0000001", "\x1c1", "1000", "900", None, True, False, 0, -0.0, 5, 1.5, 901, -1, [], [0],
    [1, 2], [[]], [None], [[1, [2, None]]], {}, {"a": 1}, [5], ["1000"], 1e21, 1e-7, math.nan, math.inf, 10**400,
]  # fmt: skip


def shown(number: float) -> Any:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return number


@pytest.fixture(scope="module")
def javascript() -> dict[str, Any]:
    values = generated(7, 1500) + EDGE_FLOATS + EDGE_INTS
    cycles = [source for _, source in CYCLES]
    done = subprocess.run(
        [NODE or "node", "-e", REBUILD],
        input=json.dumps({"stringify": [carried(v) for v in values], "loose": [carried(v) for v in LOOSE], "cycles": cycles}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {"values": values, **json.loads(done.stdout)}


def test_stringify_writes_what_json_stringify_writes(javascript):
    mismatches = [
        (value, ours, theirs)
        for value, theirs in zip(javascript["values"], javascript["stringify"], strict=True)
        if (ours := stringify(value)) != theirs
    ]
    assert mismatches == []


def test_a_cycle_is_a_type_error_with_v8s_message(javascript):
    for (python, _), message in zip(CYCLES, javascript["cycles"], strict=True):
        scope: dict[str, Any] = {}
        exec(python, scope)  # noqa: S102 - the test's own literal
        value = scope[python.split(" ")[0]]
        with pytest.raises(CircularJsonError) as raised:
            stringify(value)
        assert isinstance(raised.value, TypeError)
        assert str(raised.value) == message


def test_truthiness_number_string_and_comparisons_are_javascripts(javascript):
    for value, theirs in zip(LOOSE, javascript["loose"], strict=True):
        number = jsvalues.to_number(value)
        ours = [jsvalues.truthy(value), shown(number), jsvalues.to_string(value), number <= 0, number > 900, number < 0]
        assert ours == theirs, value


def test_the_text_is_what_utf8_and_sqlite_can_hold():
    text = stringify({"s": "\ud800 and \udfff", "pair": "\ud83d\ude00", "n": [1.0, 1e-7, float("nan")], "10": 1, "2": 0})
    assert text == '{"2":0,"10":1,"s":"\\ud800 and \\udfff","pair":"😀","n":[1,1e-7,null]}'
    assert json.loads(text)["s"] == "\ud800 and \udfff"
    text.encode("utf-8")  # no lone surrogate left raw
    assert through_json({"x": -0.0, "big": 2**64, "t": (1, 2)}) == {"x": 0, "big": 18446744073709552000, "t": [1, 2]}
    nested: Any = []
    for _ in range(5000):  # deeper than json's C encoder or Python's recursion go
        nested = [nested]
    assert stringify(nested) == "[" * 5001 + "]" * 5001
    assert depth(stringify(nested)) == 5001 and depth('{"a":"[[[[","b":[{}]}') == 3 and depth("1") == 0
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        stringify({"s": {1}})
    assert stringify({"s": {1}}, default=sorted) == '{"s":[1]}'
    assert [number_text(x) for x in (1e21, 1e-7, 123e-20, 0.1, 100.0, 1.5e300, -0.0)] == [
        "1e+21", "1e-7", "1.23e-18", "0.1", "100", "1.5e+300", "0",
    ]  # fmt: skip


def test_an_invocation_error_and_a_str_enum_are_written_as_the_careful_encoder_writes_them():
    """stringify's quick check takes a str subclass and an object with toJSON() (an InvocationError)
    without falling back to the careful encoder: the text must be the careful encoder's."""
    from forgeq.events import InvocationError, InvocationErrorCode
    from forgeq.jsontext import _ASK, _careful

    code = next(iter(InvocationErrorCode))
    values: list[Any] = [
        InvocationError(retry_after=20, retry_reason=code, retry_data={"n": 1, "at": 1.5}),
        {"error": InvocationError(retry_after=1e21), "codes": [code, "x"]},
        [InvocationError(retry_data={"3": "digit key first"})],
    ]
    for value in values:
        assert stringify(value) == _careful(value, _ASK)
        assert stringify(value, default=str) == _careful(value, _ASK)
    assert '"retryAfter":1e+21' in stringify(values[1])


def test_compact_after_a_refused_value_writes_the_next_one_whole() -> None:
    # compact reuses its thread's encoder: a value it refused must not leave the next one refused.
    looped: list[Any] = []
    looped.append(looped)
    shared = {"a": [1, 2]}
    with pytest.raises(ValueError, match="Circular reference"):
        compact({"x": shared, "loop": looped})
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact({"x": shared, "set": {1}})
    assert compact({"x": shared, "y": shared}) == '{"x":{"a":[1,2]},"y":{"a":[1,2]}}'
    assert compact([float("nan"), "é"]) == '[NaN,"é"]'


def test_objects_in_objects_are_written_as_the_careful_encoder_writes_them() -> None:
    """stringify's quick check of objects nested in objects (a push's {"body": {...}}) passes only
    what json writes as JSON.stringify does; the rest goes to the careful encoder, which decides."""
    from forgeq.events import InvocationErrorCode
    from forgeq.jsontext import _ASK, _careful

    code = next(iter(InvocationErrorCode))
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(3000):  # deeper than the quick check's recursion may go from here
        inner["a"] = {}
        inner = inner["a"]
    values: list[Any] = [
        {"body": {"issueKey": "P-1", "n": 2**53 - 1, "ok": True, "none": None}},
        {"body": {"n": 2**53}},  # JavaScript rounds it
        {"body": {"at": 1.0}},  # JavaScript writes 1
        {"body": {"inner": {"10": "first in JavaScript", "b": "x"}}},
        {"body": {"code": code}},
        {"body": {"list": [1, {"2": "x"}]}},
        {"body": {True: "a key json writes as true"}},
        deep,
    ]
    for value in values:
        assert stringify(value) == _careful(value, _ASK), value if value is not deep else "deep"
