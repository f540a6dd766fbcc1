"""UI resolvers as `@forge/bridge`'s `invoke(key, payload)` reaches them from a Custom UI or UI Kit module.

The platform calls the module's `resolver.function` with `({call: {functionKey, payload}, context},
backendRuntimePayload)`: `context` is what the frontend knows (the module, the account, the site and
`extension`, the product context of the module kind), the second argument what the backend adds
(installContext, installation, the principal's accountId); `@forge/resolver` merges both into the
`context` a definition gets (Atlassian's "Forge resolver" page, and @forge/resolver's published code).
When the function throws, the bridge rejects with `There was an error invoking the function - <message>`
(the GraphQL error `INVOCATION_FAILED`, status 400, as the community has seen it).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from forgeq.emulator.ids import app_uuid, environment_id
from forgeq.emulator.products.payloads import DEMO_USER_ACCOUNT_ID

if TYPE_CHECKING:
    from forgeq.emulator.app.manifest import Manifest, UiModule

INVOKE_FAILED_PREFIX = "There was an error invoking the function - "
ERROR_TYPE = "INVOCATION_FAILED"
ERROR_STATUS = 400

# What `context.extension` holds for a module kind: the product context the UI was opened in, with
# the issue and project of forgeq's product-event templates (DEMO-1 in project DEMO).
_ISSUE = {"id": "10001", "key": "DEMO-1", "type": "Task", "typeId": "10001"}
_PROJECT = {"id": "10000", "key": "DEMO", "type": "software"}
_CONTENT = {"id": "65537", "type": "page"}
_SPACE = {"id": "98305", "key": "DEMO"}
_EXTENSIONS: dict[str, dict[str, Any]] = {
    "jira:issuePanel": {"issue": _ISSUE, "project": _PROJECT, "isNewToIssue": False},
    "jira:issueGlance": {"issue": _ISSUE, "project": _PROJECT},
    "jira:issueActivity": {"issue": _ISSUE, "project": _PROJECT},
    "jira:issueContext": {"issue": _ISSUE, "project": _PROJECT},
    "jira:issueAction": {"issue": _ISSUE, "project": _PROJECT},
    "jira:issueViewBackgroundScript": {"issue": _ISSUE, "project": _PROJECT},
    "jira:projectPage": {"project": _PROJECT},
    "jira:projectSettingsPage": {"project": _PROJECT},
    "jira:dashboardGadget": {"gadget": {}, "dashboard": {"id": "10000"}},
    "confluence:contentBylineItem": {"content": _CONTENT, "space": _SPACE},
    "confluence:contentAction": {"content": _CONTENT, "space": _SPACE},
    "confluence:contextMenu": {"content": _CONTENT, "space": _SPACE, "selectedText": ""},
    "confluence:spacePage": {"space": _SPACE},
    "confluence:spaceSettings": {"space": _SPACE},
    "macro": {"content": _CONTENT, "space": _SPACE, "config": {}},
}


def product_of(kind: str) -> str:
    """The product in the installation's ARI: a Confluence module runs in a Confluence site."""
    return "confluence" if kind.startswith("confluence:") or kind == "macro" else "jira"


def install_context(installation: str, product: str = "jira") -> str:
    return f"ari:cloud:{product}::site/{installation}"


def extension(kind: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """`context.extension` for a module of `kind`, with the caller's fields laid over it."""
    value = {"type": kind, **copy.deepcopy(_EXTENSIONS.get(kind, {}))}
    value.update(overrides or {})
    return value


def call_event(
    manifest: Manifest,
    module: UiModule,
    key: str,
    payload: Any,
    *,
    installation: str,
    account_id: str = DEMO_USER_ACCOUNT_ID,
    extension_overrides: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two arguments the platform calls a UI module's resolver function with."""
    app_id = app_uuid(manifest.app_id)
    environment = environment_id(app_id)  # the ids getAppContext() reads (loop/invocation.py)
    context = {
        "accountId": account_id,
        "accountType": "licensed",
        "cloudId": installation,
        "localId": f"ari:cloud:ecosystem::extension/{app_id}/{environment}/static/{module.key}",
        "moduleKey": module.key,
        "environmentId": environment,
        "environmentType": "DEVELOPMENT",
        "extension": extension(module.kind, extension_overrides),
    }
    call: dict[str, Any] = {"functionKey": key}
    if payload is not None:
        call["payload"] = payload
    runtime_payload = {
        "installContext": install_context(installation, product_of(module.kind)),
        "installation": {"id": installation},
        "principal": {"accountId": account_id},
        "environmentType": "DEVELOPMENT",
    }
    return {"call": call, "context": context}, runtime_payload


def bridge_error(message: str) -> dict[str, Any]:
    """The error `invoke()` rejects with when the resolver function failed."""
    return {"message": INVOKE_FAILED_PREFIX + message, "errorType": ERROR_TYPE, "statusCode": ERROR_STATUS}
