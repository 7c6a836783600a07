"""Eval cases from JSONL: valid files, and every problem reported with its line and field."""

import json
from pathlib import Path

import pytest

from stepladder import EvalSetError, UserError
from stepladder.evalsets import EvalCase, load_cases


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "support.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def case(**fields: object) -> str:
    return json.dumps({"id": "c1", "inputs": {"message": "hi"}, **fields})


def test_valid_cases_with_defaults_and_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        case(expected={"category": "ORDER"}, tags=["easy"], split="dev"),
        "",
        "   ",
        json.dumps({"id": "c2", "inputs": {"message": "refund"}}),
    )
    cases = load_cases(path)
    assert cases == [
        EvalCase(
            id="c1",
            inputs={"message": "hi"},
            expected={"category": "ORDER"},
            tags=["easy"],
            split="dev",
        ),
        EvalCase(id="c2", inputs={"message": "refund"}),
    ]
    assert cases[1].expected == {} and cases[1].tags == [] and cases[1].split is None


def test_one_bad_field_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, case(), json.dumps({"id": "c2", "inputs": {}, "expected": [1]}))
    with pytest.raises(EvalSetError) as caught:
        load_cases(path)
    message = str(caught.value)
    assert message.startswith(f"{path} line 2: expected: ")
    assert "valid dictionary" in message
    assert isinstance(caught.value, UserError)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        case(),
        "",
        json.dumps({"id": 3, "inputs": {}, "colour": "red"}),
        "{not json",
        "[1, 2]",
        case(),
        json.dumps({"inputs": {}}),
    )
    with pytest.raises(EvalSetError) as caught:
        load_cases(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: 6 problems in the eval cases: ")
    assert "line 3: id: Input should be a valid string (got 3)" in message
    assert (
        "line 3: colour: unknown field. Valid fields: expected, id, inputs, meta, split, tags"
        in message
    )
    assert "line 4: not valid JSON (" in message
    assert "line 5: a case must be a JSON object" in message
    assert "line 6: duplicate id 'c1' (first on line 1)" in message
    assert "line 7: id: required field is missing" in message


def test_many_problems_are_cut_at_twenty(tmp_path: Path) -> None:
    path = write(tmp_path, *["oops"] * 25)
    with pytest.raises(EvalSetError) as caught:
        load_cases(path)
    message = str(caught.value)
    assert "25 problems" in message
    assert "line 20: not valid JSON" in message
    assert "line 21:" not in message
    assert message.endswith("(and 5 more).")


def test_unknown_split_is_an_error_when_splits_are_given(tmp_path: Path) -> None:
    path = write(
        tmp_path, case(split="dev"), json.dumps({"id": "c2", "inputs": {}, "split": "tst"})
    )
    assert len(load_cases(path)) == 2
    with pytest.raises(EvalSetError, match=r"line 2: split: unknown split 'tst'. Valid: dev, test"):
        load_cases(path, splits=["dev", "test"])


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = write(tmp_path, "", "  ")
    with pytest.raises(EvalSetError, match=r"support.jsonl: no cases"):
        load_cases(empty)
    with pytest.raises(EvalSetError, match=r"nothing.jsonl: eval cases file not found"):
        load_cases(tmp_path / "nothing.jsonl")


def test_a_line_nested_past_the_recursion_limit_is_named(tmp_path: Path) -> None:
    deep = '{"id": "c2", "inputs": {"message": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    path = write(tmp_path, case(), deep)
    with pytest.raises(EvalSetError) as caught:
        load_cases(path)
    assert f"{path} line 2: the JSON nests too deeply" in str(caught.value)
