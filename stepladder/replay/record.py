"""A run's record: every node call (inputs, outputs, model exchanges) keyed by a content hash.

One JSON document per run, written once when the run (or the whole eval) finished, where the
project keeps its runs (`stepladder.replay.stores`): `RUN_ID.json` under the project's
`.stepladder/records/`, written through a temporary file renamed into place, or a row of the
Postgres state store written in one transaction. Either way a record is complete or absent,
never half-written. Its `format` and `version` come first; a reader refuses a version it does
not know rather than misread it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from stepladder.config.secrets import register_environment, scrub
from stepladder.errors import RecordError
from stepladder.files import write_text_atomic

__all__ = [
    "FORMAT",
    "VERSION",
    "NodeCall",
    "Record",
    "load_record",
    "parse_record",
    "record_path",
    "record_text",
    "save_record",
]

FORMAT = "stepladder.record"
VERSION = 1
"""The record format this code reads and writes (a record of another version is refused)."""
RECORDS_DIR = "records"


@dataclass(frozen=True)
class NodeCall:
    """One execution of one node, as recorded.

    Attributes:
        key: The content hash of the node's definition and inputs (see `stepladder.replay.keys`).
        node: The node id.
        kind: The node's kind.
        case: The eval case it ran for (empty for a single run).
        seq: Which execution of this node within its case (0 first; loops run a node again).
        parts: The hash of each part of the node's definition (`spec`, `prompt`, `model`,
            `code`), to say what changed when a key is not found.
        inputs: The state keys the node read, as JSON.
        outputs: The node's update, as JSON.
        seconds: How long the node took.
        cost_usd: What its model calls cost.
        model_calls: How many model calls it made.
        exchanges: Each model call's request (messages, schema, model, adapter, sampling) and
            response (text, usage, finish reasons), secrets masked.
    """

    key: str
    node: str
    kind: str
    case: str
    seq: int
    parts: dict[str, str]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    seconds: float = 0.0
    cost_usd: float = 0.0
    model_calls: int = 0
    exchanges: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NodeCall:
        """Read a call from its JSON object (unknown fields are ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Record:
    """The node calls of one run (or one eval run), with where they came from."""

    run_id: str
    flow: str
    created: str
    calls: tuple[NodeCall, ...]
    source: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as written: format and version first."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "run_id": self.run_id,
            "flow": self.flow,
            "created": self.created,
            "calls": [asdict(call) for call in self.calls],
        }


def record_path(state_dir: Path, run_id: str) -> Path:
    """Where the record of run `run_id` lives (`.stepladder/records/RUN_ID.json`)."""
    return state_dir / RECORDS_DIR / f"{run_id}.json"


def record_text(record: Record, secret_variables: tuple[str, ...] = ()) -> str:
    """The record as JSON text, every known secret masked.

    The values of `secret_variables` (the tiers' `api_key_env`) and of every `*_KEY`,
    `*_TOKEN` and `*_SECRET` variable are masked wherever they appear.
    """
    register_environment(secret_variables)
    return scrub(json.dumps(record.to_json(), indent=1, ensure_ascii=False, default=str))


def save_record(record: Record, path: Path, secret_variables: tuple[str, ...] = ()) -> Path:
    """Write `record` to `path` at once (complete or absent), every known secret masked."""
    return write_text_atomic(path, record_text(record, secret_variables) + "\n")


def load_record(path: Path) -> Record:
    """Read a record file, refusing one whose format or version this code does not know.

    Raises:
        RecordError: If the file is missing, not JSON, not a record, or of another version.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordError(f"no record at {path}.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RecordError(f"{path}: cannot read the record ({error}).") from None
    return replace(parse_record(text, str(path), path.stem), source=path)


def parse_record(text: str, where: str, run_id: str) -> Record:
    """Read a record's JSON text, refusing a format or version this code does not know.

    Args:
        text: The record as written (`record_text`).
        where: Where it was read from, for messages.
        run_id: The run id it was kept under (used when the text names none).

    Raises:
        RecordError: If the text is not JSON, not a record, or of another version.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordError(f"{where}: cannot read the record ({error}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RecordError(f"{where}: not a stepladder record (no `format: {FORMAT}`).")
    version = data.get("version")
    if version != VERSION:
        raise RecordError(
            f"{where}: record format version {version!r} is not one this stepladder reads "
            f"(it reads version {VERSION}). Record the run again with this version, or "
            "replay it with the stepladder version that wrote it."
        )
    try:
        calls = tuple(NodeCall.from_json(item) for item in data.get("calls") or [])
    except TypeError as error:
        raise RecordError(f"{where}: a recorded call is incomplete ({error}).") from None
    return Record(
        run_id=str(data.get("run_id") or run_id),
        flow=str(data.get("flow") or ""),
        created=str(data.get("created") or ""),
        calls=calls,
    )
