"""The ladder in stepladder.yaml and nodes' `escalate:` policies: bad items are named clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stepladder import ConfigError, FlowCompileError, FlowSpecError, flow_from_dict
from stepladder.config import load_project
from stepladder.nodes.llm.ladder import node_ladder
from tests.conftest import write_project
from tests.escalation.helpers import CLASSIFY, EXTRACT, GENERATE, LADDER, STATE, flow_of

TIERS = """
tiers:
  small: {runtime: llamacpp}
  frontier: {runtime: litellm, model: openai/gpt-4.1-mini, api_key_env: OPENAI_API_KEY}
"""


def settings_error(tmp_path: Path, text: str) -> str:
    write_project(tmp_path, {}, settings="name: t\n" + text)
    with pytest.raises(ConfigError) as caught:
        load_project(root=tmp_path)
    return str(caught.value)


def test_the_ladder_loads_in_order(tmp_path: Path) -> None:
    write_project(tmp_path, {}, settings="name: t\n" + TIERS + "ladder: [small, frontier, human]\n")
    assert load_project(root=tmp_path).settings.ladder == ["small", "frontier", "human"]


def test_an_unknown_rung_is_named_with_its_path_and_the_choices(tmp_path: Path) -> None:
    message = settings_error(tmp_path, TIERS + "ladder: [small, frontir, human]\n")
    assert "ladder[1] (" in message and "line 6" in message
    assert "unknown tier 'frontir'; did you mean 'frontier'?" in message
    assert "Valid: frontier, human, small" in message


def test_human_must_be_last_and_rungs_unique(tmp_path: Path) -> None:
    message = settings_error(tmp_path, TIERS + "ladder: [human, small]\n")
    assert "'human' is the last step" in message
    assert "listed twice" in settings_error(tmp_path, TIERS + "ladder: [small, small]\n")


def test_no_tier_may_be_called_human(tmp_path: Path) -> None:
    message = settings_error(tmp_path, "tiers:\n  human: {runtime: llamacpp}\n")
    assert "'human' is reserved" in message


def compile_error(*nodes: dict[str, Any], ladder: tuple[str, ...] = LADDER) -> str:
    with pytest.raises(FlowCompileError) as caught:
        flow_of(*nodes, ladder=ladder)
    return str(caught.value)


def test_escalate_to_names_bound_tiers_and_human_last() -> None:
    node = {**GENERATE, "escalate": {"to": ["frontir", "human", "small"]}}
    message = compile_error(node)
    assert "nodes[0].escalate.to[0]: unknown tier 'frontir'; did you mean 'frontier'?" in message
    assert "Valid: frontier, human, judge, small" in message
    assert "nodes[0].escalate.to[1]: 'human' is the last rung" in message


def test_escalating_needs_a_ladder_and_the_tier_on_it() -> None:
    assert "has no `ladder`" in compile_error({**GENERATE, "escalate": {}}, ladder=())
    node = {**GENERATE, "tier": "judge", "escalate": {}}
    assert "nodes[0].tier: tier 'judge' is not on the ladder" in compile_error(node)


def test_a_judge_verifier_must_name_a_bound_tier() -> None:
    node = {**GENERATE, "escalate": {"verifier": {"tier": "oracle", "criteria": "good"}}}
    assert "nodes[0].escalate.verifier.tier: unknown tier 'oracle'" in compile_error(node)


def test_agreement_confidence_needs_several_samples() -> None:
    node = {**EXTRACT, "escalate": {"min_confidence": 0.8}}
    assert "nodes[0].escalate.samples: a extract node's confidence" in compile_error(node)


def test_tier_from_must_be_a_state_key() -> None:
    message = compile_error({**GENERATE, "tier_from": "rout"})
    assert "nodes[0].tier_from: unknown state key 'rout'; did you mean 'route'?" in message


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ({"triggers": ["confidence"]}, "'confidence' needs `min_confidence`"),
        ({"triggers": ["invalid"], "min_confidence": 0.5}, "'confidence' is not in `triggers`"),
        ({"triggers": ["bored"]}, "escalate.triggers.0"),
        ({"verifier": "not a reference"}, "not a 'module:function' reference"),
        ({"min_confidence": 2}, "above 0 and at most 1"),
        ({"min_confidence": {"embeddings": 0}}, "above 0 and at most 1"),
    ],
)
def test_bad_policies_are_spec_errors(policy: dict[str, Any], problem: str) -> None:
    with pytest.raises(FlowSpecError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        flow_from_dict({"name": "x", "state": STATE, "nodes": [{**GENERATE, "escalate": policy}]})


def test_node_ladders() -> None:
    spec = flow_from_dict({"name": "x", "state": STATE, "nodes": [
        GENERATE,
        {**EXTRACT, "escalate": {"to": ["frontier"]}},
        {**CLASSIFY, "tier": "frontier", "escalate": {"to": ["small", "frontier", "human"]}},
    ]})  # fmt: skip
    ladder = ("small", "frontier", "human")
    assert [node_ladder(n, ladder) for n in spec.nodes] == [
        ("small", "frontier", "human"),
        ("small", "frontier"),
        ("frontier", "human"),
    ]


def test_a_flow_reaches_human_only_through_an_escalating_node() -> None:
    assert not flow_of(GENERATE).reaches_human
    assert flow_of({**GENERATE, "escalate": {}}).reaches_human
    assert not flow_of({**GENERATE, "escalate": {"to": ["frontier"]}}).reaches_human
