"""DSPy's BootstrapFinetune on stepladder tiers: the provider's data, its LM's names, the wiring."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.config import load_project
from stepladder.errors import UserError
from stepladder.optimize.finetune.dspy_provider import (
    TierLM,
    TierProvider,
    chat_examples,
    finetune_adapter,
    model_name,
    parse_model_name,
)
from stepladder.optimize.optimizers import OPTIMIZERS
from stepladder.runtimes import ModelPool
from tests.conftest import write_project
from tests.optimize.test_optimize import FLOW
from tests.optimize.test_optimize_embedded import MESSAGES

SETTINGS = "name: ft\ntiers:\n  small: {runtime: llamacpp, threads: 2, max_tokens: 32}\n"


def test_chat_data_becomes_prompt_messages_and_the_answer_as_completion() -> None:
    data = [{"messages": [{"role": "system", "content": "Sort it."},
                          {"role": "user", "content": "refund me"},
                          {"role": "assistant", "content": '{"category": "REFUND"}'}]}]  # fmt: skip
    [example] = chat_examples(data, "classify")
    assert example.messages == ({"role": "system", "content": "Sort it."},
                                {"role": "user", "content": "refund me"})  # fmt: skip
    assert example.completion == '{"category": "REFUND"}'
    assert example.node == "classify" and example.source == "bootstrap#0"
    with pytest.raises(UserError, match="item 0 is not text chat ending"):
        chat_examples([{"messages": data[0]["messages"][:2]}], "classify")
    with pytest.raises(UserError, match="item 0 has no chat"):
        chat_examples([{"prompt": "x"}], "classify")


def test_model_names_select_a_tier_and_an_adapter_folder(tmp_path: Path) -> None:
    assert parse_model_name(model_name("small")) == ("small", None)
    assert parse_model_name(model_name("small", tmp_path)) == ("small", tmp_path)
    with pytest.raises(UserError, match="not a stepladder tier"):
        parse_model_name("openai/gpt-4o")


def test_the_tier_lm_is_finetunable_and_copies_keep_the_pool(tmp_path: Path) -> None:
    project = load_project(root=write_project(tmp_path, {"flows/triage.yaml": FLOW}, SETTINGS))
    provider = TierProvider(project, "triage-classify", "triage", ["classify"])
    pool = ModelPool({})
    lm = TierLM(model_name("small"), pool, provider)
    assert lm.provider.finetunable
    tuned = lm.copy(model=model_name("small", tmp_path / "a"))
    assert tuned.models is pool and tuned.provider is provider
    assert parse_model_name(tuned.model) == ("small", tmp_path / "a")
    with pytest.raises(UserError, match="chat data"):
        provider.finetune(None, lm.model, [], "completion", {})
    with pytest.raises(UserError, match="no correct run"):
        provider.finetune(None, lm.model, [], "chat", {})


def test_the_training_data_is_the_prompt_the_node_sends(tmp_path: Path) -> None:
    from stepladder.flows import compile_project_flow
    from stepladder.optimize.finetune.render import NodeRenderer

    project = load_project(root=write_project(tmp_path, {"flows/triage.yaml": FLOW}, SETTINGS))
    flow = compile_project_flow(project, "triage")
    predictor = flow.programs["classify"]
    data = finetune_adapter().format_finetune_data(
        predictor.signature, predictor.demos, {"message": "refund me"}, {"category": "REFUND"}
    )
    [example] = chat_examples([data], "classify")
    renderer = NodeRenderer.for_node(flow, "classify")
    assert example.messages == renderer.messages({"message": "refund me"})
    assert example.completion == renderer.completion({"category": "REFUND"})


def test_finetune_is_an_optimizer_the_command_offers() -> None:
    assert "finetune" in OPTIMIZERS
    shown = CliRunner().invoke(app, ["optimize", "--help"], env={"COLUMNS": "200"})
    assert "finetune" in shown.output and "--name" in shown.output


def _project(root: Path) -> Path:
    splits = ["train"] * 4 + ["dev"] * 2 + ["test"] * 2
    rows = zip(MESSAGES, splits, strict=True)
    cases = [{"id": f"c{i}", "inputs": {"message": text}, "expected": {"category": label},
              "split": split} for i, ((text, label), split) in enumerate(rows)]  # fmt: skip
    write_project(
        root,
        {
            "flows/triage.yaml": FLOW,
            "evalsets/triage.yaml": "name: triage\nflow: triage\ncases: triage.jsonl\n"
            "concurrency: 2\nmetrics:\n  category: label\n",
            "evalsets/triage.jsonl": "".join(json.dumps(c) + "\n" for c in cases),
        },
        SETTINGS + "tune: {max_steps: 2, batch_size: 2, validation: 0, checkpoint_every: 1}\n",
    )
    return root / "evalsets/triage.yaml"


@pytest.mark.slow
def test_optimize_finetune_trains_saves_an_adapter_and_the_flow_runs_with_it(
    tmp_path: Path,
) -> None:
    spec = _project(tmp_path)
    result = CliRunner().invoke(
        app, ["optimize", str(spec), "--optimizer", "finetune", "--keep-worse", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["optimizer"] == "finetune" and report["nodes"] == ["classify"]
    assert report["adapter"] == "triage-classify@v1" and report["saved"] is True
    assert report["compiled"] is None
    assert 0.0 <= report["validation_after"] <= 1.0
    assert report["comparison"]["paired"] == 2
    folder = tmp_path / ".stepladder/adapters/triage-classify/v1"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["nodes"] == ["classify"] and manifest["flow"] == "triage"
    assert manifest["hyperparameters"]["steps"] == 2
    assert manifest["data"]["train"] >= 1  # the gold labels of the 4 train cases taught
    assert (folder / "adapter.gguf").stat().st_size > 0
    leftovers = sorted(p.name for p in (tmp_path / ".stepladder/adapters").iterdir())
    assert leftovers == ["triage-classify"]
    assert report["after_run"] is not None  # the test split ran again, the node on the adapter

    flow_file = tmp_path / "flows/triage.yaml"
    flow_file.write_text(FLOW.replace("retries: 0}", "retries: 0, adapter: triage-classify}"))
    ran = CliRunner().invoke(
        app, ["--project", str(tmp_path), "run", "triage", "--input", '{"message": "refund me"}']
    )
    assert ran.exit_code == 0, ran.output
    assert any(label in ran.stdout for label in ("ORDER", "REFUND"))
