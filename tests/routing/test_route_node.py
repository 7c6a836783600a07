"""The `route` node with the real packaged embedding model (no fake embeddings)."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError

from stepladder.config.references import ReferencePolicy
from stepladder.config.retrieval import EmbeddingSettings
from stepladder.errors import FlowCompileError
from stepladder.nodes.base import BuildContext
from stepladder.nodes.route import ROUTE_TIER, RouteNodeSpec
from stepladder.retrieval.embeddings import shared_embedder
from stepladder.routing import Router, calibrate_router, save_router, write_router_manifest
from tests.conftest import write_project
from tests.routing.sample import sample

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


def build(root: Path, **changes: object):  # type: ignore[no-untyped-def]
    spec = RouteNodeSpec.model_validate({**NODE, **changes})
    return spec.build(BuildContext(ReferencePolicy(root), ("nodes", 0)))


async def test_routes_easy_text_to_small_and_hard_text_to_frontier(root: Path) -> None:
    node = build(root)
    assert RouteNodeSpec.model_validate(NODE).writes == ["tier"]
    runtime = SimpleNamespace(context=None)
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
    node = build(root)
    runtime = SimpleNamespace(context=SimpleNamespace(tracing=object()))
    with provider.get_tracer("test").start_as_current_span("node pick"):
        assert node.func is not None
        node.func({"message": "rain music thanks morning"}, runtime)
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes[ROUTE_TIER] == "small"
    assert span.attributes["stepladder.route.router"] == "tiers@v2"


def test_uncalibrated_or_missing_routers_are_compile_errors(root: Path) -> None:
    with pytest.raises(
        FlowCompileError,
        match=r"nodes\[0\]\.router: .*tiers@v1' is not calibrated.*router calibrate tiers",
    ):
        build(root, version=1)
    with pytest.raises(FlowCompileError, match=r"no router 'other'.*Routers here: tiers"):
        build(root, router="other")
    with pytest.raises(FlowCompileError, match="needs `reads`"):
        build(root, reads=[])
    with pytest.raises(ValidationError):
        RouteNodeSpec.model_validate({**NODE, "output": None})
