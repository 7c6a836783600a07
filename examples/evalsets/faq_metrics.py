"""Metrics of the FAQ eval set (referenced from `faq.yaml`)."""

from __future__ import annotations

from typing import Any


def top_passage_is(output: Any, expected: Any, case: Any) -> bool:
    """Whether the first retrieved passage comes from the expected thread."""
    if not output:
        return False
    return bool(output[0].get("metadata", {}).get("record_id") == expected)
