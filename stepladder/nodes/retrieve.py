"""The `retrieve` node: the passages of a collection nearest to a query in the state.

It writes a list of `{"id", "text", "score", "metadata"}` dicts, best first. The store comes
from the run context; the collection must exist and hold chunks when the run starts
(`stepladder ingest COLLECTION PATH...` fills it).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from langgraph.runtime import Runtime
from pydantic import Field, model_validator

from stepladder.errors import (
    ConfigError,
    FlowCompileError,
    NodeError,
    NodeInputError,
    StepladderError,
)
from stepladder.nodes.base import BuildContext, BuiltNode, NodeSpecBase, State
from stepladder.nodes.context import RunContext
from stepladder.retrieval.ingest import COLLECTION_NAME_PATTERN
from stepladder.retrieval.store import Passage
from stepladder.specs.explain import describe_pattern
from stepladder.tracing import attributes as names
from stepladder.tracing import retrieval_span, set_preview

__all__ = ["RetrieveNodeSpec", "passage_dict"]

COLLECTION_PATTERN = describe_pattern(
    COLLECTION_NAME_PATTERN,
    "a collection name has 3 to 512 letters, digits, '.', '_' or '-', and starts and ends "
    "with a letter or digit",
)


class RetrieveNodeSpec(NodeSpecBase):
    """A node that looks up the passages nearest to a query in a collection."""

    kind: Literal["retrieve"]
    collection: str = Field(
        pattern=COLLECTION_PATTERN, description="The collection to search (see `ingest`)."
    )
    query: str = Field(description="State key holding the query text (one of the reads).")
    output: str = Field(description="State key that receives the list of passages.")
    k: int = Field(default=5, ge=1, le=1000, description="How many passages to return.")
    where: dict[str, Any] | None = Field(
        default=None, description="A Chroma metadata filter, e.g. {source: faq.jsonl}."
    )
    min_score: float | None = Field(
        default=None, ge=-1.0, le=1.0, description="Drop passages less similar than this."
    )

    @model_validator(mode="before")
    @classmethod
    def _default_reads_writes(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if not data.get("reads") and isinstance(data.get("query"), str):
            data = {**data, "reads": [data["query"]]}
        if not data.get("writes") and isinstance(data.get("output"), str):
            data = {**data, "writes": [data["output"]]}
        return data

    def collections(self) -> frozenset[str]:
        """The node's `collection`."""
        return frozenset({self.collection})

    def build(self, context: BuildContext) -> BuiltNode:
        """Check the keys and wrap the store lookup (the store is bound at run time)."""
        if self.query not in self.reads:
            raise FlowCompileError(
                f"{context.where('reads')}: the query key '{self.query}' must be in the "
                f"node's reads ({', '.join(self.reads)})."
            )
        if self.output not in self.writes:
            raise FlowCompileError(
                f"{context.where('writes')}: the output key '{self.output}' must be in the "
                f"node's writes ({', '.join(self.writes)})."
            )

        async def run(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
            return {self.output: await self._search(state, runtime.context)}

        return BuiltNode(afunc=run)

    async def _search(self, state: State, context: RunContext | None) -> list[dict[str, Any]]:
        store = context.store if context is not None else None
        if store is None:
            raise ConfigError(
                f"node '{self.id}' retrieves from collection '{self.collection}', but the run "
                "has no store; run the flow with `stepladder run`, or pass "
                "`store=open_store(...)` to the run."
            )
        text = state.get(self.query)
        if not isinstance(text, str) or not text.strip():
            raise NodeInputError(
                self.id,
                f"the query '{self.query}' is {text!r}; it must be non-empty text. Give a "
                f"non-empty '{self.query}' in the input.",
            )
        tracing = context.tracing if context is not None else None
        flow = context.flow_name if context is not None else ""
        with retrieval_span(
            tracing, flow=flow, node_id=self.id, collection=self.collection, k=self.k, query=text
        ) as span:
            found = [passage_dict(p) for p in await self._query(store, text)]
            if span.is_recording():
                span.set_attribute(names.RESULTS, len(found))
                set_preview(tracing, span, names.OUTPUT, [(p["id"], p["score"]) for p in found])
        return found

    async def _query(self, store: Any, text: str) -> list[Passage]:
        try:
            passages: list[Passage] = await asyncio.to_thread(
                store.query, self.collection, text, self.k, self.where
            )
        except StepladderError:
            raise
        except Exception as error:  # Chroma refuses a bad `where`, a broken index, ...
            raise NodeError(
                self.id,
                f"searching collection '{self.collection}' failed: {type(error).__name__}: {error}",
            ) from error
        if self.min_score is not None:
            passages = [p for p in passages if p.score >= self.min_score]
        return passages


def passage_dict(passage: Passage) -> dict[str, Any]:
    """A passage as the plain dict a retrieve node writes."""
    return {
        "id": passage.id,
        "text": passage.text,
        "score": passage.score,
        "metadata": dict(passage.metadata),
    }
