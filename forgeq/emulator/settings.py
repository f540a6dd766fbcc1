"""How one emulator instance is configured: the CLI and the testing API both build a Settings."""

from __future__ import annotations

from typing import Any

from forgeq.emulator import limits

DEFAULT_INSTALLATION = "site-1"


class Settings:
    """A plain class, not a dataclass: every command builds one, and a dataclass costs the import a
    generated __init__ (bench/README.md, Round 4). Its fields are given by keyword."""

    __slots__ = (
        "seed", "clock", "invocation_seconds", "storage_call_seconds", "product_call_seconds", "concurrency",
        "storage_limits", "platform_limits", "product_limits", "emulate_eco759", "enforce_timeouts", "installations",
        "ack_batch_events", "ack_batch_seconds", "faults",
    )  # fmt: skip

    def __init__(
        self,
        seed: int = 0,
        clock: str = "virtual",  # "virtual" | "real"
        invocation_seconds: float = limits.INVOCATION_SECONDS,
        storage_call_seconds: float = limits.STORAGE_CALL_SECONDS,
        product_call_seconds: float = limits.PRODUCT_CALL_SECONDS,
        concurrency: int = limits.INVOCATIONS_IN_PARALLEL,  # per installation, virtual clock; 0 = unbounded
        storage_limits: str = "2025",  # "2025" | "2023" | "none" | a path to a YAML file of custom figures
        platform_limits: bool = True,
        product_limits: str = "2026",  # Jira's and Confluence's rate limits: "2026" | "2025" | "none" | a YAML file | figures
        emulate_eco759: bool = True,
        enforce_timeouts: bool = True,
        installations: list[str] | None = None,  # None: [DEFAULT_INSTALLATION]
        ack_batch_events: int = limits.ACK_BATCH_EVENTS,
        ack_batch_seconds: float = limits.ACK_BATCH_SECONDS,
        faults: str | None = None,  # a YAML scenario (see the testing docs)
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.invocation_seconds = invocation_seconds
        self.storage_call_seconds = storage_call_seconds
        self.product_call_seconds = product_call_seconds
        self.concurrency = concurrency
        self.storage_limits = storage_limits
        self.platform_limits = platform_limits
        self.product_limits = product_limits
        self.emulate_eco759 = emulate_eco759
        self.enforce_timeouts = enforce_timeouts
        self.installations: list[str] = [DEFAULT_INSTALLATION] if installations is None else installations
        self.ack_batch_events = ack_batch_events
        self.ack_batch_seconds = ack_batch_seconds
        self.faults = faults

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Settings({fields})"

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes` (as dataclasses.replace made one)."""
        return Settings(**{**{name: getattr(self, name) for name in self.__slots__}, **changes})
