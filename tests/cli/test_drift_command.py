"""`stepladder drift`: verdict, exit status, report, JSON and the errors a user can meet."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from tests.monitor.drift_project import (
    FLOW,
    intent_sets,
    run_production,
    run_traced_eval,
    write_intents_project,
)

runner = CliRunner()


@dataclass(frozen=True)
class DriftProject:
    """The project's folder, and the window each kind of traffic was run in."""

    root: Path
    windows: dict[str, tuple[datetime, datetime]]

    def window(self, name: str) -> list[str]:
        since, until = self.windows[name]
        return ["--since", since.isoformat(), "--until", until.isoformat()]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> DriftProject:
    sets = intent_sets(intents=8, per_intent=20, production=80, seed=3)
    root = tmp_path_factory.mktemp("drift-cli") / "project"
    spec = write_intents_project(root, sets.eval_rows)
    echo = FLOW.replace("name: intents", "name: echo")  # a second flow, with no eval set
    (root / "flows" / "echo.yaml").write_text(echo, encoding="utf-8")
    run_traced_eval(root, spec)
    windows = {}
    for name, texts in (("same", sets.same), ("clinc", sets.clinc), ("few", sets.clinc[:5])):
        windows[name] = run_production(root, texts)
        time.sleep(0.01)
    return DriftProject(root, windows)


def drift(project: DriftProject, *args: str) -> Any:
    return runner.invoke(app, ["--project", str(project.root), "drift", *args])


def test_clinc_traffic_is_drift_and_exits_1(project: DriftProject) -> None:
    result = drift(project, "intents", *project.window("clinc"))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("drift: YES — inputs shifted (separability 0.9")
    assert "novel inputs (" in lines[0]
    assert "compared 80 production inputs with 160 eval cases (intents)" in result.stdout
    assert "far clusters:" in result.stdout
    assert "nearest eval case:" in result.stdout
    assert "rates (eval runs → production):" in result.stdout
    assert "escalation rate 0.0% → 0.0% (p=1, n=160/80)" in result.stdout
    report = Path(result.stderr.strip().splitlines()[-1].removeprefix("report: "))
    assert report.parent == project.root / ".stepladder" / "drift"
    assert report.name.startswith("intents-") and report.is_file()
    assert "embedded 80 production texts" in result.stderr


def test_same_intents_are_no_drift_and_exit_0(project: DriftProject, tmp_path: Path) -> None:
    page = tmp_path / "out" / "drift.html"
    result = drift(project, "intents", *project.window("same"), "--html", str(page))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("no drift — separability 0.")
    assert "far clusters:" not in result.stdout
    assert page.is_file() and "no drift" in page.read_text(encoding="utf-8")


def test_json_output_keeps_the_exit_status(project: DriftProject) -> None:
    result = drift(project, "intents", *project.window("clinc"), "--json", "--field", "text")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["drifted"] is True and data["field"] == "text"
    assert data["shift"]["shifted"] and data["novelty"]["novel"]
    assert data["production_runs"] == 80 and data["reference_runs"] == 160
    assert Path(data["report"]).is_file()
    assert data["clusters"] and data["clusters"][0]["examples"]


def test_evalset_option_chooses_the_spec(project: DriftProject) -> None:
    spec = project.root / "evalsets" / "intents.yaml"
    result = drift(project, "echo", "--evalset", str(spec), *project.window("same"))
    assert result.exit_code == 2
    assert "no production runs of flow 'echo'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "no flow 'nope'"),
        (["echo"], "no eval set of flow 'echo' in"),
        (["intents", "--since", "2099-01-01"], "no production runs of flow 'intents' since 2099"),
        (["intents", "--since", "soon"], "--since 'soon': give an age"),
        (["intents", "--until", "later"], "--until 'later': give an age"),
        (["intents", "--field", "body"], "--field 'body': no case of"),
        (["intents", "--evalset", "missing.yaml"], "missing.yaml: eval spec not found"),
    ],
)
def test_user_errors_are_one_message_and_exit_2(
    project: DriftProject, args: list[str], message: str
) -> None:
    result = drift(project, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_too_few_production_inputs_says_so(project: DriftProject) -> None:
    result = drift(project, "intents", *project.window("few"))
    assert result.exit_code == 2
    assert "only 5 production input(s) of flow 'intents' since" in result.stderr
    assert "too few to tell drift from chance (at least 20 needed)" in result.stderr
