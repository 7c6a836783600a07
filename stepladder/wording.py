"""Wording of user messages: counts with the noun in the right number ("1 node", "2 nodes")."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, word: str, many: str | None = None) -> str:
    """`count` and `word`, the word in the plural unless the count is one.

    Args:
        count: How many (written with thousands separators: `1,200 cases`).
        word: The noun in the singular (`"node"`, or a phrase ending in it: `"query text"`).
        many: The plural when it is not `word + "s"` (`"entries"`).

    Returns:
        Such as `"1 node"`, `"0 nodes"`, `"3 entries"`.
    """
    return f"{count:,} {word if count == 1 else (many or word + 's')}"
