"""Jira's and Confluence's rate limits for apps, by era, on the emulator's clock.

Atlassian's rate-limiting pages (developer.atlassian.com/cloud/jira/platform/rate-limiting/ and
/cloud/confluence/rate-limiting/) describe, for Forge, Connect and OAuth 2.0 apps:

- "2026" (enforced from 2 March 2026), three limits at once:
  - a points quota per hour: each request costs 1 point, plus 1 per core object it returns
    (issues, comments, projects, pages) and 2 per identity object (users); a write costs 1.
    Tier 1, the "global pool" every app starts in: 65,000 points an hour per app, shared by all
    its installations, reset at the top of each UTC hour, every request refused once it is spent
    (`RateLimit-Reason: jira-quota-global-based`, `confluence-quota-global-based`). Each product
    has its own pool.
  - burst limits per installation, endpoint and method, a token bucket: GET and POST 100 requests
    a second, PUT and DELETE 50, with higher figures for a few endpoints (GET issue 150, GET user
    150, GET changelog 200, POST approximate-count 150) (`jira-burst-based`).
  - per-issue write limits: 20 writes in 2 seconds and 100 in 30 seconds to one issue
    (`jira-per-issue-on-write`).
- "2025" (the burst limits announced in August 2025, before the points quota): the burst limits
  alone. The older cost-based budgets were never published, so they are not modelled.
- "none": no limit.
- a YAML file or "BASE,name=figure,..." (see `parse_product_limits`).

A refused request is answered 429 with Retry-After (whole seconds until the limit frees),
RateLimit-Reason, X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset; every answer
under a points quota carries RateLimit-Policy and RateLimit (with the remaining points once 80%
is spent) and X-RateLimit-NearLimit when less than 20% is left. forgeq's choices where the pages
are silent (docs/fidelity.md): a burst bucket holds one second of its rate; windows are fixed and
aligned to the virtual epoch (a UTC hour for the quota); a request the quota admits is charged its
points after it is served, so the last one may overshoot, as "no partial throttling" implies.
Points and burst use are recorded per window beside the storage quotas (`forgeq inspect quota`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forgeq.emulator import limits
from forgeq.emulator.errors import InputError
from forgeq.emulator.jsoninput import bounded_text
from forgeq.emulator.platform.quota import Loader, Recorder, window_start

ERAS = ("2026", "2025", "none")
APP_WIDE = "*"  # the installation label of a pool shared by all installations (Tier 1)
READ_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class ProductLimits:
    name: str
    points_per_hour: int | None = None  # per product; None: no points quota
    points_scope: str = "app"  # "app" (Tier 1: one pool for every installation) or "installation" (Tier 2)
    burst: dict[str, float] = field(default_factory=dict)  # method -> requests a second; empty: no burst limit
    burst_endpoints: dict[str, float] = field(default_factory=dict)  # "METHOD template" -> requests a second
    burst_seconds: float = 1.0  # how many seconds of its rate a bucket holds
    issue_writes: tuple[tuple[int, float], ...] = ()  # (writes, seconds) per issue

    @property
    def active(self) -> bool:
        return bool(self.points_per_hour or self.burst or self.issue_writes)


BURST_2025 = {"GET": 100.0, "POST": 100.0, "PUT": 50.0, "DELETE": 50.0, "PATCH": 50.0}
BURST_ENDPOINTS = {
    "GET /rest/api/{version}/issue/{issueIdOrKey}": 150.0,
    "GET /rest/api/{version}/issue/{issueIdOrKey}/changelog": 200.0,
    "POST /rest/api/{version}/search/approximate-count": 150.0,
    "GET /rest/api/{version}/user": 150.0,
}
ERA_LIMITS = {
    "2026": ProductLimits(
        "2026", points_per_hour=65_000, burst=BURST_2025, burst_endpoints=BURST_ENDPOINTS, issue_writes=((20, 2.0), (100, 30.0))
    ),
    "2025": ProductLimits("2025", burst=BURST_2025, burst_endpoints=BURST_ENDPOINTS),
    "none": ProductLimits("none"),
}
# RateLimit-Reason of each limit; {product} is jira or confluence.
QUOTA_REASON = {"app": "{product}-quota-global-based", "installation": "{product}-quota-tenant-based"}
BURST_REASON = "{product}-burst-based"
ISSUE_REASON = "jira-per-issue-on-write"
NEAR_LIMIT = 0.2  # X-RateLimit-NearLimit: less than 20% of the quota left
POLICY_SHOWS_REMAINING = 0.8  # RateLimit carries r= once 80% of the quota is spent


@dataclass
class Refusal:
    reason: str  # RateLimit-Reason
    retry_after: int  # whole seconds
    limit: float
    reset_at: float
    message: str


class ProductRateLimits:
    """The limits of one era (or custom figures), kept per installation on the emulator's clock."""

    def __init__(self, chosen: ProductLimits, *, load: Loader | None = None, record: Recorder | None = None) -> None:
        self.limits = chosen
        self.active = chosen.active  # read on every request
        self.load = load
        self.record = record
        self._points: dict[tuple[str, str], tuple[float, int]] = {}  # (pool, product) -> (hour start, points used)
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}  # -> (tokens, at)
        self._writes: dict[tuple[str, str, float, float], int] = {}  # (installation, issue, window start, seconds) -> writes

    # -- before serving -------------------------------------------------------------------------------

    def check(self, installation: str, product: str, method: str, template: str | None, issue: str | None, at: float) -> Refusal | None:
        """Refuse the request (None: admit it, taking a burst token and counting an issue write)."""
        chosen = self.limits
        if chosen.points_per_hour:
            pool = self._pool(installation)
            start, used = self._used_points(pool, product, at)
            if used >= chosen.points_per_hour:
                end = start + 3600
                self._note(pool, f"{product}_points", start, 3600, 0, 1, chosen.points_per_hour)
                return Refusal(
                    QUOTA_REASON[chosen.points_scope].format(product=product),
                    _whole(end - at),
                    chosen.points_per_hour,
                    end,
                    f"the app spent its {chosen.points_per_hour:,} points of this hour on {product.capitalize()} "
                    f"({'every installation' if chosen.points_scope == 'app' else installation}): every request is refused until {_clock(end)}",
                )
        if chosen.burst and template is not None:
            rate = chosen.burst_endpoints.get(f"{method} {template}", chosen.burst.get(method))
            if rate:
                refusal = self._take_token(installation, product, method, template, rate, at)
                if refusal is not None:
                    return refusal
        if chosen.issue_writes and issue is not None and method not in READ_METHODS:
            return self._issue_write(installation, issue, at)
        return None

    def _take_token(self, installation: str, product: str, method: str, template: str, rate: float, at: float) -> Refusal | None:
        capacity = rate * self.limits.burst_seconds
        slot = (installation, method, template)
        tokens, last = self._buckets.get(slot, (capacity, at))
        tokens = min(capacity, tokens + max(0.0, at - last) * rate)  # attempts run one after another: time never goes back
        second = window_start(at, 1)
        metric = f"{product}_burst {method} {template}"
        if tokens < 1:
            self._buckets[slot] = (tokens, max(at, last))
            self._note(installation, metric, second, 1, 0, 1, int(rate))
            wait = (1 - tokens) / rate
            return Refusal(
                BURST_REASON.format(product=product),
                _whole(wait),
                rate,
                at + wait,
                f"{method} {template} is limited to {rate:g} requests a second per site (burst limit)",
            )
        self._buckets[slot] = (tokens - 1, max(at, last))
        self._note(installation, metric, second, 1, 1, 0, int(rate))
        return None

    def _issue_write(self, installation: str, issue: str, at: float) -> Refusal | None:
        windows = [(count, seconds, window_start(at, seconds)) for count, seconds in self.limits.issue_writes]
        for count, seconds, start in windows:
            if self._writes.get((installation, issue, start, seconds), 0) >= count:
                end = start + seconds
                return Refusal(
                    ISSUE_REASON,
                    _whole(end - at),
                    count,
                    end,
                    f"issue {issue} took {count} writes in {seconds:g} s (per-issue write limit)",
                )
        for _, seconds, start in windows:
            slot = (installation, issue, start, seconds)
            self._writes[slot] = self._writes.get(slot, 0) + 1
        if len(self._writes) > 100_000:
            oldest = at - max(seconds for _, seconds in self.limits.issue_writes)
            self._writes = {slot: n for slot, n in self._writes.items() if slot[2] >= oldest}
        return None

    # -- after serving --------------------------------------------------------------------------------

    def charge(self, installation: str, product: str, points: int, at: float) -> dict[str, str]:
        """Charge a served request's points; return the quota headers its answer carries."""
        quota = self.limits.points_per_hour
        if not quota:
            return {}
        pool = self._pool(installation)
        start, used = self._used_points(pool, product, at)
        used += points
        self._points[(pool, product)] = (start, used)
        self._note(pool, f"{product}_points", start, 3600, points, 0, quota)
        policy = "global-app-quota" if self.limits.points_scope == "app" else "tenant-app-quota"
        left = max(0, quota - used)
        reset = int(start + 3600 - at)
        headers = {"RateLimit-Policy": f'"{policy}";q={quota};w=3600', "RateLimit": f'"{policy}";t={reset}'}
        if used >= quota * POLICY_SHOWS_REMAINING:
            headers["RateLimit"] = f'"{policy}";r={left};t={reset}'
        if left < quota * NEAR_LIMIT:
            headers["X-RateLimit-NearLimit"] = "true"
        return headers

    def _pool(self, installation: str) -> str:
        return APP_WIDE if self.limits.points_scope == "app" else installation

    def _used_points(self, pool: str, product: str, at: float) -> tuple[float, int]:
        start = window_start(at, 3600)
        known = self._points.get((pool, product))
        if known is not None and known[0] == start:
            return known
        used = self.load(pool, f"{product}_points", start) if self.load is not None else 0
        self._points[(pool, product)] = (start, used)
        return start, used

    def _note(self, installation: str, metric: str, start: float, seconds: float, used: int, refused: int, limit: int) -> None:
        if self.record is not None:
            self.record(installation, metric, start, seconds, used, refused, limit)


