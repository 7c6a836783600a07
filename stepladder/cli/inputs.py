"""JSON given on the command line (`--input`, `--answer`): inline, or `@file`, read with bounds.

A file is read up to `MAX_INPUT_BYTES` (a device or pipe that never ends, such as
`@/dev/zero`, is refused once it passes the limit), must be UTF-8 (a byte-order mark is
allowed), and the JSON may nest at most `MAX_INPUT_DEPTH` levels. Each problem is a
`FlowInputError` (exit 2) saying what to change.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from stepladder.errors import FlowInputError

__all__ = ["MAX_INPUT_BYTES", "MAX_INPUT_DEPTH", "load_json_input"]

MAX_INPUT_BYTES = 10_000_000
MAX_INPUT_DEPTH = 100


def load_json_input(text: str, option: str) -> tuple[Any, str]:
    """The JSON value of `text` (or of the file `@path` names), and where it came from.

    Raises:
        FlowInputError: If the file cannot be read, is too large or not UTF-8, or the text is
            not JSON or nests too deeply.
    """
    origin = option
    if text.startswith("@"):
        file = Path(text[1:])
        origin = str(file)
        text = _decode(_read_bounded(file, option), f"{option} {file}")
    elif len(text) > MAX_INPUT_BYTES:
        raise FlowInputError(_too_large(option))
    return _parse(text, origin), origin


def _read_bounded(file: Path, option: str) -> bytes:
    """The file's bytes, refusing folders and anything over `MAX_INPUT_BYTES`."""
    where = f"{option} {file}"
    try:
        info = file.stat()
        if stat.S_ISDIR(info.st_mode):
            raise FlowInputError(f"{where}: is a folder; give a JSON file (@path/to/input.json).")
        if stat.S_ISREG(info.st_mode) and info.st_size > MAX_INPUT_BYTES:
            raise FlowInputError(_too_large(where))
        with file.open("rb") as handle:  # devices and pipes: read no more than the limit
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as error:
        reason = error.strerror or str(error)
        raise FlowInputError(
            f"{where}: cannot read input file ({reason}). Check the path after '@' and that "
            "you may read the file."
        ) from error
    if len(data) > MAX_INPUT_BYTES:
        raise FlowInputError(_too_large(where))
    return data


def _too_large(where: str) -> str:
    return (
        f"{where}: the input is larger than {MAX_INPUT_BYTES // 1_000_000} MB (or never ends, "
        "like a device or an endless pipe). Give a smaller JSON file; put large data in a "
        "file the flow reads itself, or in a collection (`stepladder ingest`)."
    )


def _decode(data: bytes, where: str) -> str:
    """UTF-8 text (a leading byte-order mark dropped), or a clear error naming the encoding."""
    from stepladder.specs.encoding import guess_encoding  # lazy: keeps --help fast

    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        found, source = guess_encoding(data, error.start)
        raise FlowInputError(
            f"{where}: input files must be UTF-8 text, and {found}. Save the file as UTF-8 "
            f"(for example `iconv -f {source} -t UTF-8 in.json > in.utf8.json`) and pass that."
        ) from None


def _parse(text: str, origin: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise FlowInputError(
            f"{origin}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}). "
            'Give a JSON object like \'{"text": "hello"}\' or @file.json.'
        ) from None
    except RecursionError:
        raise FlowInputError(_too_deep(origin)) from None
    except ValueError:  # an integer of more than 4,300 digits (Python's limit)
        raise FlowInputError(
            f"{origin}: the JSON holds an integer too long to read (more than 4,300 digits). "
            "Give such a number as a string."
        ) from None
    if _depth_exceeds(value, MAX_INPUT_DEPTH):
        raise FlowInputError(_too_deep(origin))
    return value


def _too_deep(origin: str) -> str:
    return (
        f"{origin}: the JSON nests more than {MAX_INPUT_DEPTH} levels of lists or objects. "
        "Flatten the input (a flow's state keys take plain values, lists and shallow objects)."
    )


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether lists and dicts in `value` nest deeper than `limit` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False
