"""The JQL subset the fake Jira searches with: parsed here, evaluated over the site's issues.

    project = DEMO AND labels = imported AND status != Done ORDER BY created DESC
    key IN (DEMO-1, DEMO-2) OR (assignee = currentUser() AND updated >= -1d)
    summary ~ "checkout" AND labels IS EMPTY AND issue.property[import].state = done

Fields: project, key (issuekey), id, summary, description, environment, text, labels, status,
statusCategory, assignee, reporter, creator, issuetype (type), priority, resolution, parent,
created, updated, resolutiondate, duedate, sprint, customfield_N (cf[N]), issue.property[key].path.
Operators: = != ~ !~ > >= < <= IN, NOT IN, IS [NOT] EMPTY|NULL; AND, OR, NOT and parentheses.
Values: words, "quoted" or 'quoted' strings, numbers, dates (2025-11-17, "2025-11-17 09:30"),
relative times (-1d, -2h, 30m, 1w), and the functions currentUser(), now(), startOfDay(),
endOfDay(), openSprints(), closedSprints() and futureSprints(). ORDER BY any of key, id, created,
updated, priority, status, summary, assignee, reporter, duedate, resolutiondate, rank (= created),
ASC or DESC. Without ORDER BY, issues come by key, newest first (forgeq's choice: Jira does not
document its default order).

Anything else Jira accepts (WAS, CHANGED, other functions, history searches) raises Unsupported:
the search answers 501 with a note, never a guess. A query Jira refuses raises JqlError with
Jira's message (unknown field, unknown project, a syntax error with its position).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forgeq.emulator.platform.site.calls import Call
    from forgeq.emulator.platform.site.jira_search import JiraSearch as Jira


class JqlError(Exception):
    """A query Jira refuses: the message is Jira's."""


class Unsupported(Exception):
    """A query Jira accepts that forgeq does not evaluate (outside the subset above)."""


