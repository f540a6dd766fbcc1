"""The handlers' `random`: seeded per attempt, at the attempt's first draw.

Each attempt sees Python's module-level `random` as `random.seed(f"{seed}:{event}:{attempt}")` left
it (the JavaScript worker seeds Math.random with the same string: app/worker/pyrandom.cjs), so a run
repeated under one --seed draws the same numbers. Seeding with a string costs 5 to 7 µs (a SHA-512,
then MT19937's set-up), most attempts draw nothing, and a seed nobody draws from changes nothing:
so the loop only notes the attempt (`seed_next`), and the seed is applied at the first draw.

`install()` wraps the module's functions once, before handler modules load, so that `from random
import choice` in a handler binds the wrapper too. A wrapper costs about 0.1 µs per draw. Seeding
or setting the state yourself (`random.seed`, `random.setstate`) drops the noted seed, as it would
have overwritten the applied one. `random.Random()` instances are the handler's own and untouched.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

_INSTANCE = random._inst  # the hidden Random behind the module's functions
_RESETS = ("seed", "setstate")  # they replace the state: a noted seed no longer applies


class _Noted:
    attempt: tuple[object, object, object] | None = None  # (seed, event, attempt) to seed with at the next draw


NOTED = _Noted()  # the engine sets NOTED.attempt itself on its hot path (seed_next, inlined)


def seed_next(seed: object, event: object, attempt: object) -> None:
    """From now on `random` reads as if seeded with "seed:event:attempt" (applied at the first draw)."""
    NOTED.attempt = (seed, event, attempt)


def _drawing(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def draw(*args: Any, **kwargs: Any) -> Any:
        noted = NOTED.attempt
        if noted is not None:
            NOTED.attempt = None
            _INSTANCE.seed(f"{noted[0]}:{noted[1]}:{noted[2]}")
        return function(*args, **kwargs)

    return draw


def _resetting(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def reset(*args: Any, **kwargs: Any) -> Any:
        NOTED.attempt = None
        return function(*args, **kwargs)

    return reset


def install() -> None:
    """Wrap the `random` module's functions (idempotent)."""
    for name in random.__all__:
        function = getattr(random, name, None)
        if function is None or getattr(function, "__self__", None) is not _INSTANCE:
            continue  # a class or a constant, or wrapped already
        setattr(random, name, (_resetting if name in _RESETS else _drawing)(function))
