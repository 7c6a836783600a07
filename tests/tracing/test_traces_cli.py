import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from tests.conftest import write_project
from tests.tracing.span_files import FAILED, HELLO, UNFINISHED, write_span_files

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "proj", {})
    write_span_files(root / ".stepladder" / "traces")
    return root


def traces(project: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--project", str(project), "traces", *args], env=WIDE)
    return result.exit_code, result.stdout, result.stderr


def test_list_shows_recent_runs_newest_first(project: Path) -> None:
    code, out, err = traces(project, "list")
    assert code == 0, err
    rows = [line.split() for line in out.splitlines() if line[:12] in {FAILED[:12], HELLO[:12]}]
    assert [row[0] for row in rows] == [FAILED[:12], HELLO[:12]]
    assert rows[0][3:] == ["support", "error", "500", "ms", "120/45", "$0.000321", "1"]
    assert UNFINISHED[:12] in out.splitlines()[2]
    assert "skipped 2 malformed line(s)" in err


def test_list_filters_and_prints_json_lines(project: Path) -> None:
    code, out, _ = traces(project, "list", "--json")
    assert code == 0
    runs = [json.loads(line) for line in out.splitlines()]
    assert [run["trace_id"] for run in runs] == [UNFINISHED, FAILED, HELLO]
    assert runs[1]["cost_usd"] == 0.000321 and runs[1]["spans"] == 6
    _, out, _ = traces(project, "list", "--json", "--status", "incomplete")
    assert [json.loads(line)["trace_id"] for line in out.splitlines()] == [UNFINISHED]
    _, out, _ = traces(project, "list", "--json", "--flow", "hello")
    assert [json.loads(line)["trace_id"] for line in out.splitlines()] == [HELLO]
    _, out, _ = traces(project, "list", "--json", "--limit", "1")
    assert len(out.splitlines()) == 1
    _, out, _ = traces(project, "list", "--flow", "nope")
    assert "no traced runs match" in out


def test_list_refuses_an_unknown_status(project: Path) -> None:
    code, _, err = traces(project, "list", "--status", "fine")
    assert code == 2 and "'fine' is not one of" in err


def test_show_prints_the_tree_of_a_prefix(project: Path) -> None:
    code, out, err = traces(project, "show", "ab12")
    assert code == 0, err
    assert f"trace {FAILED}" in out
    assert "chat smollm2-135m  +20.0 ms  160.0 ms  tier small" in out
    assert "ERROR: ValueError: no answer in the context" in out


def test_show_explains_an_ambiguous_or_unknown_id(project: Path) -> None:
    code, _, err = traces(project, "show", "ab")
    assert code == 2
    assert "'ab' matches 2 traces" in err and "give more of the id" in err
    code, _, err = traces(project, "show", "0000")
    assert code == 2 and "no trace id starts with '0000'" in err
    assert "Traceback" not in err


def test_html_writes_the_page_under_the_traces_folder(project: Path) -> None:
    code, out, err = traces(project, "html", "f00d")
    assert code == 0, err
    path = project / ".stepladder" / "traces" / "html" / f"{UNFINISHED}.html"
    assert out.strip() == str(path)
    assert path.read_text(encoding="utf-8").count('class="span-row') == 2


def test_html_writes_where_asked(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "page.html"
    code, out, _ = traces(project, "html", FAILED, "-o", str(target))
    assert code == 0 and out.strip() == str(target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_no_traces_yet_is_a_user_error(tmp_path: Path) -> None:
    root = write_project(tmp_path / "fresh", {})
    for args in (["list"], ["show", "ab"], ["html", "ab"]):
        code, _, err = traces(root, *args)
        assert code == 2, args
        assert "no traces yet" in err and "stepladder run" in err
        assert "Traceback" not in err


def test_an_empty_traces_folder_lists_nothing(tmp_path: Path) -> None:
    root = write_project(tmp_path / "empty", {})
    (root / ".stepladder" / "traces").mkdir(parents=True)
    code, out, _ = traces(root, "list")
    assert code == 0 and "no traces yet" in out


def test_the_traces_folder_follows_the_settings(tmp_path: Path) -> None:
    settings = "name: test\nstate_dir: state\ntracing:\n  dir: spans\n"
    root = write_project(tmp_path / "moved", {}, settings=settings)
    write_span_files(root / "state" / "spans")
    code, out, err = traces(root, "list", "--json")
    assert code == 0, err
    assert len(out.splitlines()) == 3


def test_outside_a_project_is_a_user_error(tmp_path: Path) -> None:
    code, _, err = traces(tmp_path / "nothing-here", "list")
    assert code == 2 and "not a stepladder project" in err
