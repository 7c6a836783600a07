"""The service's parts in-process: metrics text, the span processor, the CLI's start-up errors."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.config import load_project
from stepladder.serve import Service, create_app, listen, load_flows
from stepladder.serve.metrics import Metrics, ModelCallMetrics
from stepladder.tracing import Tracing
from stepladder.tracing.spans import model_span
from tests.conftest import write_project
from tests.serve.helpers import metric
from tests.serve.projects import GREET, STEPS

runner = CliRunner()


def test_metrics_text_escapes_labels_and_accumulates_buckets() -> None:
    metrics = Metrics()
    metrics.add("stepladder_runs_total", {"flow": 'a"b\\c\nd', "status": "finished"})
    for seconds in (0.003, 0.2, 500.0):
        metrics.observe("stepladder_run_duration_seconds", {"flow": "f"}, seconds)
    text = metrics.render()
    assert 'stepladder_runs_total{flow="a\\"b\\\\c\\nd",status="finished"} 1' in text
    assert metric(text, "stepladder_run_duration_seconds_bucket", flow="f", le="0.005") == 1
    assert metric(text, "stepladder_run_duration_seconds_bucket", flow="f", le="0.25") == 2
    assert metric(text, "stepladder_run_duration_seconds_bucket", flow="f", le="120") == 2
    assert metric(text, "stepladder_run_duration_seconds_bucket", flow="f", le="+Inf") == 3
    assert metric(text, "stepladder_run_duration_seconds_sum", flow="f") == 500.203
    assert text.count("# TYPE ") == text.count("# HELP ") == 8


def test_model_call_spans_feed_the_per_tier_metrics() -> None:
    metrics = Metrics()
    provider = TracerProvider()
    provider.add_span_processor(ModelCallMetrics(metrics))
    tracing = Tracing(provider)
    for reason in (None, "invalid"):
        with model_span(
            tracing, flow="f", node_id="n", node_kind="generate", tier="big", model="m",
            attempt=1, inputs={},
        ) as span:  # fmt: skip
            span.set_attributes(
                {
                    "gen_ai.usage.input_tokens": 10,
                    "gen_ai.usage.output_tokens": 4,
                    "stepladder.cost_usd": 0.5,
                }
            )
            if reason:
                span.set_attribute("stepladder.escalation.reason", reason)
    labels = {"flow": "f", "tier": "big"}
    assert metrics.value("stepladder_model_calls_total", **labels) == 2
    assert metrics.value("stepladder_tokens_total", direction="input", **labels) == 20
    assert metrics.value("stepladder_tokens_total", direction="output", **labels) == 8
    assert metrics.value("stepladder_cost_usd_total", **labels) == 1.0
    assert metrics.value("stepladder_escalations_total", **labels) == 1


def test_serve_refuses_a_folder_with_nothing_to_serve(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"flows/broken.yaml": "name: x\nnodes: []\n"})
    result = runner.invoke(app, ["--project", str(project), "serve", "--port", "0"])
    assert result.exit_code == 2
    assert "skipped flow broken:" in result.stderr
    assert "nothing to serve: its flow files do not compile" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["--project", str(project), "serve", "--flows", str(empty)])
    assert result.exit_code == 2
    assert f"nothing to serve: it holds no flow files ({empty.resolve()})" in result.stderr


def test_serve_says_when_the_port_is_taken(tmp_path: Path) -> None:
    files = {"flows/greet.yaml": GREET, "flows/steps.py": STEPS}
    project = write_project(tmp_path / "p", files)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = runner.invoke(app, ["--project", str(project), "serve", "--port", port])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port 0" in result.stderr


def test_serve_refuses_a_max_body_that_is_not_a_size(tmp_path: Path) -> None:
    files = {"flows/greet.yaml": GREET, "flows/steps.py": STEPS}
    project = write_project(tmp_path / "p", files)
    result = runner.invoke(app, ["--project", str(project), "serve", "--max-body", "lots"])
    assert result.exit_code == 2
    assert "--max-body lots: not a size" in result.stderr and "5MB" in result.stderr


def test_the_body_limit_comes_from_the_settings(tmp_path: Path) -> None:
    files = {"flows/greet.yaml": GREET, "flows/steps.py": STEPS}
    root = write_project(tmp_path / "p", files, "name: limits\nserve: {max_body: 2KiB}\n")
    project = load_project(root)
    with TestClient(create_app(Service(project, load_flows(project)))) as client:
        refused = client.post("/flows/greet/runs", json={"name": "x" * 3000})
        assert refused.status_code == 413 and refused.json()["max_body"] == 2048
        assert client.post("/flows/greet/runs", json={"name": "Ada"}).status_code == 200


async def test_connections_are_accepted_with_tcp_nodelay() -> None:
    """Without TCP_NODELAY a kept-alive response waited ~40 ms for a delayed ACK."""
    seen: list[int] = []

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=listen("127.0.0.1", 0))
    async with server:
        host, port = server.sockets[0].getsockname()[:2]
        _, writer = await asyncio.open_connection(host, port)
        for _ in range(600):
            if seen:
                break
            await asyncio.sleep(0.05)
        writer.close()
    assert seen and seen[0] != 0


def test_a_node_refusing_its_input_is_a_422_not_a_500() -> None:
    from stepladder.errors import NodeError, NodeInputError
    from stepladder.serve.errors import failure_of

    refused = failure_of(NodeInputError("search", "the query 'question' is ''"))
    assert (refused.status, refused.error) == (422, "invalid_input")
    assert failure_of(NodeError("search", "boom")).status == 500
