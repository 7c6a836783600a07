"""The spec-file YAML loader bounds its work: size, anchors and aliases, depth, items, duplicates.

Each hostile shape is refused with a clear error naming file and line, the same kind of error
the callers already turn into exit-2 messages (`FlowSpecError`, `ConfigError`, `EvalSetError`).
"""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.config.settings import load_project
from stepladder.errors import ConfigError, EvalSetError, FlowSpecError
from stepladder.evalsets.spec import load_eval_spec
from stepladder.flows import load_flow
from stepladder.specs.locations import describe_yaml_error, load_yaml
from stepladder.specs.spec_yaml import MAX_DEPTH, MAX_NODES, MAX_SPEC_BYTES_ENV
from tests.conftest import write_project

FLOW_HEAD = "name: demo\nstate:\n  text: {type: str, input: true}\n"
FLOW_NODES = "nodes:\n  - {id: up, kind: function, call: steps:up, reads: [text], writes: [text]}\n"


def billion_laughs(size: int, head: str = "", quote: str = '"') -> str:
    """Nine levels of nine aliases (9**9 leaves), padded with a comment to `size` bytes."""
    names = "abcdefghi"
    lol = ",".join([f"{quote}lol{quote}"] * 9)
    text = head + f"a: &a [{lol}]\n"
    for parent, child in itertools.pairwise(names):
        text += f"{child}: &{child} [{','.join(['*' + parent] * 9)}]\n"
    padding = size - len(text.encode()) - 3
    assert padding >= 0
    return text + "#" + "-" * padding + "\n\n"


# The two sizes of the bombs from the issue: one shaped as a flow file, one bare.
BOMB_815 = billion_laughs(815, head=FLOW_HEAD, quote='"')
BOMB_649 = billion_laughs(649, quote="")


@pytest.fixture(params=["libyaml", "pure-python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test over libyaml's event parser and over PyYAML's own, as both are used."""
    if request.param == "pure-python":
        monkeypatch.setattr(yaml, "__with_libyaml__", False)
    elif not yaml.__with_libyaml__:
        pytest.fail("this PyYAML has no libyaml; the pure-python case covers the loader")
    yield request.param


def refusal(text: str, source: Path | None = None) -> str:
    """The message `load_yaml` gives for `text`, failing if it loads."""
    with pytest.raises(yaml.YAMLError) as caught:
        load_yaml(text, source)
    return describe_yaml_error(caught.value, source)


def test_bombs_have_the_sizes_of_the_issue() -> None:
    assert len(BOMB_815.encode()) == 815
    assert len(BOMB_649.encode()) == 649


@pytest.mark.parametrize("bomb", [BOMB_815, BOMB_649], ids=["815-bytes", "649-bytes"])
def test_alias_bomb_is_refused_in_bounded_memory(bomb: str, parser: str, tmp_path: Path) -> None:
    flow = tmp_path / "bomb.yaml"
    flow.write_text(bomb, encoding="utf-8")
    tracemalloc.start()
    try:
        with pytest.raises(FlowSpecError) as caught:
            load_flow(flow)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000, f"peak {peak:,} bytes"
    line = bomb.splitlines().index(next(s for s in bomb.splitlines() if "&a" in s)) + 1
    message = str(caught.value)
    assert f"{flow}, line {line}: spec files may not use YAML anchors or aliases" in message
    assert "found anchor '&a'" in message


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "&a {x: *a}\n", "- &a [*a, *a]\n"])
def test_recursive_alias_is_refused(text: str, parser: str) -> None:
    assert "may not use YAML anchors or aliases (found anchor '&a')" in refusal(text)


def test_alias_without_anchor_names_the_alias(parser: str) -> None:
    message = refusal("name: x\nnodes: *nodes\n", Path("flows/x.yaml"))
    assert message.startswith("flows/x.yaml, line 2: spec files may not use YAML anchors")
    assert "found alias '*nodes'" in message


@pytest.mark.parametrize(
    "text",
    [
        "[" * 20_000 + "]" * 20_000,
        "{a: " * 20_000 + "}" * 20_000,
        "- " * 20_000 + "x\n",
        "a: " + "[" * 20_000 + "]" * 20_000 + "\n",
    ],
    ids=["flow-lists", "flow-maps", "block-lists", "under-a-key"],
)
def test_yaml_nested_20k_deep_is_a_clear_error(text: str, parser: str) -> None:
    message = refusal(text, Path("flows/deep.yaml"))
    assert message.startswith("flows/deep.yaml, line 1")
    assert "nest" in message  # ours: "nests deeper than 100 levels"; libyaml: "nesting depth"


