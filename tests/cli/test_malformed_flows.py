"""Malformed flow files make the CLI exit with status 2 and one paragraph, not a traceback.

Each fixture under `tests/fixtures/malformed/` holds one mistake. Every case is run through
`stepladder --project DIR validate FLOW` and `stepladder --project DIR run FLOW --input ...`
in-process, in a fresh project under `tmp_path`, and must:

- exit with status 2 (a user error),
- print nothing on stdout and no traceback anywhere,
- print one paragraph on stderr (`error: ...`, no blank line inside), and
- name the flow file and contain the case's expected fragments (YAML path, line, choices).

`--debug` must show the traceback and still exit with 2.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner, Result

from stepladder.cli import app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "malformed"
SETTINGS_FIXTURES = FIXTURES / "settings"
CONTROL_FLOW = "valid_control.yaml"
STEPS_MODULE = "malformed_steps"
RUN_INPUT = '{"text": "hello"}'
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# The Python module every fixture's references point at (`flows.malformed_steps:...`). Every
# project gets the same file, so a module cached in `sys.modules` is always the right one;
# the `_isolated_imports` fixture drops it after each test anyway.
STEPS_SOURCE = '''\
"""Steps the malformed-flow fixtures reference."""

GREETING = "hello"


def up(text: str) -> str:
    return text.upper()


def shout(text: str) -> str:
    return text + "!"


def echo_loud(loud: str) -> str:
    return loud


def mismatched(txt: str) -> str:
    return txt


def needs_extra(text: str, extra: str) -> str:
    return text + extra
'''

# (fixture file, fragments the one-paragraph message must contain)
FLOW_CASES: list[tuple[str, tuple[str, ...]]] = [
    # --- the file does not parse, or is not a mapping
    ("yaml_syntax.yaml", ("invalid YAML", "line 4, column 6", "expected ',' or '}'")),
    ("top_level_list.yaml", ("a flow must be a mapping", "not a list")),
    ("empty.yaml", ("the flow is empty", "`name` and `nodes`")),
    # --- the spec does not validate (pydantic, explained)
    ("missing_name.yaml", ("name (", "required field 'name' is missing", "Fields here:")),
    ("missing_nodes.yaml", ("required field 'nodes' is missing", "Fields here:")),
    ("empty_nodes.yaml", ("nodes (", "line 4)", "at least 1 item")),
    ("wrong_type_reads.yaml", ("nodes[0].reads (", "line 8)", "valid list", "(got 5)")),
    ("wrong_type_name.yaml", ("name (", "line 1)", "valid string")),
    ("bad_flow_name.yaml", ("name (", "line 1)", "'my demo flow'")),
    (
        "unknown_kind.yaml",
        ("nodes[0].kind (", "line 6)", "unknown kind 'functon'", "did you mean 'function'"),
    ),
    (
        "missing_kind.yaml",
        (
            "nodes[0] (",
            "line 5)",
            "missing 'kind'",
            "Valid kinds: agent, classify, extract, function, generate, retrieve",
        ),
    ),
    (
        "unknown_node_field.yaml",
        (
            "nodes[0].raeds (",
            "line 8)",
            "unknown field 'raeds'",
            "did you mean 'reads'",
            "Valid fields:",
        ),
    ),
    (
        "unknown_top_field.yaml",
        ("descripton (", "line 2)", "unknown field 'descripton'", "did you mean 'description'"),
    ),
    (
        "unknown_state_option.yaml",
        ("state.text.inptu (", "line 3)", "did you mean 'input'", "Valid fields:"),
    ),
    (
        "bad_state_type.yaml",
        (
            "state.text.type (",
            "line 3)",
            "unknown type 'strr'",
            "did you mean 'str'",
            "Valid types:",
        ),
    ),
    ("bad_reducer.yaml", ("state.text.reducer (", "line 3)", "'replace', 'append' or 'merge'")),
    ("enum_without_values.yaml", ("state.mood (", "line 4)", "an enum needs `values")),
    ("edge_to_and_cases.yaml", ("edges[1] (", "line 13)", "either `to` or `when`")),
    ("edge_without_target.yaml", ("edges[1] (", "line 12)", "an edge needs `to`")),
    ("conditional_from_list.yaml", ("edges[2] (", "line 19)", "starts from one node")),
    # --- the spec is valid but the graph is not sound (checks.py)
    (
        "edge_unknown_target.yaml",
        (
            "edges[1].to (",
            "line 17)",
            "unknown node 'shuot'",
            "did you mean 'shout'",
            "Valid: END, shout, up",
        ),
    ),
    ("end_as_source.yaml", ("edges[2].from (", "line 13)", "END cannot be the source")),
    ("start_as_target.yaml", ("edges[1].to (", "line 12)", "START cannot be the target")),
    ("no_start_edge.yaml", ("edges (", "line 10)", "no edge leaves START")),
    ("duplicate_ids.yaml", ("nodes[1].id (", "line 10)", "duplicate node id 'up'")),
    ("reserved_id.yaml", ("nodes[0].id (", "line 5)", "'END' is reserved")),
    (
        "unknown_read_key.yaml",
        (
            "nodes[1].reads[0] (",
            "line 13)",
            "unknown state key 'txet'",
            "did you mean 'text'",
            "Valid: text",
        ),
    ),
    (
        "undeclared_write.yaml",
        (
            "nodes[0].writes[0] (",
            "line 9)",
            "unknown state key 'result'",
            "Valid: text",
            "Declare it under `state:`",
        ),
    ),
    ("unreachable_node.yaml", ("nodes[1] (", "line 10)", "node 'shout' is unreachable")),
    (
        "read_not_upstream.yaml",
        (
            "nodes[0].reads[0] (",
            "line 9)",
            "reads 'loud', but nothing upstream writes it",
            "written by: shout",
        ),
    ),
    ("cycle_no_exit.yaml", ("nodes[0] (", "line 5)", "up -> shout -> up", "no exit edge")),
    (
        "unknown_when_key.yaml",
        (
            "edges[1].when (",
            "line 13)",
            "unknown state key 'moood'",
            "did you mean 'mood'",
            "Valid: mood, text",
        ),
    ),
    ("append_on_str.yaml", ("state.text.reducer (", "line 3)", "append needs a list type")),
    (
        "several_problems.yaml",
        (
            "cannot compile, 2 problems",
            "nodes[0].reads[0] (",
            "line 8)",
            "did you mean 'text'",
            "edges[1].to (",
            "line 12)",
            "did you mean 'END'",
        ),
    ),
    # --- references (`module:attr`) refused or not resolvable
    (
        "ref_refused.yaml",
        ("nodes[0].call (", "line 7)", "reference 'os:system' is refused", "allow_imports"),
    ),
    (
        "router_refused.yaml",
        ("edges[1].router (", "line 12)", "'subprocess:getoutput' is refused"),
    ),
    (
        "ref_missing_module.yaml",
        ("nodes[0].call (", "line 7)", "cannot import module 'flows.no_such_steps'"),
    ),
    (
        "ref_missing_attr.yaml",
        ("nodes[0].call (", "line 7)", "'shuot' not found", "Did you mean 'shout'", "Available:"),
    ),
    ("ref_not_callable.yaml", ("nodes[0].call (", "line 7)", "is a str, not callable")),
    (
        "ref_bad_params.yaml",
        (
            "nodes[0].call (",
            "line 7)",
            "does not accept read key(s) text",
            "its parameters are: txt",
        ),
    ),
    (
        "ref_extra_param.yaml",
        ("nodes[0].call (", "line 7)", "requires parameter(s) extra", "declared reads: text"),
    ),
    # The message must say how a reference is written, not only show the pattern's regex.
    ("ref_bad_syntax.yaml", ("nodes[0].call (", "line 7)", "'notareference'", "module:attr")),
]

# (settings fixture used as stepladder.yaml, fragments)
SETTINGS_CASES: list[tuple[str, tuple[str, ...]]] = [
    (
        "unknown_key.yaml",
        (
            "invalid settings",
            "flow_dir (",
            "line 2)",
            "unknown field 'flow_dir'",
            "did you mean 'flows_dir'",
        ),
    ),
    ("wrong_type.yaml", ("invalid settings", "allow_imports (", "line 2)", "valid list")),
    ("bad_yaml.yaml", ("stepladder.yaml, line", "invalid YAML")),
]

COMMANDS = ["validate", "run"]


@pytest.fixture(autouse=True)
def _isolated_imports() -> Iterator[None]:
    """Undo what resolving project references does to `sys.path` and `sys.modules`."""
    saved_path = list(sys.path)
    saved_modules = _flows_modules()
    yield
    sys.path[:] = saved_path
    for name in _flows_modules():
        del sys.modules[name]
    sys.modules.update(saved_modules)


def _flows_modules() -> dict[str, ModuleType]:
    return {
        name: module
        for name, module in sys.modules.items()
        if name == "flows" or name.startswith("flows.")
    }


def make_project(root: Path, flow_fixture: str, settings: str = "name: test\n") -> Path:
    """Create a project under `root` holding the fixture flow and the steps module."""
    (root / "stepladder.yaml").write_text(settings, encoding="utf-8")
    flows = root / "flows"
    flows.mkdir()
    (flows / f"{STEPS_MODULE}.py").write_text(STEPS_SOURCE, encoding="utf-8")
    flow_file = flows / flow_fixture
    shutil.copyfile(FIXTURES / flow_fixture, flow_file)
    return flow_file


def invoke(root: Path, command: str, flow_file: Path, *, debug: bool = False) -> Result:
    """Run `stepladder [--debug] --project ROOT <command> FLOW` in-process."""
    args = ["--debug"] if debug else []
    args += ["--project", str(root), command, str(flow_file)]
    if command == "run":
        args += ["--input", RUN_INPUT]
    return CliRunner().invoke(app, args)


def describe(result: Result) -> str:
    """Everything about a result, for assertion messages."""
    return (
        f"exit code {result.exit_code}, exception {result.exception!r}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def assert_user_error(result: Result, fragments: tuple[str, ...], names: str) -> str:
    """Check the result is exit 2 with one paragraph on stderr; return the message."""
    info = describe(result)
    assert result.exit_code == 2, info
    assert "Traceback" not in result.output, info
    assert result.stdout == "", info
    message = ANSI.sub("", result.stderr).strip()
    assert message.startswith("error: "), info
    assert not re.search(r"\n[ \t]*\n", message), f"more than one paragraph:\n{info}"
    assert names in message, f"message does not name {names!r}:\n{info}"
    missing = [fragment for fragment in fragments if fragment not in message]
    assert not missing, f"missing fragments {missing}:\n{info}"
    return message


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("fixture", "fragments"),
    [pytest.param(f, frags, id=f.removesuffix(".yaml")) for f, frags in FLOW_CASES],
)
def test_malformed_flow_exits_2_with_one_paragraph(
    tmp_path: Path, command: str, fixture: str, fragments: tuple[str, ...]
) -> None:
    flow_file = make_project(tmp_path, fixture)
    result = invoke(tmp_path, command, flow_file)
    assert_user_error(result, fragments, names=str(flow_file))


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("fixture", "fragments"),
    [
        pytest.param(f, frags, id=f"settings-{f.removesuffix('.yaml')}")
        for f, frags in SETTINGS_CASES
    ],
)
def test_malformed_settings_exit_2_with_one_paragraph(
    tmp_path: Path, command: str, fixture: str, fragments: tuple[str, ...]
) -> None:
    settings = (SETTINGS_FIXTURES / fixture).read_text(encoding="utf-8")
    flow_file = make_project(tmp_path, CONTROL_FLOW, settings=settings)
    result = invoke(tmp_path, command, flow_file)
    assert_user_error(result, fragments, names=str(tmp_path / "stepladder.yaml"))


def test_message_names_yaml_path_and_line(tmp_path: Path) -> None:
    flow_file = make_project(tmp_path, "unknown_read_key.yaml")
    message = assert_user_error(invoke(tmp_path, "validate", flow_file), (), str(flow_file))
    assert f"nodes[1].reads[0] ({flow_file}, line 13): unknown state key 'txet'" in message


@pytest.mark.parametrize(
    ("fixture", "fragment"),
    [
        pytest.param("yaml_syntax.yaml", "invalid YAML", id="yaml"),
        pytest.param("unknown_kind.yaml", "did you mean 'function'", id="spec"),
        pytest.param("edge_unknown_target.yaml", "did you mean 'shout'", id="compile"),
        pytest.param("ref_refused.yaml", "is refused", id="reference"),
    ],
)
def test_debug_shows_traceback_and_still_exits_2(
    tmp_path: Path, fixture: str, fragment: str
) -> None:
    flow_file = make_project(tmp_path, fixture)
    result = invoke(tmp_path, "validate", flow_file, debug=True)
    info = describe(result)
    assert result.exit_code == 2, info
    assert "Traceback (most recent call last)" in result.stderr, info
    assert fragment in result.stderr, info
    assert result.stdout == "", info


def test_debug_does_not_leak_into_the_next_invocation(tmp_path: Path) -> None:
    flow_file = make_project(tmp_path, "unknown_kind.yaml")
    assert "Traceback" in invoke(tmp_path, "validate", flow_file, debug=True).stderr
    result = invoke(tmp_path, "validate", flow_file)
    assert_user_error(result, ("did you mean 'function'",), str(flow_file))


@pytest.mark.parametrize("command", COMMANDS)
def test_control_flow_is_valid(tmp_path: Path, command: str) -> None:
    """The harness itself works: the well-formed control flow validates and runs."""
    flow_file = make_project(tmp_path, CONTROL_FLOW)
    result = invoke(tmp_path, command, flow_file)
    assert result.exit_code == 0, describe(result)
    if command == "validate":
        assert "ok demo: 2 nodes" in result.stdout
    else:
        assert '"text": "HELLO!"' in result.stdout


def test_fixtures_are_distinct_and_all_covered() -> None:
    files = sorted(p.name for p in FIXTURES.glob("*.yaml"))
    covered = [name for name, _ in FLOW_CASES]
    assert len(covered) == len(set(covered))
    assert sorted([*covered, CONTROL_FLOW]) == files
    digests = {hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() for name in covered}
    assert len(digests) == len(covered) >= 20
    settings = sorted(p.name for p in SETTINGS_FIXTURES.glob("*.yaml"))
    assert sorted(name for name, _ in SETTINGS_CASES) == settings
