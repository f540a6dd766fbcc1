"""Product events (Jira, Confluence): payload templates, payload generation, local trigger filters.

`forgeq push issue-created` and friends build their payloads here. Templates are JSON files that
follow the examples on developer.atlassian.com (docs/product-events.md lists the sources)
with `{{placeholder}}` strings filled per event. Everything is deterministic: ids, keys and times
derive from the sequence number and the emulator's clock, never from randomness or the wall clock.

Trigger filters (`filter_matches`) apply `ignoreSelf` and the Jira-expression subset of
forgeq/emulator/products/expressions.py; an expression outside the subset is reported as "not evaluated
locally", never guessed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from forgeq.emulator import jsoninput
from forgeq.emulator.errors import InputError
from forgeq.emulator.products.expressions import EvaluationError, Unsupported, evaluate
from forgeq.emulator.products.expressions import type_name as _type_name
from forgeq.emulator.wording import plural

# Shipped inside the package so that an installed wheel finds them (docs/product-events.md).
TEMPLATE_DIR = Path(__file__).parent / "templates"

# Stand-in account ids (24 hex digits, like real Atlassian account ids). forgeq's choice.
DEMO_USER_ACCOUNT_ID = "5f4dcc3b5aa765d61d8327de"
DEMO_ASSIGNEE_ACCOUNT_ID = "5f4dcc3b5aa765d61d8327df"

# Ids derive from the sequence number: issue 10000+seq, comment 20000+seq, and so on.
ISSUE_ID_BASE = 10000
COMMENT_ID_BASE = 20000
CHANGELOG_ID_BASE = 30000
PAGE_ID_BASE = 40000
# Consecutive events are this far apart, so their timestamps differ and sort in push order.
MILLISECONDS_PER_EVENT = 1
# Things that existed before the event (the issue behind an update) were created this long before.
CREATED_BEFORE_MS = 3_600_000

DEFAULT_PROJECT_KEY = "DEMO"
PROJECT_KEY_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*$")
# A full event name that forgeq may lack a template for, e.g. avi:jira:viewed:issue.
EVENT_TYPE_PATTERN = re.compile(r"^avi:[a-z0-9-]+:[a-z0-9_:-]+$")
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z][A-Za-z0-9_.]*)\}\}")

ON_ERROR_DEFAULT = "IGNORE_AND_LOG"
_ON_ERROR_RECEIVES = ("RECEIVE", "RECEIVE_AND_LOG")


# --------------------------------------------------------------------------------------- errors


class ProductEventError(InputError, ValueError):
    """A product event cannot be built from what was asked for."""


class UnknownProductEvent(ProductEventError):
    """The name is neither a known alias nor an event type forgeq has a template for."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = list(known)
        super().__init__(_unknown_event_message(name, self.known))


class PayloadOverrideError(ProductEventError):
    """A `--set PATH=VALUE` item (or a `--payload` document) cannot be applied."""

    def __init__(self, item: str, reason: str, *, option: str = "--set") -> None:
        self.item = item
        self.reason = reason
        super().__init__(f"--set {item!r}: {reason}" if option == "--set" else f"{option}: {reason}")


def _unknown_event_message(name: str, known: list[str]) -> str:
    aliases = [alias for alias in known if not alias.startswith("avi:")]
    guess = difflib.get_close_matches(name.strip().lower(), known, n=1)
    did_you_mean = f" Did you mean {guess[0]!r}?" if guess else ""
    if EVENT_TYPE_PATTERN.match(name.strip()):
        opening = f"forgeq has no payload template for {name!r}; pass --payload FILE to push it with your own payload."
    else:
        opening = f"unknown product event {name!r}."
    return (
        f"{opening}{did_you_mean} Known: {', '.join(aliases)} (or their full avi: names)."
        " Run `forgeq push --list` to see them all."
    )


# ------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ProductEvent:
    alias: str
    event_type: str
    product: str
    description: str

    @property
    def template_path(self) -> Path:
        return TEMPLATE_DIR / f"{self.alias}.json"


PRODUCT_EVENTS: tuple[ProductEvent, ...] = (
    ProductEvent("issue-created", "avi:jira:created:issue", "jira", "An issue was created."),
    ProductEvent(
        "issue-updated", "avi:jira:updated:issue", "jira", "A field on an issue changed; carries a changelog."
    ),
    ProductEvent("issue-deleted", "avi:jira:deleted:issue", "jira", "An issue was deleted."),
    ProductEvent(
        "issue-assigned",
        "avi:jira:assigned:issue",
        "jira",
        "An issue was assigned; the changelog names the assignee.",
    ),
    ProductEvent(
        "comment-created",
        "avi:jira:commented:issue",
        "jira",
        "A comment was created (or edited) on an issue.",
    ),
    ProductEvent(
        "page-created", "avi:confluence:created:page", "confluence", "A Confluence page was created."
    ),
    ProductEvent(
        "page-updated", "avi:confluence:updated:page", "confluence", "A Confluence page was edited."
    ),
)

