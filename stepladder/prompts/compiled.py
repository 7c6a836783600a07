"""The store of optimized (compiled) prompts: `prompts/compiled/<flow>.json`.

A compiled file holds, for each optimized LLM node, the DSPy state of its program (demos,
instructions) and a fingerprint of the program it was optimized from: its input fields, its
output schema and its instructions. A flow loads the file when it is compiled; a node whose
fingerprint no longer matches (the flow changed since the optimization) makes the load fail
with `CompiledPromptsError`, so stale prompts are never applied silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from stepladder.errors import CompiledPromptsError
from stepladder.files import write_text_atomic
from stepladder.prompts.constrained import output_model

__all__ = [
    "COMPILED_FORMAT",
    "CompiledFile",
    "CompiledNode",
    "apply_compiled",
    "compiled_path",
    "compiled_state",
    "fingerprint",
    "load_compiled",
    "save_compiled",
]

COMPILED_FORMAT = 1


class CompiledNode(BaseModel):
    """One optimized node: what it was optimized from, and the program's DSPy state."""

    fingerprint: dict[str, Any]
    state: dict[str, Any]


class CompiledFile(BaseModel):
    """The content of `prompts/compiled/<flow>.json`.

    Attributes:
        flow: The flow's name.
        optimizer: The DSPy optimizer that made it (`bootstrap`, `mipro`, `gepa`).
        models: The model each tier was bound to during the optimization.
        created: When it was made (UTC).
        score: The metric on the validation split before and after, and what it was.
        details: How it was made: splits, seed, teacher, calls, tokens, cost, seconds.
        nodes: The optimized nodes by id.
    """

    format: int = COMPILED_FORMAT
    flow: str
    optimizer: str
    models: dict[str, str] = Field(default_factory=dict)
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    score: dict[str, Any] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    nodes: dict[str, CompiledNode]


def compiled_path(prompts_dir: Path, flow_name: str) -> Path:
    """Where a flow's compiled prompts live: `prompts/compiled/<flow>.json`."""
    return prompts_dir / "compiled" / f"{flow_name}.json"


def fingerprint(program: Any) -> dict[str, Any]:
    """What a program's compiled state depends on: each predictor's fields and instructions."""
    return {
        name or "self": {
            "inputs": sorted(predictor.signature.input_fields),
            "outputs": output_model(predictor.signature).model_json_schema(),
            "instructions": predictor.signature.instructions,
        }
        for name, predictor in program.named_predictors()
    }


def compiled_state(program: Any) -> dict[str, Any]:
    """The program's DSPy state to save: demos keep only their signature's fields.

    Bootstrapped demos carry whatever the prediction held (token log-probabilities) and
    labelled ones whatever the example held (its case id); neither belongs in a prompt file.
    """
    # Lazy: DSPy takes seconds to import, and only compiling or loading prompts needs it.
    import dspy

    trimmed = program.deepcopy()
    for _, predictor in trimmed.named_predictors():
        fields = {*predictor.signature.input_fields, *predictor.signature.output_fields}
        predictor.demos = [
            dspy.Example({k: v for k, v in dict(demo).items() if k in fields or k == "augmented"})
            for demo in predictor.demos
        ]
    state: dict[str, Any] = trimmed.dump_state()
    return state


def save_compiled(path: Path, compiled: CompiledFile) -> Path:
    """Write `compiled` to `path` (folders created), replacing any earlier file atomically."""
    return write_text_atomic(path, compiled.model_dump_json(indent=2))


def load_compiled(path: Path) -> CompiledFile:
    """Read a compiled prompts file.

    Raises:
        CompiledPromptsError: If it is not JSON or not a compiled prompts file.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return CompiledFile.model_validate(data)
    except (json.JSONDecodeError, ValidationError) as error:
        first = str(error).splitlines()[0]
        raise CompiledPromptsError(
            f"{path}: not a compiled prompts file ({first}). Re-create it with "
            "`stepladder optimize`, or delete it."
        ) from None


def apply_compiled(compiled: CompiledFile, programs: Mapping[str, Any], path: Path) -> list[str]:
    """Load each compiled node's state into the flow's program for that node.

    Every node is checked before any program is changed.

    Args:
        compiled: The file's content.
        programs: The flow's LLM-node programs by node id (as just built from the spec).
        path: The file, for messages.

    Returns:
        The ids of the nodes that received compiled prompts.

    Raises:
        CompiledPromptsError: If a node is gone, or its fields or instructions changed since
            the optimization.
    """
    problems = [
        problem
        for node_id, node in compiled.nodes.items()
        for problem in _mismatches(node_id, node, programs)
    ]
    if problems:
        raise CompiledPromptsError(
            f"{path} was compiled for another version of flow '{compiled.flow}' "
            f"({compiled.created:%Y-%m-%d}); refusing to apply it: {'; '.join(problems)}. "
            "Run `stepladder optimize` again, delete the file, or pass --no-compiled."
        )
    for node_id, node in compiled.nodes.items():
        programs[node_id].load_state(node.state)
    return list(compiled.nodes)


def _mismatches(node_id: str, node: CompiledNode, programs: Mapping[str, Any]) -> list[str]:
    if node_id not in programs:
        known = ", ".join(sorted(programs)) or "(none)"
        return [f"node '{node_id}' is not an LLM node of the flow now (LLM nodes: {known})"]
    now = fingerprint(programs[node_id])
    if set(now) != set(node.fingerprint):
        return [f"node '{node_id}' has different predictors now"]
    problems = []
    for predictor, parts in now.items():
        then = node.fingerprint[predictor]
        changed = [
            part for part in ("inputs", "outputs", "instructions") if parts[part] != then.get(part)
        ]
        if changed:
            where = node_id if predictor == "self" else f"{node_id}.{predictor}"
            problems.append(f"node '{where}' changed its {' and '.join(changed)}")
    return problems
