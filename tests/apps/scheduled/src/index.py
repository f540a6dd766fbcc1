"""Scheduled-trigger handlers that journal every call (JOURNAL names the file)."""

import json
import os

from forgeq.events import InvocationError


def _journal(function, request, context):
    line = json.dumps({"function": function, "request": request, "context": context}) + "\n"
    fd = os.open(os.environ["JOURNAL"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def tick(request, context):
    _journal("tick", request, context)
    if request["context"]["moduleKey"] == "hourly":
        # Forge ignores what a scheduled trigger returns: no retry, even for an InvocationError.
        return InvocationError(retry_after=60)
    return {"statusCode": 204}


def report(request, context):
    _journal("report", request, context)
    raise RuntimeError("the daily report failed")
