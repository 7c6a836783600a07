import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from stepladder.cli import app

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    result = runner.invoke(app, ["init", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    return tmp_path / "demo"


def test_init_scaffolds_the_project_folders(project: Path) -> None:
    for name in ("stepladder.yaml", "flows/hello.yaml", "prompts", "evalsets", ".gitignore"):
        assert (project / name).exists(), name
    assert "name: demo" in (project / "stepladder.yaml").read_text()
    again = runner.invoke(app, ["init", str(project)])
    assert again.exit_code == 2
    assert "already exists" in again.output


def test_scaffolded_flow_runs_from_a_real_process(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stepladder", "run", "hello", "--input", "@inputs/hello.json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["word_count"] == 14
    assert state["summary"] == "14 words; the longest is 'frontier'."


def test_stream_prints_each_update(project: Path) -> None:
    result = runner.invoke(
        app, ["--project", str(project), "run", "hello", "--input", '{"text": "a bb"}', "--stream"]
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e.get("node") for e in events] == ["split", "count", "summarize", None]
    assert events[1]["update"] == {"word_count": 2}
    assert events[-1]["event"] == "final"
    assert events[-1]["state"]["summary"] == "2 words; the longest is 'bb'."


def test_validate_and_graph(project: Path) -> None:
    result = runner.invoke(app, ["--project", str(project), "validate"])
    assert result.exit_code == 0
    assert "ok hello: 3 nodes, 4 edges" in result.stdout
    assert "ok sentiment: 1 node, 2 edges" in result.stdout
    result = runner.invoke(app, ["--project", str(project), "graph", "hello"])
    assert result.exit_code == 0
    assert "split --> count;" in result.stdout


def test_bad_input_is_a_clear_error(project: Path) -> None:
    result = runner.invoke(app, ["--project", str(project), "run", "hello", "--input", "{nope"])
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr
    result = runner.invoke(
        app, ["--project", str(project), "run", "hello", "--input", '{"txt": 1}']
    )
    assert result.exit_code == 2
    assert "input.txt: not an input of this flow; inputs are: text" in result.stderr


def test_schema_validates_flow_files(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "flow.schema.json"
    result = runner.invoke(app, ["schema", "-o", str(out)])
    assert result.exit_code == 0
    schema = json.loads(out.read_text())
    flow = yaml.safe_load((project / "flows" / "hello.yaml").read_text())
    jsonschema.validate(flow, schema)
    flow["nodes"][0]["kind"] = "functon"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(flow, schema)
    settings = runner.invoke(app, ["schema", "--kind", "settings"])
    assert "allow_imports" in json.loads(settings.stdout)["properties"]


@pytest.mark.slow
def test_scaffolded_llm_flow_runs_on_the_embedded_model(project: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stepladder",
            "run",
            "sentiment",
            "--input",
            "@inputs/sentiment.json",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["sentiment"] in {"positive", "negative", "neutral"}
    assert 0 < state["confidence"] <= 1
