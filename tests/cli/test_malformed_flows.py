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

import os
from os import system

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
            "Valid kinds: agent, classify, extract, flow, function, generate, retrieve",
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
    (
        "bad_reducer.yaml",
        ("state.text.reducer (", "line 3)", "'replace', 'append', 'merge' or 'last'"),
    ),
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
    # --- hostile references: the allowlist holds (issue 18, points 1 and 2)
    (
        "ref_stepladder_os_system.yaml",
        (
            "nodes[0].call (",
            "line 7)",
            "'stepladder.serve.auth:os.system' is refused",
            "internals flows may not reference",
        ),
    ),
    (
        "ref_stepladder_subprocess.yaml",
        ("nodes[0].call (", "'stepladder.runtimes.models:subprocess.run' is refused"),
    ),
    (
        "ref_import_module.yaml",
        ("nodes[0].call (", "'stepladder.specs.references:importlib.import_module' is refused"),
    ),
    (
        "ref_stepladder_internal.yaml",
        (
            "'stepladder.flows.run:run_flow' is refused",
            "public names are stepladder.tools:ToolResult",
        ),
    ),
    (
        "ref_builtins_dunder.yaml",
        ("nodes[0].call (", "line 7)", "'__builtins__' is a private name"),
    ),
    ("ref_private_name.yaml", ("nodes[0].call (", "'_secret_helper' is a private name")),
    ("ref_globals_walk.yaml", ("'flows.malformed_steps:up.__globals__' is refused", "private")),
    (
        "ref_builtins_eval.yaml",
        ("'builtins:eval' is refused", "module 'builtins' is neither in the project folder"),
    ),
    (
        "ref_project_module_import.yaml",
        ("'flows.malformed_steps:os.system' is refused", "'os' is the module os"),
    ),
    (
        "ref_project_reexport.yaml",
        (
            "'flows.malformed_steps:system' is refused",
            "a name imported into an allowed module does not make it allowed",
        ),
    ),
    # An empty `os/` (or `test/`) folder in the project does not let the stdlib module in.
    (
        "ref_os_shadow.yaml",
        ("'os:popen' is refused", "its 'os' there does not count", "Python's own 'os'"),
    ),
    (
        "ref_test_shadow.yaml",
        ("'test.support:os.system' is refused", "its 'test' there does not count"),
    ),
    ("ref_path_traversal.yaml", ("nodes[0].call (", "'../../etc/passwd:read'", "module:attr")),
    (
        "router_through_import.yaml",
        ("edges[1].router (", "line 12)", "'stepladder.serve.auth:os.getenv' is refused"),
    ),
    (
        "router_missing_module.yaml",
        ("edges[1].router (", "line 17)", "cannot import module 'flows.routers'"),
    ),
    ("tool_refused.yaml", ("tools.shell (", "line 6)", "'subprocess:check_output' is refused")),
    (
        "verifier_refused.yaml",
        ("nodes[0].escalate.verifier (", "line 11)", "'os:system' is refused"),
    ),
    ("signature_refused.yaml", ("nodes[0].signature (", "line 10)", "'pickle:loads' is refused")),
    ("state_type_refused.yaml", ("state.where.type (", "line 4)", "'os:PathLike' is refused")),
    # --- YAML abuse: bounded loader, duplicate keys, tags, encodings
    ("alias_bomb.yaml", ("line 2:", "may not use YAML anchors or aliases", "anchor '&a'")),
    ("alias_recursive.yaml", ("line 4:", "anchor '&loop'", "write the repeated value out")),
    ("anchor_merge_key.yaml", ("line 5:", "anchor '&step'")),
    ("deep_nesting.yaml", ("line 10:", "nests deeper than 100 levels")),
    (
        "duplicate_nodes_key.yaml",
        ("nodes (", "line 10)", "duplicate key 'nodes', first at line 4", "keep only the last"),
    ),
    (
        "duplicate_state_key.yaml",
        ("state.text (", "line 4)", "duplicate key 'text', first at line 3"),
    ),
    (
        "duplicate_node_field.yaml",
        ("nodes[0].call (", "line 10)", "duplicate key 'call', first at line 7"),
    ),
    ("tab_indent.yaml", ("line 6, column 1", "invalid YAML", "tab character")),
    (
        "python_object_tag.yaml",
        ("line 10, column 18", "invalid YAML", "python/object/apply:os.system"),
    ),
    ("python_name_tag.yaml", ("line 7, column 11", "python/name:os.system")),
    ("include_tag.yaml", ("line 4, column 8", "tag '!include'")),
    (
        "latin1.yaml",
        ("line 4:", "must be UTF-8", "byte 0xe9", "Latin-1", "iconv -f LATIN1 -t UTF-8"),
    ),
    ("utf16.yaml", ("must be UTF-8", "UTF-16", "iconv -f UTF-16 -t UTF-8")),
    # A byte-order mark is fine, and does not shift the lines errors name.
    ("bom_then_mistake.yaml", ("nodes[0].kind (", "line 6)", "did you mean 'function'")),
    ("nul_byte.yaml", ("invalid YAML", "unacceptable character #x0000", "control characters")),
    ("control_char.yaml", ("invalid YAML", "unacceptable character #x0007")),
    ("only_comments.yaml", ("the flow is empty",)),
    ("scalar_document.yaml", ("a flow must be a mapping", "not a str")),
    ("two_documents.yaml", ("line 10, column 1", "expected a single document")),
    ("unclosed_quote.yaml", ("line 11, column 1", "while scanning a quoted scalar")),
    ("state_key_not_string.yaml", ("line 4, column 3", "unhashable key")),
    # --- state declarations
    (
        "enum_default_outside.yaml",
        ("state.mood.default (", "line 4)", "the default 'Z' does not fit", "'happy' or 'sad'"),
    ),
    (
        "int_default_notanint.yaml",
        ("state.count.default (", "line 4)", "'notanint' does not fit the key's type int"),
    ),
    (
        "list_default_scalar.yaml",
        ("state.tags.default (", "'urgent' does not fit the key's type list[str]"),
    ),
    (
        "enum_yes_no.yaml",
        ("state.answer.values (", "line 4)", "values[0] is the boolean true", "quote them"),
    ),
    ("enum_duplicate_values.yaml", ("state.mood.values (", "distinct; repeated: happy")),
    ("enum_float_values.yaml", ("state.score.values (", "values[1] is a float")),
    ("enum_values_scalar.yaml", ("state.mood.values (", "line 4)", "valid list", "'happy'")),
    ("values_on_str.yaml", ("state.text (", "line 3)", "`values` applies only to type enum")),
    ("optional_empty.yaml", ("state.note.type (", "line 4)", "is not a type", "optional[T]")),
    ("list_empty.yaml", ("state.tags.type (", "line 4)", "is not a type", "list[T]")),
    ("list_unclosed.yaml", ("state.tags.type (", "missing ']' after list[")),
    ("dict_int_keys.yaml", ("state.counts.type (", "line 4)", "dict keys must be str")),
    ("str_with_param.yaml", ("state.name.type (", "'str' takes no parameter", "valid types: str")),
    (
        "state_model_missing.yaml",
        ("state.order.type (", "line 4)", "'Order' not found in flows.malformed_steps"),
    ),
    ("state_model_not_class.yaml", ("state.order.type (", "is not a pydantic model class")),
    ("merge_on_list.yaml", ("state.tags.reducer (", "line 4)", "merge needs a dict type")),
    ("input_not_bool.yaml", ("state.text.input (", "line 3)", "valid boolean", "'maybe'")),
    ("state_as_list.yaml", ("state (", "line 2)", "valid dictionary")),
    # --- nodes: each kind's required fields and bounds
    ("function_no_call.yaml", ("nodes[0].call (", "line 5)", "required field 'call'")),
    ("function_with_tier.yaml", ("nodes[0].tier (", "line 10)", "unknown field 'tier'")),
    ("in_thread_not_bool.yaml", ("nodes[0].in_thread (", "valid boolean", "'sometimes'")),
    ("node_id_spaces.yaml", ("nodes[0].id (", "line 5)", "'make it loud' is not valid")),
    ("node_as_string.yaml", ("nodes[0] (", "line 5)", "(got 'up')", "nodes[1] (")),
    ("nodes_as_mapping.yaml", ("nodes (", "line 4)", "valid list")),
    ("classify_no_labels.yaml", ("nodes[0] (", "line 6)", "`labels` is required")),
    ("classify_one_label.yaml", ("nodes[0].labels (", "line 9)", "at least 2 items")),
    (
        "classify_labels_outside_enum.yaml",
        ("nodes[0].output (", "line 10)", "label(s) angry", "values are: happy, sad"),
    ),
    (
        "classify_embeddings_no_classifier.yaml",
        ("nodes[0] (", "`using: embeddings` needs `classifier`", "stepladder classifier train"),
    ),
    ("classify_unknown_using.yaml", ("nodes[0].using (", "'llm' or 'embeddings'", "'regex'")),
    ("extract_no_fields.yaml", ("nodes[0].fields (", "line 5)", "give `fields` or `signature`")),
    (
        "extract_bad_field_type.yaml",
        ("nodes[0].fields.age.type (", "line 10)", "unknown type 'integer'", "did you mean 'int'"),
    ),
    ("generate_no_output.yaml", ("nodes[0].output (", "required field 'output'")),
    (
        "generate_output_undeclared.yaml",
        ("nodes[0].writes[0] (", "unknown state key 'answer'", "Declare it under `state:`"),
    ),
    ("retrieve_no_collection.yaml", ("nodes[0].collection (", "required field 'collection'")),
    ("retrieve_k_zero.yaml", ("nodes[0].k (", "line 11)", "greater than or equal to 1")),
    ("agent_max_steps_zero.yaml", ("nodes[0].max_steps (", "line 13)", "(got 0)")),
    (
        "agent_unknown_tool.yaml",
        ("nodes[0].tools[0] (", "line 12)", "unknown tool 'lokup'", "did you mean 'lookup'"),
    ),
    ("route_no_router.yaml", ("nodes[0].router (", "required field 'router'")),
    (
        "unknown_tier.yaml",
        ("nodes[0].tier (", "line 8)", "unknown tier 'large'", "Valid: small", "`tiers:`"),
    ),
    (
        "tier_from_unknown.yaml",
        ("nodes[0].tier_from (", "unknown state key 'chosen_tier'", "Valid: answer, text"),
    ),
    (
        "escalate_unknown_rung.yaml",
        ("nodes[0].escalate.to[0] (", "unknown tier 'galaxy-brain'", "Valid: human, small"),
    ),
    (
        "escalate_unknown_trigger.yaml",
        ("nodes[0].escalate.triggers[0] (", "'invalid', 'confidence' or 'verifier'", "'timeout'"),
    ),
    ("escalate_without_ladder.yaml", ("nodes[0].escalate (", "has no `ladder`", "escalate.to")),
    ("escalate_one_sample.yaml", ("nodes[0].escalate.samples (", "set `samples` to 2 or more")),
    ("retries_too_many.yaml", ("nodes[0].retries (", "less than or equal to 10", "(got 100)")),
    # --- edges
    ("case_unknown_node.yaml", ("edges[1].cases.sad (", "line 18)", "unknown node 'sulk'")),
    (
        "cases_outside_enum.yaml",
        ("edges[1].cases.angry (", "line 18)", "can never match", "an enum of happy, sad"),
    ),
    (
        "case_labels_booleans.yaml",
        ("edges[1].cases.true (", "can never match", "enum of yes, no", "quote the label"),
    ),
    ("when_bool_string_cases.yaml", ("edges[1].cases.yes (", "line 13)", "is a bool")),
    ("two_conditional_edges.yaml", ("edges[2] (", "line 19)", "already has a conditional edge")),
    ("self_loop_no_exit.yaml", ("nodes[0] (", "the cycle up -> up has no exit edge")),
    ("start_to_end_only.yaml", ("nodes[0] (", "line 5)", "node 'up' is unreachable")),
    ("default_unknown_node.yaml", ("edges[1].default (", "unknown node 'fallback'")),
    ("join_unknown_source.yaml", ("edges[2].from[1] (", "line 18)", "did you mean 'shout'")),
    ("when_and_router.yaml", ("edges[1] (", "line 18)", "`when` or `router`, not both")),
    ("when_without_cases.yaml", ("edges[1] (", "a conditional edge needs `cases`")),
    ("edge_unknown_field.yaml", ("edges[2].too (", "line 18)", "did you mean 'to'")),
    ("edges_as_mapping.yaml", ("edges (", "line 15)", "valid list")),
    ("edge_without_from.yaml", ("edges[1].from (", "line 17)", "required field 'from'")),
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
    ("alias_in_settings.yaml", ("stepladder.yaml, line 3:", "anchors or aliases")),
    ("allow_imports_string.yaml", ("allow_imports (", "line 2)", "valid list")),
    # A key pasted where the variable's name goes is refused, and not echoed.
    (
        "api_key_value.yaml",
        ("tiers.frontier.api_key_env (", "line 3)", "not the key itself", "OPENAI_API_KEY"),
    ),
    ("duplicate_tier.yaml", ("tiers.small (", "line 4)", "duplicate key 'small', first at line 3")),
    ("ladder_human_not_last.yaml", ("ladder (", "line 4)", "'human' is the last step")),
    (
        "ladder_unknown_rung.yaml",
        ("ladder[1] (", "line 4)", "unknown tier 'frontier'", "Valid: human, small"),
    ),
    ("latin1_settings.yaml", ("stepladder.yaml, line 1:", "must be UTF-8", "iconv")),
    (
        "litellm_no_key_env.yaml",
        ("tiers.frontier.api_key_env (", "required field 'api_key_env'", "model, runtime"),
    ),
    ("max_body_garbage.yaml", ("serve.max_body (", "line 3)", "(got 'lots')")),
    ("negative_timeout.yaml", ("tiers.small.timeout_s (", "line 3)", "greater than 0")),
    ("node_threads_zero.yaml", ("serve.node_threads (", "line 3)", "(got 0)")),
    ("python_tag_settings.yaml", ("stepladder.yaml, line 1, column 7", "python/object/apply")),
    ("settings_list.yaml", ("settings must be a mapping", "not a list")),
    ("sglang_both.yaml", ("tiers.gpu (", "line 3)", "either `base_url` (connect) or `model_path`")),
    ("temperature_too_high.yaml", ("tiers.small.temperature (", "less than or equal to 2")),
    (
        "tier_missing_runtime.yaml",
        ("tiers.small (", "line 3)", "missing 'runtime'", "llamacpp, openai-compatible, sglang"),
    ),
    ("tier_named_human.yaml", ("tiers (", "line 2)", "'human' is reserved")),
    ("top_level_typo.yaml", ("tier (", "line 2)", "did you mean 'tiers'")),
    (
        "unknown_runtime.yaml",
        ("tiers.small.runtime (", "line 3)", "unknown runtime 'ollama'", "Valid runtimes:"),
    ),
]

