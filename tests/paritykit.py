"""The differential suite: the same calls through forgeq's Python SDK and through Forge's npm packages.

`cases()` generates the cases: each is a list of steps (construct a queue, push, read job stats,
call a KVS method, build a query, construct an InvocationError or a where condition, define resolver
functions) and what the consumer returns (or throws) on each attempt. Values are JSON, decoded by each language as it decodes JSON
(`1.0` is a float in Python and 1 in JavaScript), plus tags for what JSON cannot write:

    {"$": "nan"} {"$": "inf"} {"$": "-inf"}            NaN, Infinity, -Infinity
    {"$": "repeat", "text": "ab", "times": 3}            "ababab" (sizes at a limit)
    {"$": "deep", "levels": 33, "leaf": 1}               {"a": {"a": ... 1}} (depth)
    {"$": "circular"}  {"$": "circularArray"}            a structure that contains itself
    {"$": "events", "count": 50, "body": {...}, "extra": {...}}   50 push events
    {"$": "InvocationError", "args": [...]}              new InvocationError(...args)
    {"$": "QueueResponse", "retry": true}                new QueueResponse(), then .retry()
    {"$": "where", "cond": "beginsWith", "args": [...]}  WhereConditions.beginsWith(...args)

A queue step with "params" constructs `new Queue(params)` ("$none": `new Queue()`) instead of `new Queue({key})`.

In a query's chain, the argument "$cursor" is the nextCursor of the case's previous query.

`run(language, cases, folder)` copies tests/apps/parity-<language> to `folder`, writes cases.json
beside its manifest, pushes one event per case to the `cases` queue (and fires the case's
`product` event, if it has one, to the app's trigger), each case in an installation
of its own (its own KVS and quotas), runs until idle, and returns per case what the interpreter
printed (`PARITY {...}` lines: each step's result or error class, message, code and status; what
each consumer received, event and context), and the case's timeline (outcome, reason, error,
retry delays asked and applied, times, notes). `differences(python, javascript)` lists the cases
whose results differ. The npm packages are the ground truth for client-side checks; forgeq's
server side (docs/fidelity.md) answers both.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from nodejs import JS_APP

from forgeq.testing import ForgeApp

APPS = Path(__file__).resolve().parent / "apps"
SEED = 5

Case = dict[str, Any]

NAN = {"$": "nan"}
INF = {"$": "inf"}
NEG_INF = {"$": "-inf"}


def repeat(text: str, times: int) -> dict[str, Any]:
    return {"$": "repeat", "text": text, "times": times}


def deep(levels: int, leaf: Any = 1) -> dict[str, Any]:
    return {"$": "deep", "levels": levels, "leaf": leaf}


def events(count: int, body: Any, **extra: Any) -> dict[str, Any]:
    return {"$": "events", "count": count, "body": body, "extra": extra}


def invocation_error(*args: Any) -> dict[str, Any]:
    return {"$": "InvocationError", "args": list(args)}


def where(cond: str, *args: Any) -> dict[str, Any]:
    return {"$": "where", "cond": cond, "args": list(args)}


def queue(key: Any = "echo") -> dict[str, Any]:
    return {"do": "queue", "key": key}


def push(value: Any) -> dict[str, Any]:
    return {"do": "push", "events": value}


def kvs(method: str, *args: Any) -> dict[str, Any]:
    return {"do": "kvs", "method": method, "args": list(args)}


def query(*chain: list[Any], options: Any = None) -> dict[str, Any]:
    step: dict[str, Any] = {"do": "query", "chain": [list(link) for link in chain]}
    if options is not None:
        step["options"] = options
    return step


def make(value: Any) -> dict[str, Any]:
    return {"do": "make", "value": value}


# -- the cases -------------------------------------------------------------------------------------

# Sizes: `{"body":{"p":"<n>"}}` is n + 17 bytes; in an array of one, n + 19. 200 KB is 204,800 bytes.
PUSH_LIMIT = 204_800
EVENT_LIMIT = 102_400


def _queue_keys() -> list[Case]:
    keys: list[Any] = [
        "echo", "A-b_c", "a", "-", "_", "0", "123", "q" * 36, "q" * 37, "q" * 200, "", " ", "with space",
        "trailing\n", "\nleading", "tab\t", "a\r", "a\u0000b", "ünï", "a/b", "a.b", "a:b", "a#b", "a\u00a0b",
        "a-\u2028", "\ud800", "emoji😀", "UPPER", "mixed-Case_9", 123, 0, 1.5, -1, True, False, None,
        ["ab"], ["a", "b"], [], {}, {"key": "x"}, NAN, INF, 1e21, [["ab"]], [None], "null", "undefined",
    ]  # fmt: skip
    cases = []
    for key in keys:
        cases.append({"group": "queue keys", "steps": [queue(key), push({"body": {"k": 1}})]})
    for params in ["$none", None, "echo", {"key": "echo"}, ["echo"], 5, {}, {"key": "echo", "other": 1}]:  # new Queue(params)
        cases.append({"group": "queue keys", "steps": [{"do": "queue", "params": params}, push({"body": {"k": 1}})]})
    for key in ["echo", "bad key", "", "x\n"]:
        cases.append({"group": "queue keys", "steps": [queue(key), {"do": "getStats", "job": "nope"}]})
    return cases


def _push_shapes() -> list[Case]:
    shapes: list[Any] = [
        {"body": {}}, {"body": {"a": 1}}, [{"body": {"a": 1}}], [], {}, None, 1, "x", True, [1], [None], [[]],
        [{"body": None}], [{"body": []}], [{"body": "x"}], [{"body": 1}], [{"body": True}], [{"nobody": {}}],
        [{"body": {}, "extra": 1}], [{"body": {}}, "x"], [{"body": {}}, {"body": []}],
        [{"body": {"n": 1.0, "f": 0.5, "e": 1e-7, "big": 1e21, "neg": -0.0}}],
        [{"body": {"nan": NAN, "inf": INF, "ninf": NEG_INF, "list": [NAN, 1]}}],
        [{"body": {"s": "\ud800", "pair": "\ud83d\ude00", "low": "\udc00x", "nul": "\u0000", "ls": "\u2028"}}],
        [{"body": {"10": "a", "2": "b", "x": "c", "01": "d"}}],
        [{"body": {"big": 18446744073709551616, "safe": 9007199254740991, "over": 9007199254740993}}],
        [{"body": {"deep": deep(40)}}], [{"body": deep(200)}], [{"body": {"deep": deep(510)}}], [{"body": deep(511)}],
        [{"body": {}, "concurrency": {"key": "k", "limit": 1}}],
        [{"body": {}, "concurrency": {"key": "", "limit": 1}}],
        [{"body": {}, "concurrency": {"key": "k", "limit": 0}}],
        [{"body": {}, "concurrency": {"key": "k", "limit": 1.5}}],
        [{"body": {}, "concurrency": "k"}], [{"body": {}, "concurrency": None}],
        [{"body": {"c": {"$": "circular"}}}], [{"body": {"c": {"$": "circularArray"}}}],
        {"body": {"$": "circular"}}, [{"body": {"ie": invocation_error({"retryAfter": 0})}}],
        invocation_error({"retryAfter": 2}), [{"body": invocation_error({"retryAfter": 2})}], [{"body": {"$": "QueueResponse", "retry": True}, "delayInSeconds": "x"}],
        events(50, {"i": 1}), events(51, {"i": 1}), events(49, {"i": 1}), events(1, {"i": 1}),
        events(2, {}, delayInSeconds=5), events(3, {"x": "y"}, concurrency={"key": "k", "limit": 2}),
    ]  # fmt: skip
    cases = [{"group": "push shapes", "steps": [queue(), push(shape)]} for shape in shapes]
    cases.append({"group": "push shapes", "steps": [queue("nowhere"), push({"body": {"to": "no consumer"}})]})
    return cases


def _sizes() -> list[Case]:
    cases = []
    one = PUSH_LIMIT - 19  # {"body":{"p":""}} in [ ]: 19 bytes
    for pad in (one - 1, one, one + 1, one + 2):
        cases.append({"group": "sizes", "steps": [queue(), push([{"body": {"p": repeat("a", pad)}}])]})
    for pad in (one // 2 - 1, one // 2, one // 2 + 1):  # two-byte characters
        cases.append({"group": "sizes", "steps": [queue(), push([{"body": {"p": repeat("é", pad)}}])]})
    for pad in (one // 3, one // 3 + 1):  # three bytes each
        cases.append({"group": "sizes", "steps": [queue(), push([{"body": {"p": repeat("€", pad)}}])]})
    for pad in (one // 4, one // 4 + 1):  # an emoji: two UTF-16 units, four bytes
        cases.append({"group": "sizes", "steps": [queue(), push([{"body": {"p": repeat("😀", pad)}}])]})
    for pad in (one // 6, one // 6 + 1):  # a lone surrogate: 6 bytes escaped
        cases.append({"group": "sizes", "steps": [queue(), push([{"body": {"p": repeat("\ud800", pad)}}])]})
    # Numbers Python writes longer than JavaScript: 1.0 (3 bytes, JS 1), 1e-07 (5, JS 4).
    ones = (PUSH_LIMIT - 25) // 2  # [{"body":{"p":[1,1,...]}}]
    for count in (ones - 1, ones, ones + 1):
        cases.append({"group": "sizes", "steps": [queue(), push([{"body": {"p": [1.0] * count}}])]})
    tiny = (PUSH_LIMIT - 25) // 5
    for count in (tiny - 1, tiny, tiny + 1):
        cases.append({"group": "sizes", "steps": [queue(), push([{"body": {"p": [1e-7] * count}}])]})
    # 50 events summing to the limit, and one byte over.
    each = (PUSH_LIMIT - 1 - 50 * 18) // 50
    for extra in (0, 1, 200):
        body = {"p": repeat("b", each)}
        cases.append({"group": "sizes", "steps": [queue(), push(events(50, body, pad=repeat("c", extra // 50)))]})
    # A long-running consumer (timeoutSeconds 120): 100 KB per event.
    single = EVENT_LIMIT - 17
    for pad in (single - 1, single, single + 1, single + 1000):
        cases.append({"group": "sizes", "steps": [queue("long"), push({"body": {"p": repeat("a", pad)}})]})
    for pad in (single, single + 1):
        cases.append({"group": "sizes", "steps": [queue("long"), push([{"body": {"p": repeat("a", pad)}}, {"body": {}}])]})
        cases.append({"group": "sizes", "steps": [queue("long"), push({"body": {"p": repeat("a", pad)}, "delayInSeconds": 5})]})
    return cases


def _delays() -> list[Case]:
    delays: list[Any] = [
        0, 1, 0.5, 900, 900.5, 901, 1000, -1, -0.5, -0.0, 1e-7, 899.999, NAN, INF, NEG_INF, "10", "1000", "-5", "abc",
        "", " ", "0x10", " 5 ", "Infinity", True, False, [5], [1000], [], ["7"], [1, 2], {}, None, 1e21, 2**60, "900",
    ]  # fmt: skip
    cases = [{"group": "delays", "steps": [queue(), push({"body": {"d": 1}, "delayInSeconds": delay})]} for delay in delays]
    cases.append({"group": "delays", "steps": [queue(), push([{"body": {}, "delayInSeconds": 5}, {"body": {}, "delayInSeconds": 901}])]})
    cases.append({"group": "delays", "steps": [queue(), push([{"body": {}, "delayInSeconds": "7"}, {"body": {}}])]})
    return cases


def _job_progress() -> list[Case]:
    jobs: list[Any] = ["$last", "", None, 0, 123, 1.0, True, False, "nope", ["x"], {}, "$last", "\ud800", {"$": "QueueResponse"}, {"$": "circular"}]
    cases = []
    for job in jobs:
        for how in ("getStats", "jobStats", "cancel"):
            cases.append({"group": "job progress", "steps": [queue(), push(events(2, {"j": 1})), {"do": how, "job": job}]})
    cases.append({"group": "job progress", "steps": [queue(), push(events(3, {"j": 1})), {"do": "cancel", "job": "$last"}, {"do": "getStats", "job": "$last"}]})
    cases.append({"group": "job progress", "steps": [queue(), {"do": "push"}, {"do": "getStats"}, {"do": "jobStats"}, {"do": "cancel"}]})  # nothing given
    cases.append({"group": "job progress", "steps": [queue(), push(events(2, {"j": 1}, delayInSeconds=30)), {"do": "cancel", "job": "$last"}, {"do": "cancel", "job": "$last"}]})
    return cases


def _invocation_errors() -> list[Case]:
    options: list[Any] = [
        {}, {"retryAfter": 0}, {"retryAfter": -5}, {"retryAfter": None}, {"retryAfter": False}, {"retryAfter": True},
        {"retryAfter": "0"}, {"retryAfter": ""}, {"retryAfter": " "}, {"retryAfter": []}, {"retryAfter": [0]},
        {"retryAfter": "10"}, {"retryAfter": 10.5}, {"retryAfter": NAN}, {"retryAfter": INF}, {"retryAfter": NEG_INF},
        {"retryAfter": 901}, {"retryAfter": 1e300}, {"retryAfter": "abc"}, {"retryAfter": {}},
        {"retryAfter": -0.0}, {"retryAfter": 1e-7}, {"retryAfter": 2**64},
        {"retryReason": "FUNCTION_UPSTREAM_RATE_LIMITED"}, {"retryReason": "CUSTOM"}, {"retryReason": 5},
        {"retryReason": None}, {"retryReason": True}, {"retryAfter": 5, "retryReason": "FUNCTION_RETRY_REQUEST"},
        {"retryData": {"n": 1.0}}, {"retryData": {"nan": NAN}}, {"retryData": "\ud800"}, {"retryData": [1e-7, 2**64]},
        {"retryData": None}, {"retryData": 0}, {"retryData": False}, {"retryData": ""}, {"retryData": repeat("d", 4084)},
        {"retryData": repeat("d", 4094)}, {"retryData": repeat("d", 4095)}, {"retryData": {"c": {"$": "circular"}}},
        {"retryAfter": 3, "retryData": {"x": {"10": 1, "2": 2}}},
    ]  # fmt: skip
    cases = []
    for option in options:
        cases.append({"group": "InvocationError", "steps": [make(invocation_error(option))]})
        cases.append({"group": "InvocationError", "steps": [], "returns": [invocation_error(option), invocation_error(option)]})
    for odd in ([], [None], ["x"], [5], [[1]], ["x", "y"], [{"retryAfter": 0}, {"retryAfter": 5}]):
        cases.append({"group": "InvocationError", "steps": [make(invocation_error(*odd))], "returns": [invocation_error(*odd)]})
    returns: list[Any] = [
        {"_retry": True}, {"_retry": True, "retryOptions": {"retryAfter": 7}}, {"_retry": "yes"}, {"_retry": 1},
        {"_retry": False, "retryOptions": {"retryAfter": 7}}, {"x": NAN}, {"c": {"$": "circular"}}, "text", 5, [1, 2],
        {"_retry": True, "retryOptions": {"retryAfter": 2, "retryData": {"nan": NAN, "s": "\ud800"}}},
        {"$": "QueueResponse", "retry": True}, {"$": "QueueResponse", "retry": False}, [invocation_error({"retryAfter": 4})],
        {"wrapped": invocation_error({"retryAfter": 4})},
    ]  # fmt: skip
    for value in returns:
        cases.append({"group": "returns", "steps": [], "returns": [value]})
    for option in ({}, {"retryAfter": 30}, {"retryAfter": 0, "retryData": {"n": NAN}}):
        cases.append({"group": "returns", "steps": [], "throws": [invocation_error(option)]})
        cases.append({"group": "returns", "steps": [], "throws": [invocation_error(option)], "returns": [None, invocation_error(option)]})
    return cases


def _kvs_keys() -> list[Case]:
    keys: list[Any] = [
        "k", "a:b.c_d-e#f", "with space", " lead", "trail ", "tab\tkey", "new\nline", "trailing\n", "\n", " ", "   ",
        "\t", "nb\u00a0sp", "\u00a0", "en\u2000quad", "ideo\u3000", "bom\ufeff", "ls\u2028", "\u2028", "zw\u200b",
        "nel\u0085", "fs\u001c", "vt\u000b", "ff\u000c", "a/b", "é", "emoji😀", "\ud800", "k" * 500, "k" * 501, "",
        123, 1.5, True, None, [], ["k"], {}, "a$b", "a@b", "a,b", "a+b", "UPPER", "0", "-", "#", ".", ":", "_",
    ]  # fmt: skip
    cases = []
    for key in keys:
        cases.append({"group": "kvs keys", "steps": [kvs("set", key, 1), kvs("get", key), kvs("delete", key)]})
    cases.append({"group": "kvs keys", "steps": [kvs("set", "k", 1, None, "extra"), kvs("get", "k", None, "extra"), kvs("delete", "k", "extra"), kvs("get", "k")]})
    # Arguments left out: JavaScript's undefined, which JSON leaves out of the request.
    for method in ("get", "set", "delete", "getSecret", "setSecret", "deleteSecret", "batchSet", "batchGet", "batchDelete"):
        cases.append({"group": "kvs keys", "steps": [kvs(method), kvs(method, "k") if not method.startswith("batch") else kvs(method, [])]})
    return cases


def _kvs_values() -> list[Case]:
    values: list[Any] = [
        1, 0, -0.0, 1.0, 1.5, 1e-7, 1e21, 2**64, 9007199254740993, "s", "", True, False, [], {}, [1, [2, [3]]],
        None, NAN, INF, NEG_INF, {"n": NAN}, [NAN, INF], {"s": "\ud800"}, "\udfff", {"10": 1, "2": 2, "a": 3},
        deep(31), deep(32), deep(33), deep(100), deep(2000), {"$": "circular"}, {"$": "circularArray"},
        {"deep": deep(31, [])}, repeat("v", 245_758), repeat("v", 245_759), repeat("é", 122_879), repeat("é", 122_880),
        {"p": repeat("a", 245_752)}, {"p": repeat("a", 245_753)}, "\u0000\u001f\u007f",
    ]  # fmt: skip
    cases = []
    for value in values:
        cases.append({"group": "kvs values", "steps": [kvs("set", "v", value), kvs("get", "v")]})
    for value in ({"$": "circular"}, NAN):
        cases.append({"group": "kvs values", "steps": [kvs("set", "bad key!", value), kvs("setSecret", "s", value)]})
    return cases


def _kvs_options() -> list[Case]:
    sets: list[Any] = [
        {"ttl": {"value": 5, "unit": "MINUTES"}}, {"ttl": {"value": 1.5, "unit": "SECONDS"}}, {"ttl": {"value": 0, "unit": "SECONDS"}},
        {"ttl": {"value": -1, "unit": "DAYS"}}, {"ttl": {"value": 366, "unit": "DAYS"}}, {"ttl": {"value": 365, "unit": "DAYS"}},
        {"ttl": {"value": "5", "unit": "SECONDS"}}, {"ttl": {"value": NAN, "unit": "SECONDS"}}, {"ttl": {"value": 5, "unit": "WEEKS"}},
        {"ttl": {"value": 5}}, {"ttl": {"unit": "SECONDS"}}, {"ttl": 30}, {"ttl": "30"}, {"ttl": None}, {"ttl": {}},
        {"keyPolicy": "OVERRIDE"}, {"keyPolicy": "FAIL_IF_EXISTS"}, {"keyPolicy": "override"}, {"keyPolicy": 1},
        {"keyPolicy": "OVERRIDE", "returnValue": "PREVIOUS"}, {"keyPolicy": "OVERRIDE", "returnValue": "LATEST"},
        {"returnValue": "LATEST"}, {"keyPolicy": "FAIL_IF_EXISTS", "returnValue": "LATEST"}, {"keyPolicy": "OVERRIDE", "returnValue": "NEXT"},
        {"keyPolicy": "OVERRIDE", "returnValue": "LATEST", "returnMetadataFields": ["CREATED_AT", "UPDATED_AT"]},
        {"keyPolicy": "OVERRIDE", "returnValue": "PREVIOUS", "returnMetadataFields": ["EXPIRE_TIME"]},
        {"keyPolicy": "OVERRIDE", "returnValue": "LATEST", "returnMetadataFields": "CREATED_AT"},
        {"keyPolicy": "OVERRIDE", "returnValue": "LATEST", "returnMetadataFields": ["NOPE"]},
        {"unknown": 1}, [], "opts", 5, {}, None, {"ttl": {"value": 1e-7, "unit": "HOURS"}}, {"ttl": {"value": INF, "unit": "SECONDS"}},
    ]  # fmt: skip
    cases = []
    for options in sets:
        cases.append({"group": "kvs options", "steps": [kvs("set", "o", {"v": 1}), kvs("set", "o", {"v": 2}, options), kvs("get", "o", {"metadataFields": ["CREATED_AT", "UPDATED_AT", "EXPIRE_TIME"]})]})
    gets: list[Any] = [
        {}, {"metadataFields": []}, {"metadataFields": ["CREATED_AT"]}, {"metadataFields": ["EXPIRE_TIME"]}, {"metadataFields": ["NOPE"]},
        {"metadataFields": "CREATED_AT"}, {"metadataFields": None}, [], "x", 0, None, {"other": 1},
    ]  # fmt: skip
    for options in gets:
        cases.append({"group": "kvs options", "steps": [kvs("set", "g", "v", {"ttl": {"value": 1, "unit": "HOURS"}}), kvs("get", "g", options), kvs("get", "missing", options)]})
    return cases


def _queries() -> list[Case]:
    seed = [kvs("set", key, {"k": key}) for key in ("a1", "a2", "a3", "b1", "b2", "c")]
    limits: list[Any] = [1, 2, 5.0, 2.5, 0, -1, 100, 101, NAN, INF, "5", "x", True, None, [2], 1e-7, 10**30]
    cases = []
    for limit in limits:
        cases.append({"group": "queries", "steps": [*seed, query(["limit", limit], ["getMany"])]})
    conditions: list[Any] = [
        where("beginsWith", "a"), where("beginsWith", ""), where("beginsWith", 1), where("beginsWith", 1.0), where("beginsWith", None),
        where("beginsWith", NAN), where("beginsWith", ["a"]), where("between", "a", "b"), where("equalTo", "a1"),
        where("greaterThan", "a"), where("greaterThanEqualTo", "a"), where("lessThan", "b"), where("lessThanEqualTo", "b"),
        {"condition": "BEGINS_WITH", "values": ["b"]}, {"condition": "BEGINS_WITH", "values": ["a", "b"]}, {"condition": "NOPE", "values": ["a"]},
        {"condition": "BEGINS_WITH"}, {}, "a", None, 5, where("beginsWith", "\ud800"),
    ]  # fmt: skip
    for condition in conditions:
        cases.append({"group": "queries", "steps": [*seed, query(["where", "key", condition], ["getMany"])]})
        cases.append({"group": "queries", "steps": [make(condition)]})
    for field in ("value", "KEY", None, 1):
        cases.append({"group": "queries", "steps": [*seed, query(["where", field, where("beginsWith", "a")], ["getMany"])]})
    cursors: list[Any] = ["nope", "", None, 5, "fq1.", "fq1.YTI"]
    for cursor in cursors:
        cases.append({"group": "queries", "steps": [*seed, query(["cursor", cursor], ["limit", 2], ["getMany"])]})
    cases.append({"group": "queries", "steps": [*seed, query(["limit", 2], ["getMany"]), query(["where", "key", where("beginsWith", "b")], ["getOne"]), query(["where", "key", where("beginsWith", "z")], ["getOne"])]})
    pages = [query(["limit", 2], ["cursor", "$cursor"], ["getMany"]) for _ in range(4)]
    cases.append({"group": "queries", "steps": [*seed, query(["limit", 2], ["getMany"]), *pages]})
    cases.append({"group": "queries", "steps": [*seed, query(["where", "key", where("beginsWith", "a")], ["limit", 1], ["getMany"]), query(["where", "key", where("beginsWith", "a")], ["limit", 1], ["cursor", "$cursor"], ["getMany"]), kvs("delete", "a2"), query(["where", "key", where("beginsWith", "a")], ["limit", 1], ["cursor", "$cursor"], ["getMany"])]})
    for options in ({"metadataFields": ["CREATED_AT"]}, {"metadataFields": ["NOPE"]}, {"metadataFields": "X"}, {}, {"other": 1}):
        cases.append({"group": "queries", "steps": [*seed, query(["limit", 2], ["getMany"], options=options)]})
    cases.append({"group": "queries", "steps": [*seed, kvs("setSecret", "a-secret", 1), query(["getMany"])]})
    given: list[Any] = [{"limit": 2}, {"cursor": "nope"}, {"where": [{"property": "key", "condition": "BEGINS_WITH", "values": ["b"]}]}, None, "x", 5, [], {"limit": 0}]
    for options in given:  # the builder writes into the options object it was given, and sends what it holds
        for chain in ([["getMany"]], [["limit", 3], ["getOne"]], [["where", "key", where("beginsWith", "b")], ["getMany"]]):
            cases.append({"group": "queries", "steps": [*seed, {"do": "query", "chain": chain, "options": options}]})
    for name in ("beginsWith", "equalTo", "greaterThan", "greaterThanEqualTo", "lessThan", "lessThanEqualTo"):
        cases.append({"group": "where conditions", "steps": [make(where(name, "x")), make(where(name, 1.0)), make(where(name, NAN))]})
    cases.append({"group": "where conditions", "steps": [make(where("between", "x", "y")), make(where("between", 1.0, NAN))]})
    cases.append({"group": "where conditions", "steps": [make(where(name)) for name in ("beginsWith", "between", "equalTo", "lessThan")]})
    for name in ("contains", "notContains", "notEqualTo", "exists", "notExists", "between"):  # arguments past theirs are ignored
        cases.append({"group": "where conditions", "steps": [make({"$": "filterCondition", "cond": name, "args": ["x", "y", "z"]})]})
    cases.append({"group": "where conditions", "steps": [make(filter_of("and", ["a", {"$": "filterCondition", "cond": "exists", "args": []}], ["b", {"$": "filterCondition", "cond": "equalTo", "args": [1]}])), make(filter_of("or")), make(filter_of("and", ["a", "x"], [5, None]))]})
    return cases


def _secrets() -> list[Case]:
    cases = []
    for key, value in (("s", "v"), ("s", {"n": 1.0}), ("bad key!", 1), ("s", None), ("", 1), ("s", NAN), ("s", {"s": "\ud800"}), ("nb\u00a0sp", 1)):
        cases.append({"group": "secrets", "steps": [kvs("setSecret", key, value), kvs("getSecret", key), kvs("get", key), kvs("deleteSecret", key), kvs("getSecret", key)]})
    for options in ({"metadataFields": ["CREATED_AT"]}, {"keyPolicy": "FAIL_IF_EXISTS"}, {"ttl": {"value": 1, "unit": "DAYS"}}):
        cases.append({"group": "secrets", "steps": [kvs("setSecret", "s", 1), kvs("setSecret", "s", 2, options), kvs("getSecret", "s", {"metadataFields": ["CREATED_AT", "EXPIRE_TIME"]})]})
    return cases


def _batches() -> list[Case]:
    items = [{"key": f"b{n}", "value": n} for n in range(3)]
    batches: list[Any] = [
        items, [], [{"key": "b0", "value": 1}] * 2, [{"key": f"b{n}", "value": n} for n in range(25)],
        [{"key": f"b{n}", "value": n} for n in range(26)], [{"key": "ok", "value": 1}, {"key": "bad key!", "value": 2}],
        [{"key": "ok", "value": 1}, {"key": "nv"}], [{"key": "ok", "value": None}], [{"key": "ok", "value": NAN}],
        [{"key": "ok", "value": {"n": 1.0}}], [{"key": "ok", "value": 1, "options": {"ttl": {"value": 1, "unit": "HOURS"}}}],
        [{"key": "ok", "value": 1, "options": {"keyPolicy": "OVERRIDE"}}], [{"key": "ok", "value": 1, "entityName": "e"}],
        ["str"], [5], [None], "x", None, {"key": "k", "value": 1}, [{"key": "ok", "value": {"$": "circular"}}],
        [{"key": 5, "value": 1}], [{"key": "nb\u00a0sp", "value": 1}], [{"key": "big", "value": repeat("z", 245_760)}],
    ]  # fmt: skip
    cases = []
    for batch in batches:
        cases.append({"group": "batches", "steps": [kvs("batchSet", batch), query(["limit", 30], ["getMany"])]})
    gets: list[Any] = [
        [{"key": "b0"}, {"key": "b1"}, {"key": "missing"}], ["b0", "b2"], [], [{"key": "b0"}] * 2, [{"key": "bad key!"}],
        [{"key": "b0", "options": {"metadataFields": ["CREATED_AT"]}}], [{"key": "b0", "options": {"metadataFields": ["NOPE"]}}],
        [{"key": "b0", "entityName": "e"}], [{"key": f"b{n}"} for n in range(26)], "b0", [None], [{"nokey": 1}],
    ]  # fmt: skip
    for batch in gets:
        cases.append({"group": "batches", "steps": [kvs("batchSet", items), kvs("batchGet", batch)]})
        cases.append({"group": "batches", "steps": [kvs("batchSet", items), kvs("batchDelete", batch), query(["getMany"])]})
    return cases


def _consumers() -> list[Case]:
    bodies: list[Any] = [
        {"a": 1}, {"n": 1.0, "e": 1e-7, "nan": NAN}, {"s": "\ud800"}, {"10": 1, "2": 2}, {},
        {"respond": [invocation_error({"retryAfter": 5, "retryData": {"attempt": 1}}), invocation_error({"retryAfter": 0, "retryReason": "X"})]},
        {"respond": [invocation_error()]}, {"respond": [invocation_error({"retryData": {"n": NAN, "f": 1.0}})]},
        {"respond": [{"_retry": True, "retryOptions": {"retryAfter": 2}}]}, {"respond": [invocation_error({"retryAfter": "30"})]},
        {"respond": [invocation_error({"retryAfter": 1000, "retryReason": 7})]},
    ]  # fmt: skip
    for after in (0, -1, "5", 2.5, 901, None, NAN, True, [3], "abc", 1e-7):
        bodies.append({"respond": [invocation_error({"retryAfter": after, "retryReason": "FUNCTION_UPSTREAM_RATE_LIMITED"})]})
    for data in ({"n": [1.0, 2.5]}, repeat("r", 4094), repeat("r", 4095), {"s": "\ud800" * 3}, [None, {}], 0, False):
        bodies.append({"respond": [invocation_error({"retryAfter": 2, "retryData": data}), invocation_error({"retryAfter": 2})]})
    bodies.append({"pad": repeat("p", 200_000), "respond": [invocation_error({"retryAfter": 2, "retryData": repeat("d", 4000)})]})  # ECO-759
    bodies.append({"respond": [{"$": "QueueResponse", "retry": True}, invocation_error({"retryAfter": 3})]})
    bodies.append({"retryContext": "mine", "payload": 1, "context": 2, "respond": [{"_retry": True}]})
    cases = []
    for body in bodies:
        cases.append({"group": "consumers", "steps": [queue("echo"), push({"body": body})]})
        cases.append({"group": "consumers", "steps": [queue("echo"), push({"body": body, "delayInSeconds": 2, "concurrency": {"key": "c", "limit": 1}})]})
        cases.append({"group": "consumers", "steps": [queue("v1"), push({"body": body})]})
    return cases


def entity(method: str, *args: Any, name: Any = "item") -> dict[str, Any]:
    return {"do": "entity", "name": name, "method": method, "args": list(args)}


def entity_query(index: list[Any], *chain: list[Any], name: Any = "item", options: Any = None) -> dict[str, Any]:
    step: dict[str, Any] = {"do": "entityQuery", "name": name, "index": index, "chain": [list(link) for link in chain]}
    if options is not None:
        step["options"] = options
    return step


def condition(cond: str, *args: Any) -> dict[str, Any]:
    return {"$": "filterCondition", "cond": cond, "args": list(args)}


def filter_of(op: str, *items: list[Any]) -> dict[str, Any]:
    return {"$": "filter", "op": op, "items": [list(item) for item in items]}


ITEMS = [
    ("i1", {"name": "alpha", "count": 1, "score": 0.5, "done": False, "tags": ["a"]}),
    ("i2", {"name": "beta", "count": 2, "score": 1.5, "done": True, "tags": {"k": 1}}),
    ("i3", {"name": "gamma", "count": 3, "score": 2.0, "done": False}),
    ("i4", {"name": "alpha", "count": 4, "done": True, "tags": None}),
    ("i5", {"name": "delta", "count": -5, "score": -1.0, "done": False, "tags": "x"}),
]


def _entities() -> list[Case]:
    seeded = [entity("set", key, value) for key, value in ITEMS]
    values: list[Any] = [
        {"name": "n"}, {"name": "n", "count": 1.0}, {"name": "n", "count": 1.5}, {"name": "n", "count": 2**31},
        {"name": "n", "count": 2**31 - 1}, {"name": "n", "count": -(2**31)}, {"name": "n", "count": "1"}, {"name": 1},
        {"name": "n", "score": 1}, {"name": "n", "score": NAN}, {"name": "n", "score": INF}, {"name": "n", "done": 1},
        {"name": "n", "unknown": 1}, {"name": "n", "tags": {"$": "circular"}}, {"name": "n", "tags": [1.0, "\ud800"]},
        {}, [], "text", None, 5, {"name": None}, {"name": "n", "count": None}, {"name": repeat("n", 1000)}, {"name": "\ud800"},
    ]  # fmt: skip
    cases = []
    for value in values:
        cases.append({"group": "entities", "steps": [entity("set", "k", value), entity("get", "k"), entity("get", "k", {"metadataFields": ["CREATED_AT"]})]})
    for name in ("item", "undeclared", "", 5, None, "Item"):
        cases.append({"group": "entities", "steps": [entity("set", "k", {"name": "n"}, name=name), entity("get", "k", name=name), entity("delete", "k", name=name)]})
    for key in ("k", "", "bad key!", 5, None, "nb\u00a0sp", "k" * 501):
        cases.append({"group": "entities", "steps": [entity("set", key, {"name": "n"}), entity("get", key), entity("delete", key)]})
    for options in ({"keyPolicy": "FAIL_IF_EXISTS"}, {"keyPolicy": "OVERRIDE", "returnValue": "PREVIOUS"}, {"ttl": {"value": 1, "unit": "HOURS"}}, {"nope": 1}):
        cases.append({"group": "entities", "steps": [entity("set", "k", {"name": "a"}), entity("set", "k", {"name": "b"}, options), entity("get", "k")]})
    ranges: list[Any] = [
        None, where("beginsWith", "al"), where("equalTo", "beta"), where("between", "b", "d"), where("greaterThan", "beta"),
        where("greaterThanEqualTo", "beta"), where("lessThan", "c"), where("lessThanEqualTo", "gamma"), where("equalTo", 5),
        {"condition": "NOPE", "values": ["a"]}, where("between", "d", "b"),
    ]  # fmt: skip
    for bound in ranges:
        chain: list[list[Any]] = [["where", bound]] if bound is not None else []
        cases.append({"group": "entity queries", "steps": [*seeded, entity_query(["name"], *chain, ["getMany"])]})
    for partition, bound in (([True], None), ([False], where("greaterThan", 1)), ([False], where("between", -10, 2)), ([1], None), (None, None), ([True, 1], None), ([True], where("beginsWith", "a"))):
        index_args: list[Any] = ["by-done-count", {"partition": partition}] if partition is not None else ["by-done-count"]
        chain = [["where", bound]] if bound is not None else []
        cases.append({"group": "entity queries", "steps": [*seeded, entity_query(index_args, *chain, ["getMany"])]})
    filters: list[Any] = [
        filter_of("and", ["count", condition("greaterThan", 1)]), filter_of("or", ["done", condition("equalTo", True)], ["count", condition("lessThan", 0)]),
        filter_of("and", ["tags", condition("exists")]), filter_of("and", ["tags", condition("notExists")]), filter_of("and", ["name", condition("contains", "ph")]),
        filter_of("and", ["name", condition("notContains", "a")]), filter_of("and", ["name", condition("notEqualTo", "alpha")]),
        filter_of("and", ["score", condition("between", 0, 2)]), filter_of("and", ["unknown", condition("equalTo", 1)]), filter_of("and"),
        filter_of("and", ["name", condition("beginsWith", "g")], ["done", condition("equalTo", False)]),
    ]  # fmt: skip
    for joined in filters:
        cases.append({"group": "entity queries", "steps": [*seeded, entity_query(["name"], ["filters", joined], ["getMany"])]})
    for chain in (
        [["sort", "DESC"], ["getMany"]], [["sort", "ASC"], ["limit", 2], ["getMany"]], [["limit", 0], ["getMany"]], [["limit", 101], ["getMany"]],
        [["limit", 2.0], ["getMany"]], [["limit", NAN], ["getMany"]], [["sort", "SIDEWAYS"], ["getMany"]], [["getOne"]], [["cursor", "nope"], ["getMany"]],
        [["limit", 2], ["getMany"]], [["sort", None], ["getMany"]], [["filters", None], ["getMany"]], [["filters", {}], ["getMany"]],
    ):  # fmt: skip
        cases.append({"group": "entity queries", "steps": [*seeded, entity_query(["name"], *chain)]})
    pages = [entity_query(["name"], ["limit", 2], ["cursor", "$cursor"], ["getMany"]) for _ in range(3)]
    cases.append({"group": "entity queries", "steps": [*seeded, entity_query(["name"], ["limit", 2], ["getMany"]), *pages]})
    cases.append({"group": "entity queries", "steps": [*seeded, entity_query(["name"], ["getMany"], options={"metadataFields": ["CREATED_AT", "UPDATED_AT"]})]})
    for options in ({"metadataFields": "CREATED_AT"}, {"limit": 1}, {"sort": "DESC"}, "x", [], None):  # spread into the query's options
        cases.append({"group": "entity queries", "steps": [*seeded, entity_query(["name"], ["getMany"], options=options)]})
    for index in (["nope"], ["by-key"], [""], [5], [], ["name", {}, "extra"]):
        cases.append({"group": "entity queries", "steps": [*seeded, entity_query(index, ["getMany"])]})
    cases.append({"group": "entity queries", "steps": [*seeded, entity_query(["name"], ["getMany"], name="undeclared")]})
    batches: list[Any] = [
        [{"key": "b1", "value": {"name": "x"}, "entityName": "item"}, {"key": "b2", "value": 1}],
        [{"key": "b1", "value": {"name": "x", "count": 1.5}, "entityName": "item"}], [{"key": "b1", "value": {"name": "x"}, "entityName": "nope"}],
        [{"key": "b1", "value": {"name": "x"}, "entityName": "item"}, {"key": "b1", "value": 1}],
    ]  # fmt: skip
    for batch in batches:
        cases.append({"group": "entities", "steps": [kvs("batchSet", batch), kvs("batchGet", [{"key": "b1", "entityName": "item"}, {"key": "b2"}]), kvs("batchDelete", [{"key": "b1", "entityName": "item"}])]})
    return cases


def _transactions() -> list[Case]:
    item = {"entityName": "item"}
    seeded = [entity("set", "t1", {"name": "one", "count": 1}), kvs("set", "plain", 1)]
    operations: list[list[list[Any]]] = [
        [["set", "a", 1], ["set", "b", {"n": 1.0}]], [["set", "t2", {"name": "two"}, item], ["delete", "plain"]],
        [["set", "t1", {"name": "one", "count": 2}, {"entityName": "item", "conditions": filter_of("and", ["count", condition("equalTo", 1)])}]],
        [["set", "t1", {"name": "one", "count": 2}, {"entityName": "item", "conditions": filter_of("and", ["count", condition("equalTo", 5)])}]],
        [["check", "t1", {"entityName": "item", "conditions": filter_of("and", ["name", condition("equalTo", "one")])}], ["set", "a", 1]],
        [["check", "t1", {"entityName": "item", "conditions": filter_of("and", ["name", condition("equalTo", "two")])}], ["set", "a", 1]],
        [["check", "missing", {"entityName": "item", "conditions": filter_of("and", ["name", condition("exists")])}]],
        [["set", "a", 1], ["set", "a", 2]], [["set", "a", 1], ["delete", "a"]], [],
        [["set", f"k{n}", n] for n in range(25)], [["set", f"k{n}", n] for n in range(26)],
        [["set", "a", NAN]], [["set", "a", None]], [["set", "bad key!", 1]], [["set", "a", {"$": "circular"}]],
        [["set", "t3", {"name": 5}, item]], [["set", "a", 1, None, {"ttl": {"value": 1, "unit": "DAYS"}}]],
        [["set", "a", 1, None, {"keyPolicy": "OVERRIDE"}]], [["delete", "t1", item], ["set", "t1", {"name": "again"}, item]],
        [["set", "a", 1, {"entityName": "undeclared"}]], [["check", "t1", {"entityName": "item", "conditions": filter_of("and")}]],
        [["set", "a"]], [["set", "a", 1, "item"]], [["set", "a", 1, 0]], [["set", "a", 1, []]], [["delete", "t1", "item"]], [["check", "t1"]], [["check", "t1", None]],
        [["check", "t1", "item"]], [["set", "a", 1, {"entityName": "item", "conditions": {}}]], [["set", "t1", {"name": "x"}, {"entityName": "item", "conditions": "x"}]],
    ]  # fmt: skip
    cases = []
    for ops in operations:
        cases.append({"group": "transactions", "steps": [*seeded, {"do": "transact", "ops": ops}, kvs("get", "a"), kvs("get", "plain"), entity("get", "t1"), entity("get", "t2")]})
    return cases


def _app_events() -> list[Case]:
    return [{"group": "app events", "steps": [{"do": "appEvents", "events": events}]} for events in ({"key": "a"}, [{"key": "a"}, {"key": "b"}], [], None, [None], ["a", 5, {}], {"key": 1.0})]


def _triggers() -> list[Case]:
    """A product event to the app's trigger: the template's payload, or one of the case's own."""
    payloads: list[Any] = [
        None, {"issue": {"key": "P-1"}, "n": 1.0, "e": 1e-7, "big": 2**64, "s": "\ud800", "10": 1, "2": 2},
        {"issue": {"key": "P-2"}, "respond": [invocation_error({"retryAfter": 5, "retryData": {"n": 1.0}}), invocation_error({"retryAfter": 0})]},
        {"issue": {"key": "P-3"}, "respond": [{"_retry": True}]},
        {"issue": {"key": "P-4"}, "respond": [invocation_error({"retryAfter": 1})] * 6},
    ]  # fmt: skip
    cases = []
    for payload in payloads:
        product: dict[str, Any] = {"name": "issue-created"}
        if payload is not None:
            product["payload"] = payload
        cases.append({"group": "triggers", "steps": [], "product": product})
    return cases


