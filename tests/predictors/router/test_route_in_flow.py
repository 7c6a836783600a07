"""A `route` node in a compiled flow: the LLM node after it starts on the routed tier."""

from pathlib import Path

import pytest

from stepladder.config import load_project
from stepladder.config.retrieval import EmbeddingSettings
from stepladder.flows import compile_project_flow, run_flow
from stepladder.predictors.router import (
    Router,
    calibrate_router,
    save_router,
    write_router_manifest,
)
from stepladder.retrieval.embeddings import shared_embedder
from stepladder.runtimes import ModelPool
from tests.conftest import write_project
from tests.fake_chat import chat_server
from tests.predictors.router.sample import sample

FLOW = """
name: routed
state:
  message: {type: str, input: true}
  tier: str
  reply: str
nodes:
  - {id: pick, kind: route, router: tiers, reads: [message], output: tier}
  - {id: reply, kind: generate, tier: small, tier_from: tier, reads: [message], output: reply,
     retries: 0}
"""


@pytest.fixture(scope="module")
def servers():  # type: ignore[no-untyped-def]
    with (
        chat_server('{"reply": "from small"}') as small,
        chat_server('{"reply": "from frontier"}') as frontier,
    ):
        yield small, frontier


async def test_the_routed_tier_answers(tmp_path: Path, servers) -> None:  # type: ignore[no-untyped-def]
    (small_port, small_requests), (big_port, big_requests) = servers
    settings = (
        "name: routed\nstate_dir: state\nladder: [small, frontier]\ntiers:\n"
        f'  small: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{small_port}/v1", '
        "model: s}\n"
        f'  frontier: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{big_port}/v1", '
        "model: f}\n"
    )
    root = write_project(tmp_path / "p", {"flows/routed.yaml": FLOW}, settings)
    ids, texts, correct = sample(80)
    router = Router.train(
        texts, correct, "knn", name="tiers", ids=ids, embedder=shared_embedder(EmbeddingSettings())
    )
    folder = save_router(router, root / "state")
    record = calibrate_router(router, {"small": 0.001, "frontier": 0.02}, 0.9, bootstrap=200)
    write_router_manifest(folder, router.manifest.model_copy(update={"calibration": record}))

    project = load_project(root=root)
    flow = compile_project_flow(project, "routed")
    async with ModelPool(project.settings.tiers) as models:
        easy = await run_flow(flow, {"message": "hello sunny weather coffee"}, models=models)
        hard = await run_flow(flow, {"message": "eigenvalue theorem lemma proof"}, models=models)
    assert easy.state["tier"] == "small" and easy.state["reply"] == "from small"
    assert hard.state["tier"] == "frontier" and hard.state["reply"] == "from frontier"
    assert len(small_requests) == 1 and len(big_requests) == 1
