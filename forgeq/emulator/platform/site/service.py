"""The fake product site: every product request a handler makes, answered on the machine.

`Site.answer(invocation, call)` serves one request of `requestJira`, `requestConfluence`,
`requestGraph` or `fetch`, from the Python port (forgeq.api) or a JavaScript app's @forge/api
(through platform/api.py), in this order:

1. `fetch` to a domain the manifest does not declare (permissions.external.fetch.backend) fails as
   Forge's egress rules fail it (egress.py); nothing ever leaves the machine.
2. A stub that matches (stubs.yml beside the manifest, or the testing API) answers (stubs.py).
3. Unauthenticated product calls (`api.requestJira` without asApp/asUser) are answered 401.
4. The rate limits of the chosen era may refuse it: 429 with Retry-After (limits.py).
5. The site serves it from its objects (jira.py, confluence.py); an endpoint it does not serve is
   answered 501 with a note that says how to stub it.

Each request costs `settings.product_call_seconds` of the attempt's virtual time, is recorded
(`forgeq inspect requests`, the timeline under its attempt) and charged its rate-limit points. A
write that fires a product event on Forge fires it here (`fire`), after the triggers' subscriptions,
ignoreSelf (in fan-out) and the cyclic-invocation limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forgeq.emulator.app.replies import Answer
from forgeq.emulator.ids import derived_uuid
from forgeq.emulator.platform.site import egress, limits
from forgeq.emulator.platform.site.calls import (
    APP,
    NOBODY,
    USER,
    BadBody,
    Call,
    Refused,
    Route,
    by_method,
    find,
    respond_text,
    split_target,
    utf8,
)
from forgeq.emulator.platform.site.confluence import Confluence
from forgeq.emulator.platform.site.data import SiteData
from forgeq.emulator.platform.site.jira import Jira
from forgeq.emulator.platform.site.stubs import Stubs
from forgeq.emulator.products import payloads, seeds
from forgeq.emulator.products.seeds import USER as USER_KIND
from forgeq.emulator.store.batch import NewEvent
from forgeq.jsontext import compact_tree

if TYPE_CHECKING:
    from forgeq.emulator.loop.engine import Emulator
    from forgeq.emulator.loop.invocation import Invocation

JIRA = "jira"
CONFLUENCE = "confluence"
GRAPHQL = "graphql"
FETCH = "fetch"
PRODUCTS = {"jira": JIRA, "confluence": CONFLUENCE, "stargate": GRAPHQL}


class Site:
    def __init__(self, engine: Emulator) -> None:
        from forgeq.emulator.platform.storage import window_loader, window_recorder

        self.engine = engine
        self.data = SiteData(engine)
        self.jira = Jira(self)
        self.confluence = Confluence(self)
        # product -> method -> routes (one method's routes are tried in order)
        self.routes: dict[str, dict[str, list[Route]]] = {JIRA: by_method(self.jira.routes), CONFLUENCE: by_method(self.confluence.routes)}
        self.stubs = Stubs.beside(engine.manifest.path)
        self.limits = limits.ProductRateLimits(
            limits.parse_product_limits(engine.settings.product_limits), load=window_loader(engine), record=window_recorder(engine)
        )
        self.egress = egress.Egress.of(engine.manifest)
        self._spent = f"its product calls ({engine.settings.product_call_seconds * 1000:g} ms each, --product-call-ms)"
        self._changes = 0
        self._users: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._projects: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._users_of: dict[str, SiteUsers] = {}

    def manifest_changed(self) -> None:
        """Watch mode applied a changed manifest: its fetch permissions, and stubs.yml read again."""
        self.egress = egress.Egress.of(self.engine.manifest)
        self.stubs.from_file = Stubs.beside(self.engine.manifest.path).from_file

    @property
    def app_account_id(self) -> str:
        return self.engine.app_account_id

    # -- one request --------------------------------------------------------------------------------

    def answer(self, invocation: Invocation, request: dict[str, Any]) -> Answer:
        """Serve one request of the worker's shape (`{target, path, method, body}`; the body as text);
        its answer's body is text, or a JSON value to a caller that sends `accepts: "value"`."""
        given, path = request.get("target"), request.get("path")
        target = given if type(given) is dict else {}
        sent = path if type(path) is str else str(path or "")
        return self.serve(invocation, target, sent, request.get("method"), request.get("body"), value=request.get("accepts") == "value")

    def serve(self, invocation: Invocation, target: dict[str, Any], path: str, method: Any, body: Any, value: bool) -> Answer:
        """Serve one request. `value`: the answer's body stays a JSON value (`value`) when the site
        made one, for the Python port, which hands it to the handler (no text made, none parsed back)."""
        account = target.get("accountId")
        if not (path.isascii() or utf8(path)) or (account is not None and not utf8(account)):
            invocation.notes.append("a product request's path or account id holds a lone surrogate (no URL can carry it): answered 400")
            return respond_text(400, {"errorMessages": ["The request's URL is not valid UTF-8."], "errors": {}})
        call = self._call(invocation, target, path, method, body)
        answer = self._serve(call)
        self._log(invocation, call, answer)
        if not value and "value" in answer:
            found = answer.pop("value")
            answer["body"] = None if found is None else compact_tree(found)  # the site made it out of parsed JSON: no cycle
        return answer

    def _call(self, invocation: Invocation, target: dict[str, Any], sent: str, method: Any, body: Any) -> Call:
        if target.get("type") == FETCH:
            product, principal, account = FETCH, APP, None
        else:
            remote = str(target.get("remote"))
            product = PRODUCTS.get(remote, remote)
            provider = target.get("provider")
            if provider == APP:
                principal, account = APP, self.engine.app_account_id
            elif provider == USER:
                principal, account = USER, str(target.get("accountId") or payloads.DEMO_USER_ACCOUNT_ID)
            else:
                principal, account = NOBODY, None
        path, query = split_target(sent)
        invocation.spend(self.engine.settings.product_call_seconds, self._spent)
        return Call(
            invocation.installation,
            product,
            principal,
            account,
            method.upper() if isinstance(method, str) and method else str(method or "GET").upper(),
            sent,
            path,
            query,
            body if isinstance(body, str) else None if body is None else json.dumps(body),
            invocation.now(),
            invocation,
        )

    def _serve(self, call: Call) -> Answer:
        if call.product == FETCH:
            denied = self.egress.refusal(call.target)
            if denied is not None:
                call.reason = "egress"
                call.notes.append(denied)
                return respond_text(403, {"message": denied}) | {"headers": {"forge-proxy-error": egress.EGRESS_ERROR, "content-type": "application/json"}}
        stubs = self.stubs
        stubbed = stubs.answer(call) if stubs.added or stubs.from_file else None
        if stubbed is not None:
            call.reason = "stub"
            return stubbed
        routes = self.routes.get(call.product)
        if routes is None:
            return self._not_served(call, f"forgeq serves no {call.product} API")
        if call.principal == NOBODY:
            call.notes.append(
                f"{call.method} {call.path}: `api.request{call.product.capitalize()}()` without asApp() or asUser() sends no credentials "
                "on Forge, so the product answers 401; call api.asApp() or api.asUser()"
            )
            return respond_text(401, {"errorMessages": ["You are not authenticated. Authentication required to perform this operation."], "errors": {}})
        route = find(routes.get(call.method, ()), call)
        if route is None:
            if any(other.pattern.match(call.path) for method, listed in routes.items() if method != call.method for other in listed):
                return respond_text(405, {"errorMessages": [f"Method {call.method} is not allowed for {call.path}"], "errors": {}})
            return self._not_served(call, f"forgeq's fake {call.product.capitalize()} does not serve {call.method} {call.path}")
        chosen = self.limits.limits
        issue = self._issue_of(call) if chosen.issue_writes else None
        refusal = self.limits.check(call.installation, call.product, call.method, call.template, issue, call.at) if self.limits.active else None
        if refusal is not None:
            call.reason = refusal.reason
            if not any(earlier["reason"] == refusal.reason for earlier in call.invocation.requests):  # once an attempt: a retry loop repeats it
                call.notes.append(f"{call.method} {call.path}: 429 {refusal.reason}: {refusal.message}; Retry-After {refusal.retry_after}")
            return respond_text(429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}) | {
                "headers": {"content-type": "application/json", **limits.headers_of(refusal, call.at)}
            }
        try:
            answer = route.handler(call)
        except Refused as refused:
            answer = refused.answer
        except BadBody:
            answer = respond_text(400, {"errorMessages": ["Unexpected character in the request body: it is not JSON."], "errors": {}})
        headers = self.limits.charge(call.installation, call.product, self.points(call, answer), call.at) if chosen.points_per_hour else None
        if headers:
            answer["headers"] = {**answer["headers"], **headers}
        return answer

    def _issue_of(self, call: Call) -> str | None:
        """The issue a Jira write touches, for the per-issue write limit."""
        wanted = call.params.get("issueIdOrKey")
        if call.product != JIRA or wanted is None:
            return None
        return (self.data.key_of(call.installation, seeds.ISSUE, wanted) if wanted.isdigit() else wanted.upper()) or wanted

    @staticmethod
    def points(call: Call, answer: Answer) -> int:
        """What the request costs under a points quota: 1, plus 1 per core object and 2 per user a
        read returns (a write costs 1)."""
        if call.method not in limits.READ_METHODS or answer["status"] >= 400:
            return 1
        return 1 + call.objects + 2 * call.identities

    def _not_served(self, call: Call, why: str) -> Answer:
        call.reason = "not served"
        template = call.path if call.product != FETCH else call.target.split("?")[0]
        call.notes.append(
            f"{why}: it was answered 501. To answer it, stub it in stubs.yml beside manifest.yml "
            f"(- {{method: {call.method}, {'url' if call.product == FETCH else 'path'}: {template}, status: 200, body: ...}}) "
            f"or with forge_app.site.stub({call.method!r}, {template!r}, body=...)"
        )
        if call.product == GRAPHQL:
            return respond_text(501, {"errors": [{"message": f"{why}; stub it (docs/product-site.md)", "extensions": {"errorType": "NOT_EMULATED"}}]})
        return respond_text(501, {"code": "NOT_EMULATED", "message": f"{why}; stub it (docs/product-site.md)"})

    def _log(self, invocation: Invocation, call: Call, answer: Answer) -> None:
        headers = answer.get("headers") or {}
        wait = headers.get("Retry-After") or headers.get("retry-after") if headers else None
        retry_after = _seconds(wait) if wait is not None else None
        principal = call.principal if call.principal != USER else f"user:{call.account_id}"
        points = self.points(call, answer) if self.limits.limits.points_per_hour and call.reason not in ("stub", "egress") else None
        self.engine.batch.site_requests.append(
            (
                call.installation, invocation.event, invocation.attempt, call.at, call.product, principal, call.method,
                call.target, answer["status"], retry_after, call.reason, points,
            )
        )  # fmt: skip
        invocation.requests.append(
            {"at": call.at, "product": call.product, "method": call.method, "path": call.target, "status": answer["status"], "retry_after": retry_after, "reason": call.reason}
        )
        if call.notes:
            invocation.notes.extend(call.notes)

    # -- what handlers' writes do -------------------------------------------------------------------

    def record(self, call: Call, kind: str, key: str, change: dict[str, Any]) -> str:
        """Add a history row for a change the call made; return its id (a changelog's id)."""
        if not self._changes:
            self._changes = self.engine.store.site_history_count() + 1
        change_id = str(self._changes)
        self._changes += 1
        self.data.note(call.installation, kind, key, call.at, call.account_id, call.source, {**change, "id": change_id})
        return change_id

    def fire(self, call: Call, event_type: str, payload: Callable[[], dict[str, Any]]) -> None:
        """The product event Forge sends when the app's write changes the site, if a trigger
        subscribes (`payload` makes it only then)."""
        engine = self.engine
        if not engine.manifest.triggers_for(event_type):
            return
        invocation = call.invocation
        refused = engine.platform.check_site_event(invocation)
        if refused is not None:
            invocation.notes.append(f"{event_type} from {call.method} {call.path} not delivered: {refused}")
            return
        body = {"eventType": event_type, **payload()}
        job_id = derived_uuid("site-event", engine.settings.seed, invocation.event, invocation.attempt, len(engine.batch.new_events))
        engine.batch.new_events.append(
            NewEvent(
                call.installation, "product", event_type, job_id, seeds.dumps(body), None, call.at, call.at,
                root_id=invocation.root, parent_id=invocation.event,
            )
        )  # fmt: skip

    # -- reading ------------------------------------------------------------------------------------

    def user(self, installation: str, account_id: str) -> dict[str, Any] | None:
        """A user of the site. Users change only when `forgeq push` names new ones, so a run reads
        each once (one pushed while the run goes on shows by its id)."""
        slot = (installation, account_id)
        if slot in self._users:
            return self._users[slot]
        found = self.data.get(installation, USER_KIND, account_id) or self.builtin_users(installation).get(account_id)
        if len(self._users) > 10_000:
            self._users.clear()
        self._users[slot] = found
        return found

    def users_of(self, installation: str) -> SiteUsers:
        """The users of one installation's site, as a representation reads them (made once)."""
        found = self._users_of.get(installation)
        if found is None:
            found = self._users_of[installation] = SiteUsers(self, installation)
        return found

    def project(self, installation: str, key: Any) -> dict[str, Any] | None:
        """A project's representation, read once a run (projects change only with `forgeq push`)."""
        if not isinstance(key, str):
            return None
        slot = (installation, key)
        if slot not in self._projects:
            self._projects[slot] = self.jira.projects(installation).get(key)
        return self._projects[slot]

    def builtin_users(self, installation: str) -> dict[str, dict[str, Any]]:
        """The people every site has: the payloads' stand-ins and the app's own account."""
        found = {account_id: seeds.user_doc(account_id) for account_id in seeds.KNOWN_USERS}
        found[self.app_account_id] = seeds.user_doc(self.app_account_id, "forgeq app", "app")
        return found

    def history(self, installation: str, kind: str, key: str) -> list[dict[str, Any]]:
        committed = self.engine.store.site_history(installation, kind, key)
        pending = [
            dict(zip(("installation", "kind", "key", "at", "actor", "source", "change"), row, strict=True))
            for row in self.engine.batch.site_history
            if row[0] == installation and row[1] == kind and row[2] == key
        ]
        return committed + pending