# Folders a case's project holds besides `flows/` (a stdlib module's name, left empty).
PROJECT_FOLDERS: dict[str, tuple[str, ...]] = {
    "ref_os_shadow.yaml": ("os",),
    "ref_test_shadow.yaml": ("test",),
}

# The least number of hand-written malformed files (flow and settings fixtures together).
MIN_MALFORMED_FILES = 110

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


def make_project(root: Path, flow_fixture: str, settings: bytes = b"name: test\n") -> Path:
    """Create a project under `root` holding the fixture flow and the steps module."""
    (root / "stepladder.yaml").write_bytes(settings)
    flows = root / "flows"
    flows.mkdir()
    (flows / f"{STEPS_MODULE}.py").write_text(STEPS_SOURCE, encoding="utf-8")
    flow_file = flows / flow_fixture
    shutil.copyfile(FIXTURES / flow_fixture, flow_file)
    for folder in PROJECT_FOLDERS.get(flow_fixture, ()):
        (root / folder).mkdir()
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
    settings = (SETTINGS_FIXTURES / fixture).read_bytes()
    flow_file = make_project(tmp_path, CONTROL_FLOW, settings=settings)
    result = invoke(tmp_path, command, flow_file)
    assert_user_error(result, fragments, names=str(tmp_path / "stepladder.yaml"))


