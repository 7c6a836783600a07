"""A GGUF LoRA adapter served by the real embedded model (SmolLM2-135M on llama.cpp).

One project, one model pool, one server: a flow whose `tuned` node names the adapter and
whose `plain` node does not, beside the same flow with no adapter at all. The adapter (random
and large) changes the tuned node's greedy answer; the plain node's answer is the base's,
before and after the adapter was loaded, so requests on one server do not leak into each
other (each request names its adapters, so a slot's prompt cache is never reused across them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from stepladder.config import load_project
from stepladder.config.tiers import LlamaCppTier
from stepladder.errors import ModelError
from stepladder.flows import compile_project_flow, run_flow
from stepladder.runtimes import ModelPool, ensure_model
from stepladder.runtimes.adapters import AdapterLoad
from stepladder.runtimes.llamacpp import LlamaCppRuntime
from tests.conftest import write_project
from tests.predictors.adapter_samples import random_lora_gguf, save_sample
from tests.tracing.spans_helpers import in_memory, model_calls

pytestmark = pytest.mark.slow

NODES = """
nodes:
  - {id: tuned, kind: generate, reads: [message], output: tuned, max_chars: 120, retries: 2,
     instructions: "Reply to the customer in one sentence."%s}
  - {id: plain, kind: generate, reads: [message], output: plain, max_chars: 120, retries: 2,
     instructions: "Reply to the customer in one sentence."}
"""
FLOW = """
name: %s
state:
  message: {type: str, input: true}
  tuned: str
  plain: str
"""
SETTINGS = """
name: served
tiers:
  small: {runtime: llamacpp, threads: 1, parallel: 2, max_tokens: 200}
"""
MESSAGES = ["Where is my parcel? It is two days late.", "I want my money back for the shoes."]


def project(root: Path, lora: Path) -> Any:
    files = {
        "flows/with_adapter.yaml": FLOW % "with_adapter" + NODES % ", adapter: lora",
        "flows/base.yaml": FLOW % "base" + NODES % "",
    }
    write_project(root, files, SETTINGS)
    save_sample(root / ".stepladder", "lora", gguf=lora)
    return load_project(root=root)


async def test_one_server_answers_with_and_without_the_adapter(tmp_path: Path) -> None:
    lora = random_lora_gguf(
        tmp_path / "lora.gguf", ensure_model("smollm2-135m"), scale=0.08,
        targets=("attn_q", "attn_v", "attn_output"),
    )  # fmt: skip
    found = project(tmp_path / "p", lora)
    with_adapter = compile_project_flow(found, "with_adapter")
    base = compile_project_flow(found, "base")
    tracing, exporter = in_memory()

    async def run(flow: Any, **options: Any) -> list[dict[str, Any]]:
        results = [await run_flow(flow, {"message": m}, models=models, **options) for m in MESSAGES]
        usages.extend(r.usage for r in results if flow is with_adapter)
        return [r.state for r in results]

    usages: list[dict[str, Any]] = []
    async with ModelPool(found.settings.tiers) as models:
        first = await run_flow(base, {"message": MESSAGES[0]}, models=models)
        assert (await models.bound("small")).endpoint.adapters == {}  # started for the base
        tuned = await run(with_adapter, tracing=tracing)  # the server starts again, with it
        server = await models.bound("small")
        after = await run(base)
        tuned_again = await run(with_adapter)
        adapters = httpx.get(f"{server.endpoint.base_url[:-3]}/lora-adapters").json()
    saved = tmp_path / "p" / ".stepladder" / "adapters" / "lora" / "v1" / "adapter.gguf"
    assert [a["path"] for a in adapters] == [str(saved)]
    assert server.endpoint.adapters == {str(saved.parent): {"lora": [{"id": 0, "scale": 1.0}]}}
    assert server.endpoint.extra_body == {"lora": [{"id": 0, "scale": 0.0}]}
    # The first request to a server has nothing cached: the base answers as it did before.
    assert after[0] == first.state
    for message, adapted, plain in zip(MESSAGES, tuned, after, strict=True):
        assert adapted["tuned"] != plain["tuned"], message  # the adapter changed the answer
        assert adapted["plain"] == plain["plain"], message  # the node without it did not
    assert tuned_again == tuned  # requests on one server do not leak into each other
    spans = model_calls(exporter.get_finished_spans())
    assert {(s.attributes or {})["stepladder.node.id"] for s in spans} == {"tuned", "plain"}
    for span in spans:
        node = (span.attributes or {})["stepladder.node.id"]
        adapter = (span.attributes or {}).get("stepladder.adapter")
        assert adapter == ("lora@v1" if node == "tuned" else None), node
    for usage in usages:
        assert list(usage["cost_by_adapter"]) == ["lora@v1"]
        assert 0 < usage["cost_by_adapter"]["lora@v1"] < usage["cost_usd"]


def test_a_file_that_is_no_adapter_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "adapter.gguf"
    broken.write_bytes(b"GGUF")
    load = AdapterLoad(str(tmp_path), "broken@v1", "broken@v1", gguf=broken)
    runtime = LlamaCppRuntime(LlamaCppTier(runtime="llamacpp", threads=1), "small", [load])
    with pytest.raises(ModelError, match=r"could not load .* with the adapter\(s\) broken@v1"):
        runtime.start()
    missing = AdapterLoad(str(tmp_path), "gone@v1", "gone@v1", gguf=tmp_path / "gone.gguf")
    with pytest.raises(ModelError, match="adapter gone@v1 has no GGUF file"):
        LlamaCppRuntime(LlamaCppTier(runtime="llamacpp"), "small", [missing]).start()