EVENT_ALIASES: dict[str, str] = {event.alias: event.event_type for event in PRODUCT_EVENTS}
_BY_TYPE: dict[str, ProductEvent] = {event.event_type: event for event in PRODUCT_EVENTS}


def resolve_event_type(name: str) -> str:
    """The full event type for an alias (`issue-created`) or a full type (`avi:jira:created:issue`)."""
    key = name.strip().lower()
    if key in EVENT_ALIASES:
        return EVENT_ALIASES[key]
    if key in _BY_TYPE:
        return key
    raise UnknownProductEvent(name, known=[*EVENT_ALIASES, *_BY_TYPE])


def alias_of(event_type: str) -> str | None:
    """The short alias of a full event type forgeq has a template for."""
    event = _BY_TYPE.get(event_type)
    return event.alias if event else None


def list_event_types() -> list[tuple[str, str, str, str]]:
    """(alias, full event type, product, description) for every template, in a stable order."""
    return [(event.alias, event.event_type, event.product, event.description) for event in PRODUCT_EVENTS]


@cache
def _template_text(event_type: str) -> str:
    return _BY_TYPE[event_type].template_path.read_text(encoding="utf-8")


def load_template(event_type: str) -> dict[str, Any]:
    """A fresh copy of the raw template (placeholders unfilled) for a known full event type."""
    template: dict[str, Any] = json.loads(_template_text(event_type))
    return template


# ------------------------------------------------------------------------------------- payloads


def make_payloads(
    event_type: str,
    count: int,
    *,
    first_seq: int,
    now: float,
    project_key: str = DEFAULT_PROJECT_KEY,
    sets: list[str] | None = None,
    base_payload: dict[str, Any] | None = None,
    spacing_seconds: float | None = None,
) -> Iterator[dict[str, Any]]:
    """`count` payloads for sequence numbers first_seq, first_seq+1, ...

    `now` is the emulator clock (epoch seconds); event i is stamped now + i ms, or now + i *
    `spacing_seconds` when given (`forgeq push --rate`). `sets` are `PATH=VALUE` overrides;
    `base_payload` replaces the template. Every argument is checked before the first payload is
    made, so a bad `--set` fails before anything is pushed.
    """
    _check_generation_arguments(count, first_seq, now, project_key)
    if spacing_seconds is not None and not (math.isfinite(spacing_seconds) and spacing_seconds >= 0):
        raise ProductEventError(f"the spacing between events must be 0 s or more, not {spacing_seconds}")
    full_type = event_type_for(event_type, has_own_payload=base_payload is not None)
    overrides = [_parse_override(item) for item in sets or []]
    prepared = _prepare(full_type, base_payload, overrides)
    return _render(prepared, count, first_seq, now, spacing_seconds, project_key)


def _check_generation_arguments(count: int, first_seq: int, now: float, project_key: str) -> None:
    if count < 0:
        raise ProductEventError(f"the event count must be 0 or more, not {count}")
    if first_seq < 1:
        raise ProductEventError(f"sequence numbers start at 1, not {first_seq}")
    if not math.isfinite(now):
        raise ProductEventError(f"the clock reading must be a finite number of seconds, not {now}")
    if not PROJECT_KEY_PATTERN.fullmatch(project_key):
        raise ProductEventError(
            f"{project_key!r} is not a Jira project key",
            "use capital letters, digits and underscores, starting with a letter, e.g. DEMO",
        )


def event_type_for(name: str, *, has_own_payload: bool) -> str:
    """The full type to push: any `avi:` name with your own payload, else an alias or a templated type."""
    if has_own_payload and EVENT_TYPE_PATTERN.match(name.strip()):
        return name.strip()
    return resolve_event_type(name)


def _prepare(
    event_type: str, base_payload: dict[str, Any] | None, overrides: list[_Override]
) -> dict[str, Any]:
    if base_payload is None:
        payload = load_template(event_type)
    elif isinstance(base_payload, dict):
        payload = json.loads(json.dumps(base_payload))
    else:
        reason = f"the payload must be a JSON object, not {_type_name(base_payload)}"
        raise PayloadOverrideError("--payload", reason, option="--payload")
    payload["eventType"] = event_type
    for override in overrides:
        _apply_override(payload, override)
    return payload


