"""`stepladder validate` checks every flow and reports every bad one, not only the first."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from stepladder.cli import app
from tests.conftest import write_project

STEPS = "def up(text: str) -> str:\n    return text.upper()\n"
GOOD = """
name: {name}
state:
  text: {{type: str, input: true}}
nodes:
  - {{id: up, kind: function, call: "flows.vsteps:up", reads: [text], writes: [text]}}
"""


def project(tmp_path: Path) -> Path:
    return write_project(
        tmp_path,
        {
            "flows/vsteps.py": STEPS,
            "flows/a_good.yaml": GOOD.format(name="a_good"),
            "flows/b_bad.yaml": GOOD.format(name="b_bad").replace("reads: [text]", "reads: [txt]"),
            "flows/c_good.yaml": GOOD.format(name="c_good"),
            "flows/d_bad.yaml": GOOD.format(name="d_bad").replace("kind: function", "kind: fn"),
        },
    )


def test_every_bad_flow_is_reported_and_good_ones_still_checked(tmp_path: Path) -> None:
    root = project(tmp_path)
    result = CliRunner().invoke(app, ["--project", str(root), "validate"])
    assert result.exit_code == 2, result.output
    assert "ok a_good" in result.stdout and "ok c_good" in result.stdout
    assert "2 of 4 flows are invalid" in result.stderr
    assert "b_bad.yaml" in result.stderr and "unknown state key 'txt'" in result.stderr
    assert "d_bad.yaml" in result.stderr and "unknown kind 'fn'" in result.stderr
    assert "Traceback" not in result.output


def test_one_bad_flow_named_gives_its_own_message(tmp_path: Path) -> None:
    root = project(tmp_path)
    result = CliRunner().invoke(app, ["--project", str(root), "validate", "b_bad"])
    assert result.exit_code == 2
    assert "flows are invalid" not in result.stderr
    assert "unknown state key 'txt'" in result.stderr
