"""Subflows (`kind: flow`): mappings, validation with YAML paths, cycles, nesting, resume."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepladder import FlowCompileError, open_project
from stepladder.cli import app
from stepladder.config import load_project
from stepladder.flows import FlowBuilder, compile_project_flow, run_flow
from tests.conftest import write_project
from tests.tracing.spans_helpers import in_memory

runner = CliRunner()
STEPS = """
import time
from pathlib import Path

HERE = Path(__file__).parent


def log(line: str) -> None:
    with open(HERE / "log.txt", "a") as f:
        f.write(line + "\\n")


def prep(message: str) -> str:
    log("prep")
    return message.strip()


def upper(text: str) -> str:
    log("upper")
    return text.upper()


def bang(upper: str) -> str:
    log("bang-start")
    if (HERE / "kill_me").exists():
        (HERE / "ready").touch()
        time.sleep(120)
    log("bang")
    return upper + "!"


def post(loud: str) -> str:
    log("post")
    return f"said {loud}"
"""
OUTER = """
name: outer
state:
  message: {type: str, input: true}
  clean: str
  loud: str
  done: str
nodes:
  - {id: prep, kind: function, call: "flows.steps:prep", reads: [message], writes: [clean]}
  - id: shout
    kind: flow
    flow: shout
    inputs: {text: clean}
    outputs: {loud: loud}
  - {id: post, kind: function, call: "flows.steps:post", reads: [loud], writes: [done]}
"""
SHOUT = """
name: shout
state:
  text: {type: str, input: true}
  upper: str
  loud: str
nodes:
  - {id: upper, kind: function, call: "flows.steps:upper", reads: [text], writes: [upper]}
  - {id: bang, kind: function, call: "flows.steps:bang", reads: [upper], writes: [loud]}
