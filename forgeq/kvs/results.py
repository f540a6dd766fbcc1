"""What `@forge/kvs` answers, and the options and fields its calls send, as Python sees them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from forgeq.jsontext import through_json


class MetadataField(StrEnum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    EXPIRE_TIME = "EXPIRE_TIME"


class _Result(dict[str, Any]):
    """A dict in Forge's JSON shape, whose fields also read as attributes, in Python or Forge spelling."""

    _ALIASES: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        key = self._ALIASES.get(name, name)
        if key in self:
            return self[key]
        if key in self._DEFAULTS:
            return self._DEFAULTS[key]
        raise AttributeError(name)

    def __missing__(self, key: str) -> Any:
        # Forge's JSON leaves nextCursor out on the last page, where JavaScript reads undefined;
        # page["nextCursor"] reads None rather than raising KeyError in the app's paging loop.
        if key in self._DEFAULTS:
            return self._DEFAULTS[key]
        raise KeyError(key)

    _DEFAULTS: dict[str, Any] = {}


class ListResult(_Result):
    """What `get_many()` answers: `results` (dicts with key, value, ...) and `next_cursor` (None on the last page)."""

    _ALIASES = {"next_cursor": "nextCursor"}
    _DEFAULTS = {"nextCursor": None}


class BatchResult(_Result):
    """What a batch answers: `successful_keys` and `failed_keys` ({key, error: {code, message}})."""

    _ALIASES = {"successful_keys": "successfulKeys", "failed_keys": "failedKeys"}


def sent(value: Any) -> Any:
    """A request field as @forge/kvs sends it, through JSON.stringify: NaN and Infinity are null, 1.0
    is 1, a tuple an array; a cycle is JSON.stringify's TypeError, thrown before any request. (Values
    go as they are: the platform encodes them with the same JSON.stringify, forgeq/jsontext.py.)"""
    if value is None or type(value) is str:
        return value
    return through_json(value)


def sent_items(items: Any) -> Any:
    """A batch's items as sent: each field through JSON but the values (see `sent`)."""
    if not isinstance(items, list | tuple):
        return sent(items)
    return [
        {name: field if name == "value" else sent(field) for name, field in item.items()}
        if isinstance(item, dict)
        else sent(item)
        for item in items
    ]


def get_options(options: Any, metadata_fields: Any) -> Any:
    if metadata_fields is None:
        return options
    return {**(options or {}), "metadataFields": list(metadata_fields)}


def set_options(
    options: Any, ttl: Any, key_policy: Any, return_value: Any, return_metadata_fields: Any
) -> Any:
    if ttl is None and key_policy is None and return_value is None and return_metadata_fields is None:
        return options
    given = {
        "ttl": ttl,
        "keyPolicy": key_policy,
        "returnValue": return_value,
        "returnMetadataFields": return_metadata_fields,
    }
    extra = {name: value for name, value in given.items() if value is not None}
    if not extra:
        return options
    if options is not None and not isinstance(options, dict):
        return options  # let the API answer INVALID_OPTIONS
    return {**(options or {}), **extra}
