"""`stepladder optimize` end to end against fake model servers, and the data splits."""

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.config import load_project
from stepladder.errors import CompiledPromptsError, UserError
from stepladder.evalsets.cases import EvalCase
from stepladder.flows import compile_project_flow
from stepladder.optimize.optimizers import split_cases
from stepladder.prompts import load_compiled
from tests.conftest import write_project
from tests.fake_chat import chat_server

runner = CliRunner()
FLOW = """name: triage
state:
  message: {type: str, input: true}
  category: {type: enum, values: [ORDER, REFUND]}
nodes:
  - {id: classify, kind: classify, tier: small, reads: [message], output: category,
     labels: [ORDER, REFUND], retries: 0}
"""


def project(root: Path, small_port: int, big_port: int) -> Path:
    """A one-node classify flow; 6 train, 4 dev and 3 test cases, all expecting REFUND."""
    splits = ["train"] * 6 + ["dev"] * 4 + ["test"] * 3
    cases = [{"id": f"c{i}", "inputs": {"message": f"money back for order {i}"},
              "expected": {"category": "REFUND"}, "split": split}
             for i, split in enumerate(splits)]  # fmt: skip
    write_project(
        root,
        {
            "flows/triage.yaml": FLOW,
            "evalsets/triage.yaml": "name: triage\nflow: triage\ncases: triage.jsonl\n"
            "splits: [train, dev, test]\nconcurrency: 2\nmetrics:\n  category: label\n",
            "evalsets/triage.jsonl": "".join(json.dumps(c) + "\n" for c in cases),
        },
        "name: opt\ntiers:\n"
        f'  small: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{small_port}/v1", '
        "model: s}\n"
        f'  big: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{big_port}/v1", '
        "model: b}\n",
    )
    return root / "evalsets/triage.yaml"


def test_a_teacher_bootstraps_demos_that_the_flow_then_loads(tmp_path: Path) -> None:
    wrong, right = '{"category": "ORDER"}', '{"category": "REFUND"}'
    with chat_server(wrong) as small, chat_server(right) as big:
        spec = project(tmp_path, small[0], big[0])
        options = ["--max-demos", "2", "--max-labeled", "0", "--candidates", "0", "--json"]
        result = runner.invoke(app, ["optimize", str(spec), "--teacher", "big", *options])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        after_prompts = [json.dumps(r["messages"]) for r in small[1][-3:]]
    assert report["nodes"] == ["classify"]
    assert (
        "train: split 'train'; validation: split(s) dev; 6 train, 4 validation, 3 test"
        in (report["splits"])
    )
    assert report["validation_before"] == 0.0 and report["validation_after"] == 0.0
    assert report["spent"]["calls"] >= 4 + 2 + 4  # validation twice, two teacher runs
    comparison = report["comparison"]
    assert comparison["paired"] == 3
    assert comparison["metrics"][0]["name"] == "category"
    compiled = load_compiled(tmp_path / "prompts/compiled/triage.json")
    assert compiled.optimizer == "bootstrap" and compiled.models == {"big": "b", "small": "s"}
    assert compiled.details["teacher"] == "big"
    demos = compiled.nodes["classify"].state["demos"]
    assert [d["category"] for d in demos] == ["REFUND", "REFUND"]
    assert all(set(d) == {"message", "category", "augmented"} for d in demos)
    # The test run after the optimization loaded the teacher's demos into the small model's prompt.
    assert all("money back for order 0" in prompt for prompt in after_prompts)
    after = json.loads((tmp_path / ".stepladder/evals" / report["after_run"] / "manifest.json")
                       .read_text())  # fmt: skip
    assert after["compiled_prompts"].startswith("prompts/compiled/triage.json (bootstrap")


def misled_by_demos(request: dict[str, Any]) -> str:
    """A model that answers right with no demos and wrong when the prompt shows any."""
    demos = len(request["messages"]) > 2  # demos come as extra user/assistant turns
    return '{"category": "ORDER"}' if demos else '{"category": "REFUND"}'


def test_prompts_that_score_lower_on_validation_are_not_saved(tmp_path: Path) -> None:
    with chat_server(misled_by_demos) as small, chat_server('{"category": "REFUND"}') as big:
        spec = project(tmp_path, small[0], big[0])
        arguments = ["optimize", str(spec), "--teacher", "big", "--candidates", "0", "--json"]
        result = runner.invoke(app, arguments)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert (report["validation_before"], report["validation_after"]) == (1.0, 0.0)
        assert report["saved"] is False and report["after_run"] is None
        assert not (tmp_path / "prompts/compiled/triage.json").exists()
        kept = runner.invoke(app, [*arguments, "--keep-worse"])
        assert kept.exit_code == 0, kept.output
    assert json.loads(kept.stdout)["comparison"]["metrics"][0]["candidate_mean"] == 0.0


def test_the_search_keeps_zero_shot_when_demos_mislead(tmp_path: Path) -> None:
    with chat_server(misled_by_demos) as small, chat_server('{"category": "REFUND"}') as big:
        spec = project(tmp_path, small[0], big[0])
        result = runner.invoke(app, ["optimize", str(spec), "--teacher", "big", "--json"])
        assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["validation_before"], report["validation_after"]) == (1.0, 1.0)
    compiled = load_compiled(tmp_path / "prompts/compiled/triage.json")
    assert compiled.nodes["classify"].state["demos"] == []


