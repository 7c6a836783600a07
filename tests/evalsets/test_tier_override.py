"""`eval --tier`: every model node runs on one tier, and the run records which."""

import json
from pathlib import Path

import pytest

from stepladder.errors import ConfigError
from stepladder.testing import arun_eval
from tests.conftest import write_project
from tests.fake_chat import chat_server


def two_tier_project(root: Path, small_port: int, big_port: int) -> Path:
    """A one-node generate flow on `small`; a `big` tier besides; 3 cases expecting 'ok'."""
    cases = [{"id": f"c{i}", "inputs": {"message": f"m {i}"}, "expected": {"reply": "ok"}}
             for i in range(3)]  # fmt: skip
    write_project(
        root,
        {
            "flows/reply.yaml": "name: reply\nstate:\n  message: {type: str, input: true}\n"
            "  reply: str\nnodes:\n  - {id: reply, kind: generate, tier: small, "
            "reads: [message], output: reply, retries: 0}\n",
            "evalsets/reply.yaml": "name: reply\nflow: reply\ncases: reply.jsonl\n"
            "metrics:\n  reply: exact\n",
            "evalsets/reply.jsonl": "".join(json.dumps(c) + "\n" for c in cases),
        },
        "name: tiers\ntiers:\n"
        f'  small: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{small_port}/v1", '
        "model: s}\n"
        f'  big: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{big_port}/v1", '
        "model: b}\n",
    )
    return root / "evalsets/reply.yaml"


async def test_every_model_node_runs_on_the_tier_asked(tmp_path: Path) -> None:
    with chat_server('{"reply": "small"}') as small, chat_server('{"reply": "ok"}') as big:
        spec = two_tier_project(tmp_path, small[0], big[0])
        own = await arun_eval(spec)
        on_big = await arun_eval(spec, tier="big")
        assert len(small[1]) == 3 and len(big[1]) == 3
    assert own.metric("reply").mean == 0.0 and own.record.manifest.tier is None
    assert on_big.metric("reply").mean == 1.0
    assert on_big.record.manifest.tier == "big" and on_big.summary.tier == "big"


async def test_an_unknown_tier_names_the_tiers(tmp_path: Path) -> None:
    spec = two_tier_project(tmp_path, 9, 9)
    with pytest.raises(ConfigError, match=r"tier 'huge'.*big, small"):
        await arun_eval(spec, tier="huge")