"""


def project_of(root: Path, **flows: str) -> Path:
    files = {f"flows/{name}.yaml": text for name, text in flows.items()}
    return write_project(root, {**files, "flows/steps.py": STEPS})


def cli(project: Path, *args: str) -> Any:
    return runner.invoke(app, ["--project", str(project), *args])


def log_of(project: Path) -> list[str]:
    return (project / "flows" / "log.txt").read_text().split()


def test_subflow_runs_as_one_step_with_state_mapped_both_ways(tmp_path: Path) -> None:
    project = project_of(tmp_path / "p", outer=OUTER, shout=SHOUT)
    ran = cli(project, "run", "outer", "--input", '{"message": " hi "}')
    assert ran.exit_code == 0, ran.output
    state = json.loads(ran.stdout)
    assert state == {"message": " hi ", "clean": "hi", "loud": "HI!", "done": "said HI!"}
    assert "upper" not in state  # the subflow's own keys stay inside it
    assert log_of(project) == ["prep", "upper", "bang-start", "bang", "post"]


def test_subflow_spans_nest_under_the_node_span(tmp_path: Path) -> None:
    project = project_of(tmp_path / "p", outer=OUTER, shout=SHOUT)
    flow = compile_project_flow(load_project(project), "outer")
    tracing, exporter = in_memory()
    import asyncio

    result = asyncio.run(run_flow(flow, {"message": "yo"}, tracing=tracing))
    assert result.state["done"] == "said YO!"
    spans = {span.name: span for span in exporter.get_finished_spans()}
    shout, upper = spans["node shout"], spans["node upper"]
    assert upper.parent is not None and upper.parent.span_id == shout.context.span_id
    assert spans["node bang"].parent.span_id == shout.context.span_id  # type: ignore[union-attr]
    assert shout.attributes["stepladder.node.kind"] == "flow"
    assert upper.attributes["stepladder.flow.name"] == "shout"


def test_subflow_from_the_python_builder() -> None:
    inner = (
        FlowBuilder("double")
        .state("n", int, input=True)
        .state("twice", int)
        .function("times_two", lambda n: n * 2, reads=["n"], writes=["twice"])
    )
    outer = (
        FlowBuilder("calc")
        .state("x", int, input=True)
        .state("y", int)
        .subflow("double_it", inner, inputs={"n": "x"}, outputs={"y": "twice"})
        .subflow("again", inner, inputs={"n": "y"}, outputs={"y": "twice"})
    )
    flow = outer.compile()
    assert flow.invoke({"x": 5}) == {"x": 5, "y": 20}
    assert set(flow.subflows) == {"double_it", "again"}
    kinds = [(node["kind"], node.get("flow")) for node in outer.build().to_dict()["nodes"]]
    assert kinds == [("flow", "double"), ("flow", "double")]


def test_subflow_that_maps_nothing_out_runs_and_leaves_the_parent_state() -> None:
    ran: list[int] = []

    def note(n: int) -> int:
        ran.append(n)
        return n + 1

    inner = (
        FlowBuilder("side")
        .state("n", int, input=True)
        .state("m", int)
        .function("note", note, reads=["n"], writes=["m"])
    )
    outer = (
        FlowBuilder("calc")
        .state("x", int, input=True)
        .subflow("side_effect", inner, inputs={"n": "x"}, outputs={})
    )
    assert outer.compile().invoke({"x": 3}) == {"x": 3}
    assert ran == [3]


def errors_of(project: Path, flow: str = "outer") -> str:
    with pytest.raises(FlowCompileError) as caught:
        compile_project_flow(load_project(project), flow)
    return str(caught.value)


def test_subflow_that_does_not_exist_names_the_line_and_the_flows(tmp_path: Path) -> None:
    project = project_of(tmp_path / "p", outer=OUTER.replace("flow: shout", "flow: shuot"))
    (project / "flows" / "shout.yaml").write_text(SHOUT)
    message = errors_of(project)
    assert "nodes[1].flow" in message and "line 12" in message
    assert "no flow 'shuot'" in message and "Did you mean 'shout'?" in message
    assert "Flows: outer, shout." in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("inputs: {txt: clean}", ["nodes[1].inputs.txt", "no input 'txt'", "inputs: text"]),
        ("inputs: {text: clen}", ["nodes[1].inputs.text", "unknown state key 'clen'"]),
        ("outputs: {loud: lowd}", ["nodes[1].outputs.loud", "no state key 'lowd'"]),
        ("outputs: {lowd: loud}", ["nodes[1].outputs.lowd", "unknown state key 'lowd'"]),
        ("inputs: {}", ["nodes[1].inputs", "needs input(s) text"]),
    ],
)
def test_subflow_mapping_naming_a_missing_key_is_a_validation_error(
    tmp_path: Path, change: str, expected: list[str]
) -> None:
    field = change.split(":")[0]
    outer = OUTER.replace(f"{field}: {{text: clean}}" if field == "inputs" else
                          f"{field}: {{loud: loud}}", change)  # fmt: skip
    project = project_of(tmp_path / "p", outer=outer, shout=SHOUT)
    message = errors_of(project)
    for part in expected:
        assert part in message
    assert "outer.yaml" in message


def test_subflow_mapping_of_another_type_is_a_validation_error(tmp_path: Path) -> None:
    outer = OUTER.replace("clean: str", "clean: int").replace(
        '"flows.steps:prep"', '"flows.steps:prep"'
    )
    project = project_of(tmp_path / "p", outer=outer, shout=SHOUT.replace("loud: str", "loud: int"))
    message = errors_of(project)
    assert "nodes[1].inputs.text (" in message and "line 13" in message
    assert "parent key 'clean' is int but subflow 'shout' input 'text' is str" in message
    assert "nodes[1].outputs.loud" in message
    assert "subflow key 'loud' is int but parent key 'loud' is str" in message


def test_subflow_recursion_is_a_validation_error_naming_the_cycle(tmp_path: Path) -> None:
    looping = OUTER.replace("flow: shout", "flow: middle")
    middle = SHOUT.replace("name: shout", "name: middle").replace(
        '  - {id: bang, kind: function, call: "flows.steps:bang", reads: [upper], writes: [loud]}',
        "  - {id: back, kind: flow, flow: outer, inputs: {message: upper}, outputs: {loud: done}}",
    )
    project = project_of(tmp_path / "p", outer=looping, middle=middle)
    message = errors_of(project)
    assert "flow 'outer' runs itself through outer -> middle -> outer" in message
    assert "middle.yaml" in message and "nodes[1].flow" in message
    direct = OUTER.replace("flow: shout", "flow: outer").replace(
        "inputs: {text: clean}", "inputs: {message: clean}"
    )
    (project / "flows" / "outer.yaml").write_text(direct.replace("loud: loud", "loud: done"))
    assert "runs itself through outer -> outer" in errors_of(project)


def test_subflow_graph_is_collapsed_or_expanded(tmp_path: Path) -> None:
    project = project_of(tmp_path / "p", outer=OUTER, shout=SHOUT)
    collapsed = cli(project, "graph", "outer")
    assert collapsed.exit_code == 0, collapsed.output
    assert "shout" in collapsed.stdout and "bang" not in collapsed.stdout
    expanded = cli(project, "graph", "outer", "--expand")
    assert expanded.exit_code == 0, expanded.output
    assert 'subgraph shout["shout (flow: shout)"]' in expanded.stdout
    assert 'shout__bang["shout/bang"]' in expanded.stdout
    assert (
        "prep --> shout__upper;" in expanded.stdout and "shout__bang --> post;" in expanded.stdout
    )
    svg = cli(project, "graph", "outer", "--expand", "--format", "svg")
    assert svg.exit_code == 0, svg.output
    assert (
        "shout/upper" in svg.stdout
        and "flow · shout" in cli(project, "graph", "outer", "--format", "svg").stdout
    )


@pytest.mark.slow
def test_subflow_killed_inside_resumes_inside(tmp_path: Path) -> None:
    project = project_of(tmp_path / "p", outer=OUTER, shout=SHOUT)
    flows = project / "flows"
    (flows / "kill_me").touch()
    command = [sys.executable, "-m", "stepladder", "--project", str(project), "run", "outer",
               "--input", '{"message": "go"}', "--thread", "t1"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (flows / "ready").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached the subflow's second node"
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    assert log_of(project) == ["prep", "upper", "bang-start"]

    (flows / "kill_me").unlink()
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["done"] == "said GO!"
    # neither prep nor the subflow's first node ran again: the run resumed inside the subflow
    assert log_of(project) == ["prep", "upper", "bang-start", "bang-start", "bang", "post"]


def test_subflow_with_the_project_api_and_usage(tmp_path: Path) -> None:
    project = project_of(tmp_path / "p", outer=OUTER, shout=SHOUT)
    with open_project(project) as opened:
        result = opened.run("outer", {"message": "a"})
    assert result.state["done"] == "said A!"
    assert result.usage["calls"] == 0 and result.usage["cost_usd"] == 0
