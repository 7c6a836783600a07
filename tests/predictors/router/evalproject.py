"""A project with one eval spec and one finished run of it per tier, written to disk."""

from __future__ import annotations

import json
from pathlib import Path

from stepladder.evalsets.results import CaseResult, EvalManifest, MetricScore
from tests.conftest import write_project
from tests.predictors.router.sample import sample

SPEC = "name: qa\nflow: qa\ncases: qa.jsonl\nmetrics:\n  answer: exact\n"


def write_run(
    root: Path,
    run_id: str,
    eval_name: str,
    scores: dict[str, float],
    cost: float,
    tier: str | None = None,
) -> None:
    folder = root / "state" / "evals" / run_id
    folder.mkdir(parents=True)
    manifest = EvalManifest(
        run_id=run_id, eval_name=eval_name, spec_path="evalsets/qa.yaml", flow="qa",
        metrics=["answer"], started="2026-01-01T00:00:00+00:00", cases=len(scores), tier=tier,
    )  # fmt: skip
    (folder / "manifest.json").write_text(manifest.model_dump_json())
    lines = [
        CaseResult(
            case_id=c, scores={"answer": MetricScore(value=v)}, cost_usd=cost
        ).model_dump_json()
        for c, v in scores.items()
    ]
    (folder / "results.jsonl").write_text("\n".join(lines) + "\n")


def eval_project(root: Path, n: int = 60) -> Path:
    ids, texts, correct = sample(n)
    cases = [
        json.dumps({"id": i, "inputs": {"question": t}, "expected": {}})
        for i, t in zip(ids, texts, strict=True)
    ]
    write_project(
        root,
        {"evalsets/qa.yaml": SPEC, "evalsets/qa.jsonl": "\n".join(cases) + "\n"},
        settings="name: test\nstate_dir: state\n",
    )
    write_run(
        root, "run-small", "qa", dict(zip(ids, correct["small"].tolist(), strict=True)), 0.0001
    )
    write_run(root, "run-big", "qa", dict(zip(ids, correct["frontier"].tolist(), strict=True)), 0.0)
    write_run(
        root, "run-other", "other", dict(zip(ids, correct["frontier"].tolist(), strict=True)), 0.0
    )
    write_run(root, "run-few", "qa", {ids[0]: 1.0, ids[1]: 0.0}, 0.0)
    return root
