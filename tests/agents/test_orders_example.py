"""The example order agent: its SQLite database, its tools, and its flow (DummyLM)."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from stepladder import compile_flow, load_flow
from stepladder.config import load_project
from stepladder.flows import run_flow
from stepladder.tools import run_tool, tool_from_function
from tests.escalation.helpers import dummy, pool

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(path: Path) -> ModuleType:
    """A module of the example project, imported from its file."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load(EXAMPLES / "scripts" / "make_orders_db.py")


@pytest.fixture
def db(tmp_path: Path, script: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Path:
    path: Path = script.build(tmp_path / "orders.sqlite")
    monkeypatch.setenv("ORDERS_DB", str(path))
    return path


@pytest.fixture(scope="module")
def tools() -> ModuleType:
    return load(EXAMPLES / "flows" / "order_tools.py")


def test_the_script_builds_the_same_database_every_time(script: ModuleType, tmp_path: Path) -> None:
    first = script.build(tmp_path / "a.sqlite")
    second = script.build(tmp_path / "b.sqlite")
    with sqlite3.connect(first) as a, sqlite3.connect(second) as b:
        tables = [r[0] for r in a.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert tables == ["customers", "orders", "order_items", "policies"]
        counts = {t: a.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
        assert counts["customers"] == 40 and counts["orders"] == 200
        assert counts["order_items"] >= 200 and counts["policies"] == 2
        assert list(a.iterdump()) == list(b.iterdump())
        orphans = a.execute(
            "SELECT COUNT(*) FROM orders WHERE customer_id NOT IN (SELECT id FROM customers)"
        ).fetchone()[0]
        assert orphans == 0


def test_the_tools_read_the_database(db: Path, tools: ModuleType) -> None:
    order = tools.lookup_order(10001)
    assert order["status"] == "delivered" and order["customer"] == "Katherine Turing"
    assert order["items"][0] == "1 x Yoga mat at 29.95"
    assert order["total"] == "135.44", "money keeps two decimals, as the facts asked about"
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM orders WHERE customer_id = 519").fetchone()
    listed = tools.list_customer_orders(519)
    assert listed["order_count"] == count == len(listed["orders"])
    with sqlite3.connect(db) as conn:
        totals = [t for (t,) in conn.execute("SELECT total FROM orders WHERE customer_id = 519")]
    assert sorted(o["total"] for o in listed["orders"]) == sorted(f"{t:.2f}" for t in totals)


async def test_unknown_numbers_and_bad_arguments_are_observations(
    db: Path, tools: ModuleType
) -> None:
    lookup = tool_from_function(tools.lookup_order)
    assert lookup.parameters["properties"]["order_id"]["type"] == "integer"
    missing = await run_tool(lookup, {"order_id": 99})
    assert missing.observation == "error: lookup_order raised LookupError: there is no order 99"
    wrong = await run_tool(lookup, {"order_id": "{order_id}"})
    assert wrong.status == "invalid_arguments"


def test_a_missing_database_says_how_to_build_it(
    tools: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_DB", str(tmp_path / "none.sqlite"))
    with pytest.raises(FileNotFoundError, match=r"make_orders_db\.py"):
        tools.lookup_order(10001)


def agent_of_example(db: Path | None = None) -> Any:
    """The example flow's agent node alone (the classifier needs training; not here).

    With `db`, the shop's MCP server reads that database (a server gets only the variables
    its `env` names).
    """
    project = load_project(root=EXAMPLES)
    spec = load_flow(project.flow_path("order_support"))
    node = next(n for n in spec.nodes if n.id == "agent").model_copy(update={"escalate": None})
    keys = {"message", *node.writes}
    state = {k: v for k, v in spec.state.items() if k in keys}
    alone = spec.model_copy(update={"nodes": [node], "edges": None, "state": state})
    servers = dict(project.settings.mcp_servers)
    if db is not None:
        servers["shop"] = servers["shop"].model_copy(update={"env": {"ORDERS_DB": str(db)}})
    return compile_flow(alone, project_root=project.root, tiers={"small"}, mcp_servers=servers)


async def test_the_example_agent_answers_from_the_database(db: Path) -> None:
    lm = dummy(
        {"tool": "lookup_order"}, {"arguments": {"order_id": 10002}},
        {"tool": "finish"}, {"answer": "Order 10002 is processing."},
    )  # fmt: skip
    result = await run_flow(
        agent_of_example(), {"message": "Where is order 10002?"}, models=pool(small=lm)
    )
    (step,) = result.state["steps"]
    assert step["status"] == "ok" and '"status": "processing"' in step["observation"]
    assert result.state["outcome"] == "finished"
    first = str(lm.history[0]["messages"])  # the worked tasks come before the question
    assert "Has order 10001 been delivered yet?" in first
    assert "- lookup_order(order_id: integer)" in first
    # the shop server's tool, rendered like a Python tool with the same description
    assert "- refund_policy(): Read the shop" in first
    assert "shop_policy" not in first  # three tools: only the server's tool the agent includes


async def test_the_example_agent_reads_the_refund_policy_from_the_shops_mcp_server(
    db: Path,
) -> None:
    lm = dummy(
        {"tool": "refund_policy"}, {"arguments": {}},
        {"tool": "finish"}, {"answer": "Shipping costs are not refunded."},
    )  # fmt: skip
    question = {"message": "Do you refund the shipping cost?"}
    result = await run_flow(agent_of_example(db), question, models=pool(small=lm))
    (step,) = result.state["steps"]
    assert step["status"] == "ok" and step["tool"] == "refund_policy"
    with sqlite3.connect(db) as conn:
        (policy,) = conn.execute("SELECT text FROM policies WHERE name = 'refund'").fetchone()
    assert step["observation"] == policy
