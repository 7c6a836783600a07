"""Synthetic eval runs written to disk the way the runner writes them (manifest + results)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stepladder.evalsets.results import (
    CaseResult,
    EvalManifest,
    EvalRunRecord,
    MetricScore,
    append_result,
    load_run,
)

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=1>'


def case(
    case_id: str,
    scores: dict[str, float],
    *,
    continuous: tuple[str, ...] = (),
    **fields: Any,
) -> CaseResult:
    """A case result; metrics named in `continuous` are continuous, the others binary."""
    return CaseResult(
        case_id=case_id,
        scores={
            name: MetricScore(value=value, binary=name not in continuous)
            for name, value in scores.items()
        },
        **fields,
    )


def write_run(
    folder: Path,
    results: list[CaseResult],
    *,
    run_id: str | None = None,
    eval_name: str = "support",
    metrics: list[str] | None = None,
    cache: bool = False,
    started: str = "2026-01-02T03:04:05Z",
    metric_kinds: dict[str, str] | None = None,
    metric_fields: dict[str, str] | None = None,
) -> EvalRunRecord:
    """Write a run folder (manifest.json, then one results line per case) and read it back."""
    folder.mkdir(parents=True, exist_ok=True)
    names = metrics if metrics is not None else sorted({n for r in results for n in r.scores})
    manifest = EvalManifest(
        run_id=run_id or folder.name,
        eval_name=eval_name,
        spec_path=f"evalsets/{eval_name}.yaml",
        flow="triage",
        metrics=names,
        started=started,
        finished=started,
        cache=cache,
        cases=len(results),
        metric_kinds=metric_kinds,
        metric_fields=metric_fields,
    )
    (folder / "manifest.json").write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    for result in results:
        append_result(folder, result)
    return load_run(folder)


def binary_run(
    folder: Path, passes: list[int], *, cost: float = 0.001, latency: float = 0.5, **kw: Any
) -> EvalRunRecord:
    """A run of one binary metric `exact`, case `c<i>` passing when `passes[i]` is 1."""
    results = [
        case(f"c{i}", {"exact": float(p)}, cost_usd=cost, latency_s=latency, trace_id=f"{i:032x}")
        for i, p in enumerate(passes)
    ]
    return write_run(folder, results, metrics=["exact"], **kw)
