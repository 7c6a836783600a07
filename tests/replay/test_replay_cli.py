"""`stepladder run --record`, `stepladder eval --replay RUN_ID [--hermetic]` and `eval report`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from stepladder.cli import app
from tests.replay.chain_project import chain_project
from tests.replay.test_support_replay import root  # noqa: F401 - the example project's copy

runner = CliRunner()


def test_run_records_when_asked_and_replays_hermetically(tmp_path: Path) -> None:
    project = chain_project(tmp_path / "project")
    given = ["--project", str(project), "run", "chain", "--input", '{"text": "hi there"}']
    first = runner.invoke(app, [*given, "--record"])
    assert first.exit_code == 0, first.output
    found = re.search(r"record (\S+): ", first.output)
    assert found, first.output
    again = runner.invoke(app, [*given, "--replay", found.group(1), "--hermetic"])
    assert again.exit_code == 0, again.output
    assert '"length": 9' in again.output and "record " not in again.output


def test_eval_replays_the_example_recording_and_reports_per_node(root: Path) -> None:  # noqa: F811
    spec = str(root / "evalsets" / "support.yaml")
    recording = str(root / "recordings" / "support.json")
    given = ["eval", spec, "--split", "test", "--limit", "8", "--replay", recording]
    result = runner.invoke(app, [*given, "--hermetic", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["replay"]["total"]["replayed"] == 24 and shown["replay"]["total"]["ran"] == 0
    run_id = re.search(r"eval run (\S+):", result.output).group(1)  # type: ignore[union-attr]
    assert (root / ".stepladder" / "records" / f"{run_id}.json").is_file()
    report = runner.invoke(app, ["--project", str(root), "eval", "report", run_id])
    assert report.exit_code == 0, report.output
    assert "replayed from" in report.output and "reply" in report.output


def test_hermetic_without_replay_and_an_unknown_record_are_refused(root: Path) -> None:  # noqa: F811
    spec = str(root / "evalsets" / "support.yaml")
    alone = runner.invoke(app, ["eval", spec, "--limit", "1", "--hermetic"])
    assert alone.exit_code != 0 and "--hermetic replays a record" in alone.output
    unknown = runner.invoke(app, ["eval", spec, "--limit", "1", "--replay", "20990101-nope"])
    assert unknown.exit_code != 0 and "no record '20990101-nope'" in unknown.output
