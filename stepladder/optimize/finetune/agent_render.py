"""An agent node's training examples: every model call of a gold trajectory, as sent at run time.

An agent answers in several calls: pick a tool, give its arguments, pick `finish`, give the
answer. A row that labels the node's `trajectory` key (the steps: tool, arguments and what
the tool returned) and its `output` key is a worked task, and teaches each of those calls
the way the node's own demos do (`worked_task_calls`). Each call is rendered by its own
`NodeRenderer`: its signature and demos through the constrained adapter, what `LLMCall`
sends. A trajectory recorded by a run (`AgentStep`: with `step` and `status`) is accepted;
a step that did not succeed cannot be gold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stepladder.errors import UserError
from stepladder.flows import Flow
from stepladder.nodes.agent.prompts import StepProblem, checked_step, worked_task_calls
from stepladder.optimize.finetune.render import AGENT_KIND, NodeRenderer, RenderProblem, node_of

__all__ = ["AgentRenderer", "Rendered", "renderer_for"]

RECORDED = ("step", "status")
"""Keys a run's trajectory adds to each step (`AgentStep`), dropped from gold steps."""

Rendered = tuple[tuple[dict[str, str], ...], str]
"""One example: the chat messages, and the completion."""


@dataclass(frozen=True)
class AgentRenderer:
    """Renders an agent node's calls for a worked task (its reads, steps and answer).

    Attributes:
        node_id: The node.
        reads: The state keys the node reads.
        gold_keys: The keys a row must label: the node's output, then its trajectory.
        loop: The node's loop as the flow built it (its calls, demos and tools).
    """

    node_id: str
    reads: tuple[str, ...]
    gold_keys: tuple[str, ...]
    loop: Any

    @classmethod
    def for_node(cls, flow: Flow, node_id: str) -> AgentRenderer:
        """The renderer of agent `node_id` in `flow`.

        Raises:
            UserError: When the node keeps no trajectory (rows could not give its steps).
        """
        node = node_of(flow, node_id)
        if node.trajectory is None:
            raise UserError(
                f"node '{node_id}' is an agent without `trajectory:`: give it a state key for "
                "its steps, and label that key in the training cases (each step's tool, "
                "arguments and observation) with the final answer, so that every call of the "
                "task (the tool to pick, its arguments, the answer) has a gold value."
            )
        keys = (node.output, node.trajectory)
        return cls(node_id, tuple(node.reads), keys, flow.agents[node_id])

    def examples(self, reads: Mapping[str, Any], gold: Mapping[str, Any]) -> list[Rendered]:
        """The messages and gold completion of each call the worked task makes.

        Raises:
            RenderProblem: Naming the step and item that do not fit the node, or the answer.
        """
        node = self.loop.node
        steps = [self._step(index, raw) for index, raw in enumerate(_steps(gold[node.trajectory]))]
        taught = worked_task_calls(
            node, self.loop.registry, self.loop.calls, dict(reads), steps, gold[node.output]
        )
        rendered: list[Rendered] = []
        for call, example in taught:
            renderer = NodeRenderer.of_call(self.node_id, call)
            inputs = {name: example[name] for name in call.program.signature.input_fields}
            values = renderer.gold_values({n: example[n] for n in renderer.output_fields})
            rendered.append((renderer.messages(inputs), renderer.completion(values)))
        return rendered

    def _step(self, index: int, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            raise RenderProblem(f"step {index + 1}: expected an object, got {raw!r}")
        status = raw.get("status", "ok")
        if status != "ok":
            raise RenderProblem(
                f"step {index + 1}: its status is '{status}'; a gold step must have succeeded"
            )
        try:
            return checked_step(self.loop.registry, {k: v for k, v in raw.items()
                                                     if k not in RECORDED})  # fmt: skip
        except StepProblem as problem:
            item = f".{problem.item}" if problem.item else ""
            raise RenderProblem(f"step {index + 1}{item}: {problem}") from None


def renderer_for(flow: Flow, node_id: str) -> NodeRenderer | AgentRenderer:
    """The renderer of any node that can be tuned: an agent's, or an LLM node's."""
    if node_of(flow, node_id).kind_name() == AGENT_KIND:
        return AgentRenderer.for_node(flow, node_id)
    return NodeRenderer.for_node(flow, node_id)


def _steps(value: Any) -> Sequence[Any]:
    if not isinstance(value, list):
        raise RenderProblem(f"the steps must be a list of steps, got {value!r}")
    return value
