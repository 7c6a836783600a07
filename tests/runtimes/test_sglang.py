"""The SGLang runtime: command construction, errors, process-group stop, and its HTTP client
against the embedded llama.cpp server (the same OpenAI-compatible API SGLang serves)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest

from stepladder.config.tiers import LlamaCppTier, SGLangTier
from stepladder.errors import ModelError
from stepladder.runtimes.base import LOCAL_API_KEY, Endpoint, make_lm
from stepladder.runtimes.llamacpp import LlamaCppRuntime
from stepladder.runtimes.pool import runtime_for
from stepladder.runtimes.sglang import SGLangRuntime, _terminate, build_command, server_root


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_build_command_with_defaults() -> None:
    settings = SGLangTier(runtime="sglang", model_path="HuggingFaceTB/SmolLM2-135M-Instruct")
    assert build_command(settings, 31000) == [
        sys.executable, "-m", "sglang.launch_server",
        "--model-path", "HuggingFaceTB/SmolLM2-135M-Instruct",
        "--host", "127.0.0.1",
        "--port", "31000",
        "--grammar-backend", "xgrammar",
        "--tp-size", "1",
    ]  # fmt: skip


def test_build_command_with_every_option() -> None:
    settings = SGLangTier(
        runtime="sglang", model_path="/models/qwen", host="0.0.0.0", port=30000,
        grammar_backend="llguidance", tp=2, mem_fraction=0.8, quantization="fp8",
        served_model_name="qwen",
    )  # fmt: skip
    assert build_command(settings, 30000) == [
        sys.executable, "-m", "sglang.launch_server",
        "--model-path", "/models/qwen",
        "--host", "0.0.0.0",
        "--port", "30000",
        "--grammar-backend", "llguidance",
        "--tp-size", "2",
        "--mem-fraction-static", "0.8",
        "--quantization", "fp8",
        "--served-model-name", "qwen",
    ]  # fmt: skip


def test_build_command_needs_a_model_path() -> None:
    with pytest.raises(ValueError, match="model_path"):
        build_command(SGLangTier(runtime="sglang", base_url="http://127.0.0.1:1"), 1)


@pytest.mark.parametrize(
    "given",
    ["http://127.0.0.1:30000", "http://127.0.0.1:30000/", "http://127.0.0.1:30000/v1",
     "http://127.0.0.1:30000/v1/", "127.0.0.1:30000"],
)  # fmt: skip
def test_server_root_accepts_base_urls_with_or_without_v1(given: str) -> None:
    assert server_root(given) == "http://127.0.0.1:30000"


def test_the_pool_builds_an_sglang_runtime() -> None:
    settings = SGLangTier(runtime="sglang", base_url="http://127.0.0.1:30000")
    runtime = runtime_for("gpu", settings)
    assert isinstance(runtime, SGLangRuntime)
    runtime.stop()  # nothing was started: a no-op


def test_launch_without_sglang_says_how_to_install(tmp_path: Path) -> None:
    assert importlib.util.find_spec("sglang") is None, "this test expects a CPU-only machine"
    settings = SGLangTier(runtime="sglang", model_path="HuggingFaceTB/SmolLM2-135M-Instruct")
    runtime = SGLangRuntime(settings, "gpu", log_dir=tmp_path)
    with pytest.raises(ModelError, match=r"stepladder\[sglang\]") as caught:
        runtime.start()
    assert "tier 'gpu'" in str(caught.value)
    assert runtime.log_path is None
    assert list(tmp_path.iterdir()) == []


FAKE_LAUNCH_SERVER = """
import argparse, json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
for flag in ("--model-path", "--host", "--port", "--grammar-backend", "--tp-size",
             "--served-model-name"):
    parser.add_argument(flag)
args = parser.parse_args()
print("fake sglang", " ".join(sys.argv[1:]), flush=True)
if args.model_path == "broken":
    print("RuntimeError: CUDA out of memory", flush=True)
    sys.exit(7)

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        models = {"data": [{"id": args.served_model_name or args.model_path}]}
        body = {"/health": b"", "/v1/models": json.dumps(models).encode()}.get(self.path)
        self.send_response(404 if body is None else 200)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args):
        pass

ThreadingHTTPServer((args.host, int(args.port)), Handler).serve_forever()
"""


@pytest.fixture
def fake_sglang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in `sglang.launch_server` (an HTTP stub) and `nvidia-smi`, for launch mode."""
    package = tmp_path / "fake" / "sglang"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "launch_server.py").write_text(FAKE_LAUNCH_SERVER)
    smi = tmp_path / "fake" / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text("#!/bin/sh\n")
    smi.chmod(0o755)
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.setenv("PYTHONPATH", str(package.parent))
    monkeypatch.setenv("PATH", f"{smi.parent}:{os.environ['PATH']}")
    return tmp_path / "logs"


