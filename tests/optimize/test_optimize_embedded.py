"""`stepladder optimize` on the real embedded model (a few Bitext messages, bootstrap)."""

import json
from pathlib import Path

from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.prompts import load_compiled
from tests.conftest import write_project
from tests.optimize.test_optimize import FLOW

MESSAGES = [
    ("I want my money back for order 1234", "REFUND"),
    ("where is my order 5678", "ORDER"),
    ("please refund the shoes I returned", "REFUND"),
    ("I need to change the items in my order", "ORDER"),
    ("how long does a refund take", "REFUND"),
    ("cancel order 4321", "ORDER"),
    ("refund my last purchase", "REFUND"),
    ("track my order", "ORDER"),
]


def test_bootstrap_on_the_embedded_model_saves_prompts_the_flow_loads(tmp_path: Path) -> None:
    splits = ["train"] * 4 + ["dev"] * 2 + ["test"] * 2
    rows = zip(MESSAGES, splits, strict=True)
    cases = [{"id": f"c{i}", "inputs": {"message": text}, "expected": {"category": label},
              "split": split} for i, ((text, label), split) in enumerate(rows)]  # fmt: skip
    write_project(
        tmp_path,
        {
            "flows/triage.yaml": FLOW,
            "evalsets/triage.yaml": "name: triage\nflow: triage\ncases: triage.jsonl\n"
            "concurrency: 2\nmetrics:\n  category: label\n",
            "evalsets/triage.jsonl": "".join(json.dumps(c) + "\n" for c in cases),
        },
        "name: opt\ntiers:\n  small: {runtime: llamacpp, threads: 2, max_tokens: 64}\n",
    )
    result = CliRunner().invoke(
        app,
        ["optimize", str(tmp_path / "evalsets/triage.yaml"), "--max-demos", "2",
         "--max-labeled", "2", "--candidates", "0", "--keep-worse", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert 0.0 <= report["validation_before"] <= 1.0
    assert 0.0 <= report["validation_after"] <= 1.0
    assert report["spent"]["calls"] >= 4 + 2  # validation twice, at least one bootstrap run
    assert report["spent"]["cost_usd"] > 0  # a self-hosted call is priced by machine time
    assert report["comparison"]["paired"] == 2
    compiled = load_compiled(tmp_path / "prompts/compiled/triage.json")
    demos = compiled.nodes["classify"].state["demos"]
    assert 1 <= len(demos) <= 2
    assert {d["message"] for d in demos} <= {text for text, _ in MESSAGES[:4]}
    assert compiled.models == {"small": "smollm2-135m"}
