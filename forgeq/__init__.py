"""forgeq: a local emulator of Atlassian Forge async events and storage."""
__version__ = "0.1.0"
