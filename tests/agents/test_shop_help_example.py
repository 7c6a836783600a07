"""The example `shop_help` flow: an agent with a Python tool and the shop's MCP server
(`examples/mcp/shop_server.py`, declared in the example's stepladder.yaml), on DummyLM."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepladder import compile_flow, load_flow
from stepladder.config import load_project
from stepladder.flows import run_flow
from tests.agents.test_orders_example import EXAMPLES, load
from tests.escalation.helpers import dummy, pool


@pytest.fixture
def db(tmp_path: Path) -> Path:
    built: Path = load(EXAMPLES / "scripts" / "make_orders_db.py").build(tmp_path / "o.sqlite")
    return built


async def test_the_agent_reads_a_policy_from_the_shops_mcp_server(db: Path) -> None:
    project = load_project(root=EXAMPLES)
    shop = project.settings.mcp_servers["shop"]
    assert shop.command == ["python", "mcp/shop_server.py"]
    servers = {"shop": shop.model_copy(update={"env": {"ORDERS_DB": str(db)}})}
    spec = load_flow(project.flow_path("shop_help"))
    node = spec.nodes[0].model_copy(update={"escalate": None})
    flow = compile_flow(spec.model_copy(update={"nodes": [node]}), project_root=project.root,
                        tiers={"small"}, mcp_servers=servers)  # fmt: skip
    lm = dummy(
        {"tool": "shop_policy"}, {"arguments": {"topic": "refund"}},
        {"tool": "finish"}, {"answer": "Within 30 days of delivery."},
    )  # fmt: skip
    result = await run_flow(flow, {"message": "How long can I return things?"},
                            models=pool(small=lm))  # fmt: skip
    (step,) = result.state["steps"]
    assert step["status"] == "ok"
    assert "returned within 30 days of delivery" in step["observation"]
    first = str(lm.history[0]["messages"])
    assert "How long does express delivery take?" in first  # the demo, checked at run start
    assert "- shop_policy(topic: " in first and "- lookup_order(order_id: integer)" in first
