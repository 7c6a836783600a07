"""Hostile `--input` values get one clear paragraph and exit 2; a run's result always prints."""

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.cli.app import command_in
from stepladder.cli.inputs import MAX_INPUT_BYTES, MAX_INPUT_DEPTH

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    result = runner.invoke(app, ["init", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    return tmp_path / "demo"


def run_hello(project: Path, value: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--project", str(project), "run", "hello", "--input", value])
    return result.exit_code, result.stdout, result.stderr


def assert_clear_error(project: Path, value: str, *phrases: str) -> None:
    code, stdout, stderr = run_hello(project, value)
    assert code == 2, stderr
    assert stderr.startswith("error: "), stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    for phrase in phrases:
        assert phrase in stderr, stderr
    assert stdout == ""


def test_a_latin1_file_is_refused_naming_the_encoding(project: Path, tmp_path: Path) -> None:
    file = tmp_path / "latin1.json"
    file.write_bytes('{"text": "café"}'.encode("latin-1"))
    assert_clear_error(project, f"@{file}", "must be UTF-8", "0xe9", "iconv -f LATIN1")


def test_a_utf16_file_is_refused_naming_the_encoding(project: Path, tmp_path: Path) -> None:
    file = tmp_path / "utf16.json"
    file.write_bytes('{"text": "hi"}'.encode("utf-16"))
    assert_clear_error(project, f"@{file}", "must be UTF-8", "UTF-16", "iconv -f UTF-16")


def test_a_utf8_file_with_a_byte_order_mark_is_read(project: Path, tmp_path: Path) -> None:
    file = tmp_path / "bom.json"
    file.write_bytes('{"text": "olá mundo"}'.encode("utf-8-sig"))
    code, stdout, stderr = run_hello(project, f"@{file}")
    assert code == 0, stderr
    assert json.loads(stdout)["word_count"] == 2


@pytest.mark.parametrize("levels", [MAX_INPUT_DEPTH + 1, 100_000])
def test_deeply_nested_json_is_refused(project: Path, tmp_path: Path, levels: int) -> None:
    file = tmp_path / "deep.json"
    file.write_text('{"text": ' + "[" * levels + "]" * levels + "}")
    assert_clear_error(project, f"@{file}", f"nests more than {MAX_INPUT_DEPTH} levels")


def test_nesting_up_to_the_limit_is_accepted_by_the_reader(project: Path) -> None:
    levels = MAX_INPUT_DEPTH - 1  # the input object itself is one level
    code, _, stderr = run_hello(project, '{"text": ' + "[" * levels + "]" * levels + "}")
    assert "nests more than" not in stderr
    assert code == 2 and "input.text" in stderr  # the flow's own check: text must be a str


def test_an_endless_device_is_refused_after_a_bounded_read(project: Path) -> None:
    assert_clear_error(project, "@/dev/zero", f"larger than {MAX_INPUT_BYTES // 1_000_000} MB")


def test_a_large_file_is_refused_by_its_size(project: Path, tmp_path: Path) -> None:
    file = tmp_path / "large.json"
    with file.open("wb") as handle:
        handle.truncate(MAX_INPUT_BYTES + 1)
    assert_clear_error(project, f"@{file}", "larger than")


def test_a_folder_or_missing_file_is_refused(project: Path, tmp_path: Path) -> None:
    assert_clear_error(project, f"@{tmp_path}", "is a folder")
    assert_clear_error(project, f"@{tmp_path / 'nope.json'}", "cannot read input file")


def test_an_integer_too_long_to_read_is_refused(project: Path) -> None:
    assert_clear_error(project, '{"text": ' + "1" * 5000 + "}", "integer too long")


def test_a_lone_surrogate_runs_and_its_result_prints(project: Path, tmp_path: Path) -> None:
    file = tmp_path / "surrogate.json"
    file.write_text('{"text": "a \\ud800 b"}')
    for given in (f"@{file}", '{"text": "a \\ud800 b"}'):
        code, stdout, stderr = run_hello(project, given)
        assert code == 0, stderr
        assert "\\ud800" in stdout  # escaped, so any terminal can print it
        state = json.loads(stdout)
        assert state["words"] == ["a", "\ud800", "b"]
        assert state["word_count"] == 3
    traces = list((project / ".stepladder/traces").glob("*.jsonl"))
    lines = [json.loads(line) for f in traces for line in f.read_text().splitlines()]
    assert sum(line["name"] == "run hello" for line in lines) == 2


def test_unexpected_errors_say_what_to_change() -> None:
    group = typer.Typer()
    problems: dict[str, Exception] = {
        "deep": RecursionError("maximum recursion depth exceeded"),
        "encoding": UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid start byte"),
        "disk": PermissionError(13, "Permission denied", "/no/such/place"),
        "bug": KeyError("oops"),
    }
    for name, problem in problems.items():

        def fail(problem: Exception = problem) -> None:
            raise problem

        command_in(group, name)(fail)
    results = {name: runner.invoke(group, [name]) for name in problems}
    assert {name: r.exit_code for name, r in results.items()} == {
        "deep": 2,
        "encoding": 2,
        "disk": 2,
        "bug": 1,
    }
    assert "nests too deeply" in results["deep"].stderr
    assert "not UTF-8 text" in results["encoding"].stderr
    assert "/no/such/place: Permission denied. Check the path" in results["disk"].stderr
    assert "internal error (KeyError)" in results["bug"].stderr
    assert "rerun with --debug and report" in results["bug"].stderr
    for result in results.values():
        assert "Traceback" not in result.stderr
