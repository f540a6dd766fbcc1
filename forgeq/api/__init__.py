"""What handler code imports: Python mirrors of `@forge/api` (one module per part of it).

    from forgeq.api import storage, startsWith      # the legacy storage API (storage.py)
    from forgeq.api import WhereConditions, FilterConditions, SortOrder   # for storage.entity(name).query()
"""

from forgeq.api.storage import APIError, FilterConditions, SortOrder, WhereConditions, startsWith, storage

__all__ = ["APIError", "FilterConditions", "SortOrder", "WhereConditions", "startsWith", "storage"]
