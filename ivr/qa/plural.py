"""Counted nouns for reports: '1 state', '2 states', '0 calls'."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`count` and the noun that agrees with it (`nouns` when adding an s is wrong)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"