def test_launch_starts_waits_and_stops_the_server(fake_sglang: Path) -> None:
    settings = SGLangTier(runtime="sglang", model_path="org/tiny", startup_timeout_s=20)
    runtime = SGLangRuntime(settings, "gpu", log_dir=fake_sglang)
    endpoint = runtime.start()
    try:
        assert endpoint.model == "openai/org/tiny"
        assert endpoint.display_name == "org/tiny"
        assert endpoint.base_url is not None
        port = int(endpoint.base_url.rsplit(":", 1)[1].removesuffix("/v1"))
        assert runtime.log_path == fake_sglang / f"sglang-gpu-{port}.log"
        assert "--grammar-backend xgrammar" in runtime.log_path.read_text()
        assert httpx.get(f"{endpoint.base_url}/models", timeout=5).status_code == 200
        process = runtime._process
        assert process is not None
    finally:
        runtime.stop()
    assert process.returncode == -signal.SIGTERM
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{endpoint.base_url}/models", timeout=5)
    runtime.stop()  # again: a no-op


def test_launch_reports_an_early_exit_with_the_log_tail(fake_sglang: Path) -> None:
    settings = SGLangTier(runtime="sglang", model_path="broken", startup_timeout_s=20)
    runtime = SGLangRuntime(settings, "gpu", log_dir=fake_sglang)
    with pytest.raises(ModelError, match="exited with code 7") as caught:
        runtime.start()  # the exit is noticed, not waited out until startup_timeout_s
    assert "CUDA out of memory" in str(caught.value)
    assert str(runtime.log_path) in str(caught.value)
    assert runtime._process is None


def test_launch_without_a_gpu_suggests_llamacpp(
    fake_sglang: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    settings = SGLangTier(runtime="sglang", model_path="org/tiny")
    with pytest.raises(ModelError, match="CUDA GPU") as caught:
        SGLangRuntime(settings, "gpu", log_dir=fake_sglang).start()
    assert "llamacpp" in str(caught.value)


def test_connect_to_a_missing_server_fails_fast_and_names_the_url() -> None:
    base_url = f"http://127.0.0.1:{_closed_port()}/v1"
    settings = SGLangTier(runtime="sglang", base_url=base_url, startup_timeout_s=1.0)
    with pytest.raises(ModelError) as caught:
        SGLangRuntime(settings, "gpu").start()
    message = str(caught.value)
    assert base_url.removesuffix("/v1") in message
    assert "/health" in message
    assert "model_path" in message


def test_terminate_stops_the_whole_process_group() -> None:
    process = subprocess.Popen(
        ["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    child = int(process.stdout.readline())
    _terminate(process, grace_s=5.0)
    assert process.returncode == -signal.SIGTERM  # it went on TERM, within the grace
    assert _gone(child)
    process.stdout.close()
    _terminate(process, grace_s=5.0)  # again: a no-op


def test_terminate_kills_what_ignores_sigterm() -> None:
    process = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; echo ready; sleep 60"],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"
    _terminate(process, grace_s=0.5)
    assert process.returncode == -signal.SIGKILL  # TERM was ignored, so the grace ran out
    process.stdout.close()


@pytest.fixture(scope="module")
def llamacpp_endpoint() -> Iterator[Endpoint]:
    """The embedded llama.cpp server (the default small model, pulled once into the cache)."""
    runtime = LlamaCppRuntime(LlamaCppTier(runtime="llamacpp"), "small")
    endpoint = runtime.start()
    yield endpoint
    runtime.stop()


@pytest.mark.slow
def test_connect_to_an_openai_compatible_server(llamacpp_endpoint: Endpoint) -> None:
    assert llamacpp_endpoint.base_url is not None
    root = llamacpp_endpoint.base_url.removesuffix("/v1")
    settings = SGLangTier(runtime="sglang", base_url=root, startup_timeout_s=10, max_tokens=48)
    runtime = SGLangRuntime(settings, "gpu")
    endpoint = runtime.start()
    served = httpx.get(f"{root}/v1/models", timeout=5).json()["data"][0]["id"]
    assert endpoint == Endpoint(
        model=f"openai/{served}", base_url=f"{root}/v1", api_key=LOCAL_API_KEY,
        supports_logprobs=True, display_name=served,
    )  # fmt: skip
    replies = make_lm(endpoint, settings)("Say hi")
    assert isinstance(replies, list)
    assert replies
    assert all(isinstance(reply, str) for reply in replies)
    assert replies[0].strip()
    runtime.stop()


@pytest.mark.slow
def test_json_schema_output_through_the_endpoint(llamacpp_endpoint: Endpoint) -> None:
    assert llamacpp_endpoint.base_url is not None
    settings = SGLangTier(
        runtime="sglang", base_url=llamacpp_endpoint.base_url, served_model_name="small"
    )
    endpoint = SGLangRuntime(settings, "gpu").start()
    assert endpoint.model == "openai/small"
    schema = {
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": ["ORDER", "REFUND", "UNKNOWN"]},
            "order_id": {"type": ["string", "null"]},
        },
        "required": ["category", "order_id"],
        "additionalProperties": False,
    }
    response = httpx.post(
        f"{endpoint.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {endpoint.api_key}"},
        json={
            "model": "small",
            "messages": [{"role": "user", "content": "Classify: cancel my order 3707955617"}],
            "max_tokens": 64,
            "temperature": 0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "triage", "schema": schema, "strict": True},
            },
        },
        timeout=60,
    )
    response.raise_for_status()
    data = json.loads(response.json()["choices"][0]["message"]["content"])
    jsonschema.validate(data, schema)
