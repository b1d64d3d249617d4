"""Plain words for the report and the terminal, made from numbers."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 part', '3 parts': the count and the word, plural when it is not one."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"