def headers_of(refusal: Refusal, at: float) -> dict[str, str]:
    """The headers of a 429 for `refusal`."""
    return {
        "Retry-After": str(refusal.retry_after),
        "RateLimit-Reason": refusal.reason,
        "X-RateLimit-Limit": f"{refusal.limit:g}",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": datetime.fromtimestamp(at + refusal.retry_after, UTC).strftime("%Y-%m-%dT%H:%MZ"),
    }


def _whole(seconds: float) -> int:
    return max(1, math.ceil(seconds - 1e-9))


def _clock(at: float) -> str:
    offset = at - limits.VIRTUAL_EPOCH
    hours, rest = divmod(int(round(offset)), 3600)
    return f"+{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


# -- choosing the limits ---------------------------------------------------------------------------

_FIGURES = ("points", "points_scope", "burst_get", "burst_post", "burst_put", "burst_delete", "burst_seconds", "issue_writes")


def parse_product_limits(spec: str) -> ProductLimits:
    """`--product-limits`: an era, a YAML file, or an era with figures changed.

    - "2026", "2025", "none": an era's figures.
    - "2026,points=1000,burst_put=10,points_scope=installation,issue_writes=5/2": figures changed
      (`issue_writes` is WRITES/SECONDS; `burst_<method>` requests a second for every endpoint of
      that method; `burst_seconds` what a bucket holds). A list without an era starts from 2026.
    - a path to a YAML file: `base: 2026` and `limits: {points: 1000, burst_put: 10}`.
    """
    text = spec.strip()
    if text in ERA_LIMITS:
        return ERA_LIMITS[text]
    if "=" not in text:
        path = Path(text)
        if path.suffix in (".yml", ".yaml") or path.exists():
            return _from_yaml(path)
        raise InputError(
            f"--product-limits '{spec}' is not an era, a file or a list of figures",
            "use 2026, 2025, none, a YAML file, or e.g. 2026,points=1000",
        )
    parts = [part.strip() for part in text.split(",") if part.strip()]
    base = "2026"
    if parts and "=" not in parts[0]:
        base = parts.pop(0)
        if base not in ERA_LIMITS:
            raise InputError(f"--product-limits '{spec}': unknown era '{base}'", f"use one of {', '.join(ERAS)}")
    figures = {}
    for part in parts:
        name, _, value = part.partition("=")
        figures[name.strip()] = value.strip()
    return _apply(ERA_LIMITS[base], figures, f"--product-limits '{spec}'", f"{base} with {', '.join(parts)}")


