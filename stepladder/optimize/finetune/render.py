"""A node's training example rendered exactly as the node calls its model at run time.

The prompt is the node's DSPy program (its signature and demos, compiled demos included, as
the flow holds them) formatted by the constrained adapter, which is what `LLMCall` sends; the
completion is the gold answer written the way the same adapter writes an answer in a demo
(the JSON object of the output fields), which its `parse` reads back to the gold values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from stepladder.errors import UserError
from stepladder.flows import Flow
from stepladder.prompts import constrained_adapter, output_model

__all__ = ["AGENT_KIND", "NodeRenderer", "RenderProblem", "node_of"]

AGENT_KIND = "agent"


class RenderProblem(ValueError):
    """A row's values do not fit the node's input or output fields (what is wrong, in words)."""


@dataclass(frozen=True)
class NodeRenderer:
    """Renders one LLM node's prompts and gold completions.

    Attributes:
        node_id: The node.
        reads: The state keys the node reads (its call's inputs, in order).
        signature: The signature of the node's one `dspy.Predict`.
        demos: The demos the program holds (the spec's, or compiled ones).
        outputs: The pydantic model of the output fields (what the server's schema enforces).
    """

    node_id: str
    reads: tuple[str, ...]
    signature: Any
    demos: tuple[Any, ...]
    outputs: type[BaseModel]

    @classmethod
    def for_node(cls, flow: Flow, node_id: str) -> NodeRenderer:
        """The renderer of `node_id` in `flow` (its program as the flow holds it now).

        Raises:
            UserError: When the node is unknown, is not an LLM node with one `dspy.Predict`
                (an agent makes several calls: `AgentRenderer` renders them), or has no
                program in this flow.
        """
        import dspy  # lazy: importing DSPy (and LiteLLM) takes seconds

        node = node_of(flow, node_id)
        if node.kind_name() == AGENT_KIND:
            raise UserError(
                f"node '{node_id}' is an agent: each of its steps is a separate model call "
                "(pick a tool, its arguments, the answer), so its gold is a worked task (its "
                "trajectory and answer). `stepladder tune` trains it from cases that label "
                "both; a DSPy optimizer, which sees one call at a time, cannot."
            )
        program = flow.programs.get(node_id)
        if program is None:
            raise UserError(
                f"node '{node_id}' ({node.kind_name()}) has no model program in flow "
                f"'{flow.name}'. A classify node `using: embeddings` gets one when the flow is "
                "compiled on the tier being tuned (compile_project_flow(project, flow, tier)); "
                f"LLM nodes: {', '.join(flow.programs) or '(none)'}."
            )
        if type(program) is not dspy.Predict:
            raise UserError(
                f"node '{node_id}': its program is a {type(program).__name__}, not a "
                "dspy.Predict; only a node that calls its model once with a plain signature "
                "(the node's own fields, or `signature:` naming a dspy.Signature) can be tuned, "
                "since a module's own forward shapes its prompts."
            )
        signature = program.signature
        return cls(
            node_id=node_id,
            reads=tuple(node.reads),
            signature=signature,
            demos=tuple(program.demos),
            outputs=output_model(signature),
        )

    @classmethod
    def of_call(cls, node_id: str, call: Any) -> NodeRenderer:
        """The renderer of one model call of a node (an agent's step call: an `LLMCall`)."""
        program = call.program
        return cls(
            node_id=node_id,
            reads=tuple(program.signature.input_fields),
            signature=program.signature,
            demos=tuple(program.demos),
            outputs=call.outputs,
        )

    @property
    def gold_keys(self) -> tuple[str, ...]:
        """The keys a row must label to teach the node: its output fields."""
        return self.output_fields

    def examples(
        self, reads: Mapping[str, Any], gold: Mapping[str, Any]
    ) -> list[tuple[tuple[dict[str, str], ...], str]]:
        """The one example a row makes: the node's messages, and its gold completion.

        Raises:
            RenderProblem: When a value does not fit (see `gold_values`, `messages`).
        """
        values = self.gold_values({name: gold[name] for name in self.output_fields})
        return [(self.messages(reads), self.completion(values))]

    @property
    def output_fields(self) -> tuple[str, ...]:
        """The names of the output fields, in order."""
        return tuple(self.signature.output_fields)

    def messages(self, reads: Mapping[str, Any]) -> tuple[dict[str, str], ...]:
        """The chat messages the node sends for these values of its reads.

        Raises:
            RenderProblem: When a message is not plain text (an image input).
        """
        formatted = constrained_adapter().format(self.signature, list(self.demos), dict(reads))
        messages = []
        for message in formatted:
            content = message.get("content")
            if not isinstance(content, str):
                raise RenderProblem("an input is not text (only text prompts can be tuned)")
            messages.append({"role": str(message["role"]), "content": content})
        return tuple(messages)

    def gold_values(self, gold: Mapping[str, Any]) -> dict[str, Any]:
        """The gold answer checked against the output fields (the values as validated).

        Raises:
            RenderProblem: Naming the field and what is wrong with its value.
        """
        try:
            validated = self.outputs.model_validate(dict(gold))
        except ValidationError as error:
            problems = []
            for detail in error.errors(include_url=False):
                where = ".".join(str(part) for part in detail["loc"]) or "answer"
                problems.append(f"{where}: {detail['msg']} (got {detail.get('input')!r})")
            raise RenderProblem("; ".join(problems)) from None
        return {name: getattr(validated, name) for name in self.output_fields}

    def completion(self, values: Mapping[str, Any]) -> str:
        """The answer the model should give: the output fields as the adapter writes them."""
        text: str = constrained_adapter().format_assistant_message_content(
            self.signature, dict(values)
        )
        return text

    def parse(self, completion: str) -> dict[str, Any]:
        """The adapter's reading of a completion (what the node would take from it)."""
        parsed: dict[str, Any] = constrained_adapter().parse(self.signature, completion)
        return parsed


def node_of(flow: Flow, node_id: str) -> Any:
    """The spec of `node_id` in `flow`.

    Raises:
        UserError: Naming the flow's nodes, when it has none of that id.
    """
    for node in flow.spec.nodes:
        if node.id == node_id:
            return node
    known = ", ".join(node.id for node in flow.spec.nodes)
    raise UserError(f"no node '{node_id}' in flow '{flow.name}'; its nodes: {known}.")
