"""Compiled prompts: saved from a flow's programs, loaded into a fresh build, stale ones refused."""

from pathlib import Path
from typing import Any

import dspy
import pytest

from stepladder import compile_flow, flow_from_dict
from stepladder.errors import CompiledPromptsError
from stepladder.flows import Flow
from stepladder.prompts import (
    CompiledFile,
    CompiledNode,
    apply_compiled,
    fingerprint,
    load_compiled,
    save_compiled,
)

CLASSIFY = {"id": "classify", "kind": "classify", "reads": ["message"], "output": "category",
            "labels": ["ORDER", "REFUND"], "instructions": "Classify the message."}  # fmt: skip
STATE = {"message": {"type": "str", "input": True},
         "category": {"type": "enum", "values": ["ORDER", "REFUND"]}}  # fmt: skip


def flow(**changes: Any) -> Flow:
    node = {**CLASSIFY, **changes}
    state = {**STATE, "category": {"type": "enum", "values": node["labels"]}}  # fits the labels
    return compile_flow(flow_from_dict({"name": "t", "state": state, "nodes": [node]}))


def tuned_file(path: Path) -> CompiledFile:
    """Give a fresh build's classify program two demos and save it."""
    source = flow()
    program = source.programs["classify"]
    program.demos = [dspy.Example(message="money back", category="REFUND"),
                     dspy.Example(message="where is my parcel", category="ORDER")]  # fmt: skip
    compiled = CompiledFile(
        flow="t", optimizer="bootstrap",
        nodes={"classify": CompiledNode(fingerprint=fingerprint(flow().programs["classify"]),
                                        state=program.dump_state())},
    )  # fmt: skip
    save_compiled(path, compiled)
    return compiled


def test_round_trip_puts_the_demos_into_a_fresh_build(tmp_path: Path) -> None:
    path = tmp_path / "compiled/t.json"
    tuned_file(path)
    fresh = flow()
    assert apply_compiled(load_compiled(path), fresh.programs, path) == ["classify"]
    demos = fresh.programs["classify"].demos
    assert [(d["message"], d["category"]) for d in demos] == [
        ("money back", "REFUND"),
        ("where is my parcel", "ORDER"),
    ]
    assert fresh.programs["classify"].signature.instructions.startswith("Classify the message.")


@pytest.mark.parametrize(
    ("changes", "what"),
    [
        ({"labels": ["ORDER", "REFUND", "OTHER"]}, "outputs"),
        ({"instructions": "Sort the message."}, "instructions"),
        ({"id": "sort"}, "not an LLM node of the flow now"),
    ],
)
def test_a_changed_node_is_refused_and_nothing_is_applied(
    tmp_path: Path, changes: dict[str, Any], what: str
) -> None:
    path = tmp_path / "t.json"
    tuned_file(path)
    changed = flow(**changes)
    with pytest.raises(CompiledPromptsError, match=what) as caught:
        apply_compiled(load_compiled(path), changed.programs, path)
    assert "stepladder optimize" in str(caught.value)
    assert all(not program.demos for program in changed.programs.values())


def test_a_file_that_is_not_compiled_prompts_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"flow": "t"}', encoding="utf-8")
    with pytest.raises(CompiledPromptsError, match="not a compiled prompts file"):
        load_compiled(path)
