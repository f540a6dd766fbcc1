"""A safe subset of Jira expressions, evaluated locally for trigger filters (Atlassian's manifest reference).

Forge filters product events with a Jira expression over the payload, named `event`. forgeq parses
a small subset with its own recursive-descent parser and evaluates it over the JSON payload. It
never calls `eval`, and member access reads payload keys, never Python attributes. An expression
outside the subset raises `Unsupported` (the caller says "not evaluated locally"); one inside it
that fails on this payload raises `EvaluationError`, as Jira would (the filter's onError decides).
docs/product-events.md lists the subset.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


def evaluate(expression: str, event: Any) -> Any:
    """The value of `expression` with `event` bound to the payload.

    Raises Unsupported (outside the subset, or nested too deeply to parse) or EvaluationError.
    """
    try:
        return _evaluate(_parse_expression(expression), event)
    except RecursionError:
        raise Unsupported("it is nested too deeply") from None


def type_name(value: Any) -> str:
    """How a JSON value is named in messages: "a string", "null", "a list", ..."""
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


class Unsupported(Exception):
    """The expression uses something outside the subset forgeq evaluates: reported, never guessed."""


class EvaluationError(Exception):
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
            raise Unsupported(
                f"'in' at column {token.column} is not a Jira expression operator; use [...].includes(x)"
            )
        if token.kind != "end":
            raise Unsupported(f"unexpected {token.text!r} at column {token.column}")
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
            raise Unsupported(f"expected {text!r} at column {token.column}, found {found}")

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
                raise Unsupported(f"'-' at column {minus.column} (arithmetic is not supported)")
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
                raise Unsupported(f"calling {self.describe(links)} at column {self.peek().column}")
            else:
                break
        return _Chain(base, tuple(links)) if links else base

    def member(self, optional: bool) -> _Link:
        token = self.peek()
        if token.kind == "punct" and token.text == "[":
            raise Unsupported(f"'?.[' at column {token.column}")
        if token.kind != "name":
            raise Unsupported(f"expected a property name at column {token.column}")
        self.position += 1
        if self.accept("(") is None:
            return _Link("member", token.text, optional)
        if token.text not in _METHODS:
            raise Unsupported(f"the method {token.text}() (supported: {', '.join(_METHODS)})")
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
            raise Unsupported("the expression ends too early")
        raise Unsupported(f"unexpected {token.text!r} at column {token.column}")


def _name(token: _Token) -> _Node:
    keywords: dict[str, Any] = {"true": True, "false": False, "null": None}
    if token.text in keywords:
        return _Literal(keywords[token.text])
    if token.text == "event":
        return _EventRoot()
    raise Unsupported(f"the name {token.text!r} at column {token.column} (only 'event' is available locally)")


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
        raise EvaluationError(f"{trail} is null or missing, so {key!r} cannot be read")
    if key == "length" and isinstance(value, list | str):
        return len(value)
    if isinstance(value, dict) and isinstance(key, str):
        return value.get(key)
    if isinstance(value, list) and isinstance(key, int) and not isinstance(key, bool):
        return value[key] if 0 <= key < len(value) else None
    raise EvaluationError(f"{trail} is {type_name(value)}, so {key!r} cannot be read")


def _call(target: Any, method: str, args: list[Any], trail: str) -> bool:
    if len(args) != 1:
        raise EvaluationError(f"{method}() takes one argument, not {len(args)}")
    argument = args[0]
    if method == "includes" and isinstance(target, list):
        return any(_same(item, argument) for item in target)
    if isinstance(target, str) and isinstance(argument, str):
        if method == "includes":
            return argument in target
        return target.startswith(argument) if method == "startsWith" else target.endswith(argument)
    raise EvaluationError(
        f"{trail} is {type_name(target)}, so {method}({type_name(argument)}) cannot be called"
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
        raise EvaluationError(f"cannot compare {type_name(left)} to {type_name(right)} with {operator}")
    if operator == "<":
        return bool(left < right)
    if operator == "<=":
        return bool(left <= right)
    if operator == ">":
        return bool(left > right)
    return bool(left >= right)
