"""How forgeq words a count in what it prints: `1 attempt`, `2 attempts`, `3 entries`, never `attempt(s)`."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """`1 attempt`, `2 attempts`, `1 entry`, `3 entries`, `2 pushes`."""
    if count == 1:
        return f"1 {noun}"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return f"{count} {noun[:-1]}ies"
    if noun.endswith(("s", "sh", "ch", "x")):
        return f"{count} {noun}es"
    return f"{count} {noun}s"
