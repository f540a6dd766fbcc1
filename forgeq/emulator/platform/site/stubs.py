"""Stubs: answers a developer sets for product and `fetch` requests, before the fake site answers.

From `stubs.yml` beside the manifest, or the testing API (`forge_app.site.stub(...)`):

    stubs:
      - method: GET                              # any method when left out
        path: /rest/api/3/issue/{key}            # {name} matches one path segment, * anything
        status: 429
        headers: {Retry-After: "30"}
        times: 3                                 # then the site answers again; no times: always
      - method: PUT
        path: /rest/api/3/issue/*
        status: 429
        headers: {Retry-After: "60"}
        seconds: 60                              # an outage: from its first answer, for 60 s of the emulator's clock
      - url: https://api.example.com/v1/items/{id}   # a fetch remote (declared in the manifest)
        body: {id: 1, name: widget}
      - method: POST
        path: /graphql
        body_contains: issueSearch               # only requests whose body holds this text
        responses:                               # one per call, in order; then the stub is spent
          - {status: 500}
          - {body: {data: {issueSearch: []}}}

A stub matches the method, the path (product calls) or the URL (fetch; a `path` matches a fetch's
path too), with `product:` (jira, confluence, graphql, fetch) to narrow it. Stubs added through the
testing API are tried first, newest first, then stubs.yml's in file order. A stubbed answer
replaces the site's whole answer, its rate limits included (a stubbed 429 is the only 429 then).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from forgeq.emulator import limits
from forgeq.emulator.app.replies import Answer
from forgeq.emulator.errors import InputError, ManifestError, Problem
from forgeq.emulator.jsoninput import bounded_text

STUBS_FILE = "stubs.yml"
PRODUCTS = ("jira", "confluence", "graphql", "fetch")
_KEYS = {"method", "path", "url", "product", "status", "headers", "body", "times", "responses", "body_contains", "seconds"}
_REPLY_KEYS = {"status", "headers", "body"}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None
    has_body: bool = False

    def answer(self) -> Answer:
        from forgeq.emulator.platform.site.calls import REASONS

        headers = dict(self.headers)
        text = None
        if self.has_body:
            if isinstance(self.body, str):
                text = self.body
                headers.setdefault("content-type", "text/plain")
            else:
                text = json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)
                headers.setdefault("content-type", "application/json")
        return {"status": self.status, "statusText": REASONS.get(self.status, ""), "headers": headers, "body": text}


@dataclass
class Stub:
    method: str | None
    pattern: str  # as written: a path template, or a URL template
    product: str | None
    replies: list[Reply]
    times: int | None  # None: the single reply always
    body_contains: str | None = None
    seconds: float | None = None  # answers for this long (emulator time) from its first answer
    source: str = "testing API"
    calls: int = 0  # requests it answered
    first_at: float | None = None
    _regex: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        escaped = re.escape(self.pattern.split("?")[0])
        escaped = re.sub(r"\\\{[A-Za-z_][A-Za-z0-9_-]*\\\}", "[^/]+", escaped).replace(r"\*", ".*")
        self._regex = re.compile("^" + escaped + "/?$")

    @property
    def spent(self) -> bool:
        limit = self.times if self.times is not None else (len(self.replies) if len(self.replies) > 1 else None)
        return limit is not None and self.calls >= limit

    def matches(self, product: str, method: str, target: str, path: str, body: str | None, at: float) -> bool:
        if self.first_at is not None and self.seconds is not None and at >= self.first_at + self.seconds:
            return False
        if self.spent or (self.method is not None and self.method != method) or (self.product is not None and self.product != product):
            return False
        if self.body_contains is not None and (body is None or self.body_contains not in body):
            return False
        assert self._regex is not None
        if self.pattern.startswith(("http://", "https://")):
            return bool(self._regex.match(target.split("?")[0]))
        if product == "fetch":
            path = urlsplit(target).path or "/"
        return bool(self._regex.match(path))

    def take(self, at: float) -> Answer:
        reply = self.replies[min(self.calls, len(self.replies) - 1)]
        self.calls += 1
        if self.first_at is None:
            self.first_at = at
        return reply.answer()

    def describe(self) -> str:
        return f"{self.method or '*'} {self.pattern} ({self.source})"


def make_stub(
    method: str | None,
    pattern: str,
    *,
    status: int = 200,
    headers: dict[str, Any] | None = None,
    body: Any = None,
    has_body: bool = False,
    times: int | None = None,
    responses: list[dict[str, Any]] | None = None,
    product: str | None = None,
    body_contains: str | None = None,
    seconds: float | None = None,
    source: str = "testing API",
) -> Stub:
    """A checked stub; InputError names what is wrong."""
    where = source
    if not isinstance(pattern, str) or not (pattern.startswith("/") or pattern.startswith(("http://", "https://"))):
        raise InputError(f"{where}: the path must start with / (or be an http(s) URL for fetch), not {pattern!r}")
    if method is not None and (not isinstance(method, str) or not method.strip().isalpha()):
        raise InputError(f"{where}: method must be an HTTP method such as GET, not {method!r}")
    if product is not None and product not in PRODUCTS:
        raise InputError(f"{where}: product must be one of {', '.join(PRODUCTS)}, not {product!r}")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise InputError(f"{where}: times must be a whole number of 1 or more, not {times!r}")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0):
        raise InputError(f"{where}: seconds must be a number of seconds above 0, not {seconds!r}")
    if responses is not None:
        if times is not None:
            raise InputError(f"{where}: give times or responses, not both (a sequence is spent after its last response)")
        if not isinstance(responses, list) or not responses:
            raise InputError(f"{where}: responses must be a list of {{status, headers, body}}")
        replies = [_reply(item, f"{where}: responses[{index}]") for index, item in enumerate(responses)]
    else:
        replies = [_reply({"status": status, "headers": headers or {}, **({"body": body} if has_body else {})}, where)]
    return Stub(method.strip().upper() if method else None, pattern, product, replies, times, body_contains, seconds, source)


def _reply(item: Any, where: str) -> Reply:
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected a mapping with status, headers, body")
    extra = sorted(set(item) - _REPLY_KEYS)
    if extra:
        raise InputError(f"{where}: unknown key(s) {', '.join(map(str, extra))}", "use status, headers, body")
    status = item.get("status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise InputError(f"{where}: status must be an HTTP status from 100 to 599, not {status!r}")
    headers = item.get("headers") or {}
    if not isinstance(headers, dict):
        raise InputError(f"{where}: headers must be a mapping of name to value")
    pairs = tuple((str(name), _header_value(value)) for name, value in headers.items())
    return Reply(status, pairs, item.get("body"), "body" in item)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Stubs:
    def __init__(self, from_file: list[Stub] | None = None) -> None:
        self.from_file = from_file or []
        self.added: list[Stub] = []  # the testing API's, newest last

    @classmethod
    def beside(cls, manifest_path: Path) -> Stubs:
        return cls(load_stubs(Path(manifest_path).parent / STUBS_FILE))

    def add(self, stub: Stub) -> Stub:
        self.added.append(stub)
        return stub

    def all(self) -> list[Stub]:
        return [*reversed(self.added), *self.from_file]

    def answer(self, call: Any) -> Answer | None:
        if not self.added and not self.from_file:
            return None
        for stub in self.all():
            if stub.matches(call.product, call.method, call.target, call.path, call.body_text, call.at):
                return stub.take(call.at)
        return None


def load_stubs(path: Path) -> list[Stub]:
    """The stubs of `path` (none if it does not exist); ManifestError-style problems with lines."""
    from forgeq.emulator.app.yamlload import YamlProblem, load_with_lines

    if not path.exists():
        return []
    file = str(path)
    try:
        data, lines, problems = load_with_lines(bounded_text(path, limits.MAX_YAML_INPUT_BYTES), file)
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{file}: cannot read it: {error}") from None
    except YamlProblem as error:
        raise ManifestError([error.problem]) from None
    if problems:
        raise ManifestError(problems)
    items = data.get("stubs") if isinstance(data, dict) else data
    if data is None:
        return []
    if isinstance(data, dict) and set(data) - {"stubs"}:
        raise ManifestError([Problem(file, lines.get(""), "", "expected `stubs:` holding a list of stubs")])
    if not isinstance(items, list):
        raise ManifestError([Problem(file, lines.get("stubs", lines.get("")), "stubs", "must be a list of stubs")])
    stubs = []
    prefix = "stubs" if isinstance(data, dict) else ""
    for index, item in enumerate(items):
        where = f"{prefix}[{index}]"
        line = lines.get(where)
        label = f"{file}:{line}" if line else file
        if not isinstance(item, dict):
            raise ManifestError([Problem(file, line, where, "must be a mapping with method, path (or url) and a response")])
        extra = sorted(set(item) - _KEYS)
        if extra:
            raise ManifestError([Problem(file, line, where, f"unknown key(s) {', '.join(map(str, extra))}; use {', '.join(sorted(_KEYS))}")])
        pattern = item.get("url", item.get("path"))
        if pattern is None:
            raise ManifestError([Problem(file, line, where, "needs a path (a product call) or a url (a fetch remote)")])
        try:
            stubs.append(
                make_stub(
                    item.get("method"), pattern, status=item.get("status", 200), headers=item.get("headers"), body=item.get("body"),
                    has_body="body" in item, times=item.get("times"), responses=item.get("responses"), product=item.get("product"),
                    body_contains=item.get("body_contains"), seconds=item.get("seconds"), source=label,
                )
            )  # fmt: skip
        except InputError as error:
            raise ManifestError([Problem(file, line, where, error.message.removeprefix(f"{label}: "))]) from None
    return stubs
