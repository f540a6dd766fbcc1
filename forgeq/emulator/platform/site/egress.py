"""Forge's egress rule for `fetch`: only the domains the manifest declares.

A Forge function may fetch only the URLs under `permissions.external.fetch.backend` (or a remote
those entries name): an address ("https://api.example.com", "api.example.com"), a wildcard for
subdomains ("*.example.com"), or "*" for any. Any other URL fails the way @forge/api's
ExternalEndpointNotAllowedError words it
(developer.atlassian.com/platform/forge/runtime-egress-permissions/). In forgeq a declared URL is
still never fetched: a stub answers it, or it is answered 501 with a note (service.py).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from forgeq.emulator.app.manifest import Manifest

EGRESS_ERROR = "REQUEST_EGRESS_ALLOWLIST_ERR"  # the forge-proxy-error the worker and the port turn into the error


def not_allowed(url: str) -> str:
    return f"URL not included in the external fetch backend permissions: {url}. Visit go.atlassian.com/forge-egress for more information."


@dataclass(frozen=True)
class Egress:
    patterns: tuple[tuple[str | None, str], ...]  # (scheme or None, host pattern)

    @classmethod
    def of(cls, manifest: Manifest) -> Egress:
        external = manifest.permissions.get("external") if isinstance(manifest.permissions, dict) else None
        fetch = external.get("fetch") if isinstance(external, dict) else None
        backend = fetch.get("backend") if isinstance(fetch, dict) else None
        remotes = {r.get("key"): r.get("baseUrl") for r in manifest.remotes if isinstance(r, dict)}
        found: list[tuple[str | None, str]] = []
        for entry in backend if isinstance(backend, list) else ():
            address: Any = entry
            if isinstance(entry, dict):
                address = entry.get("address") if "address" in entry else remotes.get(entry.get("remote"))
            if isinstance(address, str) and address.strip():
                found.append(_pattern(address.strip()))
        return cls(tuple(found))

    def refusal(self, url: str) -> str | None:
        """None if the manifest allows fetching `url`, else Forge's message."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host or parts.scheme not in ("http", "https"):
            return f"forgeq: fetch needs an absolute http(s) URL, not {url!r}"
        for scheme, pattern in self.patterns:
            if scheme is not None and scheme != parts.scheme:
                continue
            if pattern == "*" or host == pattern or (pattern.startswith("*.") and fnmatch.fnmatchcase(host, pattern)):
                return None
        return not_allowed(url)


def _pattern(address: str) -> tuple[str | None, str]:
    if "://" in address:
        parts = urlsplit(address)
        return parts.scheme.lower(), (parts.hostname or "").lower() or "*"
    return None, address.split("/")[0].lower()