def _resolvers() -> list[Case]:
    definitions: list[tuple[list[list[Any]], Any]] = [
        ([["a", "fn"]], None), ([["a", "fn"], ["a", "fn"]], None), ([["b", 5]], None), ([["b", "text"]], None),
        ([["b", {}]], None), ([["b", True]], None), ([["c", "fn"]], "d"), ([[1, "fn"], ["1", "fn"]], None),
        ([[1.0, "fn"]], "1"), ([["", "fn"]], ""), ([["x", "fn"]], None), ([["toString", "fn"]], None), ([["__proto__", "fn"]], None),
        ([["a", "fn"]], "constructor"), ([["a", "fn"]], "hasOwnProperty"), ([["a", None]], None),
    ]  # fmt: skip
    cases = []
    for defines, get in definitions:
        step: dict[str, Any] = {"do": "resolver", "defines": defines}
        if get is not None:
            step["get"] = get
        cases.append({"group": "resolver", "steps": [step]})
    return cases


def cases() -> dict[str, Case]:
    """Every case, by id (`<group>-<n>`), in a fixed order."""
    found: dict[str, Case] = {}
    for make_group in (_queue_keys, _push_shapes, _sizes, _delays, _job_progress, _invocation_errors, _kvs_keys,
                       _kvs_values, _kvs_options, _queries, _secrets, _batches, _consumers, _resolvers, _entities,
                       _transactions, _triggers, _app_events):  # fmt: skip
        for number, case in enumerate(make_group(), 1):
            found[f"{case['group'].replace(' ', '-')}-{number:03d}"] = case
    return found


