"""What handler code imports: Python mirrors of `@forge/api` (one module per part of it).

    from forgeq.api import storage, startsWith      # the legacy storage API (storage.py)
"""

from forgeq.api.storage import APIError, startsWith, storage

__all__ = ["APIError", "startsWith", "storage"]
