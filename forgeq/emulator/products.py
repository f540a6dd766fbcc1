"""Product events (Jira, Confluence): payload templates, payload generation, local trigger filters.

`forgeq push issue-created` and friends build their payloads here. Templates are JSON files that
follow the examples on developer.atlassian.com (FS §4; docs/product-events.md lists the sources)
with `{{placeholder}}` strings filled per event. Everything is deterministic: ids, keys and times
derive from the sequence number and the emulator's clock, never from randomness or the wall clock.

The trigger-filter evaluator understands a small, safe subset of Jira expressions. It never calls
`eval`; an expression outside the subset is reported as "not evaluated locally", never guessed.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from forgeq.emulator.errors import InputError

# Shipped inside the package so that an installed wheel finds them (docs/product-events.md).
TEMPLATE_DIR = Path(__file__).parent / "event_templates"

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
) -> Iterator[dict[str, Any]]:
    """`count` payloads for sequence numbers first_seq, first_seq+1, ...

    `now` is the emulator clock (epoch seconds); event i is stamped now + i ms. `sets` are
    `PATH=VALUE` overrides; `base_payload` replaces the template. Every argument is checked before
    the first payload is made, so a bad `--set` fails before anything is pushed.
    """
    _check_generation_arguments(count, first_seq, now, project_key)
    full_type = _event_type_for(event_type, has_own_payload=base_payload is not None)
    overrides = [_parse_override(item) for item in sets or []]
    prepared = _prepare(full_type, base_payload, overrides)
    return _render(prepared, count, first_seq, round(now * 1000), project_key)


def _check_generation_arguments(count: int, first_seq: int, now: float, project_key: str) -> None:
    if count < 0:
        raise ProductEventError(f"the event count must be 0 or more, not {count}")
    if first_seq < 1:
        raise ProductEventError(f"sequence numbers start at 1, not {first_seq}")
    if not math.isfinite(now):
        raise ProductEventError(f"the clock reading must be a finite number of seconds, not {now}")
    if not PROJECT_KEY_PATTERN.match(project_key):
        raise ProductEventError(
            f"{project_key!r} is not a Jira project key",
            "use capital letters, digits and underscores, starting with a letter, e.g. DEMO",
        )


def _event_type_for(name: str, *, has_own_payload: bool) -> str:
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
    prepared: dict[str, Any], count: int, first_seq: int, now_ms: int, project_key: str
) -> Iterator[dict[str, Any]]:
    for offset in range(count):
        values = _placeholder_values(
            first_seq + offset, now_ms + offset * MILLISECONDS_PER_EVENT, project_key
        )
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
    try:
        return json.loads(raw_value, parse_constant=_reject_constant)
    except ValueError:
        return raw_value


def _reject_constant(name: str) -> Any:
    # NaN and Infinity parse in Python but are not JSON; keep them as the strings the user typed.
    raise ValueError(name)


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
            override.item, f"index {index} is out of range: {_where(override, depth)} has {len(node)} item(s)"
        )
    return index


def _where(override: _Override, depth: int) -> str:
    return repr(".".join(override.path[:depth])) if depth else "the payload"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# ------------------------------------------------------------------------------ trigger filters


def filter_matches(
    trigger_filter: dict[str, Any] | None, payload: dict[str, Any], *, app_account_id: str
) -> tuple[bool, str | None]:
    """Whether a trigger with this `filter` receives the payload, and a note for the user.

    (False, reason) drops the event. (True, note) delivers it; the note says what could not be
    checked locally, e.g. "expression not evaluated locally: ...".
    """
    if not trigger_filter:
        return True, None
    notes: list[str] = []
    if trigger_filter.get("ignoreSelf") is True:
        if not str(payload.get("eventType", "")).startswith("avi:jira:"):
            notes.append("ignoreSelf works only with Jira events, so it was not applied")
        elif (reason := _self_generated(payload, app_account_id)) is not None:
            return False, f"ignoreSelf: {reason}"
    if "expression" in trigger_filter:
        on_error = str(trigger_filter.get("onError") or ON_ERROR_DEFAULT)
        matched, note = _expression_verdict(trigger_filter["expression"], payload, on_error)
        if note:
            notes.append(note)
        if not matched:
            return False, "; ".join(notes)
    return True, "; ".join(notes) or None


def _self_generated(payload: dict[str, Any], app_account_id: str) -> str | None:
    if payload.get("selfGenerated") is True:
        return "selfGenerated is true"
    if payload.get("atlassianId") == app_account_id:
        return f"atlassianId is the app's own account id ({app_account_id})"
    return None


def _expression_verdict(expression: Any, payload: dict[str, Any], on_error: str) -> tuple[bool, str | None]:
    if not isinstance(expression, str):
        return True, f"expression not evaluated locally: it is {_type_name(expression)}, not a string"
    try:
        tree = _parse_expression(expression)
        result = _evaluate(tree, payload)
        if not isinstance(result, bool):
            raise _EvaluationError(f"the expression gave {_type_name(result)}, not true or false")
    except _Unsupported as unsupported:
        return True, f"expression not evaluated locally: {unsupported}"
    except RecursionError:
        return True, "expression not evaluated locally: it is nested too deeply"
    except _EvaluationError as error:
        verb = "delivers" if on_error in _ON_ERROR_RECEIVES else "drops"
        return (
            on_error in _ON_ERROR_RECEIVES,
            f"expression failed ({error}); onError {on_error} {verb} the event",
        )
    if result:
        return True, None
    return False, f"expression is false: {expression}"


class _Unsupported(Exception):
    """The expression uses something outside the subset forgeq evaluates."""


class _EvaluationError(Exception):
    """The expression is in the subset but fails on this payload, as it would in Forge."""


# The subset of Jira expressions, as a tree. Grammar (precedence low to high):
#   conditional := nullish ('?' conditional ':' conditional)?
#   nullish := or ('??' or)*      or := and ('||' and)*      and := equality ('&&' equality)*
#   equality := relational (('=='|'!=') relational)*   relational := unary (('<'|'<='|'>'|'>=') unary)*
#   unary := '!' unary | postfix   postfix := primary ('.' name | '?.' name | '[' conditional ']' | call)*
#   primary := 'event' | literal | '[' list ']' | '(' conditional ')'


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _ListLiteral:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _EventRoot:
    pass


@dataclass(frozen=True)
class _Link:
    kind: str  # "member", "index" or "call"
    name: str
    optional: bool
    index: _Node | None = None
    args: tuple[_Node, ...] = ()


@dataclass(frozen=True)
class _Chain:
    base: _Node
    links: tuple[_Link, ...]


@dataclass(frozen=True)
class _Not:
    operand: _Node


@dataclass(frozen=True)
class _Binary:
    operator: str
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Conditional:
    test: _Node
    then: _Node
    otherwise: _Node


_Node = _Literal | _ListLiteral | _EventRoot | _Chain | _Not | _Binary | _Conditional

_METHODS = ("includes", "startsWith", "endsWith")
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>\d+(?:\.\d+)?)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
    | (?P<punct>\?\.(?!\d)|\?\?|==|!=|<=|>=|&&|\|\||[?:<>!()\[\].,-])
    | (?P<other>\S)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int


def _tokenize(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while expression[position:].strip():
        # Every non-space character makes a token ("other" at worst), so the parser reports the
        # first problem in reading order.
        match = _TOKEN.match(expression, position)
        assert match is not None and match.lastgroup is not None
        tokens.append(_Token(match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup) + 1))
        position = match.end()
    tokens.append(_Token("end", "", len(expression) + 1))
    return tokens


class _Parser:
    def __init__(self, expression: str) -> None:
        self.tokens = _tokenize(expression)
        self.position = 0

    def parse(self) -> _Node:
        node = self.conditional()
        token = self.peek()
        if token.kind == "name" and token.text == "in":
            raise _Unsupported(
                f"'in' at column {token.column} is not a Jira expression operator; use [...].includes(x)"
            )
        if token.kind != "end":
            raise _Unsupported(f"unexpected {token.text!r} at column {token.column}")
        return node

    def peek(self) -> _Token:
        return self.tokens[self.position]

    def accept(self, *texts: str) -> str | None:
        token = self.peek()
        if token.kind == "punct" and token.text in texts:
            self.position += 1
            return token.text
        return None

    def expect(self, text: str) -> None:
        if self.accept(text) is None:
            token = self.peek()
            found = repr(token.text) if token.text else "the end"
            raise _Unsupported(f"expected {text!r} at column {token.column}, found {found}")

    def conditional(self) -> _Node:
        test = self.binary_level(0)
        if self.accept("?") is None:
            return test
        then = self.conditional()
        self.expect(":")
        return _Conditional(test, then, self.conditional())

    _LEVELS: tuple[tuple[str, ...], ...] = (("??",), ("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="))

    def binary_level(self, level: int) -> _Node:
        if level == len(self._LEVELS):
            return self.unary()
        node = self.binary_level(level + 1)
        while (operator := self.accept(*self._LEVELS[level])) is not None:
            node = _Binary(operator, node, self.binary_level(level + 1))
        return node

    def unary(self) -> _Node:
        if self.accept("!") is not None:
            return _Not(self.unary())
        minus = self.peek()
        if self.accept("-") is not None:
            token = self.peek()
            if token.kind != "number":
                raise _Unsupported(f"'-' at column {minus.column} (arithmetic is not supported)")
            self.position += 1
            return _Literal(-_number(token.text))
        return self.postfix()

    def postfix(self) -> _Node:
        base = self.primary()
        links: list[_Link] = []
        while True:
            optional = self.peek().text == "?." and self.peek().kind == "punct"
            if self.accept(".", "?.") is not None:
                links.append(self.member(optional))
            elif self.accept("[") is not None:
                links.append(_Link("index", "", False, index=self.conditional()))
                self.expect("]")
            elif self.peek().kind == "punct" and self.peek().text == "(":
                raise _Unsupported(f"calling {self.describe(links)} at column {self.peek().column}")
            else:
                break
        return _Chain(base, tuple(links)) if links else base

    def member(self, optional: bool) -> _Link:
        token = self.peek()
        if token.kind == "punct" and token.text == "[":
            raise _Unsupported(f"'?.[' at column {token.column}")
        if token.kind != "name":
            raise _Unsupported(f"expected a property name at column {token.column}")
        self.position += 1
        if self.accept("(") is None:
            return _Link("member", token.text, optional)
        if token.text not in _METHODS:
            raise _Unsupported(f"the method {token.text}() (supported: {', '.join(_METHODS)})")
        return _Link("call", token.text, optional, args=self.arguments(")"))

    def arguments(self, closing: str) -> tuple[_Node, ...]:
        items: list[_Node] = []
        if self.accept(closing) is not None:
            return ()
        while True:
            items.append(self.conditional())
            if self.accept(closing) is not None:
                return tuple(items)
            self.expect(",")

    def describe(self, links: list[_Link]) -> str:
        return f".{links[-1].name}()" if links else "a function"

    def primary(self) -> _Node:
        token = self.peek()
        self.position += 1
        if token.kind == "number":
            return _Literal(_number(token.text))
        if token.kind == "string":
            return _Literal(_unquote(token.text))
        if token.kind == "name":
            return _name(token)
        if token.kind == "punct" and token.text == "(":
            node = self.conditional()
            self.expect(")")
            return node
        if token.kind == "punct" and token.text == "[":
            return _ListLiteral(self.arguments("]"))
        if token.kind == "end":
            raise _Unsupported("the expression ends too early")
        raise _Unsupported(f"unexpected {token.text!r} at column {token.column}")


def _name(token: _Token) -> _Node:
    keywords: dict[str, Any] = {"true": True, "false": False, "null": None}
    if token.text in keywords:
        return _Literal(keywords[token.text])
    if token.text == "event":
        return _EventRoot()
    raise _Unsupported(
        f"the name {token.text!r} at column {token.column} (only 'event' is available locally)"
    )


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda match: _ESCAPES.get(match.group(1), match.group(1)), body)


@lru_cache(maxsize=256)
def _parse_expression(expression: str) -> _Node:
    return _Parser(expression).parse()


def _evaluate(node: _Node, event: Any) -> Any:
    if isinstance(node, _Literal):
        return node.value
    if isinstance(node, _EventRoot):
        return event
    if isinstance(node, _ListLiteral):
        return [_evaluate(item, event) for item in node.items]
    if isinstance(node, _Chain):
        return _evaluate_chain(node, event)
    if isinstance(node, _Not):
        return not _truthy(_evaluate(node.operand, event))
    if isinstance(node, _Conditional):
        branch = node.then if _truthy(_evaluate(node.test, event)) else node.otherwise
        return _evaluate(branch, event)
    return _evaluate_binary(node, event)


def _evaluate_binary(node: _Binary, event: Any) -> Any:
    left = _evaluate(node.left, event)
    if node.operator == "&&":
        return _evaluate(node.right, event) if _truthy(left) else left
    if node.operator == "||":
        return left if _truthy(left) else _evaluate(node.right, event)
    if node.operator == "??":
        return _evaluate(node.right, event) if left is None else left
    right = _evaluate(node.right, event)
    if node.operator == "==":
        return _same(left, right)
    if node.operator == "!=":
        return not _same(left, right)
    return _compare(node.operator, left, right)


def _evaluate_chain(node: _Chain, event: Any) -> Any:
    value = _evaluate(node.base, event)
    trail = "event" if isinstance(node.base, _EventRoot) else "the value"
    for link in node.links:
        if value is None and link.optional:
            return None  # `a?.b.c` is null as a whole when a is null, as in JavaScript.
        if link.kind == "call":
            value = _call(value, link.name, [_evaluate(arg, event) for arg in link.args], trail)
            trail = f"{trail}.{link.name}()"
            continue
        key = link.name if link.index is None else _evaluate(link.index, event)
        value = _read(value, key, trail)
        trail = f"{trail}.{key}" if link.index is None else f"{trail}[{json.dumps(key)}]"
    return value


def _read(value: Any, key: Any, trail: str) -> Any:
    if value is None:
        # Jira expressions fail here too; the trigger's onError then decides.
        raise _EvaluationError(f"{trail} is null or missing, so {key!r} cannot be read")
    if key == "length" and isinstance(value, list | str):
        return len(value)
    if isinstance(value, dict) and isinstance(key, str):
        return value.get(key)
    if isinstance(value, list) and isinstance(key, int) and not isinstance(key, bool):
        return value[key] if 0 <= key < len(value) else None
    raise _EvaluationError(f"{trail} is {_type_name(value)}, so {key!r} cannot be read")


def _call(target: Any, method: str, args: list[Any], trail: str) -> bool:
    if len(args) != 1:
        raise _EvaluationError(f"{method}() takes one argument, not {len(args)}")
    argument = args[0]
    if method == "includes" and isinstance(target, list):
        return any(_same(item, argument) for item in target)
    if isinstance(target, str) and isinstance(argument, str):
        if method == "includes":
            return argument in target
        return target.startswith(argument) if method == "startsWith" else target.endswith(argument)
    raise _EvaluationError(
        f"{trail} is {_type_name(target)}, so {method}({_type_name(argument)}) cannot be called"
    )


def _truthy(value: Any) -> bool:
    # JavaScript truthiness, which Jira expressions follow for !, && and ||.
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value != ""
    return True


def _same(left: Any, right: Any) -> bool:
    # Strict equality: true is not 1 and "1" is not 1, unlike Python's ==.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[key], right[key]) for key in left)
    return type(left) is type(right) and bool(left == right)


def _compare(operator: str, left: Any, right: Any) -> bool:
    numbers = all(isinstance(side, int | float) and not isinstance(side, bool) for side in (left, right))
    strings = isinstance(left, str) and isinstance(right, str)
    if not (numbers or strings):
        raise _EvaluationError(f"cannot compare {_type_name(left)} to {_type_name(right)} with {operator}")
    if operator == "<":
        return bool(left < right)
    if operator == "<=":
        return bool(left <= right)
    if operator == ">":
        return bool(left > right)
    return bool(left >= right)
