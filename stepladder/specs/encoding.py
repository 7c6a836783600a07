"""Naming what a file that is not UTF-8 seems to be, and how to convert it."""

from __future__ import annotations

__all__ = ["guess_encoding"]

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def guess_encoding(data: bytes, start: int) -> tuple[str, str]:
    """What `data` (not UTF-8 from byte `start` on) seems to be, and iconv's name for it.

    Returns:
        A phrase for an error message, and the `iconv -f` encoding to convert from.
    """
    if data.startswith(_UTF16_BOMS) or b"\x00" in data[:64]:
        return "it looks like UTF-16 or UTF-32", "UTF-16"
    return f"byte 0x{data[start]:02x} is not UTF-8 (Latin-1 or Windows-1252 perhaps)", "LATIN1"
