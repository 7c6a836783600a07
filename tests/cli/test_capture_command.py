"""`stepladder capture`: its options, its summary, and its errors (one paragraph, exit 2)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.evalsets import load_cases
from tests.monitor.capture_project import capture_project, texts, traced_runs

runner = CliRunner()
WORDS = ("hello", "hi", "boom", "calm", "storm", "rain")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return capture_project(tmp_path / "proj")


@pytest.fixture
def traced(project: Path) -> list[str]:
    """Six runs of `shout` (one failed), oldest first; their trace ids."""
    return asyncio.run(traced_runs(project, "shout", texts(*WORDS)))


def capture(project: Path, *args: str, to: str = "evalsets/got.jsonl") -> Any:
    command = ["--project", str(project), "capture", "shout", "--from-traces"]
    return runner.invoke(app, [*command, "--to", str(project / to), *args])


def lines(project: Path, to: str = "evalsets/got.jsonl") -> list[dict[str, Any]]:
    text = (project / to).read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_filters_fields_and_split_shape_the_cases(project: Path, traced: list[str]) -> None:
    result = capture(project, "--limit", "2", "--fields", "loud", "--split", "dev")
    assert result.exit_code == 0, result.output
    assert "5 run(s) matched, 2 chosen" in result.stdout
    assert [(c["inputs"], c["expected"], c["split"]) for c in lines(project)] == [
        ({"text": "storm"}, {"loud": "STORM"}, "dev"),
        ({"text": "rain"}, {"loud": "RAIN"}, "dev"),
    ]


def test_status_and_trace_options(project: Path, traced: list[str]) -> None:
    failed = capture(project, "--status", "error", to="evalsets/failed.jsonl")
    assert failed.exit_code == 0, failed.output
    [case] = lines(project, "evalsets/failed.jsonl")
    assert case["inputs"] == {"text": "boom"} and "error" in case["tags"]
    picked = capture(project, "--trace", traced[2][:8], "--trace", traced[0][:8])
    assert picked.exit_code == 0, picked.output
    assert [c["meta"]["trace_id"] for c in lines(project)] == [traced[0], traced[2]]


def test_a_seeded_sample_is_the_same_each_time(project: Path, traced: list[str]) -> None:
    capture(project, "--sample", "2", "--seed", "3", to="evalsets/a.jsonl")
    capture(project, "--sample", "2", "--seed", "3", to="evalsets/b.jsonl")
    first = [c["id"] for c in lines(project, "evalsets/a.jsonl")]
    assert len(first) == 2 and first == [c["id"] for c in lines(project, "evalsets/b.jsonl")]


def test_rerunning_adds_only_new_runs_and_overwrite_replaces(
    project: Path, traced: list[str]
) -> None:
    assert capture(project, "--limit", "2").exit_code == 0
    again = capture(project, "--limit", "3")
    assert "1 new, 2 already in the file" in again.stdout
    assert len(load_cases(project / "evalsets/got.jsonl")) == 3
    replaced = capture(project, "--limit", "1", "--overwrite")
    assert "1 new, 0 already in the file" in replaced.stdout
    assert len(lines(project)) == 1


def test_a_spec_reading_the_file_is_named_and_picks_the_fields(
    project: Path, traced: list[str]
) -> None:
    spec = project / "evalsets/got.yaml"
    spec.write_text(
        "name: got\nflow: shout\ncases: got.jsonl\nsplits: [dev, test]\nmetrics:\n  size: label\n"
    )
    result = capture(project, "--split", "train")
    assert result.exit_code == 0, result.output
    assert "stepladder eval" in result.stdout and "got.yaml" in result.stdout
    assert "got.yaml has no split 'train' (splits: dev, test)" in result.stdout
    assert "save this as" not in result.stdout
    assert all(set(case["expected"]) == {"size"} for case in lines(project))


def test_the_suggested_spec_names_a_flow_of_the_flows_folder_by_name(tmp_path: Path) -> None:
    project = capture_project(tmp_path / "proj")
    (project / "flows").rename(project / "pipelines")
    settings = project / "stepladder.yaml"
    settings.write_text(settings.read_text() + "flows_dir: pipelines\n")
    asyncio.run(traced_runs(project, "shout", texts("hello")))
    result = capture(project)
    assert result.exit_code == 0, result.output
    assert "flow: shout\n" in result.stdout


def test_no_runs_matched_says_which_filters_and_how_many_runs(
    project: Path, traced: list[str]
) -> None:
    result = capture(project, "--since", "2099-01-01", "--invalid")
    assert result.exit_code == 2
    assert "no traced run of flow 'shout' matches --status ok --since 2099-01-01" in result.output
    assert "--invalid" in result.output and "holds 6 run(s) of 'shout'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--from-traces"),
        (("--from-traces", "--to", "cases.yaml"), "name it .jsonl"),
        (("--from-traces", "--to", "x.jsonl", "--until", "soon"), "--until 'soon'"),
    ],
)
def test_usage_errors(project: Path, args: tuple[str, ...], message: str) -> None:
    given = args if "--to" in args else (*args, "--to", "x.jsonl")
    result = runner.invoke(app, ["--project", str(project), "capture", "shout", *given])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_no_traces_folder_is_one_clear_error(project: Path) -> None:
    result = capture(project)
    assert result.exit_code == 2
    assert "no traces yet" in result.output and "stepladder run" in result.output


def test_unknown_flow_lists_the_flows(project: Path, traced: list[str]) -> None:
    command = ["--project", str(project), "capture", "shuot", "--from-traces", "--to", "x.jsonl"]
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    assert "no flow 'shuot'" in result.output and "shout, triage" in result.output


def test_unknown_fields_and_tiers_are_named_with_the_valid_ones(
    project: Path, traced: list[str]
) -> None:
    fields = capture(project, "--fields", "loud,colour")
    assert fields.exit_code == 2
    assert "--fields colour" in fields.output and "note, loud, size" in fields.output
    tier = capture(project, "--label-tier", "frontier")
    assert tier.exit_code == 2
    assert "--label-tier frontier" in tier.output and "big, small" in tier.output
    no_model = capture(project, "--label-tier", "big")
    assert no_model.exit_code == 2 and "has no model node" in no_model.output
    assert not (project / "evalsets/got.jsonl").exists()
