"""What an eval run leaves on disk: one `CaseResult` per line, and the run's manifest.

`.stepladder/evals/RUN_ID/` holds `manifest.json` (an `EvalManifest`) and `results.jsonl`
(one `CaseResult` per line, appended as each case finishes, so a killed run keeps what it
finished and `--resume RUN_ID` runs only the missing cases).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stepladder.errors import UserError

__all__ = [
    "CaseResult",
    "EvalManifest",
    "EvalRunRecord",
    "MetricScore",
    "ResultLog",
    "append_result",
    "load_run",
]

RESULTS_FILE = "results.jsonl"
MANIFEST_FILE = "manifest.json"


class MetricScore(BaseModel):
    """One metric's score on one case.

    Attributes:
        value: The score in [0, 1] (1 is best); binary metrics give 0 or 1.
        binary: Whether the metric only gives 0 or 1 (McNemar applies when comparing).
        detail: A short reason (the judge's verdict, the mismatching fields, ...).
    """

    model_config = ConfigDict(extra="forbid")

    value: float
    binary: bool = True
    detail: str = ""


class CaseResult(BaseModel):
    """What one case of an eval run gave.

    Attributes:
        case_id: The case's `id`.
        tags: The case's tags.
        split: The case's split, if it has one.
        ok: Whether the flow ran to the end (a failed case scores 0 on every metric).
        error: The error of a failed case, one paragraph.
        inputs: The case's inputs (the flow's input state), as JSON values.
        outputs: The final state's values of the scored fields, then of the flow's other
            output keys (state keys not marked `input`) that the run set.
        expected: The case's expected values.
        scores: Each metric's score, by metric name.
        latency_s: Wall time of the flow run.
        cost_usd: What the run's model calls cost.
        input_tokens: Input tokens of the run's model calls.
        output_tokens: Output tokens of the run's model calls.
        escalations: Model calls that escalated to another tier.
        cached_calls: Model calls answered from the response cache.
        rungs: Per node with a ladder, the rung that answered it (a tier, `embeddings`,
            `human`).
        trace_id: The case's trace (hex), when traced.
    """

    model_config = ConfigDict(extra="forbid")

    case_id: str
    tags: list[str] = Field(default_factory=list)
    split: str | None = None
    ok: bool = True
    error: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    expected: dict[str, Any] = Field(default_factory=dict)
    scores: dict[str, MetricScore] = Field(default_factory=dict)
    latency_s: float = 0.0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    escalations: int = 0
    cached_calls: int = 0
    rungs: dict[str, str] = Field(default_factory=dict)
    trace_id: str | None = None


class EvalManifest(BaseModel):
    """An eval run's identity and settings.

    Attributes:
        run_id: The run's id (also its folder name).
        eval_name: The eval spec's name.
        spec_path: The eval spec file.
        flow: The flow's name.
        metrics: Metric names, in the spec's order.
        metric_fields: The state key each metric scores (None in runs written before it).
        metric_kinds: Each metric's kind (`label`, `exact`, ...; None in older runs).
        started: ISO-8601 UTC start time.
        finished: ISO-8601 UTC end time (None while running or when killed).
        concurrency: Cases run at once.
        cache: Whether model responses could come from the cache.
        split: The split run (None for all cases).
        cases: How many cases the run covers.
        limit: At most this many cases were selected (None: all of the split's).
        tier: The tier every model node ran on, when the run overrode the flow's tiers.
        use_compiled: Whether the flow was to load its optimized prompts (None in runs
            written before this field: `compiled_prompts` tells).
        compiled_prompts: The optimized prompts the flow loaded (file, date, optimizer), if any.
        adapters: LoRA adapters by node id that replaced the nodes' own (`--adapter`), if any.
        pricing: How each self-hosted tier's calls were priced (machine-hour price and
            throughput), by tier name.
        remote: The `stepladder serve` replicas the cases ran on (`--remote`), if any.
    """

    model_config = ConfigDict(extra="forbid")

    run_id: str
    eval_name: str
    spec_path: str
    flow: str
    metrics: list[str]
    metric_fields: dict[str, str] | None = None
    metric_kinds: dict[str, str] | None = None
    started: str
    finished: str | None = None
    concurrency: int = 8
    cache: bool = False
    split: str | None = None
    cases: int = 0
    limit: int | None = None
    tier: str | None = None
    use_compiled: bool | None = None
    compiled_prompts: str | None = None
    adapters: dict[str, str] | None = None
    pricing: dict[str, str] | None = None
    remote: list[str] | None = None


class EvalRunRecord(BaseModel):
    """An eval run as read back from disk: its manifest and its case results."""

    model_config = ConfigDict(extra="forbid")

    manifest: EvalManifest
    results: list[CaseResult]
    folder: Path


class ResultLog:
    """A run's results file, open while the run lasts.

    Each result is written and flushed to the operating system at once, so a killed process
    loses nothing it finished. The file is fsynced when closed; a machine crash can lose the
    last lines before that, and `resume` runs those cases again. A last line cut short by a
    kill is repaired before anything is appended (see `repair_last_line`).

    Args:
        folder: The run's folder.
    """

    def __init__(self, folder: Path) -> None:
        path = folder / RESULTS_FILE
        repair_last_line(path)
        self._handle = path.open("a", encoding="utf-8")

    def append(self, result: CaseResult) -> None:
        """Append one case's result as a line."""
        self._handle.write(result.model_dump_json() + "\n")
        self._handle.flush()

    def close(self) -> None:
        """Flush, fsync and close the file."""
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def __enter__(self) -> ResultLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def repair_last_line(path: Path) -> None:
    """End the results file with a whole line, so the next result starts a line of its own.

    A run killed mid-write leaves a last line without its newline. If that line is a whole
    result (only the newline was lost), the newline is added; otherwise the torn line is cut
    off (`load_run` never counted it, so a resumed run runs its case again).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if not data or data.endswith(b"\n"):
        return
    start = data.rfind(b"\n") + 1
    with path.open("r+b") as handle:
        if _result_line(data[start:]) is not None:
            handle.seek(len(data))
            handle.write(b"\n")
        else:
            handle.truncate(start)
        handle.flush()
        os.fsync(handle.fileno())


def _result_line(line: bytes | str) -> CaseResult | None:
    """The result a line holds, or None for a torn or foreign line."""
    try:
        return CaseResult.model_validate(json.loads(line))
    except ValueError:  # JSON and validation errors alike
        return None


def append_result(folder: Path, result: CaseResult) -> None:
    """Append one case's result to a run's file (opened, written, fsynced and closed)."""
    with ResultLog(folder) as log:
        log.append(result)


def load_run(folder: Path) -> EvalRunRecord:
    """Read a run back; a half-written last line (a killed run) is ignored.

    Raises:
        UserError: If the folder holds no eval run.
    """
    manifest_file = folder / MANIFEST_FILE
    if not manifest_file.is_file():
        raise UserError(f"{folder} is not an eval run (no {MANIFEST_FILE}).")
    manifest = EvalManifest.model_validate_json(manifest_file.read_text(encoding="utf-8"))
    results: dict[str, CaseResult] = {}
    results_file = folder / RESULTS_FILE
    if results_file.is_file():
        for line in results_file.read_text(encoding="utf-8", errors="replace").splitlines():
            result = _result_line(line)
            if result is not None:
                results[result.case_id] = result
    return EvalRunRecord(manifest=manifest, results=list(results.values()), folder=folder)
