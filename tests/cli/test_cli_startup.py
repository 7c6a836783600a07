"""`stepladder --help` stays fast: importing the CLI loads none of the heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import stepladder
import stepladder.retrieval

ROOT = Path(__file__).resolve().parents[2]

HEAVY = (
    "chromadb",
    "dspy",
    "fastapi",
    "langchain_core",
    "langgraph",
    "litellm",
    "matplotlib",
    "numpy",
    "opentelemetry.exporter",
    "opentelemetry.sdk",
    "scipy",
    "sklearn",
    "torch",
    "stepladder.flows",
    "stepladder.serve",
    "stepladder.studio",
)

PROBE = """
import json, sys
import stepladder.cli
from stepladder.cli.app import app
from typer.main import get_command
commands = sorted(get_command(app).commands)  # every command's signature, as --help builds it
loaded = sorted(name for name in sys.modules if name.startswith(tuple(json.loads(sys.argv[1]))))
print(json.dumps({"loaded": loaded, "commands": commands}))
"""


def probe() -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, list[str]] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_importing_the_cli_loads_no_heavy_module() -> None:
    result = probe()
    assert result["loaded"] == []
    assert {"run", "eval", "serve", "studio", "traces", "router", "optimize"} <= set(
        result["commands"]
    )


def test_the_packages_lazy_names_still_resolve() -> None:
    from stepladder.flows import FlowBuilder, run_flow
    from stepladder.retrieval.store import Store

    assert stepladder.FlowBuilder is FlowBuilder
    assert stepladder.run_flow is run_flow
    assert stepladder.retrieval.Store is Store
    assert {"FlowBuilder", "END", "UserError"} <= set(dir(stepladder))
    assert set(stepladder.__all__) <= set(dir(stepladder))
    assert set(stepladder.retrieval.__all__) <= set(dir(stepladder.retrieval))


def test_an_unknown_name_is_an_attribute_error() -> None:
    for module in (stepladder, stepladder.retrieval):
        with pytest.raises(AttributeError, match="no_such_name"):
            getattr(module, "no_such_name")  # noqa: B009
