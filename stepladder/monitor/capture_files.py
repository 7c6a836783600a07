"""Where captured cases go: the cases file they are added to, and the eval specs that read it.

`CaseFile` keeps a file's earlier lines as they are and writes each save atomically (a
temporary file moved over the old one), so an interrupted capture leaves a whole file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stepladder.errors import UserError
from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.spec import SPEC_SUFFIXES
from stepladder.files import write_text_atomic
from stepladder.flows import Flow
from stepladder.specs.locations import load_yaml, read_spec_text

__all__ = ["CaseFile", "SpecRef", "eval_snippet", "specs_using"]


class CaseFile:
    """A JSONL cases file being added to.

    Args:
        path: The file (created, with its folder, on the first save).
        overwrite: Start from an empty file instead of keeping the lines there.

    Raises:
        UserError: If the file exists but cannot be read as text.
    """

    def __init__(self, path: Path, *, overwrite: bool = False) -> None:
        self.path = path
        self._kept = [] if overwrite else _lines(path)
        self._ids = {case_id for line in self._kept if (case_id := _line_id(line))}
        self._added: dict[int, str] = {}

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._ids

    @property
    def added(self) -> int:
        """Cases added since the file was opened."""
        return len(self._added)

    def add(self, case: EvalCase, position: int | None = None) -> None:
        """Add `case` (new cases are written in `position` order, after the kept lines)."""
        data = case.model_dump(mode="json", exclude={"split"} if case.split is None else None)
        if not data.get("meta"):
            data.pop("meta", None)
        key = len(self._added) if position is None else position
        self._added[key] = json.dumps(data, ensure_ascii=False)
        self._ids.add(case.id)

    def save(self) -> None:
        """Write the kept lines and the added cases, atomically.

        Raises:
            UserError: If the file cannot be written.
        """
        lines = [*self._kept, *(self._added[key] for key in sorted(self._added))]
        text = "".join(f"{line}\n" for line in lines)
        try:
            write_text_atomic(self.path, text)
        except OSError as error:
            raise UserError(f"--to {self.path}: cannot write the cases file: {error}.") from None


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"--to {path}: cannot read the existing cases file: {error}.") from None
    return [line for line in text.splitlines() if line.strip()]


def _line_id(line: str) -> str | None:
    """The `id` of a case line (None for a line that is not a case; it is kept as it is)."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class SpecRef:
    """An eval spec that reads a cases file.

    Attributes:
        path: The spec file.
        fields: The state keys its metrics score.
        splits: The splits it declares.
    """

    path: Path
    fields: tuple[str, ...]
    splits: tuple[str, ...] = ()


def specs_using(cases: Path, evalsets_dir: Path) -> list[SpecRef]:
    """The eval specs under `evalsets_dir` whose `cases` is the file `cases`.

    Specs are read leniently (a broken spec is skipped): this only finds them.
    """
    if not evalsets_dir.is_dir():
        return []
    target = cases.resolve()
    found = []
    for path in sorted(evalsets_dir.rglob("*")):
        if path.suffix not in SPEC_SUFFIXES or not path.is_file():
            continue
        data = _yaml(path)
        named = data.get("cases")
        if isinstance(named, str) and (path.parent / named).resolve() == target:
            found.append(SpecRef(path, _metric_fields(data.get("metrics")), _splits(data)))
    return found


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(read_spec_text(path), path).data
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _metric_fields(metrics: Any) -> tuple[str, ...]:
    if not isinstance(metrics, dict):
        return ()
    fields = []
    for name, metric in metrics.items():
        given = metric.get("field") if isinstance(metric, dict) else None
        fields.append(str(given or name))
    return tuple(dict.fromkeys(fields))


def _splits(data: dict[str, Any]) -> tuple[str, ...]:
    splits = data.get("splits")
    return tuple(str(s) for s in splits) if isinstance(splits, list) else ()


def _metric_kind(flow: Flow, key: str) -> str:
    """The metric a captured key is scored with: `label` for an enum, `exact` otherwise."""
    state_field = flow.spec.state.get(key)
    is_enum = state_field is not None and state_field.parsed_type.name == "enum"
    return "label" if is_enum else "exact"


def eval_snippet(flow: Flow, flow_ref: str, cases: Path, spec: Path, fields: Sequence[str]) -> str:
    """An eval spec (YAML) at `spec` scoring `fields` of `flow` (named `flow_ref`) on `cases`."""
    relative = Path(os.path.relpath(cases.resolve(), spec.parent.resolve())).as_posix()
    data = {
        "name": spec.stem,
        "flow": flow_ref,
        "cases": relative,
        "metrics": {key: _metric_kind(flow, key) for key in fields},
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
