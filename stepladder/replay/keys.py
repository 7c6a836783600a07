"""The cache key of a node call: a content hash of the node's definition and of its inputs.

The definition has four parts, each hashed on its own so a miss can say which one changed:

- `spec`: the node's spec as the flow file gives it (every field but `description`), so
  instructions, labels, fields, demos, tier, retries, escalation and the adapter it names.
  Fields left at their default are left out, so a stepladder version that adds a field to a
  node kind keeps the records made before it valid.
- `prompt`: the compiled prompt of an LLM node: each DSPy predictor's instructions, its
  fields (names, types, descriptions) and its demos, after optimized prompts were loaded.
- `model`: for each tier the node may call (its tier, the ladder's rungs when it escalates,
  every tier when a state key picks it), the runtime, the model (name or path) and the
  sampling settings (`temperature`, `max_tokens`). The node's LoRA adapter is in its spec.
- `code`: the source of a function node's callable.

The inputs are the state keys the node reads (and its `tier_from` key), as JSON. The key is
the SHA-256 of the node id, the four part hashes and the inputs. Trained artifacts (an
embedding classifier, a router) count through the reference in the spec: pin a version
(`name@v3`) to make a retrained artifact a change.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic_core import to_jsonable_python

from stepladder.nodes import FunctionNodeSpec, NodeSpecBase, RunContext
from stepladder.nodes.base import BuildContext
from stepladder.replay.record import NodeCall

__all__ = [
    "PARTS",
    "NodeDefinition",
    "call_key",
    "calls_models",
    "describe_change",
    "digest",
    "inputs_of",
    "spec_digest",
]

PARTS = ("spec", "prompt", "model", "code")
_PART_NAMES = {
    "spec": "its spec",
    "prompt": "its compiled prompt",
    "model": "its tier's model or sampling",
    "code": "its function's code",
}
_MODEL_FIELDS = ("runtime", "model", "model_path", "base_url", "temperature", "max_tokens")


def digest(value: Any) -> str:
    """The SHA-256 (hex, 32 characters) of `value` as canonical JSON."""
    text = json.dumps(
        to_jsonable_python(value, fallback=repr), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def inputs_of(node: NodeSpecBase, state: Mapping[str, Any]) -> dict[str, Any]:
    """The state keys the node reads (and its `tier_from` key), as JSON."""
    keys = list(node.reads)
    tier_key = node.tier_key()
    if tier_key is not None and tier_key not in keys:
        keys.append(tier_key)
    return {key: to_jsonable_python(state.get(key), fallback=repr) for key in keys}


def call_key(node_id: str, parts: Mapping[str, str], inputs: Mapping[str, Any]) -> str:
    """The content hash a node call is recorded and looked up by."""
    return digest({"node": node_id, "parts": dict(parts), "inputs": dict(inputs)})


class NodeDefinition:
    """The definition part hashes of one node, computed once per run where they can change.

    The spec and code parts are fixed when the flow compiles; the prompt and model parts are
    read from the run (its programs, its tiers) and kept per program and pool.
    """

    def __init__(self, node: NodeSpecBase, context: BuildContext) -> None:
        self.node = node
        self.programs = context.programs
        self.spec = spec_digest(node)
        self.code = _code_digest(node, context)
        self._prompts: dict[int, tuple[Any, str]] = {}
        self._models: dict[int, tuple[Any, str]] = {}

    def parts(self, context: RunContext) -> dict[str, str]:
        """The four part hashes for a call in the run `context`."""
        return {
            "spec": self.spec,
            "prompt": self._prompt(context),
            "model": self._model(context),
            "code": self.code,
        }

    def _prompt(self, context: RunContext) -> str:
        program = context.programs.get(self.node.id) or self.programs.get(self.node.id)
        if program is None:
            return ""
        known = self._prompts.get(id(program))
        if known is None or known[0] is not program:
            known = (program, digest(_prompt_of(program)))
            self._prompts[id(program)] = known
        return known[1]

    def _model(self, context: RunContext) -> str:
        if not calls_models(self.node):
            return ""
        known = self._models.get(id(context.models))
        if known is None or known[0] is not context.models:
            known = (context.models, digest(_models_of(self.node, context)))
            self._models[id(context.models)] = known
        return known[1]


def spec_digest(node: NodeSpecBase) -> str:
    """The hash of the node's spec: its fields, but `description` and those left at default."""
    return digest(node.model_dump(mode="json", exclude={"description"}, exclude_defaults=True))


def calls_models(node: NodeSpecBase) -> bool:
    """Whether the node may call a model tier (its own, a rung it escalates to, a routed one)."""
    return bool(node.tiers()) or node.escalation() is not None or node.tier_key() is not None


def _prompt_of(program: Any) -> list[dict[str, Any]]:
    """Each predictor's instructions, fields and demos: what the model is shown."""
    shown = []
    for name, predictor in program.named_predictors():
        signature = predictor.signature
        fields = {
            field_name: [str(info.annotation), info.json_schema_extra or {}]
            for field_name, info in signature.fields.items()
        }
        demos = [dict(d.toDict()) if hasattr(d, "toDict") else d for d in predictor.demos]
        shown.append(
            {"name": name, "instructions": signature.instructions, "fields": fields, "demos": demos}
        )
    return shown


def _models_of(node: NodeSpecBase, context: RunContext) -> dict[str, Any]:
    """The model and sampling of each tier the node may call."""
    tiers = set(node.tiers())
    if node.escalation() is not None:
        tiers.update(rung for rung in context.ladder if rung != "human")
    pool = context.models
    configured = dict(pool.tiers) if pool is not None else {}
    if node.tier_key() is not None:
        tiers.update(configured)
    models: dict[str, Any] = {}
    for tier in sorted(tiers):
        settings = configured.get(tier)
        if settings is None:
            models[tier] = "given"
            continue
        dumped = settings.model_dump(mode="json")
        models[tier] = {k: dumped[k] for k in _MODEL_FIELDS if k in dumped}
    return models


def _code_digest(node: NodeSpecBase, context: BuildContext) -> str:
    """The hash of a function node's callable's source (empty for other kinds)."""
    if not isinstance(node, FunctionNodeSpec):
        return ""
    fn = context.resolver.resolve(node.call, (*context.path, "call"))
    return digest(_source(fn))


def _source(fn: Callable[..., Any]) -> str:
    for target in (fn, type(fn)):
        try:
            return inspect.getsource(target)
        except (OSError, TypeError):
            continue
    code = getattr(fn, "__code__", None)
    return code.co_code.hex() if code is not None else repr(fn)


def describe_change(
    node_id: str,
    parts: Mapping[str, str],
    inputs: Mapping[str, Any],
    recorded: NodeCall | None,
) -> str:
    """Say why a call is not in the record.

    Which parts of its key differ from the recorded call of the same node, else which inputs
    differ (or that the node was never recorded).
    """
    if recorded is None:
        return "the record holds no call of this node (a new node, or one that did not run)"
    changed = [part for part in PARTS if parts.get(part, "") != recorded.parts.get(part, "")]
    if changed:
        names = [_PART_NAMES[part] for part in changed]
        said = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        return f"{said} changed (key parts: {', '.join(changed)})"
    before = recorded.inputs
    differ = sorted(k for k in {*inputs, *before} if inputs.get(k) != before.get(k))
    shown = "; ".join(
        f"{k}: {_short(recorded.inputs.get(k))} -> {_short(inputs.get(k))}" for k in differ[:3]
    )
    return f"its inputs differ from the recorded ones ({shown})"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
