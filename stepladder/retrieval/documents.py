"""Documents from files, cut into chunks with content-hash ids.

`.txt` and `.md` files are one document each; `.jsonl` and `.csv` files hold one document
per record, its text in `text_field`, its other fields kept as metadata (scalars; lists and
objects as JSON). A chunk's id is the sha256 of its source id (the record id, else the file
name) and its text, so the same input always gives the same ids.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepladder.errors import ConfigError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_OVERLAP",
    "SUFFIXES",
    "Chunk",
    "Record",
    "check_sizes",
    "chunk_records",
    "chunk_text",
    "collect_files",
    "read_records",
]

Scalar = str | int | float | bool

TEXT_SUFFIXES = (".txt", ".md")
SUFFIXES = (*TEXT_SUFFIXES, ".jsonl", ".csv")
DEFAULT_CHUNK_SIZE = 800
DEFAULT_OVERLAP = 100


@dataclass(frozen=True)
class Record:
    """One document read from a file.

    Attributes:
        source: The file it came from (relative to the project when under it).
        key: What makes its chunk ids unique: the record id, else the file name.
        text: The document's text.
        record_id: The value of the id field, when one was chosen.
        metadata: The record's other fields (scalars; lists and objects as JSON).
    """

    source: str
    key: str
    text: str
    record_id: str | None = None
    metadata: dict[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document, ready to embed: its content-hash id, text and metadata."""

    id: str
    text: str
    metadata: dict[str, Scalar]


def chunk_text(
    text: str, chunk_size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP
) -> list[str]:
    """Cut `text` into chunks of at most `chunk_size` characters, on word boundaries.

    Each chunk after the first starts with the words in the last `overlap` characters of
    the one before. A word longer than `chunk_size` is cut into pieces.
    """
    check_sizes(chunk_size, overlap)
    words = _word_spans(text, chunk_size)
    chunks: list[str] = []
    first = 0
    while first < len(words):
        last = first
        while last + 1 < len(words) and words[last + 1][1] - words[first][0] <= chunk_size:
            last += 1
        chunks.append(text[words[first][0] : words[last][1]])
        if last + 1 == len(words):
            break
        start = last + 1
        while start - 1 > first and words[start - 1][0] >= words[last][1] - overlap:
            start -= 1
        while start <= last and words[last + 1][1] - words[start][0] > chunk_size:
            start += 1  # keep each chunk reaching past the one before
        first = start
    return chunks


def _word_spans(text: str, limit: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for match in re.finditer(r"\S+", text):
        start, end = match.span()
        spans.extend((s, min(s + limit, end)) for s in range(start, end, limit))
    return spans


def check_sizes(chunk_size: int, overlap: int) -> None:
    """Refuse a chunk size below 1, or an overlap not in `[0, chunk_size)`.

    Raises:
        ConfigError: Saying what is allowed.
    """
    if chunk_size < 1 or not 0 <= overlap < chunk_size:
        raise ConfigError(
            f"chunk size {chunk_size} and overlap {overlap}: the chunk size must be positive "
            "and the overlap at least 0 and smaller than the chunk size (defaults: "
            f"{DEFAULT_CHUNK_SIZE} and {DEFAULT_OVERLAP})."
        )


def collect_files(paths: Sequence[Path]) -> list[Path]:
    """The files to read: each path given, and the supported files inside given folders.

    Raises:
        ConfigError: For a missing path, an unsupported extension, or a folder with no files.
    """
    files: list[Path] = []
    supported = ", ".join(SUFFIXES)
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise ConfigError(f"{path}: the folder holds no files to ingest ({supported}).")
            files.extend(found)
        elif not path.exists():
            raise ConfigError(f"{path}: no such file or folder.")
        elif path.suffix.lower() not in SUFFIXES:
            kind = f"'{path.suffix}'" if path.suffix else "extension-less"
            raise ConfigError(f"{path}: cannot ingest {kind} files; supported: {supported}.")
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def read_records(
    path: Path, text_field: str = "text", id_field: str | None = None, source: str | None = None
) -> list[Record]:
    """The documents in one file (see the module docstring for the formats).

    Raises:
        ConfigError: If the file cannot be read or parsed, or lacks the text or id field.
    """
    source = source or path.as_posix()
    suffix = path.suffix.lower()
    try:
        if suffix in TEXT_SUFFIXES:
            return [Record(source, path.name, path.read_text(encoding="utf-8-sig"))]
        rows = _jsonl_rows(path) if suffix == ".jsonl" else _csv_rows(path, text_field)
        return [
            _record(row, f"{source}, {where}", source, path.name, text_field, id_field)
            for where, row in rows
        ]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ConfigError(f"{source}: cannot read: {error}.") from error


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ConfigError(
                    f"{path}, line {number}: not valid JSON ({error.msg}, column {error.colno})."
                ) from error
            if not isinstance(row, dict):
                raise ConfigError(
                    f"{path}, line {number}: each line must be a JSON object, "
                    f"not {type(row).__name__}."
                )
            yield f"line {number}", row


def _csv_rows(path: Path, text_field: str) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        columns = [c for c in reader.fieldnames or [] if c]
        if columns and text_field not in columns:
            raise ConfigError(
                f"{path}: no column '{text_field}' for the text; columns: {', '.join(columns)}. "
                "Pick one with --text-field."
            )
        for row in reader:
            cells = {k: v for k, v in row.items() if k is not None}
            yield f"line {reader.line_num}", cells


def _record(
    row: Mapping[str, Any],
    where: str,
    source: str,
    name: str,
    text_field: str,
    id_field: str | None,
) -> Record:
    fields = ", ".join(row) or "(none)"
    if text_field not in row:
        raise ConfigError(
            f"{where}: no field '{text_field}' for the text; fields: {fields}. "
            "Pick one with --text-field."
        )
    record_id: str | None = None
    if id_field is not None:
        if row.get(id_field) in (None, ""):
            raise ConfigError(
                f"{where}: no value for the id field '{id_field}'; fields: {fields}. "
                "Give every record an id, or leave out --id-field."
            )
        record_id = str(row[id_field])
    value = row[text_field]
    text = "" if value is None else value if isinstance(value, str) else str(value)
    metadata = {
        key: _scalar(item)
        for key, item in row.items()
        if key not in (text_field, id_field) and item is not None
    }
    return Record(source, record_id if record_id is not None else name, text, record_id, metadata)


def _scalar(value: Any) -> Scalar:
    if isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def chunk_records(
    records: Sequence[Record],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
) -> list[Chunk]:
    """Cut records into chunks whose ids are content hashes.

    A chunk's metadata is its record's fields plus `source`, `chunk` (its index in the
    record) and `record_id` (when the record has one); these three win over record fields.
    """
    chunks: list[Chunk] = []
    for record in records:
        for index, piece in enumerate(chunk_text(record.text, chunk_size, overlap)):
            metadata: dict[str, Scalar] = {**record.metadata, "source": record.source}
            if record.record_id is not None:
                metadata["record_id"] = record.record_id
            metadata["chunk"] = index
            digest = hashlib.sha256(f"{record.key}\n{piece}".encode()).hexdigest()
            chunks.append(Chunk(digest, piece, metadata))
    return chunks