def quick(all_cases: dict[str, Case], every: int = 5) -> dict[str, Case]:
    """A subset for the normal suite: every `every`-th case of each group, and the first."""
    chosen: dict[str, Case] = {}
    for case_id, case in all_cases.items():
        number = int(case_id.rsplit("-", 1)[1])
        if number % every == 1:
            chosen[case_id] = case
    return chosen


# -- running and comparing ---------------------------------------------------------------------------

_LOCATION = re.compile(r" \((?:src/)?[\w./-]+\.(?:py|js):\d+\)")


def run(language: str, chosen: dict[str, Case], folder: Path) -> dict[str, dict[str, Any]]:
    """Run `chosen` in the `language` app copied to `folder`; what each case printed, and its timeline."""
    app_dir = folder / language
    shutil.copytree(APPS / f"parity-{language}", app_dir)
    if language == "javascript":
        (app_dir / "node_modules").symlink_to(JS_APP / "node_modules", target_is_directory=True)
    (app_dir / "cases.json").write_text(json.dumps(chosen, ensure_ascii=True))
    installations = {f"case-{index:04d}": case_id for index, case_id in enumerate(chosen)}
    with ForgeApp(app_dir / "manifest.yml", seed=SEED) as app:
        for installation, case_id in installations.items():
            app.push("cases", {"body": {"case": case_id}}, installation=installation)
            product = chosen[case_id].get("product")
            if product is not None:
                app.push_product_event(product["name"], installation=installation, payload=product.get("payload"))
        app.run_until_idle()
        found: dict[str, dict[str, Any]] = {case_id: {"printed": [], "timeline": []} for case_id in chosen}
        ordinals: dict[str, dict[int, int]] = defaultdict(dict)
        for attempt in app.timeline():
            result = found[installations[attempt.installation]]
            events = ordinals[attempt.installation]
            ordinal = events.setdefault(attempt.event, len(events))
            for line in attempt.logs.split("\n"):  # not splitlines(): U+2028 is inside a line
                if line.startswith("PARITY "):
                    result["printed"].append({"event": ordinal, **json.loads(line[len("PARITY ") :])})
            result["timeline"].append(
                {
                    "event": ordinal, "target": attempt.target, "attempt": attempt.attempt, "outcome": attempt.outcome,
                    "reason": attempt.reason, "error": _LOCATION.sub("", attempt.error) if attempt.error else None,
                    "asked": attempt.retry_after_asked, "applied": attempt.retry_after_applied,
                    "started": attempt.started_at, "next": attempt.next_at, "retry_context": attempt.retry_context,
                    "notes": [note for note in attempt.notes if not note.startswith("forgeq stopped the Node.js worker")],
                }
            )  # fmt: skip
        for event in app.events():
            if event.state == "blocked":
                found[installations[event.installation]]["timeline"].append({"blocked": event.target, "body": event.body})
    return found


def differences(python: dict[str, dict[str, Any]], javascript: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The cases whose printed results or timelines differ: {case: {"python": ..., "javascript": ...}}."""
    return {
        case_id: {"python": python[case_id], "javascript": javascript[case_id]}
        for case_id in python
        if python[case_id] != javascript[case_id]
    }


def explain(found: dict[str, dict[str, Any]], chosen: dict[str, Case], limit: int = 12) -> str:
    """The first differences, printed and timeline rows side by side, for an assertion message."""
    lines = []
    for case_id, both in list(found.items())[:limit]:
        lines.append(f"{case_id}: {json.dumps(chosen[case_id]['steps'])[:300]}")
        for part in ("printed", "timeline"):
            ours, theirs = both["python"][part], both["javascript"][part]
            for index in range(max(len(ours), len(theirs))):
                a = ours[index] if index < len(ours) else None
                b = theirs[index] if index < len(theirs) else None
                if a != b:
                    lines.append(f"  {part}[{index}] python:     {json.dumps(a)[:400]}")
                    lines.append(f"  {part}[{index}] javascript: {json.dumps(b)[:400]}")
    return "\n".join(lines)