def _from_yaml(path: Path) -> ProductLimits:
    import yaml

    where = str(path)
    try:
        data = yaml.safe_load(bounded_text(path, limits.MAX_YAML_INPUT_BYTES))
    except FileNotFoundError:
        raise InputError(f"--product-limits {where}: no such file") from None
    except (OSError, UnicodeDecodeError) as problem:
        raise InputError(f"--product-limits {where}: cannot read it: {problem}") from None
    except yaml.YAMLError as problem:
        raise InputError(f"--product-limits {where}: not valid YAML: {problem}") from None
    data = data or {}
    if not isinstance(data, dict) or set(data) - {"base", "limits"}:
        raise InputError(f"{where}: expected a mapping with `base` and `limits`", "e.g. base: 2026, limits: {points: 1000}")
    base = str(data.get("base", "2026"))
    if base not in ERA_LIMITS:
        raise InputError(f"{where}: base: unknown era '{base}'", f"use one of {', '.join(ERAS)}")
    figures = data.get("limits") or {}
    if not isinstance(figures, dict):
        raise InputError(f"{where}: limits: expected a mapping of figure to value")
    return _apply(ERA_LIMITS[base], {str(k): v for k, v in figures.items()}, where, f"{base} with {path.name}")


def _apply(base: ProductLimits, figures: dict[str, Any], where: str, name: str) -> ProductLimits:
    chosen = replace(base, name=name, burst=dict(base.burst), burst_endpoints=dict(base.burst_endpoints))
    for figure, value in figures.items():
        label = f"{where}: {figure}"
        if figure not in _FIGURES:
            raise InputError(f"{label} is not a product limit", f"use {', '.join(_FIGURES)}")
        if figure == "points":
            chosen = replace(chosen, points_per_hour=None if value in (None, "none", 0, "0") else _count(value, label))
        elif figure == "points_scope":
            if value not in ("app", "installation"):
                raise InputError(f"{label}: '{value}' is not app or installation")
            chosen = replace(chosen, points_scope=str(value))
        elif figure == "burst_seconds":
            chosen = replace(chosen, burst_seconds=_positive(value, label))
        elif figure == "issue_writes":
            if value in (None, "none"):
                chosen = replace(chosen, issue_writes=())
                continue
            count_text, _, seconds_text = str(value).partition("/")
            chosen = replace(chosen, issue_writes=((_count(count_text, label), _positive(seconds_text or "2", label)),))
        else:
            method = figure.removeprefix("burst_").upper()
            rate = _positive(value, label)
            chosen.burst[method] = rate
            for endpoint in [e for e in chosen.burst_endpoints if e.startswith(f"{method} ")]:
                chosen.burst_endpoints[endpoint] = rate
    return chosen


def _count(value: Any, label: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InputError(f"{label}: '{value}' is not a whole number") from None
    if number < 1:
        raise InputError(f"{label}: must be 1 or more, not {number}")
    return number


def _positive(value: Any, label: str) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise InputError(f"{label}: '{value}' is not a number") from None
    if not number > 0 or math.isinf(number):
        raise InputError(f"{label}: must be a positive number")
    return number
