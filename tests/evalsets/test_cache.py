"""Model-response caching in evals: off by default, and reported when it answered."""

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from stepladder.evalsets.report import render_summary
from stepladder.testing import arun_eval
from tests.conftest import write_project
from tests.fake_chat import chat_server


@pytest.fixture
def server() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """A chat server answering `{"reply": "ok"}`; it keeps the requests it got."""
    with chat_server('{"reply": "ok"}') as served:
        yield served


def reply_project(root: Path, port: int) -> Path:
    """A one-node generate flow on a tier served by the fake server; 3 unique cases."""
    token = uuid.uuid4().hex  # unique prompts: no answer is in DSPy's cache from before
    cases = [{"id": f"c{i}", "inputs": {"message": f"{token} {i}"}, "expected": {"reply": "ok"}}
             for i in range(3)]  # fmt: skip
    write_project(
        root,
        {
            "flows/reply.yaml": "name: reply\nstate:\n  message: {type: str, input: true}\n"
            "  reply: str\nnodes:\n  - {id: reply, kind: generate, reads: [message], "
            "output: reply, retries: 0}\n",
            "evalsets/reply.yaml": "name: reply\nflow: reply\ncases: reply.jsonl\n"
            "metrics:\n  reply: exact\n",
            "evalsets/reply.jsonl": "".join(json.dumps(c) + "\n" for c in cases),
        },
        "name: cache\ntiers:\n  small: {runtime: openai-compatible, "
        f'base_url: "http://127.0.0.1:{port}/v1", model: m}}\n',
    )
    return root / "evalsets/reply.yaml"


async def test_caching_is_off_unless_asked_and_reported_when_used(
    tmp_path: Path, server: tuple[int, list[dict[str, Any]]]
) -> None:
    port, requests = server
    spec = reply_project(tmp_path, port)
    plain = [await arun_eval(spec) for _ in range(2)]
    assert len(requests) == 6  # no cache by default: every case asked the server each time
    assert not any(r.summary.used_cache or r.record.manifest.cache for r in plain)
    first = await arun_eval(spec, cache=True)
    second = await arun_eval(spec, cache=True)
    assert len(requests) == 9  # the cached run asked nothing
    assert first.record.manifest.cache and first.summary.cached_cases == 0
    assert second.summary.used_cache and second.summary.cached_cases == 3
    assert all(r.cached_calls == 1 and r.cost_usd == 0 for r in second.record.results)
    assert second.metric("reply").mean == 1.0
    console = Console(record=True, width=120)
    render_summary(second.summary, console)
    assert "cache" in console.export_text().lower()