# Hostile files too big to commit, made from the control flow plus one top-level line (15).
GENERATED_CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "nested_20k_deep": (
        "description: " + "[" * 20_000 + "]" * 20_000,
        ("line 15", "nest"),  # libyaml's own depth limit may name it first
    ),
    "over_size_limit": (
        "description: " + "x" * 1_000_001,
        ("larger than the 1,000,000-byte limit", "STEPLADDER_MAX_SPEC_BYTES"),
    ),
    "too_many_items": (
        "description: [" + ",".join(["1"] * 100_001) + "]",
        ("line 15:", "more than 100,000 items"),
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", list(GENERATED_CASES))
def test_generated_hostile_flow_exits_2_with_one_paragraph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, case: str
) -> None:
    monkeypatch.delenv("STEPLADDER_MAX_SPEC_BYTES", raising=False)
    line, fragments = GENERATED_CASES[case]
    flow_file = make_project(tmp_path, CONTROL_FLOW)
    control = (FIXTURES / CONTROL_FLOW).read_text(encoding="utf-8")
    assert control.count("\n") == 14
    flow_file.write_text(control + line + "\n", encoding="utf-8")
    result = invoke(tmp_path, command, flow_file)
    assert_user_error(result, fragments, names=str(flow_file))


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
    settings = sorted(p.name for p in SETTINGS_FIXTURES.glob("*.yaml"))
    settings_covered = [name for name, _ in SETTINGS_CASES]
    assert len(settings_covered) == len(set(settings_covered))
    assert sorted(settings_covered) == settings
    paths = [FIXTURES / name for name in covered]
    paths += [SETTINGS_FIXTURES / name for name in settings_covered]
    digests = {hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}
    assert len(digests) == len(paths) >= MIN_MALFORMED_FILES
    assert set(PROJECT_FOLDERS) <= set(covered)
    assert all(path.stat().st_size < 50_000 for path in paths)