def _render(
    prepared: dict[str, Any], count: int, first_seq: int, now: float, spacing: float | None, project_key: str
) -> Iterator[dict[str, Any]]:
    now_ms = round(now * 1000)
    for offset in range(count):
        if spacing is None:
            event_ms = now_ms + offset * MILLISECONDS_PER_EVENT
        else:
            event_ms = round((now + offset * spacing) * 1000)
        values = _placeholder_values(first_seq + offset, event_ms, project_key)
        filled: dict[str, Any] = _fill(prepared, values)
        yield filled


def _placeholder_values(seq: int, event_ms: int, project_key: str) -> dict[str, str | int]:
    created_ms = event_ms - CREATED_BEFORE_MS
    return {
        "seq": seq,
        "issue.id": str(ISSUE_ID_BASE + seq),
        "issue.key": f"{project_key}-{seq}",
        "project.key": project_key,
        "comment.id": str(COMMENT_ID_BASE + seq),
        "changelog.id": str(CHANGELOG_ID_BASE + seq),
        "page.id": str(PAGE_ID_BASE + seq),
        "space.key": project_key,
        "user.accountId": DEMO_USER_ACCOUNT_ID,
        "assignee.accountId": DEMO_ASSIGNEE_ACCOUNT_ID,
        "now.iso": jira_timestamp(event_ms),
        "now.isoZ": iso_timestamp(event_ms),
        "now.epochMillis": event_ms,
        "created.iso": jira_timestamp(created_ms),
        "created.isoZ": iso_timestamp(created_ms),
    }


def jira_timestamp(epoch_ms: int) -> str:
    """Jira's format: 2021-01-20T15:58:12.797+0000 (always UTC here)."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}+0000"


def iso_timestamp(epoch_ms: int) -> str:
    """Confluence's format: 2021-01-20T06:29:21.907Z."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


# Every name that {{...}} may use, for the docs and the tests.
PLACEHOLDERS: tuple[str, ...] = tuple(_placeholder_values(1, 0, "DEMO"))


def _fill(value: Any, values: Mapping[str, str | int]) -> Any:
    if isinstance(value, str):
        return _fill_text(value, values)
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    return value


def _fill_text(text: str, values: Mapping[str, str | int]) -> str | int:
    if "{{" not in text:
        return text
    whole = _PLACEHOLDER.fullmatch(text)
    if whole and whole.group(1) in values:
        # A string that is exactly one placeholder takes its type: "{{seq}}" becomes a number.
        return values[whole.group(1)]
    # Unknown names stay as written: a payload may contain "{{" for reasons of its own.
    return _PLACEHOLDER.sub(lambda match: str(values.get(match.group(1), match.group(0))), text)


# ------------------------------------------------------------------------------------ overrides


@dataclass(frozen=True)
class _Override:
    item: str
    path: tuple[str, ...]
    value: Any


def _parse_override(item: str) -> _Override:
    path_text, equals, raw_value = item.partition("=")
    path_text = path_text.strip()
    if not equals:
        raise PayloadOverrideError(item, "expected PATH=VALUE, e.g. issue.fields.summary=Hello")
    if not path_text:
        raise PayloadOverrideError(item, "the path before '=' is empty")
    path = tuple(path_text.split("."))
    if "" in path:
        raise PayloadOverrideError(item, "the path has an empty part (a leading, trailing or doubled dot)")
    return _Override(item, path, _parse_value(raw_value))


def _parse_value(raw_value: str) -> Any:
    """VALUE as JSON, or as the text typed when it is not JSON (NaN and Infinity included); JSON
    nested too deep or with a number past a double is refused (jsoninput.py)."""
    try:
        return jsoninput.parse(raw_value, "--set")
    except jsoninput.InvalidJson:
        return raw_value


def _apply_override(payload: dict[str, Any], override: _Override) -> None:
    node: Any = payload
    for depth, part in enumerate(override.path[:-1]):
        node = _descend(node, part, override, depth)
    _assign(node, override.path[-1], override)


def _descend(node: Any, part: str, override: _Override, depth: int) -> Any:
    if isinstance(node, dict):
        if node.get(part) is None:
            # Missing or null keys become objects, so `issue.fields.assignee.accountId=...` works.
            node[part] = {}
        return node[part]
    if isinstance(node, list):
        return node[_list_index(node, part, override, depth)]
    raise PayloadOverrideError(
        override.item, f"{_where(override, depth)} is {_type_name(node)}, not an object or a list"
    )


def _assign(node: Any, part: str, override: _Override) -> None:
    depth = len(override.path) - 1
    if isinstance(node, dict):
        node[part] = override.value
    elif isinstance(node, list):
        node[_list_index(node, part, override, depth)] = override.value
    else:
        raise PayloadOverrideError(
            override.item, f"{_where(override, depth)} is {_type_name(node)}, not an object or a list"
        )


