"""Eval specs from YAML: shorthand metrics, defaults, and errors naming YAML paths and choices."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from stepladder import EvalSetError
from stepladder.cli import app
from stepladder.evalsets import EvalSpec, load_eval_spec
from stepladder.evalsets.spec import (
    METRIC_KINDS,
    ContainsMetricSpec,
    ExactMetricSpec,
    JudgeMetricSpec,
    LabelMetricSpec,
    NumericMetricSpec,
)

EXAMPLES = Path(__file__).parents[2] / "examples"
KINDS = (
    "contains, exact, function, json_fields, judge, label, numeric, set_f1, set_precision, "
    "set_recall, token_f1, tool_calls"
)
SPEC = """\
name: support
description: Triage of support messages.
flow: support
cases: cases.jsonl
splits: [dev, test]
judge_tier: frontier
metrics:
  category: label
  amount:
    kind: numeric
    tolerance: 0.5
  reply_mentions:
    kind: contains
    field: reply
    all: false
  reply:
    kind: judge
    rubric: Polite, and says what happens next.
"""
CASES = '{"id": "c1", "inputs": {"message": "hi"}, "expected": {"category": "ORDER"}}\n'


def write(folder: Path, spec: str, cases: str | None = CASES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if cases is not None:
        (folder / "cases.jsonl").write_text(cases, encoding="utf-8")
    path = folder / "support.yaml"
    path.write_text(spec, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(EvalSetError) as caught:
        load_eval_spec(path)
    return str(caught.value)


def test_a_spec_loads_with_shorthand_and_defaults(tmp_path: Path) -> None:
    loaded = load_eval_spec(write(tmp_path / "evalsets", SPEC))
    spec = loaded.spec
    assert loaded.folder == tmp_path / "evalsets"
    assert loaded.cases_path == tmp_path / "evalsets" / "cases.jsonl"
    assert spec.metrics["category"] == LabelMetricSpec(kind="label")
    assert spec.metrics["amount"] == NumericMetricSpec(kind="numeric", tolerance=0.5)
    contains = spec.metrics["reply_mentions"]
    assert isinstance(contains, ContainsMetricSpec) and contains.all is False
    assert spec.metric_field("reply_mentions") == "reply"
    assert spec.metric_field("category") == "category"
    assert spec.judge_tier_of("reply") == "frontier"
    assert (spec.concurrency, spec.cache, spec.splits) == (8, False, ["dev", "test"])
    assert [case.id for case in loaded.load_cases()] == ["c1"]


def test_a_spec_is_frozen_and_forbids_extras() -> None:
    spec = EvalSpec.model_validate(
        {"name": "x", "flow": "f", "cases": "c.jsonl", "metrics": {"a": "exact"}}
    )
    assert spec.metrics["a"] == ExactMetricSpec(kind="exact", normalize=True)
    with pytest.raises(ValueError, match="frozen"):
        spec.name = "y"  # type: ignore[misc]
    assert sorted(METRIC_KINDS) == KINDS.split(", ")


def test_unknown_kind_lists_the_kinds_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, SPEC.replace("category: label", "category: lable"))
    message = error_of(path)
    assert message.startswith(f"{path}: invalid eval spec, 1 problem: ")
    assert f"metrics.category.kind ({path}, line 8): unknown kind 'lable'" in message
    assert "did you mean 'label'?" in message
    assert f"Valid kinds: {KINDS}." in message


def test_unknown_option_lists_the_kinds_fields(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, SPEC.replace("tolerance: 0.5", "tolerence: 0.5")))
    assert "metrics.amount.tolerence (" in message and "line 11)" in message
    assert "did you mean 'tolerance'?" in message
    assert "Valid fields: expected_null, field, kind, relative, tolerance." in message


def test_several_problems_at_once(tmp_path: Path) -> None:
    spec = SPEC.replace("concurrency", "x").replace("flow: support\n", "concurrency: 0\n")
    spec = spec.replace("    kind: numeric\n", "    kind: numeric\n    relative: maybe\n")
    message = error_of(write(tmp_path, spec))
    assert "3 problems" in message
    assert "required field 'flow' is missing" in message
    assert "concurrency (" in message and "greater than or equal to 1" in message
    assert "metrics.amount.relative (" in message and "'maybe'" in message


def test_judge_without_a_tier(tmp_path: Path) -> None:
    path = write(tmp_path, SPEC.replace("judge_tier: frontier\n", ""))
    message = error_of(path)
    assert f"metrics.reply ({path}, line 15): judge metric 'reply' has no tier" in message
    with_tier = SPEC.replace("judge_tier: frontier\n", "").replace(
        "    kind: judge\n", "    kind: judge\n    tier: big\n"
    )
    assert load_eval_spec(write(tmp_path, with_tier)).spec.judge_tier_of("reply") == "big"
    judge = EvalSpec.model_validate(yaml.safe_load(with_tier)).metrics["reply"]
    assert isinstance(judge, JudgeMetricSpec) and judge.rubric.startswith("Polite")


def test_missing_cases_file_and_no_metrics(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, SPEC, cases=None))
    assert f"cases ({tmp_path / 'support.yaml'}, line 4): cases file" in message
    assert "not found" in message
    empty = SPEC.split("metrics:")[0] + "metrics: {}\n"
    message = error_of(write(tmp_path, empty, cases=CASES))
    assert "an eval needs at least one metric" in message


def test_bad_files(tmp_path: Path) -> None:
    assert "eval spec not found" in error_of(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [x\n", encoding="utf-8")
    assert "invalid YAML" in error_of(bad)
    bad.write_text("- a list\n", encoding="utf-8")
    assert "must be a mapping" in error_of(bad) and "this one is a list" in error_of(bad)
    bad.write_text("", encoding="utf-8")
    assert "this one is empty" in error_of(bad)


def test_flow_path_by_name_or_relative_path(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "support.yaml").write_text("name: support\n", encoding="utf-8")
    loaded = load_eval_spec(write(tmp_path / "evalsets", SPEC))
    assert loaded.flow_path(flows) == flows / "support.yaml"
    relative = write(
        tmp_path / "evalsets", SPEC.replace("flow: support", "flow: ../flows/support.yaml")
    )
    assert load_eval_spec(relative).flow_path().resolve() == (flows / "support.yaml").resolve()
    with pytest.raises(EvalSetError, match=r"flow \(.*line 3\): no flow 'support'"):
        loaded.flow_path(tmp_path / "elsewhere")


def test_schema_command_writes_the_eval_schema(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["schema", "--kind", "eval"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["required"] == ["name", "flow", "cases", "metrics"]
    spec = yaml.safe_load(SPEC)
    jsonschema.validate(spec, schema)
    spec["metrics"]["category"] = "lable"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, schema)
    spec["metrics"]["category"] = {"kind": "numeric", "tolerance": -1}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, schema)


@pytest.mark.parametrize("path", sorted((EXAMPLES / "evalsets").glob("*.yaml")), ids=str)
def test_example_specs_load_and_match_the_schema(path: Path) -> None:
    from stepladder.cli.schema import SchemaKind, json_schema

    loaded = load_eval_spec(path)
    assert loaded.spec.metrics
    jsonschema.validate(
        yaml.safe_load(path.read_text(encoding="utf-8")), json_schema(SchemaKind.eval)
    )
