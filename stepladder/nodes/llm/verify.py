"""Verifiers an escalating node asks whether its output is good enough to keep.

A function by reference (`module:function`) gets the node's reads and outputs as keyword
arguments (those it names, or all with `**kwargs`; sync or async) and returns a bool or
`(bool, reason)`. A judge (`{tier, criteria}`) asks a model on that tier, through the
constrained-JSON adapter, for `passed` and `reason`; its calls are the node's, on the judge's tier.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic_core import to_jsonable_python

from stepladder.errors import FlowCompileError, NodeError
from stepladder.nodes.base import BuildContext, NodeSpecBase
from stepladder.nodes.context import RunContext
from stepladder.nodes.llm.escalation import JudgeVerifier
from stepladder.nodes.llm.verdicts import ask_verdict
from stepladder.prompts import SignatureField, build_signature

__all__ = ["Verdict", "Verifier", "build_verifier"]

Verdict = tuple[bool, str]
_JUDGE_INSTRUCTIONS = (
    "You check the output of a step of a task. Read the step's inputs, its output and the "
    "criteria, and decide whether the output meets the criteria. Set `passed` to true or "
    "false, and say why in one sentence in `reason`."
)


class Verifier(Protocol):
    """Says whether a node's output may be kept, and why not."""

    async def __call__(
        self, context: RunContext, inputs: dict[str, Any], values: dict[str, Any]
    ) -> Verdict:
        """Return (passed, reason)."""
        ...


def build_verifier(node: NodeSpecBase, context: BuildContext) -> Verifier | None:
    """The verifier a node's `escalate.verifier` names (resolved now), or None."""
    policy = node.escalation()
    if policy is None or policy.verifier is None:
        return None
    if isinstance(policy.verifier, JudgeVerifier):
        return JudgeCheck(node.id, policy.verifier)
    path = (*context.path, "escalate", "verifier")
    target = context.resolver.resolve(policy.verifier, path)
    if not callable(target):
        raise FlowCompileError(
            f"{context.where('escalate', 'verifier')}: '{policy.verifier}' is not callable."
        )
    return FunctionCheck(node.id, policy.verifier, target)


@dataclass(frozen=True)
class FunctionCheck:
    """A Python function that judges the output."""

    node_id: str
    reference: str
    function: Callable[..., Any]

    async def __call__(
        self, context: RunContext, inputs: dict[str, Any], values: dict[str, Any]
    ) -> Verdict:
        """Call the function with the reads and outputs it names."""
        arguments = _arguments(self.function, {**inputs, **values})
        result = self.function(**arguments)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, bool):
            return result, "" if result else f"{self.reference} returned False"
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bool):
            return result[0], str(result[1] or "")
        raise NodeError(
            self.node_id,
            f"verifier {self.reference} returned {type(result).__name__}; return a bool or "
            "(bool, reason).",
        )


def _arguments(function: Callable[..., Any], available: dict[str, Any]) -> dict[str, Any]:
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return available
    return {p.name: available[p.name] for p in parameters if p.name in available}


@dataclass(frozen=True)
class JudgeCheck:
    """A model on a tier judges the output against criteria."""

    node_id: str
    judge: JudgeVerifier

    async def __call__(
        self, context: RunContext, inputs: dict[str, Any], values: dict[str, Any]
    ) -> Verdict:
        """Ask the judge once; no valid verdict counts as not passed."""
        assert context.models is not None
        bound = await context.models.bound(self.judge.tier)
        question = {
            "inputs": _as_text(inputs),
            "output": _as_text(values),
            "criteria": self.judge.criteria,
        }
        verdict = await ask_verdict(
            _judge_signature(), question, bound=bound, ledger=context.usage,
            tracing=context.tracing, flow=context.flow_name, node_id=self.node_id,
            node_kind="verifier", who=f"node '{self.node_id}': verifier",
        )  # fmt: skip
        return verdict if verdict is not None else (False, "the judge gave no valid verdict")


@functools.cache
def _judge_signature() -> Any:
    return build_signature(
        "verifier",
        _JUDGE_INSTRUCTIONS,
        inputs=[
            SignatureField("inputs", str, "The step's inputs, as JSON."),
            SignatureField("output", str, "The step's output, as JSON."),
            SignatureField("criteria", str, "What a good output is."),
        ],
        outputs=[
            SignatureField("passed", bool, "Whether the output meets the criteria."),
            SignatureField("reason", str, "Why, in one sentence."),
        ],
    )


def _as_text(value: Any) -> str:
    return json.dumps(to_jsonable_python(value, fallback=str), ensure_ascii=False)