def _list_index(node: list[Any], part: str, override: _Override, depth: int) -> int:
    if not part.isdigit():
        raise PayloadOverrideError(
            override.item, f"{_where(override, depth)} is a list, so {part!r} must be an index"
        )
    index = int(part)
    if index >= len(node):
        raise PayloadOverrideError(
            override.item, f"index {index} is out of range: {_where(override, depth)} has {plural(len(node), 'item')}"
        )
    return index


def _where(override: _Override, depth: int) -> str:
    return repr(".".join(override.path[:depth])) if depth else "the payload"


# ------------------------------------------------------------------------------ trigger filters


def app_account_id(app_id: str) -> str:
    """The app's own account id in forgeq (its choice): 24 hex digits derived from `app.id`.

    `ignoreSelf` drops Jira events whose `atlassianId` is this id; push with
    `--set atlassianId=<it>` to see that (`forgeq push --list` prints it).
    """
    return hashlib.blake2b(f"app-account:{app_id}".encode(), digest_size=12).hexdigest()


@dataclass(frozen=True)
class FilterVerdict:
    """What a trigger `filter` decides for one payload.

    `reason` says why an event is dropped; `notes` are per-event remarks on a delivered one (an
    expression that failed and onError delivers); `unchecked` names the parts of the filter that
    forgeq could not apply locally, the same for every event.
    """

    delivered: bool
    reason: str | None = None
    notes: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()


def filter_verdict(
    trigger_filter: dict[str, Any] | None, payload: dict[str, Any], *, app_account_id: str
) -> FilterVerdict:
    """Apply a trigger's `filter` (ignoreSelf, expression, onError) to a payload, as Forge does."""
    if not trigger_filter:
        return FilterVerdict(True)
    unchecked: list[str] = []
    notes: list[str] = []
    if trigger_filter.get("ignoreSelf") is True:
        if not str(payload.get("eventType", "")).startswith("avi:jira:"):
            unchecked.append("ignoreSelf works only with Jira events, so it was not applied")
        elif (reason := _self_generated(payload, app_account_id)) is not None:
            return FilterVerdict(False, f"ignoreSelf: {reason}", (), tuple(unchecked))
    if "expression" in trigger_filter:
        on_error = str(trigger_filter.get("onError") or ON_ERROR_DEFAULT)
        matched, note, local = _expression_verdict(trigger_filter["expression"], payload, on_error)
        if not matched:
            return FilterVerdict(False, note, (), tuple(unchecked))
        if note:
            (notes if local else unchecked).append(note)
    return FilterVerdict(True, None, tuple(notes), tuple(unchecked))


def filter_matches(
    trigger_filter: dict[str, Any] | None, payload: dict[str, Any], *, app_account_id: str
) -> tuple[bool, str | None]:
    """Whether a trigger with this `filter` receives the payload, and a note for the user.

    (False, reason) drops the event. (True, note) delivers it; the note says what could not be
    checked locally, e.g. "expression not evaluated locally: ...".
    """
    verdict = filter_verdict(trigger_filter, payload, app_account_id=app_account_id)
    if not verdict.delivered:
        return False, "; ".join([*verdict.unchecked, *([verdict.reason] if verdict.reason else [])]) or None
    return True, "; ".join([*verdict.unchecked, *verdict.notes]) or None


def _self_generated(payload: dict[str, Any], app_account_id: str) -> str | None:
    if payload.get("selfGenerated") is True:
        return "selfGenerated is true"
    if payload.get("atlassianId") == app_account_id:
        return f"atlassianId is the app's own account id ({app_account_id})"
    return None


def _expression_verdict(
    expression: Any, payload: dict[str, Any], on_error: str
) -> tuple[bool, str | None, bool]:
    """(delivered, note, evaluated locally)."""
    if not isinstance(expression, str):
        return True, f"expression not evaluated locally: it is {_type_name(expression)}, not a string", False
    try:
        result = evaluate(expression, payload)
        if not isinstance(result, bool):
            raise EvaluationError(f"the expression gave {_type_name(result)}, not true or false")
    except Unsupported as unsupported:
        return True, f"expression not evaluated locally: {unsupported}", False
    except EvaluationError as error:
        verb = "delivers" if on_error in _ON_ERROR_RECEIVES else "drops"
        return (
            on_error in _ON_ERROR_RECEIVES,
            f"expression failed ({error}); onError {on_error} {verb} the event",
            True,
        )
    if result:
        return True, None, True
    return False, f"expression is false: {expression}", True
