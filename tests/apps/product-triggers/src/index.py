"""Trigger handlers that journal every call to the file named by JOURNAL, one JSON line each.

`changed` asks for a retry (a returned InvocationError) until its third delivery; `deleted`
throws, so Forge loses the event.
"""

import json
import os

from forgeq.events import InvocationError


def _journal(function, event, context):
    line = json.dumps({"function": function, "pid": os.getpid(), "event": event, "context": context}) + "\n"
    fd = os.open(os.environ["JOURNAL"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())  # one write per line: a line survives even a kill -9
    finally:
        os.close(fd)


def created(event, context):
    _journal("created", event, context)


def bugs(event, context):
    _journal("bugs", event, context)


def comment(event, context):
    _journal("comment", event, context)


def page(event, context):
    _journal("page", event, context)


def changed(event, context):
    _journal("changed", event, context)
    retry_context = event.get("retryContext")
    if retry_context is None or retry_context["retryCount"] < 2:
        return InvocationError(retry_after=30, retry_data={"seen": True})
    return True


def deleted(event, context):
    _journal("deleted", event, context)
    raise RuntimeError(f"cannot archive {event['issue']['key']}")
