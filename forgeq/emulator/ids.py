"""Identifiers that look like Forge's UUIDs yet come out the same in every run.

Forge mints jobId and eventId with crypto.randomUUID(); forgeq derives them from row numbers and
the seed, so a virtual-clock run repeated from the same state prints the same ids.
"""

from __future__ import annotations

import hashlib
import uuid


def derived_uuid(kind: str, *parts: object) -> str:
    digest = hashlib.blake2b(":".join([kind, *map(str, parts)]).encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def event_uuid(seq: int) -> str:
    return derived_uuid("event", seq)


def parse_event_ref(ref: str) -> int | str:
    """`17`, `#17` or `e17` name an event by number; anything else is taken as its UUID."""
    text = ref.strip().lstrip("#e")
    return int(text) if text.isdigit() else ref.strip()