def test_depth_limit_is_exact(parser: str) -> None:
    assert load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH).data is not None
    message = refusal("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert f"nests deeper than {MAX_DEPTH} levels" in message


def test_too_many_items_are_refused() -> None:
    text = "a: [" + ",".join(["1"] * MAX_NODES) + "]\n"
    assert f"more than {MAX_NODES:,} items" in refusal(text)


def test_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    flow = tmp_path / "huge.yaml"
    with flow.open("w", encoding="utf-8") as handle:  # 50 MB of valid YAML
        handle.write(FLOW_HEAD + FLOW_NODES + "description: |\n")
        line = "  " + "x" * 98 + "\n"
        for _ in range(500):
            handle.write(line * 1000)
    tracemalloc.start()
    try:
        with pytest.raises(FlowSpecError, match="larger than the 1,000,000-byte limit") as caught:
            load_flow(flow)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000, f"read {peak:,} bytes"  # a bounded read, not the whole file
    assert str(caught.value).startswith(f"{flow}: the file is larger")
    assert MAX_SPEC_BYTES_ENV in str(caught.value)


def test_an_endless_file_is_refused_by_size() -> None:
    with pytest.raises(FlowSpecError, match="larger than the 1,000,000-byte limit"):
        load_flow(Path("/dev/zero"))


def test_size_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(FLOW_HEAD + FLOW_NODES, encoding="utf-8")
    assert load_flow(flow).name == "demo"
    monkeypatch.setenv(MAX_SPEC_BYTES_ENV, "50")
    with pytest.raises(FlowSpecError, match="larger than the 50-byte limit"):
        load_flow(flow)
    with pytest.raises(yaml.YAMLError, match="larger than the 50-byte limit"):
        load_yaml(FLOW_HEAD + FLOW_NODES)


def test_duplicate_key_in_a_flow_names_both_lines(tmp_path: Path, parser: str) -> None:
    flow = tmp_path / "x.yaml"
    flow.write_text(FLOW_HEAD + FLOW_NODES + "edges: []\n" + FLOW_NODES, encoding="utf-8")
    with pytest.raises(FlowSpecError) as caught:
        load_flow(flow)
    assert str(caught.value).startswith(
        f"nodes ({flow}, line 7): duplicate key 'nodes', first at line 4;"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: {b: 1, b: 2}\n", "a.b (YAML text, line 1): duplicate key 'b', first at line 1"),
        (
            "nodes:\n  - id: a\n    reads: []\n    reads: [x]\n",
            "nodes[0].reads (YAML text, line 4): duplicate key 'reads', first at line 3",
        ),
    ],
)
def test_nested_duplicate_keys_are_named_by_path(text: str, expected: str, parser: str) -> None:
    assert refusal(text).startswith(expected)


def test_keys_equal_as_text_but_not_as_values_are_not_duplicates() -> None:
    assert load_yaml("1: int\n'1': str\n").data == {1: "int", "1": "str"}


def test_valid_yaml_keeps_data_and_lines(parser: str) -> None:
    document = load_yaml("name: x\nnodes:\n  - id: a\n    reads: [b, c]\n  - {id: d}\n")
    assert document.data == {"name": "x", "nodes": [{"id": "a", "reads": ["b", "c"]}, {"id": "d"}]}
    assert document.lines[("nodes", 0, "reads", 1)] == 4
    assert document.lines[("nodes", 1, "id")] == 5
    assert load_yaml("").data is None
    assert load_yaml("a: {<<: {x: 1}, y: 2}\n").data == {"a": {"x": 1, "y": 2}}


def test_unsafe_tags_stay_refused(parser: str) -> None:
    message = refusal("a: !!python/object/apply:os.system [echo hi]\n")
    assert "could not determine a constructor" in message
    assert "spec files take plain YAML only" in message and "remove the `!` tag" in message


def test_settings_and_eval_specs_use_the_bounded_loader(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {}, settings="name: p\n" + BOMB_649)
    with pytest.raises(ConfigError, match=r"stepladder\.yaml, line 2: spec files may not use YAML"):
        load_project(root=root)
    root = write_project(tmp_path / "q", {}, settings="name: q\nflows_dir: flows\nname: r\n")
    with pytest.raises(ConfigError, match=r"name \(.*line 3\): duplicate key 'name', first at"):
        load_project(root=root)
    spec = tmp_path / "evalsets" / "s.yaml"
    spec.parent.mkdir()
    spec.write_text("name: s\nflow: demo\ncases: s.jsonl\nflow: other\n", encoding="utf-8")
    with pytest.raises(EvalSetError, match=r"flow \(.*s\.yaml, line 4\): duplicate key 'flow'"):
        load_eval_spec(spec)
    spec.write_text(BOMB_815, encoding="utf-8")
    with pytest.raises(EvalSetError, match="spec files may not use YAML anchors"):
        load_eval_spec(spec)


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (BOMB_815, "line 4: spec files may not use YAML anchors or aliases"),
        (FLOW_HEAD + FLOW_NODES + FLOW_NODES, "line 6): duplicate key 'nodes', first at line 4"),
        ("[" * 20_000 + "]" * 20_000, "line 1"),
        ("a: &a [*a]\n", "line 1: spec files may not use YAML anchors or aliases"),
    ],
    ids=["bomb", "duplicate", "deep", "recursive"],
)
def test_cli_exits_2_with_one_paragraph(
    tmp_path: Path, command: str, text: str, fragment: str
) -> None:
    root = write_project(tmp_path / "p", {"flows/f.yaml": text})
    args = ["--project", str(root), command, str(root / "flows" / "f.yaml")]
    result = CliRunner().invoke(app, [*args, *(["--input", "{}"] if command == "run" else [])])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    message = result.stderr.strip()
    assert "\n\n" not in message and str(root / "flows" / "f.yaml") in message
    assert fragment in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: \ud800\n", "unacceptable character #xd800 at character 4"),
        ("a: \x00b\n", "unacceptable character #x0000 at character 4"),
    ],
    ids=["lone-surrogate", "nul"],
)
def test_unacceptable_characters_are_a_yaml_error(text: str, expected: str, parser: str) -> None:
    assert refusal(text, Path("f.yaml")).startswith(f"f.yaml: invalid YAML: {expected}: ")
