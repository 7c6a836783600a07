"""Labelled rows for training: an eval set's cases (split) and captured cases (a folder).

A row is one labelled case: the flow inputs it starts from, the gold values it gives for
state keys, and where it came from. Which node a row teaches is decided later, from the keys
it labels (`stepladder.optimize.finetune.data`).

Eval cases: the test split is held out; the rest is divided the way `stepladder optimize`
divides it (`split_cases`: split `train` trains and the others validate, or a seeded
shuffle). Captured cases (`stepladder capture`) are used once reviewed (the `unreviewed` tag
removed) or labelled by a higher tier (`labelled:TIER`); those that are neither, those whose
label run failed and those in the test split are skipped and counted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stepladder.errors import FlowInputError, UserError
from stepladder.evalsets.cases import EvalCase, load_cases
from stepladder.evalsets.spec import LoadedEvalSpec
from stepladder.flows import Flow
from stepladder.optimize.finetune.examples import input_hash
from stepladder.optimize.optimizers import split_cases

__all__ = [
    "CASE_FILE_SUFFIX",
    "LabelledRow",
    "RowProblem",
    "capture_rows",
    "evalset_rows",
    "flow_inputs",
    "test_hashes",
]

Split = Literal["train", "validation"]
CASE_FILE_SUFFIX = ".jsonl"
UNREVIEWED, LABELLED, LABEL_FAILED = "unreviewed", "labelled:", "label-failed"


@dataclass(frozen=True)
class LabelledRow:
    """One labelled case, as a source gives it.

    Attributes:
        kind: The source kind: `evalset`, `capture` or `review`.
        source: The example's source (`evalset:support#c1`, `capture:cases.jsonl#c1`).
        where: The row for people (file and line, case id).
        split: `train` or `validation`.
        inputs: The flow inputs (validated, defaults filled), or the node's reads for a
            review (see `reads`).
        gold: The gold value of each labelled state key.
        input_hash: `input_hash` of the flow inputs (to keep test cases out).
        node: The only node the row may teach (a review answers one node), else None.
        reads: The node's reads exactly as given (a review's), else None (from the state).
    """

    kind: str
    source: str
    where: str
    split: Split
    inputs: dict[str, Any]
    gold: dict[str, Any]
    input_hash: str
    node: str | None = None
    reads: dict[str, Any] | None = None


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be used, and why (reported all together)."""

    where: str
    problem: str


@dataclass
class Rows:
    """Rows read from one source, the rows it refused, and the cases it skipped, by reason."""

    rows: list[LabelledRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def flow_inputs(flow: Flow, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A case's inputs as a run starts from them: validated, defaults filled, inputs only.

    Raises:
        FlowInputError: When they do not fit the flow's inputs.
    """
    prepared = flow.prepare_input(dict(inputs))
    return {key: prepared[key] for key, spec in flow.spec.state.items() if spec.input}


def test_hashes(flow: Flow, cases: Iterable[EvalCase], test_split: str) -> dict[str, str]:
    """The input hash of each test case, mapped to its id."""
    hashes: dict[str, str] = {}
    for case in cases:
        if case.split != test_split:
            continue
        try:
            inputs = flow_inputs(flow, case.inputs)
        except FlowInputError:
            inputs = dict(case.inputs)  # the eval's own run reports it; still keep it out
        hashes.setdefault(input_hash(inputs), case.id)
    return hashes


def evalset_rows(
    flow: Flow,
    loaded: LoadedEvalSpec,
    cases: Sequence[EvalCase],
    *,
    test_split: str,
    val_fraction: float,
    seed: int,
) -> tuple[Rows, str]:
    """The eval's non-test cases as rows (train and validation), and how they were split.

    Raises:
        UserError: When the eval has no test split, or too few cases to split.
    """
    splits = split_cases(cases, test_split=test_split, val_fraction=val_fraction, seed=seed)
    lines = _line_numbers(loaded.cases_path)
    found = Rows()
    name = loaded.spec.name
    divided: tuple[tuple[Split, list[EvalCase]], ...] = (
        ("train", splits.train),
        ("validation", splits.validation),
    )
    for split, chosen in divided:
        for case in chosen:
            where = f"{loaded.cases_path} line {lines.get(case.id, '?')} (case {case.id})"
            _add(found, flow, case, f"evalset:{name}#{case.id}", where, split, "evalset")
    return found, splits.how


def capture_rows(flow: Flow, paths: Sequence[Path], test_split: str) -> Rows:
    """Rows from captured cases: JSONL files, or folders of them (searched recursively).

    Raises:
        UserError: When a path does not exist or a folder holds no cases file.
        EvalSetError: When a cases file has bad lines (each named with its line).
    """
    found = Rows()
    for path in paths:
        for file in _case_files(path):
            lines = _line_numbers(file)
            for case in load_cases(file):
                where = f"{file} line {lines.get(case.id, '?')} (case {case.id})"
                reason = _unusable(case, test_split)
                if reason is not None:
                    found.skipped[reason] += 1
                    continue
                _add(found, flow, case, f"capture:{file}#{case.id}", where, "train", "capture")
    return found


def _unusable(case: EvalCase, test_split: str) -> str | None:
    """Why a captured case cannot train (None when it can)."""
    labelled = any(tag.startswith(LABELLED) for tag in case.tags)
    if LABEL_FAILED in case.tags:
        return "captured cases whose label run failed"
    if UNREVIEWED in case.tags and not labelled:
        return "captured cases still tagged 'unreviewed' (and not labelled by a higher tier)"
    if case.split == test_split:
        return f"captured cases in the test split '{test_split}'"
    return None


def _add(
    found: Rows,
    flow: Flow,
    case: EvalCase,
    source: str,
    where: str,
    split: Split,
    kind: str,
) -> None:
    try:
        inputs = flow_inputs(flow, case.inputs)
    except FlowInputError as error:
        found.problems.append(RowProblem(where, str(error)))
        return
    row = LabelledRow(kind, source, where, split, inputs, dict(case.expected), input_hash(inputs))
    found.rows.append(row)


def _case_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UserError(f"captured cases: {path} does not exist (give a JSONL file or a folder).")
    files = sorted(p for p in path.rglob(f"*{CASE_FILE_SUFFIX}") if p.is_file())
    if not files:
        raise UserError(
            f"captured cases: {path} holds no {CASE_FILE_SUFFIX} file; `stepladder capture "
            "FLOW --to FILE.jsonl` writes one."
        )
    return files


def _line_numbers(path: Path) -> dict[str, int]:
    """The line of each case id in a JSONL file (for messages)."""
    lines: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return lines
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            lines.setdefault(data["id"], number)
    return lines
