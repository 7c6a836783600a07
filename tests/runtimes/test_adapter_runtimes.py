"""Which tiers serve an adapter, and how each runtime loads it and selects it per request."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from dspy.utils.dummies import DummyLM

import stepladder.runtimes.pool as pool_module
from stepladder.config.tiers import LiteLLMTier, LlamaCppTier, OpenAICompatibleTier, SGLangTier
from stepladder.runtimes import ModelPool
from stepladder.runtimes.adapters import AdapterLoad, ServedBase, fits, served_base, tier_loads
from stepladder.runtimes.base import Endpoint, make_lm
from stepladder.runtimes.llamacpp import BASE_REQUEST
from stepladder.runtimes.llamacpp import adapter_bodies as llamacpp_bodies
from stepladder.runtimes.models import KNOWN_MODELS
from stepladder.runtimes.sglang import adapter_bodies as sglang_bodies
from stepladder.runtimes.sglang import build_command

SHA = KNOWN_MODELS["smollm2-135m"].sha256


def load(label: str, **files: Any) -> AdapterLoad:
    """An adapter saved as `/a/NAME/vN` (its key), served by its label."""
    name, version = label.split("@")
    return AdapterLoad(f"/a/{name}/{version}", label, label, **files)


GGUF = load("reply@v2", gguf=Path("/a/reply/v2/adapter.gguf"), base_sha256=SHA)
PEFT = load("extract@v1", peft=Path("/a/extract/v1/peft"), base_folder="/models/m")


def test_a_gguf_tier_serves_adapters_trained_on_its_file() -> None:
    base = served_base(LlamaCppTier(runtime="llamacpp"))
    assert base.kind == "gguf" and base.sha256 == SHA
    assert fits("small", base, GGUF)
    assert not fits("small", base, load("old@v1", gguf=GGUF.gguf, base_sha256="0" * 64))
    assert not fits("small", base, load("peft@v1", peft=Path("/p"), base_sha256=SHA))


def test_a_launched_sglang_tier_serves_adapters_trained_on_its_model(tmp_path: Path) -> None:
    base = served_base(SGLangTier(runtime="sglang", model_path="/models/m"))
    assert base == ServedBase("folder", folder="/models/m", description="/models/m")
    assert fits("gpu", base, PEFT)
    assert not fits("gpu", base, load("x@v1", peft=Path("/p"), base_folder="/models/n"))
    (tmp_path / "m").mkdir()
    linked = tmp_path / "link"
    linked.symlink_to(tmp_path / "m")
    same = served_base(SGLangTier(runtime="sglang", model_path=str(linked)))
    assert fits("gpu", same, load("x@v1", peft=Path("/p"), base_folder=str(tmp_path / "m")))


def test_a_connected_server_serves_the_adapters_of_nodes_on_it() -> None:
    base = served_base(SGLangTier(runtime="sglang", base_url="http://127.0.0.1:30000"))
    assert base.kind == "unchecked"
    trusted = load("x@v1", peft=Path("/p"), base_folder="/m", trusted=frozenset({"gpu"}))
    assert fits("gpu", base, trusted) and not fits("big", base, trusted)


def test_api_tiers_serve_no_adapters() -> None:
    tiers = [
        LiteLLMTier(runtime="litellm", model="openai/gpt-4.1-mini", api_key_env="K"),
        OpenAICompatibleTier(runtime="openai-compatible", base_url="http://h/v1", model="m"),
    ]
    for settings in tiers:
        base = served_base(settings)
        assert base.kind == "none" and not fits("t", base, GGUF) and not fits("t", base, PEFT)


def test_a_tier_loads_the_adapters_it_fits_in_a_stable_order() -> None:
    base = served_base(LlamaCppTier(runtime="llamacpp"))
    other = load("a-first@v1", gguf=Path("/a.gguf"), base_sha256=SHA)
    assert tier_loads("small", base, [GGUF, PEFT, other]) == (other, GGUF)


def test_llama_cpp_requests_name_their_adapter_by_id_and_the_base_explicitly() -> None:
    other = load("a-first@v1", gguf=Path("/a.gguf"), base_sha256=SHA)
    assert llamacpp_bodies([other, GGUF]) == {
        "/a/a-first/v1": {"lora": [{"id": 0, "scale": 1.0}]},
        "/a/reply/v2": {"lora": [{"id": 1, "scale": 1.0}]},
    }
    tier = LlamaCppTier(runtime="llamacpp")
    with_adapters = Endpoint("openai/m", "http://h/v1", "k", extra_body=BASE_REQUEST)
    assert make_lm(with_adapters, tier).kwargs["extra_body"] == {"lora": [{"id": 0, "scale": 0.0}]}
    assert "extra_body" not in make_lm(Endpoint("openai/m", "http://h/v1", "k"), tier).kwargs


def test_sglang_is_launched_with_the_peft_folders_and_selects_by_name() -> None:
    settings = SGLangTier(runtime="sglang", model_path="/models/m")
    other = load("classify@v3", peft=Path("/a/classify/v3/peft"), base_folder="/models/m")
    command = build_command(settings, 31000, [other, PEFT])
    assert command[:3] == [sys.executable, "-m", "sglang.launch_server"]
    assert command[command.index("--enable-lora") :] == [
        "--enable-lora", "--lora-paths",
        "classify@v3=/a/classify/v3/peft", "extract@v1=/a/extract/v1/peft",
    ]  # fmt: skip
    assert "--enable-lora" not in build_command(settings, 31000)
    assert sglang_bodies([PEFT]) == {"/a/extract/v1": {"lora_path": "extract@v1"}}
    with pytest.raises(ValueError, match="reply@v2 have no PEFT folder"):
        build_command(settings, 31000, [GGUF])


def test_a_pool_knows_the_base_of_each_tier() -> None:
    pool = ModelPool(
        {"small": LlamaCppTier(runtime="llamacpp")}, lms={"test": DummyLM([{"a": "b"}])}
    )
    small = pool.served_base("small")
    assert small is not None and small.sha256 == SHA
    assert pool.served_base("test") is None  # a given LM: nothing known, nothing loaded


class _GatedRuntime:
    """A runtime whose second start waits for a gate: a restart that takes a while."""

    starts: list[tuple[str, ...]] = []

    def __init__(self, adapters: tuple[AdapterLoad, ...], gate: Any) -> None:
        self.adapters = adapters
        self.gate = gate

    def start(self) -> Endpoint:
        _GatedRuntime.starts.append(tuple(a.key for a in self.adapters))
        if len(_GatedRuntime.starts) > 1:
            assert self.gate.wait(30)
        bodies = {a.key: {"lora": [{"id": i, "scale": 1.0}]} for i, a in enumerate(self.adapters)}
        return Endpoint("openai/m", "http://127.0.0.1:9/v1", "k", adapters=bodies)

    def stop(self) -> None:
        return None


def test_no_call_reaches_the_old_server_while_the_tier_restarts_with_an_adapter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = threading.Event()
    _GatedRuntime.starts = []
    monkeypatch.setattr(
        pool_module, "runtime_for", lambda name, settings, adapters: _GatedRuntime(adapters, gate)
    )
    pool = ModelPool({"small": LlamaCppTier(runtime="llamacpp")})

    async def scenario() -> list[set[str]]:
        await pool.bound("small")
        pool.want_adapters([GGUF])
        restarting = asyncio.create_task(pool.bound("small"))
        await asyncio.sleep(0.05)  # the restart is under way, waiting at the gate
        caller = asyncio.create_task(pool.bound("small"))
        await asyncio.sleep(0.05)
        assert not caller.done()  # it waits for the new server instead of taking the old one
        gate.set()
        return [set((await task).endpoint.adapters) for task in (restarting, caller)]

    assert asyncio.run(scenario()) == [{GGUF.key}, {GGUF.key}]
    assert _GatedRuntime.starts == [(), (GGUF.key,)]
