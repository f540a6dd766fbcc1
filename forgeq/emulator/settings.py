"""How one emulator instance is configured: the CLI and the testing API both build a Settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from forgeq.emulator import limits

DEFAULT_INSTALLATION = "site-1"


@dataclass
class Settings:
    seed: int = 0
    clock: str = "virtual"  # "virtual" | "real"
    invocation_seconds: float = limits.INVOCATION_SECONDS
    storage_call_seconds: float = limits.STORAGE_CALL_SECONDS
    product_call_seconds: float = limits.PRODUCT_CALL_SECONDS
    concurrency: int = limits.INVOCATIONS_IN_PARALLEL  # per installation, virtual clock; 0 = unbounded
    storage_limits: str = "2025"  # "2025" | "2023" | "none" | a path to a YAML file of custom figures
    platform_limits: bool = True
    product_limits: str = "2026"  # Jira's and Confluence's rate limits: "2026" | "2025" | "none" | a YAML file | figures
    emulate_eco759: bool = True
    enforce_timeouts: bool = True
    installations: list[str] = field(default_factory=lambda: [DEFAULT_INSTALLATION])
    ack_batch_events: int = limits.ACK_BATCH_EVENTS
    ack_batch_seconds: float = limits.ACK_BATCH_SECONDS
    faults: str | None = None  # a YAML scenario (see the testing docs)