class SiteUsers:
    """The site's users of one installation, read as a representation names them (Site.user keeps
    each once read)."""

    __slots__ = ("site", "installation")

    def __init__(self, site: Site, installation: str) -> None:
        self.site = site
        self.installation = installation

    def get(self, account_id: str, /) -> dict[str, Any] | None:
        return self.site.user(self.installation, account_id)


@dataclass(frozen=True)
class SiteRefusal:
    last: str  # the last refused product call, for the ledger when the event is dropped
    note: str | None  # when the handler asked to retry sooner than the product said


def site_refusal(requests: list[dict[str, Any]], retry_after_asked: float | None, waits: float | None, failed: bool) -> SiteRefusal | None:
    """What an attempt's refused product calls (429) mean for its retry and, if it is dropped, its
    ledger row. `retry_after_asked`: the retryAfter the handler returned; `waits`: the seconds Forge
    waits before the retry (would wait, for a drop); `failed`: it threw or timed out instead."""
    refused = [r for r in requests if r["status"] == 429]
    if not refused:
        return None
    last = refused[-1]
    wait = last.get("retry_after")
    call = f"{last['method']} {last['path']}"
    text = f"the last refused product call: {call} answered 429 ({last.get('reason') or 'no reason'})"
    if wait is not None:
        text += f", Retry-After {wait:g} s"
    note = None
    if wait is not None and retry_after_asked is not None and retry_after_asked < wait:
        text += f", but the handler asked to retry in {retry_after_asked:g} s"
        note = (
            f"the handler asked to retry in {retry_after_asked:g} s, but {call} answered Retry-After {wait:g} s: "
            "the retry will meet the same limit; pass the header's seconds as retryAfter"
        )
    elif wait is not None and failed and waits is not None and waits < wait:
        text += f"; the attempt failed instead of returning an InvocationError, so Forge's own backoff ({waits:g} s) applied"
        note = (
            f"{call} answered 429 with Retry-After {wait:g} s, then the attempt failed (threw or timed out): Forge retries it "
            f"on its own backoff, in {waits:g} s, not the header's; return an InvocationError with the header's seconds as retryAfter"
        )
    return SiteRefusal(text, note)


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
