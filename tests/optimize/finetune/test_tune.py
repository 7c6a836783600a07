"""`stepladder tune` end to end on the real embedded model, and the gate that decides saving."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.evalsets.run_comparison import Comparison, Delta, MetricComparison
from stepladder.optimize.finetune.tune import not_better
from stepladder.predictors.adapters import read_adapter_manifest
from tests.conftest import write_project

ROOT = Path(__file__).resolve().parents[3]
FLOW = """name: triage
state:
  message: {type: str, input: true}
  category: {type: enum, values: [ACCOUNT, ORDER, REFUND]}
nodes:
  - {id: classify, kind: classify, tier: small, reads: [message], output: category,
     labels: [ACCOUNT, ORDER, REFUND], retries: 0}
"""


def _bitext_cases() -> list[dict[str, object]]:
    """24 train, 6 dev and 6 test Bitext messages of three categories (the example's sample)."""
    with (ROOT / "examples/data/bitext/category_train.csv").open(encoding="utf-8") as file:
        rows = [r for r in csv.DictReader(file) if r["label"] in {"ACCOUNT", "ORDER", "REFUND"}]
    by_label: dict[str, list[str]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row["text"])
    cases = []
    for label, texts in sorted(by_label.items()):
        splits = ["train"] * 8 + ["dev"] * 2 + ["test"] * 2
        for index, (text, split) in enumerate(zip(texts, splits, strict=False)):
            cases.append({"id": f"{label}-{index}", "inputs": {"message": text},
                          "expected": {"category": label}, "split": split})  # fmt: skip
    return cases


@pytest.mark.slow
def test_tune_trains_exports_compares_and_saves_an_adapter_the_flow_uses(tmp_path: Path) -> None:
    cases = _bitext_cases()
    assert len(cases) == 36
    write_project(
        tmp_path,
        {
            "flows/triage.yaml": FLOW,
            "evalsets/triage.yaml": "name: triage\nflow: triage\ncases: triage.jsonl\n"
            "splits: [train, dev, test]\nconcurrency: 2\nmetrics:\n  category: label\n",
            "evalsets/triage.jsonl": "".join(json.dumps(c) + "\n" for c in cases),
        },
        "name: tune\ntiers:\n  small: {runtime: llamacpp, threads: 2, max_tokens: 32}\n"
        "tune: {batch_size: 8, eval_every: 1, checkpoint_every: 1}\n",
    )
    result = CliRunner().invoke(
        app,
        ["tune", str(tmp_path / "evalsets/triage.yaml"), "--name", "triage-classify",
         "--max-steps", "2", "--min-examples", "8", "--keep-worse", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["nodes"] == ["classify"]
    assert report["data"]["train"] == 24 and report["data"]["validation"] == 6
    assert report["steps"] == 2
    assert report["comparison"]["paired"] == 6
    assert report["saved"] == "triage-classify@v1"
    folder = tmp_path / ".stepladder/adapters/triage-classify/v1"
    manifest = read_adapter_manifest(folder)
    assert manifest.nodes == ["classify"] and manifest.flow == "triage"
    assert manifest.base.model == "smollm2-135m" and manifest.base.sha256
    assert manifest.data.train == 24 and manifest.data.hash == report["data"]["data_hash"]
    assert set(manifest.metrics_before or {}) == set(manifest.metrics_after or {}) == {"category"}
    assert (folder / "adapter.gguf").stat().st_size > 0
    assert (folder / "peft/adapter_model.safetensors").stat().st_size > 0
    leftovers = [p.name for p in (tmp_path / ".stepladder/adapters").iterdir()]
    assert leftovers == ["triage-classify"]  # no candidate, no training checkpoints left

    flow_file = tmp_path / "flows/triage.yaml"
    flow_file.write_text(FLOW.replace("retries: 0}", "retries: 0, adapter: triage-classify}"))
    ran = CliRunner().invoke(
        app, ["--project", str(tmp_path), "run", "triage", "--input", '{"message": "refund me"}']
    )
    assert ran.exit_code == 0, ran.output
    assert any(label in ran.stdout for label in ("ACCOUNT", "ORDER", "REFUND"))


def _comparison(*metrics: tuple[float, float, str]) -> Comparison:
    zero = Delta(baseline=0.0, candidate=0.0, absolute=0.0, relative=None)
    return Comparison(
        baseline_run_id="a", candidate_run_id="b", eval_name="e", alpha=0.05, paired=20,
        only_in_baseline=0, only_in_candidate=0,
        metrics=[MetricComparison(name=f"m{i}", n=20, binary=True, baseline_mean=before,
                                  candidate_mean=after, difference=after - before,
                                  diff_low=0.0, diff_high=0.0, test="mcnemar-exact",
                                  statistic=0.0, p_value=0.01 if verdict != "no significant change"
                                  else 0.5, verdict=verdict)  # type: ignore[arg-type]
                 for i, (before, after, verdict) in enumerate(metrics)],
        metrics_only_in_baseline=[], metrics_only_in_candidate=[], cost_per_case=zero,
        latency_p50=zero, warnings=[],
    )  # fmt: skip


def test_an_adapter_is_better_only_with_a_metric_significantly_better_and_none_worse() -> None:
    assert not_better(_comparison((0.2, 0.9, "better"), (0.5, 0.5, "no significant change"))) == []
    worse = not_better(_comparison((0.2, 0.9, "better"), (0.9, 0.2, "worse")))
    assert len(worse) == 1 and "m1 is significantly worse" in worse[0]
    flat = not_better(_comparison((0.2, 0.3, "no significant change")))
    assert "no metric is significantly better" in flat[0]


def test_a_node_with_an_embedding_classifier_first_is_tuned_on_the_tier_above() -> None:
    from stepladder.config import load_project
    from stepladder.flows import compile_project_flow
    from stepladder.optimize.finetune.tune import nodes_tier
    from tests.test_examples import example_classifier

    example_classifier()
    project = load_project(root=ROOT / "examples")
    flow = compile_project_flow(project, "category", compiled=False)
    assert flow.spec.nodes[0].first_rung() == "embeddings"
    assert nodes_tier(flow, ["classify"]) == "small" == nodes_tier(flow, [])