def test_a_compiled_file_for_a_changed_flow_is_refused(tmp_path: Path) -> None:
    with chat_server('{"category": "REFUND"}') as small:
        spec = project(tmp_path, small[0], small[0])
        result = runner.invoke(app, ["optimize", str(spec), "--max-demos", "1"])
        assert result.exit_code == 0, result.output
    flow_file = tmp_path / "flows/triage.yaml"
    flow_file.write_text(FLOW.replace("[ORDER, REFUND]", "[ORDER, REFUND, OTHER]"), "utf-8")
    loaded = load_project(root=tmp_path)
    with pytest.raises(CompiledPromptsError, match=r"node 'classify' changed its outputs"):
        compile_project_flow(loaded, "triage")
    assert compile_project_flow(loaded, "triage", compiled=False).compiled_prompts is None
    refused = runner.invoke(app, ["--project", str(tmp_path), "validate"])
    assert refused.exit_code == 2
    assert "another version of flow 'triage'" in refused.output
    assert "--no-compiled" in refused.output


def test_the_budget_stops_the_optimization_and_nothing_is_saved(tmp_path: Path) -> None:
    with chat_server('{"category": "REFUND"}') as small:
        spec = project(tmp_path, small[0], small[0])
        result = runner.invoke(app, ["optimize", str(spec), "--max-calls", "5"])
    assert result.exit_code == 1
    assert "call budget (5) is reached" in result.output
    assert "nothing was saved" in result.output
    assert not (tmp_path / "prompts/compiled/triage.json").exists()


def test_unknown_nodes_and_metrics_name_the_choices(tmp_path: Path) -> None:
    spec = project(tmp_path, 9, 9)
    result = runner.invoke(app, ["optimize", str(spec), "--node", "clasify"])
    assert result.exit_code == 2
    assert "did you mean 'classify'?" in result.output
    result = runner.invoke(app, ["optimize", str(spec), "--metric", "reply"])
    assert result.exit_code == 2 and "metrics: category" in result.output


def cases(*splits: str | None) -> list[EvalCase]:
    return [EvalCase(id=f"c{i}", inputs={"m": i}, split=s) for i, s in enumerate(splits)]


def test_without_a_train_split_the_rest_is_shuffled_with_the_seed() -> None:
    pool = cases(*([None] * 10), "test", "test")
    first = split_cases(pool, test_split="test", val_fraction=0.3, seed=1)
    again = split_cases(pool, test_split="test", val_fraction=0.3, seed=1)
    other = split_cases(pool, test_split="test", val_fraction=0.3, seed=2)
    assert len(first.train) == 7 and len(first.validation) == 3
    assert [c.id for c in first.validation] == [c.id for c in again.validation]
    assert [c.id for c in first.validation] != [c.id for c in other.validation]
    assert "seed 1" in first.how and "2 test ('test')" in first.how
    capped = split_cases(pool, test_split="test", val_fraction=0.3, seed=1, max_train=2)
    assert len(capped.train) == 2


def test_a_missing_test_split_or_too_few_cases_is_explained() -> None:
    with pytest.raises(UserError, match=r"no case in split 'test'.*splits: dev"):
        split_cases(cases("dev", "dev"), test_split="test", val_fraction=0.5, seed=0)
    with pytest.raises(UserError, match="too few cases to optimize: 1 to train and 0"):
        split_cases(cases("dev", "test"), test_split="test", val_fraction=0.1, seed=0)


def test_gepa_runs_and_mipro_reports_a_proposer_that_cannot_answer(tmp_path: Path) -> None:
    with chat_server('{"category": "REFUND"}') as small:
        spec = project(tmp_path, small[0], small[0])
        gepa = runner.invoke(app, ["optimize", str(spec), "--optimizer", "gepa", "--json"])
        assert gepa.exit_code == 0, gepa.output
        assert load_compiled(tmp_path / "prompts/compiled/triage.json").optimizer == "gepa"
        # The fake server answers every call with the category, also MIPROv2's proposals.
        mipro = runner.invoke(app, ["optimize", str(spec), "--optimizer", "mipro"])
    assert mipro.exit_code == 1
    assert "without the fields it asked for (proposed_instruction)" in mipro.output
    assert "--teacher" in mipro.output


def test_an_unknown_optimizer_or_teacher_is_refused_before_any_run(tmp_path: Path) -> None:
    spec = project(tmp_path, 9, 9)  # nothing listens: any run would fail
    result = runner.invoke(app, ["optimize", str(spec), "--optimizer", "copro"])
    assert result.exit_code == 2 and "choose one of bootstrap, mipro, gepa" in result.output
    result = runner.invoke(app, ["optimize", str(spec), "--teacher", "huge"])
    assert result.exit_code == 2 and "tier 'huge' is not defined" in result.output


def test_a_model_server_that_is_down_stops_the_optimization(tmp_path: Path) -> None:
    with chat_server('{"category": "REFUND"}') as small:
        spec = project(tmp_path, small[0], 9)  # the teacher's port has no server
        result = runner.invoke(app, ["optimize", str(spec), "--teacher", "big"])
    assert result.exit_code == 1
    assert (
        "tier 'big'" in result.output and "Check that the model server is running" in result.output
    )
    assert not (tmp_path / "prompts/compiled/triage.json").exists()
