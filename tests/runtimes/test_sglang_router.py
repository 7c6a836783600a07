"""An SGLang tier in connect mode whose `base_url` is `sglang-router` in front of two workers:
the tier starts against the router, and every call goes through it to the workers in turn."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import stepladder
from stepladder.config.tiers import SGLangTier
from stepladder.errors import ModelError
from stepladder.runtimes.base import LOCAL_API_KEY
from stepladder.runtimes.sglang import SGLangRuntime
from tests.conftest import write_project
from tests.runtimes.fake_router import (
    FAKE_LAUNCH_ROUTER,
    FAKE_LAUNCH_SERVER,
    MODEL,
    ROUTED,
    Router,
    router_with_workers,
)

ROOT = Path(__file__).resolve().parents[2]

ASK = """
name: ask
state:
  message: {type: str, input: true}
  reply: str
nodes:
  - {id: reply, kind: generate, tier: gpu, reads: [message], output: reply, retries: 0}
"""


@pytest.fixture
def router() -> Iterator[Router]:
    with router_with_workers(2) as running:
        yield running


def test_a_connected_tier_starts_against_the_router_and_reads_the_workers_model(
    router: Router,
) -> None:
    settings = SGLangTier(runtime="sglang", base_url=f"{router.url}/v1", startup_timeout_s=10)
    endpoint = SGLangRuntime(settings, "gpu").start()
    assert endpoint.base_url == f"{router.url}/v1"
    assert endpoint.model == f"openai/{MODEL}" and endpoint.api_key == LOCAL_API_KEY
    assert ("/v1/models", "w1") in router.forwarded  # the model list came through the router


def test_every_call_of_a_flow_goes_through_the_router_to_both_workers(
    router: Router, tmp_path: Path
) -> None:
    settings = (
        f'name: routed\ntiers:\n  gpu: {{runtime: sglang, base_url: "{router.url}", '
        "startup_timeout_s: 10}\nladder: [gpu]\n"
    )
    root = write_project(tmp_path / "routed", {"flows/ask.yaml": ASK}, settings)
    with stepladder.open_project(root) as project:
        replies = [project.run("ask", {"message": f"question {i}"}).state["reply"]
                   for i in range(4)]  # fmt: skip
    assert Counter(replies) == {"from w1": 2, "from w2": 2}
    calls = [worker for path, worker in router.forwarded if path == "/v1/chat/completions"]
    assert Counter(calls) == {"w1": 2, "w2": 2}
    for worker in router.workers:
        posts = [headers for path, headers in worker.seen if path == "/v1/chat/completions"]
        assert len(posts) == 2
        assert all(headers.get(ROUTED) == "fake-sglang-router" for headers in posts)


def test_a_router_that_is_down_names_its_url(tmp_path: Path) -> None:
    with router_with_workers(2) as stopped:
        url = stopped.url
    settings = SGLangTier(runtime="sglang", base_url=url, startup_timeout_s=1)
    with pytest.raises(ModelError, match=f"no SGLang server answered at {url}"):
        SGLangRuntime(settings, "gpu").start()


@pytest.fixture
def fake_gpu_host(tmp_path: Path) -> dict[str, str]:
    """The environment of a GPU host with `sglang` and `sglang-router` (both stand-ins)."""
    packages = tmp_path / "fake"
    for module, text in (("sglang/launch_server.py", FAKE_LAUNCH_SERVER),
                         ("sglang_router/launch_router.py", FAKE_LAUNCH_ROUTER)):  # fmt: skip
        path = packages / module
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").write_text("")
        path.write_text(text)
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text("#!/bin/sh\n")
    smi.chmod(0o755)
    return {
        **os.environ,
        "PYTHON": sys.executable,
        "PATH": f"{smi.parent}:{os.environ['PATH']}",
        "PYTHONPATH": f"{packages}:{ROOT}",
        "WHEELS": str(tmp_path / "no-wheels"),
    }


@pytest.mark.slow
def test_gpu_check_router_case_calls_two_workers_through_the_router(
    fake_gpu_host: dict[str, str], tmp_path: Path
) -> None:
    command = ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "org/tiny", "--router", "2",
               "--calls", "6", "--log-dir", str(tmp_path / "logs")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=fake_gpu_host, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sglang_router.launch_router --worker-urls http://127.0.0.1:" in done.stdout
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["router"] == 2 and result["errors"] == 0 and result["calls"] == 6
    per_worker = result["per_worker"]
    assert len(per_worker) == 2 and min(per_worker) > 0
    assert sum(per_worker) == 7  # the six calls and the warm-up, all through the router
    routers = list((tmp_path / "logs").glob("sglang-router-*.log"))
    assert len(routers) == 1 and "fake sglang-router round_robin" in routers[0].read_text()


def test_gpu_check_router_case_without_sglang_router_says_what_to_carry(
    fake_gpu_host: dict[str, str], tmp_path: Path
) -> None:
    fake = Path(fake_gpu_host["PYTHONPATH"].split(":")[0])
    shutil.rmtree(fake / "sglang_router")
    command = ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "org/tiny", "--router", "2"]
    done = subprocess.run(command, capture_output=True, text=True, env=fake_gpu_host, timeout=120)
    assert done.returncode == 3
    assert "sglang-router is missing" in done.stderr
    assert "pip download -d" in done.stderr and "sglang-router" in done.stderr
