"""The differential suite's interpreter, Python side: runs a case of cases.json (written by
tests/paritykit.py, which documents the steps and the value tags) with forgeq's Python SDK, and
prints one `PARITY {...}` line per result. ../../parity-javascript/src/index.js is the same
interpreter over Forge's npm packages; the suite compares what the two print.

Every SDK call is written as a Forge developer writes it in Python: `Queue(key=...)`, `await
queue.push(...)`, `await kvs.set(...)`, the camelCase names where the JavaScript uses them.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from forgeq.events import InvocationError, Queue, QueueResponse, appEvents
from forgeq.jsontext import stringify
from forgeq.kvs import Filter, FilterConditions, WhereConditions, kvs
from forgeq.resolver import Resolver

_cases: dict[str, Any] | None = None


class HarnessError(Exception):
    pass


def the_case(case_id: str) -> dict[str, Any]:
    global _cases
    if _cases is None:
        _cases = json.loads((Path(__file__).resolve().parent.parent / "cases.json").read_text(encoding="utf-8"))
    return _cases[case_id]


def make(spec: Any) -> Any:
    if isinstance(spec, list):
        return [make(item) for item in spec]
    if not isinstance(spec, dict):
        return spec
    if "$" not in spec:
        # `respond` holds what a consumer returns on each attempt: made by the consumer, not when pushed.
        return {key: value if key == "respond" else make(value) for key, value in spec.items()}
    tag = spec["$"]
    if tag == "nan":
        return math.nan
    if tag == "inf":
        return math.inf
    if tag == "-inf":
        return -math.inf
    if tag == "repeat":
        return spec["text"] * spec["times"]
    if tag == "deep":
        value = make(spec["leaf"])
        for _ in range(spec["levels"]):
            value = {"a": value}
        return value
    if tag == "circular":
        circle: dict[str, Any] = {"a": 1}
        circle["self"] = circle
        return circle
    if tag == "circularArray":
        ring: list[Any] = [1]
        ring.append(ring)
        return ring
    if tag == "events":
        return [{**make(spec.get("extra") or {}), "body": make(spec["body"])} for _ in range(spec["count"])]
    if tag == "InvocationError":
        return InvocationError(*[make(arg) for arg in spec.get("args") or []])
    if tag == "QueueResponse":
        response = QueueResponse()
        if spec.get("retry"):
            response.retry()
        return response
    if tag == "where":
        return getattr(WhereConditions, spec["cond"])(*[make(arg) for arg in spec["args"]])
    if tag == "filterCondition":
        return getattr(FilterConditions, spec["cond"])(*[make(arg) for arg in spec["args"]])
    if tag == "filter":
        joined = Filter()
        for field, condition in spec["items"]:
            joined = getattr(joined, spec["op"])(make(field), make(condition))
        return joined
    raise ValueError(f"unknown tag {tag}")


def described(error: BaseException) -> dict[str, Any]:
    message = getattr(error, "message", None)
    if not isinstance(message, str):
        message = str(error.args[0]) if error.args else ""
    found: dict[str, Any] = {"class": type(error).__name__, "message": message}
    code = getattr(error, "code", None)
    if code is None:
        code = getattr(error, "error_code", None)
    if code is not None:
        found["code"] = code
    status = getattr(error, "status", None)
    if status is not None:
        found["status"] = status
    return found


def plain(value: Any) -> Any:
    """The result as JSON (an InvocationError as its plain object); a cycle is JSON.stringify's TypeError."""
    return json.loads(stringify(value, default=repr))


def clipped(value: Any) -> Any:
    """Long strings (sizes at a limit) as their length and first characters: a log is cut at 200 KB."""
    if isinstance(value, str):
        units = value.encode("utf-16-le", "surrogatepass")
        head = units[:40].decode("utf-16-le", "surrogatepass")  # value.slice(0, 20): UTF-16 units
        return f"<{len(units) // 2} units: {head}>" if len(units) > 400 else value
    if isinstance(value, list):
        return f"<array of {len(value)}: {stringify(value[:3])}>" if len(value) > 200 else [clipped(item) for item in value]
    if isinstance(value, dict):
        return {key: clipped(item) for key, item in value.items()}
    return value


def emit(record: dict[str, Any]) -> None:
    sys.setrecursionlimit(5000)  # clipped() walks a 512-level body, two frames a level (it holds for the attempt)
    print("PARITY " + stringify(clipped(json.loads(stringify(record, default=repr)))))


