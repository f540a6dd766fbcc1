"""Identifiers that look like Forge's UUIDs yet come out the same in every run.

Forge mints jobId and eventId with crypto.randomUUID(); forgeq derives them from row numbers and
the seed, so a virtual-clock run repeated from the same state prints the same ids.
"""

from __future__ import annotations

import re

try:
    # hashlib's blake2b is this builtin module's; importing hashlib itself loads OpenSSL for the
    # other digests: about 11 M instructions of every command's start-up (bench/README.md, Round 4).
    from _blake2 import blake2b
except ImportError:  # not CPython
    from hashlib import blake2b


def derived_uuid(kind: str, *parts: object) -> str:
    """str(uuid.UUID(bytes=digest, version=4)) of a blake2b digest, without building the UUID object
    (a push mints one per event; tests/test_performance_loop.py checks both agree)."""
    digest = bytearray(blake2b(":".join([kind, *map(str, parts)]).encode(), digest_size=16).digest())
    digest[6] = (digest[6] & 0x0F) | 0x40  # version 4
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def minted_uuid(seed: str, count: int) -> str:
    """The `count`-th `crypto.randomUUID()` of an attempt whose seed string is `seed`, as forgeq's
    Node.js worker mints it (worker.cjs `seededUUID`): a Python push gets the jobId @forge/events
    would have minted for the same push."""
    import hashlib

    digest = bytearray(hashlib.sha256(f"{seed}:uuid:{count}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x40  # version 4
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def derived_uuid_reference(kind: str, *parts: object) -> str:
    """The definition derived_uuid follows, kept for the test that compares them."""
    import uuid  # and its `platform`: not on a command's start-up

    digest = blake2b(":".join([kind, *map(str, parts)]).encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-5][0-9a-f]{3}-[089ab][0-9a-f]{3}-[0-9a-f]{12}$")


def app_uuid(manifest_app_id: str) -> str:
    """The app's id as a UUID: the manifest's (`ari:cloud:ecosystem::app/<uuid>`), or one derived from it.
    getAppContext() builds ARIs from it and refuses an id that is not a UUID."""
    app_id = manifest_app_id.rsplit("/", 1)[-1]
    return app_id if _UUID.match(app_id) else derived_uuid("app", app_id)


def environment_id(app: str) -> str:
    """The development environment's id, the same wherever forgeq names it (getAppContext(), a UI context)."""
    return derived_uuid("environment", app, "DEVELOPMENT")


def event_uuid(seq: int) -> str:
    """A version-4 UUID whose first 12 hex digits are the event number and the rest derived from it.

    Event ids sort as the events were pushed, so the unique index on them grows at its end: a
    random id cost a page write in the middle of the index per pushed event, about a third of a
    push (bench/README.md, "Findings"). `00000000-0011-4…` is event #17.
    """
    head = f"{seq % (1 << 48):012x}"
    # derived_uuid("event", seq)[14:], from the hex digest: version nibble 4, variant 8 to b.
    tail = blake2b(b"event:%d" % seq, digest_size=16).hexdigest()
    return f"{head[:8]}-{head[8:]}-4{tail[13:16]}-{_VARIANT[tail[16]]}{tail[17:20]}-{tail[20:]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def parse_event_ref(ref: str) -> int | str:
    """`17`, `#17` or `e17` name an event by number; anything else is taken as its UUID."""
    text = ref.strip().lstrip("#e")
    # ASCII digits only (str.isdigit takes "²"), and no more than an event number can have: past
    # 18 digits it is no event's number (SQLite's integers end at 2**63).
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else ref.strip()
