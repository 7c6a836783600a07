"""`stepladder models bench TIER`: a tier's throughput, measured once, in the price table."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.config import load_project
from stepladder.config.price_table import PRICE_TABLE_FILE, read_price_table
from stepladder.errors import ConfigError
from stepladder.runtimes import ModelPool
from stepladder.runtimes.prices import MachinePricer
from tests.conftest import write_project

runner = CliRunner()


@pytest.fixture
def timed_server() -> Iterator[int]:
    """A chat server that counts a prompt's words as tokens and writes `max_tokens` tokens,
    taking 2 ms per prompt token and 10 ms per completion token: slow enough that what the
    bench measures (hundreds of ms more for the long rounds) stands far above the scheduling
    noise of a loaded machine."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["content-length"])))
            prompt = sum(len(m["content"].split()) for m in request["messages"])
            completion = int(request["max_tokens"])
            time.sleep(prompt * 0.002 + completion * 0.01)
            body = json.dumps({
                "id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "finish_reason": "length",
                             "message": {"role": "assistant", "content": "1 2 3"}}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
            }).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


def served_project(root: Path, port: int) -> Path:
    return write_project(
        root,
        {},
        "name: bench\ntiers:\n"
        f'  local: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{port}/v1", '
        "model: m, cost: {usd_per_hour: 3.6}}\n"
        "  api: {runtime: litellm, model: openai/gpt-4.1-mini, api_key_env: SOME_API_KEY}\n",
    )


def test_bench_writes_the_tier_throughput_and_runs_are_priced_from_it(
    tmp_path: Path, timed_server: int
) -> None:
    root = served_project(tmp_path / "p", timed_server)
    result = runner.invoke(
        app,
        ["--project", str(root), "models", "bench", "local", "--requests", "2",
         "--concurrency", "2", "--prompt-words", "100", "--completion-tokens", "50"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = (root / PRICE_TABLE_FILE).read_text()
    assert text.startswith("# The price table") and "per million completion tokens" in text
    entry = read_price_table(root).self_hosted["local"]
    assert (entry.model, entry.runtime, entry.usd_per_hour) == ("m", "openai-compatible", 3.6)
    assert entry.concurrency == 2 and entry.machine.startswith("the server at http://127.0.0.1")
    assert entry.prompt_tokens_per_second > 0 and entry.completion_tokens_per_second > 0
    # a run of the project prices the tier's calls from the table
    pool = ModelPool.for_project(load_project(root=root))
    bound = pool._start("local")
    assert isinstance(bound.pricer, MachinePricer)
    assert bound.pricer.throughput.completion_tokens_per_second == (
        entry.completion_tokens_per_second
    )
    cost = bound.pricer.price(1000, 100, 0, 0.0, 0.0)
    expected = (
        1000 / entry.prompt_tokens_per_second + 100 / entry.completion_tokens_per_second
    ) * 0.001
    assert cost.usd == pytest.approx(expected) and cost.basis == "machine-tokens"
    # a second bench of another tier keeps this entry
    assert "local" in read_price_table(root).self_hosted


def test_bench_refuses_api_tiers_and_unknown_tiers(tmp_path: Path, timed_server: int) -> None:
    root = served_project(tmp_path / "p", timed_server)
    api = runner.invoke(app, ["--project", str(root), "models", "bench", "api"])
    assert api.exit_code != 0 and "API tier" in api.output
    missing = runner.invoke(app, ["--project", str(root), "models", "bench", "nope"])
    assert missing.exit_code != 0 and "no tier 'nope'" in missing.output
    assert not (root / PRICE_TABLE_FILE).exists()


def test_a_broken_price_table_is_a_clear_error(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {PRICE_TABLE_FILE: "self_hosted:\n  small: {model: 3}\n"})
    with pytest.raises(ConfigError, match=r"prices.yaml: not a price table \(self_hosted.small"):
        ModelPool.for_project(load_project(root=root))


@pytest.mark.slow
def test_bench_measures_the_real_embedded_server(tmp_path: Path) -> None:
    init = runner.invoke(app, ["init", str(tmp_path / "demo")])
    assert init.exit_code == 0, init.output
    root = tmp_path / "demo"
    result = runner.invoke(
        app,
        ["--project", str(root), "models", "bench", "small", "--requests", "2",
         "--prompt-words", "150", "--completion-tokens", "32"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = read_price_table(root).self_hosted["small"]
    assert (entry.model, entry.runtime, entry.usd_per_hour) == ("smollm2-135m", "llamacpp", 0.1)
    assert entry.concurrency == 2  # the tier's parallel slots
    assert entry.prompt_tokens_per_second > 0 and entry.completion_tokens_per_second > 0
    assert "CPU cores" in entry.machine