async def run_step(step: dict[str, Any], state: dict[str, Any]) -> Any:
    what = step["do"]
    if what in ("push", "getStats", "jobStats", "cancel") and state["queue"] is None:
        raise HarnessError("no queue")
    given = [state["job"]["id"] if step["job"] == "$last" else make(step["job"])] if "job" in step else []
    if what == "queue":
        if "params" in step:  # Queue(params) as JavaScript's new Queue(params), or with nothing given
            state["queue"] = Queue(*([] if step["params"] == "$none" else [make(step["params"])]))
            return "constructed"
        state["queue"] = Queue(key=make(step["key"]))
        return "constructed"
    if what == "push":
        result = await state["queue"].push(*([make(step["events"])] if "events" in step else []))
        state["job"]["id"] = result.job_id
        return result
    if what == "getStats":
        return await state["queue"].getStats(*given)
    if what == "jobStats":
        return await state["queue"].getJob(*given).getStats()
    if what == "cancel":
        return await state["queue"].cancel(*given)
    if what == "kvs":
        return await getattr(kvs, step["method"])(*[make(arg) for arg in step["args"]])
    if what == "query":
        builder = kvs.query(*([] if "options" not in step else [make(step["options"])]))
        *chain, (last, *last_args) = step["chain"]
        for method, *args in chain:
            builder = getattr(builder, method)(*[state["cursor"] if arg == "$cursor" else make(arg) for arg in args])
        page = await getattr(builder, last)(*[make(arg) for arg in last_args])
        if isinstance(page, dict) and "results" in page:
            state["cursor"] = page.get("nextCursor")
        return page
    if what == "resolver":
        defined = Resolver()
        for key, function in step["defines"]:
            defined.define(make(key), (lambda request: None) if function == "fn" else make(function))
        return "found" if defined.getFunction(make(step.get("get", step["defines"][0][0]))) else None
    if what == "entity":
        return await getattr(kvs.entity(make(step["name"])), step["method"])(*[make(arg) for arg in step["args"]])
    if what == "entityQuery":
        index = kvs.entity(make(step["name"])).query(*([] if "options" not in step else [make(step["options"])]))
        builder = index.index(*[make(arg) for arg in step["index"]])
        *chain, (last, *last_args) = step["chain"]
        for method, *args in chain:
            builder = getattr(builder, method)(*[state["cursor"] if arg == "$cursor" else make(arg) for arg in args])
        page = await getattr(builder, last)(*[make(arg) for arg in last_args])
        if isinstance(page, dict) and "results" in page:
            state["cursor"] = page.get("nextCursor")
        return page
    if what == "transact":
        transaction = kvs.transact()
        for method, *args in step["ops"]:
            getattr(transaction, method)(*[make(arg) for arg in args])
        return await transaction.execute()
    if what == "appEvents":
        return await appEvents.publish(make(step["events"]))
    if what == "make":
        return make(step["value"])
    raise ValueError(f"unknown step {what}")


async def cases(event: dict[str, Any], context: dict[str, Any]) -> Any:
    the_one = the_case(event["body"]["case"])
    retry_count = event["retryContext"]["retryCount"] if event.get("retryContext") else 0
    state: dict[str, Any] = {"queue": None, "job": {"id": None}, "cursor": None}
    if retry_count == 0:
        for index, step in enumerate(the_one["steps"]):
            try:
                record = {"ok": plain(await run_step(step, state))}
            except Exception as error:  # noqa: BLE001 - every failure is a result to compare
                record = {"error": described(error)}
            emit({"step": index, **record})
    else:
        emit({"retryContext": event["retryContext"]})
    thrown = the_one.get("throws") or []
    if retry_count < len(thrown):
        raise make(thrown[retry_count])
    answers = the_one.get("returns") or []
    return make(answers[retry_count]) if retry_count < len(answers) else None


def retry_count(holder: Any) -> Any:
    """`holder && holder.retryContext ? holder.retryContext.retryCount : 0`: None where JavaScript reads undefined."""
    context = holder.get("retryContext") if isinstance(holder, dict) else None
    if not context:
        return 0
    return context.get("retryCount") if isinstance(context, dict) else None


def answer(answers: list[Any], count: Any) -> Any:
    """`retryCount < answers.length ? make(answers[retryCount]) : undefined`."""
    return make(answers[count]) if isinstance(count, int) and 0 <= count < len(answers) else None


async def echo(event: dict[str, Any], context: dict[str, Any]) -> Any:
    emit({"received": event, "context": context})
    body = event.get("body")
    answers = body.get("respond") if isinstance(body, dict) and isinstance(body.get("respond"), list) else []
    return answer(answers, retry_count(event))


async def trigger(payload: dict[str, Any], context: dict[str, Any]) -> Any:
    emit({"triggered": payload, "context": context})
    answers = payload.get("respond") if isinstance(payload, dict) and isinstance(payload.get("respond"), list) else []
    return answer(answers, retry_count(payload))


resolver = Resolver()


@resolver.define("listener")
def listener(request: dict[str, Any]) -> Any:
    payload, context = request["payload"], request["context"]
    emit({"payload": payload, "context": context})
    answers = payload.get("respond") if isinstance(payload, dict) and isinstance(payload.get("respond"), list) else []
    return answer(answers, retry_count(payload))


v1 = resolver.get_definitions()
