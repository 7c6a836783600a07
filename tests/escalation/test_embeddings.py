"""An embedding classifier is the first rung of a `classify` node's ladder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stepladder import compile_flow, flow_from_dict
from stepladder.flows import Flow, run_flow
from tests.escalation.helpers import dummy, pool
from tests.nodes.test_classify_embeddings import NODE, STATE, UNRELATED, project
from tests.tracing.spans_helpers import attrs, by_name, in_memory, model_calls


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project(tmp_path_factory.mktemp("escalate") / "project")


def flow_in(root: Path, escalate: dict[str, Any] | None, **changes: Any) -> Flow:
    node = {**NODE, "escalate": escalate, **changes}
    spec = flow_from_dict({"name": "intents", "state": STATE, "nodes": [node]})
    return compile_flow(spec, project_root=root, tiers={"small"}, ladder=("small", "human"))


async def test_an_unsure_classifier_hands_the_case_to_a_model(root: Path) -> None:
    flow = flow_in(root, {"min_confidence": 0.999, "to": ["small"]})
    models = pool(small=dummy({"intent": "change_pin"}))
    tracing, exporter = in_memory()
    result = await run_flow(
        flow, {"message": "My new card has not arrived yet"}, models=models, tracing=tracing
    )
    assert result.state["intent"] == "change_pin"  # the model's answer, not the classifier's
    assert result.state["confidence"] is None  # DummyLM gives no log-probabilities
    (call,) = [attrs(s) for s in model_calls(exporter.get_finished_spans())]
    assert call["stepladder.tier"] == "small"
    assert call["stepladder.escalation.reason"] == "confidence"
    node = by_name(exporter.get_finished_spans())["node intent"]
    assert attrs(node)["stepladder.escalation.final_tier"] == "small"
    assert node.events[0].attributes["from"] == "embeddings"
    schema = models._given["small"].history[0]["kwargs"]["response_format"]["json_schema"]
    assert "card_arrival" in schema["schema"]["properties"]["intent"]["enum"]  # its labels


async def test_a_sure_classifier_answers_alone(root: Path) -> None:
    flow = flow_in(root, {"min_confidence": 0.05})
    assert flow.reaches_human and flow.tiers == set()  # model tiers start only if needed
    result = await run_flow(flow, {"message": "My new card has not arrived yet"})
    assert result.state["intent"] == "card_arrival"
    assert result.usage["calls"] == 0


async def test_a_request_the_classifier_does_not_know_goes_up_the_ladder(root: Path) -> None:
    from stepladder.errors import FlowCompileError
    from stepladder.predictors.classifier.model import classifier_path, read_manifest

    labels = read_manifest(classifier_path("banking", root / "state")).labels
    with pytest.raises(FlowCompileError, match="it can answer oos, which `labels` lacks"):
        flow_in(root, None, labels=labels).prepare()  # without escalation: fallback in labels
    flow = flow_in(root, {"min_confidence": 0.01, "to": ["small"]}, labels=labels)
    models = pool(small=dummy({"intent": "card_arrival"}))
    tracing, exporter = in_memory()
    result = await run_flow(flow, {"message": UNRELATED[0]}, models=models, tracing=tracing)
    assert result.state["intent"] == "card_arrival"  # the model's label, never "oos"
    (call,) = [attrs(s) for s in model_calls(exporter.get_finished_spans())]
    assert call["stepladder.escalation.reason"] == "confidence"


async def test_a_threshold_per_rung_checks_only_the_rungs_it_names(root: Path) -> None:
    from stepladder.errors import FlowCompileError
    from stepladder.nodes.llm.escalation import EscalationPolicy

    policy = EscalationPolicy(min_confidence={"embeddings": 0.5})
    assert policy.threshold("embeddings") == 0.5 and policy.threshold("small") is None
    assert EscalationPolicy(min_confidence=0.3).threshold("small") == 0.3
    assert EscalationPolicy().threshold("embeddings") is None
    flow = flow_in(root, {"min_confidence": {"embeddings": 0.999}, "to": ["small", "human"]})
    models = pool(small=dummy({"intent": "change_pin"}))
    tracing, exporter = in_memory()
    result = await run_flow(
        flow, {"message": "My new card has not arrived yet"}, models=models, tracing=tracing
    )
    assert result.state["intent"] == "change_pin" and result.status == "finished"
    (call,) = [attrs(s) for s in model_calls(exporter.get_finished_spans())]
    assert call["stepladder.tier"] == "small"
    assert call["stepladder.escalation.reason"] == "confidence"
    with pytest.raises(FlowCompileError, match=r"'large' is not a rung of this node"):
        flow_in(root, {"min_confidence": {"large": 0.5}, "to": ["small"]})


ROUTED_STATE = {**STATE, "rung": {"type": "optional[str]", "input": True}}


def routed_flow(root: Path, **changes: Any) -> Flow:
    node = {**NODE, "escalate": {"to": ["small"]}, "tier_from": "rung", **changes}
    spec = flow_from_dict({"name": "intents", "state": ROUTED_STATE, "nodes": [node]})
    return compile_flow(spec, project_root=root, tiers={"small"}, ladder=("small", "human"))


async def test_a_router_picks_the_classifier_or_the_model(root: Path) -> None:
    flow = routed_flow(root)
    models = pool(small=dummy({"intent": "change_pin"}, {"intent": "change_pin"}))
    message = "My new card has not arrived yet"
    classified = await run_flow(flow, {"message": message, "rung": "embeddings"}, models=models)
    assert classified.state["intent"] == "card_arrival"
    assert classified.usage["calls"] == 0 and classified.usage["rungs"] == {"intent": "embeddings"}
    tracing, exporter = in_memory()
    modelled = await run_flow(
        flow, {"message": message, "rung": "small"}, models=models, tracing=tracing
    )
    assert modelled.state["intent"] == "change_pin"  # the classifier was not asked
    assert modelled.usage["rungs"] == {"intent": "small"}
    (call,) = [attrs(s) for s in model_calls(exporter.get_finished_spans())]
    assert call["stepladder.escalation.reason"] == "router"
    unrouted = await run_flow(flow, {"message": message, "rung": None}, models=models)
    assert unrouted.state["intent"] == "card_arrival"  # no choice: the ladder's first rung


def test_tier_from_with_the_classifier_needs_a_ladder(root: Path) -> None:
    from stepladder.errors import FlowSpecError

    node = {**NODE, "tier_from": "rung"}
    with pytest.raises(FlowSpecError, match=r"tier_from.*add `escalate:`"):
        flow_from_dict({"name": "intents", "state": ROUTED_STATE, "nodes": [node]})
    with pytest.raises(Exception, match=r"tier_from: unknown state key 'rung'"):
        compile_flow(
            flow_from_dict({"name": "intents", "state": STATE,
                            "nodes": [{**NODE, "escalate": {}, "tier_from": "rung"}]}),
            project_root=root, tiers={"small"}, ladder=("small", "human"),
        )  # fmt: skip


def test_pinned_to_embeddings_the_classifier_answers_alone() -> None:
    from stepladder.nodes.classify import ClassifyNodeSpec

    given = {**NODE, "tier": "small", "escalate": {"min_confidence": 0.5}, "tier_from": "rung",
             "labels": ["card_arrival", "change_pin"]}  # fmt: skip
    node = ClassifyNodeSpec.model_validate(given)
    alone = node.pinned("embeddings")
    assert (alone.using, alone.tier_from) == ("embeddings", None)
    assert alone.escalate is not None and alone.escalate.to == ["embeddings"]  # no rung above
    on_small = node.pinned("small")
    assert (on_small.using, on_small.tier, on_small.escalate) == ("llm", "small", None)
