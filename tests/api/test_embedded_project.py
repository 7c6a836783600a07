"""The example project's `support` flow through `stepladder.open_project`, on the real embedded
model: a run stopped after its first node continues on its thread, both runs are in the trace
store, an eval runs on the same open project, and its model server stops when the block ends."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import pytest

import stepladder
from stepladder.tracing.store import load_traces
from tests.test_examples import EXAMPLES, example_classifier

pytestmark = pytest.mark.slow


class Stop(Exception):
    """Raised from an update handler to stop a run between two nodes."""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example project (flows, eval sets, the trained classifier), no data."""
    example_classifier()
    copy = tmp_path_factory.mktemp("examples") / "support-desk"
    ignored = shutil.ignore_patterns("data", "router_data", ".stepladder")
    shutil.copytree(EXAMPLES, copy, ignore=ignored)
    classifiers = Path(".stepladder", "classifiers")
    shutil.copytree(EXAMPLES / classifiers, copy / classifiers)
    return copy


def stop_after_classify(node: str, update: dict[str, object]) -> None:
    if node == "classify":
        raise Stop


def test_a_stopped_run_continues_on_its_thread_and_both_are_traced(root: Path) -> None:
    message = json.loads((root / "inputs" / "invoice.json").read_text())
    with stepladder.open_project(root) as project:
        with pytest.raises(Stop):
            project.run("support", message, thread="t1", on_update=stop_after_classify)
        assert project.models is not None
        server = asyncio.run(project.models.bound("small")).endpoint.base_url
        assert server is not None
        result = project.run("support", thread="t1")
        assert asyncio.run(project.models.bound("small")).endpoint.base_url == server  # kept
        evaluated = project.eval("support_category", split="dev", limit=2)
    assert result.thread_id == "t1" and result.resumed_at == ("extract",)
    assert result.status == "finished"
    assert result.state["message"] == message["message"]
    assert result.state["category"] == "INVOICE"  # from the first run's classify node
    assert isinstance(result.state["reply"], str)
    assert result.usage["calls"] >= 2  # extract and reply, on the small model
    traces = {s.trace_id: s for s in load_traces(project.trace_folder).summaries()}
    assert result.trace_id in traces and traces[result.trace_id].flow == "support"
    assert len([s for s in traces.values() if s.flow == "support"]) == 2 + 2  # runs + cases
    assert len(evaluated.results) == 2 and not evaluated.failed
    assert evaluated.report.is_file()
    with pytest.raises(httpx.ConnectError):  # the block's end stopped the model server
        httpx.get(f"{server}/models", timeout=5)