OPERATORS = ("=", "!=", "~", "!~", ">", ">=", "<", "<=", "in", "not in", "is", "is not")
TEXT_FIELDS = {"summary", "description", "environment", "text"}
DATE_FIELDS = {"created", "updated", "resolutiondate", "duedate", "statuscategorychangedate"}
ALIASES = {"issuekey": "key", "type": "issuetype", "createddate": "created", "updateddate": "updated", "resolved": "resolutiondate", "due": "duedate"}
FIELDS = {
    "project", "key", "id", "labels", "status", "statuscategory", "assignee", "reporter", "creator", "issuetype",
    "priority", "resolution", "parent", "sprint",
} | TEXT_FIELDS | DATE_FIELDS  # fmt: skip
ORDER_FIELDS = {"key", "id", "created", "updated", "priority", "status", "summary", "assignee", "reporter", "duedate", "resolutiondate", "rank"}
FUNCTIONS = {"currentuser", "now", "startofday", "endofday", "opensprints", "closedsprints", "futuresprints"}
# The sprint functions answer to a sprint's state: a marker no typed value can hold (a NUL first).
_SPRINT_STATES = {"opensprints": "\0active", "closedsprints": "\0closed", "futuresprints": "\0future"}
UNSUPPORTED_WORDS = {"was", "changed", "during", "before", "after", "by", "on", "from", "to"}

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<operator>!=|!~|>=|<=|=|~|>|<)
    | (?P<punct>[(),])
    | (?P<word>[^\s"'(),=!~<>]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int


def tokenize(text: str) -> list[Token]:
    tokens = []
    position = 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            column = len(text[:position]) + len(text[position:]) - len(text[position:].lstrip()) + 1
            raise JqlError(f"Error in the JQL Query: The character '{text[position:].lstrip()[0]}' is a reserved JQL character. (line 1, character {column})")
        kind = match.lastgroup or "word"
        value = match.group(kind)
        column = match.start(kind) + 1
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append(Token(kind, value, column))
        position = match.end()
    return tokens


# -- the tree ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool = False
    function: str | None = None  # currentuser, now, ...
    empty: bool = False  # EMPTY / NULL


@dataclass(frozen=True)
class Clause:
    field: str  # lower-cased, aliases resolved; "customfield_N" or "property:<key>:<path>"
    operator: str  # lower-cased
    values: tuple[Value, ...]
    column: int


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Both:
    operator: str  # and | or
    left: Node
    right: Node


Node = Clause | Not | Both


@dataclass(frozen=True)
class Order:
    field: str
    descending: bool


# -- parsing ----------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.position = 0

    def peek(self, offset: int = 0) -> Token | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def word(self, offset: int = 0) -> str | None:
        token = self.peek(offset)
        return token.text.lower() if token is not None and token.kind == "word" else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise JqlError("Error in the JQL Query: The JQL query is incomplete: it ends too early.")
        self.position += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.take()
        if token.text.lower() != text:
            raise _error(f"Expecting '{text}' but got '{token.text}'.", token)
        return token

    def query(self) -> Query:
        where = None
        if self.word() != "order":
            where = self.disjunction()
        order: list[Order] = []
        if self.peek() is not None:
            if self.word() != "order" or self.word(1) != "by":
                raise _error(f"Expecting either 'OR' or 'AND' but got '{self.peek().text}'.", self.peek())  # type: ignore[union-attr]
            self.position += 2
            while True:
                token = self.take()
                name = ALIASES.get(token.text.lower(), token.text.lower())
                if name not in ORDER_FIELDS and not name.startswith("customfield_"):
                    if name in FIELDS:
                        raise Unsupported(f"ORDER BY {token.text}")
                    raise JqlError(f"Field '{token.text}' does not exist or you do not have permission to view it.")
                descending = False
                if self.word() in ("asc", "desc"):
                    descending = self.take().text.lower() == "desc"
                order.append(Order(name, descending))
                if self.peek() is None:
                    break
                self.expect(",")
        return Query(where, tuple(order))

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.word() == "or":
            self.take()
            node = Both("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.word() == "and":
            self.take()
            node = Both("and", node, self.negation())
        return node

    def negation(self) -> Node:
        if self.word() == "not":
            self.take()
            return Not(self.negation())
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            node = self.disjunction()
            self.expect(")")
            return node
        return self.clause()

    def clause(self) -> Clause:
        token = self.take()
        if token.kind not in ("word", "string"):
            raise _error(f"Expecting a field name but got '{token.text}'.", token)
        name = _field_name(token)
        operator_token = self.take()
        operator = operator_token.text.lower()
        if operator in UNSUPPORTED_WORDS:
            raise Unsupported(f"the {operator_token.text.upper()} operator (history searches)")
        if operator == "not":
            self.expect("in")
            operator = "not in"
        elif operator == "is" and self.word() == "not":
            self.take()
            operator = "is not"
        if operator not in OPERATORS:
            raise _error(
                f"Expecting operator but got '{operator_token.text}'. The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'.",
                operator_token,
            )
        following = self.peek(1)
        if operator in ("in", "not in") and self.word() is not None and following is not None and following.text == "(":
            values = [self.value()]  # a function that answers a list: IN openSprints()
        elif operator in ("in", "not in"):
            self.expect("(")
            values = [self.value()]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                values.append(self.value())
            self.expect(")")
        else:
            values = [self.value()]
        if operator in ("is", "is not") and not values[0].empty:
            raise _error(f"The operator '{operator.upper()}' only works with EMPTY or NULL.", operator_token)
        return Clause(name, operator, tuple(values), token.column)

    def value(self) -> Value:
        token = self.take()
        if token.kind == "string":
            return Value(token.text, quoted=True)
        if token.kind != "word":
            raise _error(f"Expecting a value but got '{token.text}'.", token)
        lowered = token.text.lower()
        if lowered in ("empty", "null"):
            return Value(token.text, empty=True)
        following = self.peek()
        if following is not None and following.text == "(":
            self.take()
            if lowered not in FUNCTIONS:
                raise Unsupported(f"the function {token.text}()")
            closing = self.take()
            if closing.text != ")":
                raise Unsupported(f"arguments to {token.text}()")
            return Value(token.text, function=lowered)
        return Value(token.text)


def _field_name(token: Token) -> str:
    text = token.text
    lowered = text.lower()
    match = re.fullmatch(r"cf\[(\d+)\]", lowered)
    if match:
        return f"customfield_{match.group(1)}"
    match = re.fullmatch(r"issue\.property\[([^\]]+)\]((?:\.[A-Za-z0-9_]+)*)", text)
    if match:
        return f"property:{match.group(1)}:{match.group(2).lstrip('.')}"
    if re.fullmatch(r"customfield_\d+", lowered):
        return lowered
    name = ALIASES.get(lowered, lowered)
    if name not in FIELDS:
        raise JqlError(f"Field '{text}' does not exist or you do not have permission to view it.")
    return name


def _error(message: str, token: Token | None) -> JqlError:
    column = token.column if token is not None else 1
    return JqlError(f"Error in the JQL Query: {message} (line 1, character {column})")


def parse(text: str) -> Query:
    parser = _Parser(text)
    if not parser.tokens:
        return Query(None, ())
    return parser.query()


# -- evaluation -------------------------------------------------------------------------------------


class Context:
    """What a query needs besides the issue: who asks, the time, the site's other objects."""

    def __init__(self, jira: Jira, call: Call) -> None:
        self.jira = jira
        self.call = call
        self._projects: dict[str, dict[str, Any]] | None = None

    def projects(self) -> dict[str, dict[str, Any]]:
        if self._projects is None:
            self._projects = self.jira.projects(self.call.installation)
        return self._projects

    def property(self, key: str, name: str) -> Any:
        found = self.jira.data.get(self.call.installation, "issue-property", f"{key}/{name}")
        return None if found is None else found.get("value")


@dataclass(frozen=True)
class Query:
    where: Node | None
    order: tuple[Order, ...]

    def matches(self, context: Context, doc: dict[str, Any]) -> bool:
        return self.where is None or _holds(self.where, context, doc)

    def ordered(self, issues: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        order = self.order or (Order("key", True),)
        result = list(issues)
        for item in reversed(order):
            result.sort(key=_by(item.field), reverse=item.descending)
        return result


def _by(field: str) -> Callable[[tuple[str, dict[str, Any]]], Any]:
    return lambda pair: _sort_key(field, pair[1])


def _holds(node: Node, context: Context, doc: dict[str, Any]) -> bool:
    if isinstance(node, Both):
        if node.operator == "and":
            return _holds(node.left, context, doc) and _holds(node.right, context, doc)
        return _holds(node.left, context, doc) or _holds(node.right, context, doc)
    if isinstance(node, Not):
        return not _holds(node.operand, context, doc)
    return _clause(node, context, doc)


def _clause(clause: Clause, context: Context, doc: dict[str, Any]) -> bool:
    name, operator = clause.field, clause.operator
    if operator in ("is", "is not"):
        empty = _is_empty(_raw(name, context, doc))
        return empty if operator == "is" else not empty
    if name in TEXT_FIELDS or operator in ("~", "!~"):
        if operator not in ("~", "!~") and name in TEXT_FIELDS:
            raise JqlError(f"The operator '{operator}' is not supported by the '{name}' field.")
        text = _text_of(name, context, doc).lower()
        wanted = clause.values[0].text.lower().strip("*")
        found = all(word in text for word in wanted.split()) if wanted else False
        return found if operator == "~" else not found
    if name in DATE_FIELDS:
        moment = _jira_epoch((doc.get("fields") or {}).get(name))
        if moment is None:
            return operator in ("!=", "not in")
        return _compare(operator, moment, [_date(value, context) for value in clause.values])
    if name == "project":
        projects = context.projects()
        for value in clause.values:
            if not value.empty and not _project_exists(value.text, projects):
                raise JqlError(f"The value '{value.text}' does not exist for the field 'project'.")
    candidates = _candidates(name, context, doc)
    values = [_resolve(value, context) for value in clause.values]
    if operator in ("=", "in"):
        return any(v in candidates for v in values)
    if operator in ("!=", "not in"):
        return bool(candidates) and not any(v in candidates for v in values)
    if operator in (">", ">=", "<", "<="):
        if name not in ("key", "id", "priority") and not name.startswith("customfield_"):
            raise JqlError(f"The operator '{operator}' is not supported by the '{name}' field.")
        return _compare(operator, _sort_key(name, doc), [_ordinal(name, v) for v in values])
    raise Unsupported(f"the operator {operator} on {name}")


def _raw(name: str, context: Context, doc: dict[str, Any]) -> Any:
    if name.startswith("property:"):
        _, key, path = name.split(":", 2)
        value = context.property(str(doc.get("key")), key)
        for part in [p for p in path.split(".") if p]:
            value = value.get(part) if isinstance(value, dict) else None
        return value
    if name in ("key", "id"):
        return doc.get(name)
    if name == "sprint":
        return (doc.get("fields") or {}).get("customfield_10020")
    value = (doc.get("fields") or {}).get(name)
    if name == "priority" and value is None:
        return {"id": "3", "name": "Medium"}  # what the site answers for an issue without one
    return value


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or value == "" or value == {}


def _candidates(name: str, context: Context, doc: dict[str, Any]) -> set[str]:
    """Every lower-cased string the field's value answers to (a status by name and id, ...)."""
    value = _raw(name, context, doc)
    if name == "statuscategory":
        from forgeq.emulator.platform.site.shapes import CATEGORIES

        status = (doc.get("fields") or {}).get("status") or {}
        key = status.get("category") or (status.get("statusCategory") or {}).get("key")
        category = CATEGORIES.get(str(key), {})
        return {str(category.get(part)).lower() for part in ("key", "name", "id") if category.get(part) is not None}
    if name == "resolution" and value is None:
        return {"unresolved"}
    if name == "sprint":  # Jira Software's Sprint field (jira_agile.py): by id, name or state
        sprints = [item for item in value or () if isinstance(item, dict)]
        return {str(s.get(part)).lower() for s in sprints for part in ("id", "name") if s.get(part) is not None} | {
            f"\0{s.get('state')}" for s in sprints
        }
    if isinstance(value, list):
        return {_scalar(item) for item in value}
    if isinstance(value, dict):
        return {str(value[part]).lower() for part in ("accountId", "key", "id", "name", "value") if value.get(part) is not None}
    if value is None:
        return set()
    return {_scalar(value)}


def _scalar(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("value") or value.get("key") or value.get("id")).lower()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).lower()


def _resolve(value: Value, context: Context) -> str:
    if value.function == "currentuser":
        return (context.call.account_id or "").lower()
    if value.function in _SPRINT_STATES:
        return _SPRINT_STATES[value.function]
    if value.function is not None:
        raise Unsupported(f"{value.text}() outside a date comparison")
    return value.text.lower()


def _project_exists(text: str, projects: dict[str, dict[str, Any]]) -> bool:
    lowered = text.lower()
    return any(lowered in (key.lower(), str(p.get("id")).lower(), str(p.get("name", "")).lower()) for key, p in projects.items())


def _text_of(name: str, context: Context, doc: dict[str, Any]) -> str:
    from forgeq.emulator.platform.site.shapes import plain

    fields = doc.get("fields") or {}
    if name == "text":
        parts = [fields.get("summary"), plain(fields.get("description")), plain(fields.get("environment"))]
        return " ".join(str(part) for part in parts if part)
    if name.startswith("customfield_") or name.startswith("property:"):
        return _scalar(_raw(name, context, doc))
    return plain(fields.get(name)) if name != "summary" else str(fields.get("summary") or "")


def _compare(operator: str, actual: Any, wanted: list[Any]) -> bool:
    if operator in ("=", "in"):
        return actual in wanted
    if operator in ("!=", "not in"):
        return actual not in wanted
    target = wanted[0]
    try:
        if operator == ">":
            return bool(actual > target)
        if operator == ">=":
            return bool(actual >= target)
        if operator == "<":
            return bool(actual < target)
        return bool(actual <= target)
    except TypeError:
        return False


_RELATIVE = re.compile(r"^([-+]?)(\d+)([wdhm])$")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60}


def _date(value: Value, context: Context) -> float:
    now = context.call.at
    if value.function == "now":
        return now
    if value.function in ("startofday", "endofday"):
        start = now - now % 86400
        return start if value.function == "startofday" else start + 86400 - 0.001
    if value.function is not None:
        raise Unsupported(f"{value.text}() in a date comparison")
    text = value.text.strip()
    relative = _RELATIVE.match(text.lower())
    if relative:
        sign = -1 if relative.group(1) == "-" else 1
        return now + sign * int(relative.group(2)) * _UNIT_SECONDS[relative.group(3)]
    for pattern in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise JqlError(f"Date value '{text}' for field is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.")


def _jira_epoch(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(text, pattern)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None


def _key_order(key: Any) -> tuple[str, int]:
    project, _, number = str(key).rpartition("-")
    return (project, int(number)) if number.isdigit() else (str(key), 0)


def _sort_key(name: str, doc: dict[str, Any]) -> Any:
    fields = doc.get("fields") or {}
    if name == "key":
        return _key_order(doc.get("key"))
    if name == "id":
        return int(doc["id"]) if str(doc.get("id", "")).isdigit() else 0
    if name in DATE_FIELDS or name == "rank":
        return _jira_epoch(fields.get("created" if name == "rank" else name)) or 0.0
    if name == "priority":
        priority = fields.get("priority") or {}
        return int(priority["id"]) if str(priority.get("id", "")).isdigit() else 3
    value = fields.get(name)
    if isinstance(value, dict):
        return str(value.get("name") or value.get("displayName") or value.get("accountId") or "")
    return "" if value is None else str(value)


def _ordinal(name: str, text: str) -> Any:
    if name == "key":
        return _key_order(text.upper())
    if name in ("id", "priority") or text.replace(".", "", 1).isdigit():
        try:
            return int(text)
        except ValueError:
            return float(text)
    return text
