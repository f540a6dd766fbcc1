"""What handler code imports: Python mirrors of `@forge/api` (one module per part of it).

    from forgeq.api import storage, startsWith      # the legacy storage API (storage.py)
    from forgeq.api import WhereConditions, FilterConditions, SortOrder   # for storage.entity(name).query()
    from forgeq.api import api, route, fetch        # product requests (requests.py): requestJira,
                                                    # requestConfluence, requestGraph, fetch,
                                                    # answered by forgeq's fake site (docs/product-site.md)
"""

from forgeq.api.requests import (
    ExternalEndpointNotAllowedError,
    FetchError,
    Headers,
    HttpError,
    NeedsAuthenticationError,
    NotAllowedError,
    ProxyRequestError,
    Response,
    Route,
    api,
    as_app,
    as_user,
    asApp,
    assume_trusted_route,
    assumeTrustedRoute,
    asUser,
    fetch,
    request_confluence,
    request_jira,
    requestConfluence,
    requestJira,
    route,
    route_from_absolute,
    routeFromAbsolute,
)
from forgeq.api.storage import APIError, FilterConditions, SortOrder, WhereConditions, startsWith, storage

__all__ = [
    "APIError",
    "ExternalEndpointNotAllowedError",
    "FetchError",
    "FilterConditions",
    "Headers",
    "HttpError",
    "NeedsAuthenticationError",
    "NotAllowedError",
    "ProxyRequestError",
    "Response",
    "Route",
    "SortOrder",
    "WhereConditions",
    "api",
    "asApp",
    "asUser",
    "as_app",
    "as_user",
    "assumeTrustedRoute",
    "assume_trusted_route",
    "fetch",
    "requestConfluence",
    "requestJira",
    "request_confluence",
    "request_jira",
    "route",
    "routeFromAbsolute",
    "route_from_absolute",
    "startsWith",
    "storage",
]
