"""The `route` node with the real packaged embedding model (no fake embeddings)."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError

from stepladder.config.retrieval import EmbeddingSettings
from stepladder.errors import FlowCompileError
from stepladder.nodes import Artifacts, BuildContext, BuiltNode, RunContext
from stepladder.nodes.route import ROUTE_TIER, RouteNodeSpec
from stepladder.predictors.router import (
    Router,
    calibrate_router,
    save_router,
    write_router_manifest,
)
from stepladder.retrieval.embeddings import shared_embedder
from stepladder.specs.references import ReferencePolicy
from tests.conftest import write_project
from tests.predictors.router.sample import sample

NODE = {"id": "pick", "kind": "route", "router": "tiers", "reads": ["message"], "output": "tier"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_project(tmp_path_factory.mktemp("route") / "p", {}, "name: t\nstate_dir: state\n")
    ids, texts, correct = sample(80)
    embedder = shared_embedder(EmbeddingSettings())  # the packaged all-MiniLM-L6-v2
    router = Router.train(texts, correct, "knn", name="tiers", ids=ids, embedder=embedder)
    save_router(router, root / "state")  # v1: not calibrated
    folder = save_router(router, root / "state")  # v2: calibrated
    record = calibrate_router(router, {"small": 0.001, "frontier": 0.02}, 0.9, bootstrap=200)
    write_router_manifest(folder, router.manifest.model_copy(update={"calibration": record}))
    return root


def build(root: Path, **changes: object) -> tuple[BuiltNode, Artifacts]:
    """The node, and the artifacts it was declared to (as `compile_flow` declares them)."""
    spec = RouteNodeSpec.model_validate({**NODE, **changes})
    context = BuildContext(ReferencePolicy(root), ("nodes", 0))
    node = spec.build(context)
    artifacts = Artifacts(root)
    artifacts.expect(spec.artifacts(), context.where, node.prepare)
    return node, artifacts


def prepared(root: Path, **changes: object) -> BuiltNode:
    node, artifacts = build(root, **changes)
    artifacts.prepare()
    return node


async def test_routes_easy_text_to_small_and_hard_text_to_frontier(root: Path) -> None:
    node, artifacts = build(root)
    artifacts.prepare()
    assert RouteNodeSpec.model_validate(NODE).writes == ["tier"]
    runtime = SimpleNamespace(context=RunContext(artifacts=artifacts))
    assert (await node.afunc({"message": "hello sunny weather coffee"}, runtime)) == {
        "tier": "small"
    }
    assert node.func is not None
    assert node.func({"message": "eigenvalue theorem lemma proof"}, runtime) == {"tier": "frontier"}
    assert node.func({"message": ""}, runtime) == {"tier": "frontier"}  # nothing to judge


def test_the_decision_is_on_the_span(root: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    node, artifacts = build(root)
    runtime = SimpleNamespace(context=RunContext(tracing=object(), artifacts=artifacts))
    with provider.get_tracer("test").start_as_current_span("node pick"):
        assert node.func is not None
        node.func({"message": "rain music thanks morning"}, runtime)
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes[ROUTE_TIER] == "small"
    assert span.attributes["stepladder.route.router"] == "tiers@v2"


def test_uncalibrated_or_missing_routers_are_reported_when_a_run_starts(root: Path) -> None:
    with pytest.raises(
        FlowCompileError,
        match=r"nodes\[0\]\.router: .*tiers@v1' is not calibrated.*router calibrate tiers",
    ):
        prepared(root, version=1)
    _, artifacts = build(root, router="other")  # building reads no file
    with pytest.raises(FlowCompileError, match=r"no router 'other'.*Routers here: tiers"):
        artifacts.prepare()
    with pytest.raises(FlowCompileError, match="needs `reads`"):
        build(root, reads=[])
    with pytest.raises(ValidationError):
        RouteNodeSpec.model_validate({**NODE, "output": None})
