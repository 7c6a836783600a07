"""A flow's LoRA adapters: checked against the tiers that serve them, then loaded by the pool.

A node names an adapter (`adapter: support-extract@v2`); when a run starts, after the flow's
artifacts are found (`Flow.prepare`), `Flow.use_adapters` (through `load_adapters`) checks
that each node's own tier serves the base model its adapter was trained on (a GGUF tier by
the file's sha256, a launched SGLang tier by its model folder) and hands the adapters to the
model pool, which loads every one into each tier whose base it fits: all nodes on one base
share one server, which picks each call's adapter per request. A missing adapter, or one
whose base is not the tier's (the tier's model changed since it was trained), stops the run
before any node runs, at the node's `adapter` field.
"""

from __future__ import annotations

from stepladder.errors import FlowCompileError
from stepladder.flows.spec import FlowSpec
from stepladder.nodes.artifacts import Artifacts
from stepladder.nodes.base import NodeSpecBase
from stepladder.nodes.llm.escalation import EMBEDDINGS, HUMAN
from stepladder.nodes.llm.ladder import node_ladder
from stepladder.predictors.adapters import ADAPTERS, SavedAdapter
from stepladder.runtimes.adapters import ServedBase, fits
from stepladder.runtimes.pool import ModelPool

__all__ = ["load_adapters", "own_tiers"]


def load_adapters(
    spec: FlowSpec, artifacts: Artifacts, ladder: tuple[str, ...], models: ModelPool
) -> None:
    """Check the adapters a flow's nodes name against their tiers; have `models` load them.

    Tiers given as ready LMs (tests) serve no adapters and are not checked.

    Args:
        spec: The flow's spec (its nodes, and where each came from).
        artifacts: Its artifacts, found already (`Artifacts.prepare`).
        ladder: The project's ladder (an escalating embedding classifier's first tier).
        models: The pool that starts the tiers.

    Raises:
        FlowCompileError: At a node's `adapter` field, when the node's tier cannot serve the
            adapter (another base model, or a runtime without adapters).
        ConfigError: When a node's tier is not bound.
    """
    loads = []
    for index, node in enumerate(spec.nodes):
        for ref in node.artifacts():
            if ref.kind != "adapter":
                continue
            saved = artifacts.adapter(ref)
            where = spec.document.where(("nodes", index, ref.field))
            tiers = own_tiers(node, ladder)
            load = saved.load(trusted=tiers)
            for tier in sorted(tiers):
                base = models.served_base(tier)
                if base is None or (base.kind == "gguf" and base.sha256 is None):
                    continue  # a given LM, or a model file that is missing (its start says so)
                if not fits(tier, base, load):
                    raise FlowCompileError(f"{where}: {_misfit(saved, tier, base)}")
            loads.append(load)
    models.want_adapters(loads)


def own_tiers(node: NodeSpecBase, ladder: tuple[str, ...]) -> frozenset[str]:
    """The tiers a node's adapter must fit: those it starts on, else its first model rung.

    An embedding classifier that escalates starts on `embeddings`; its adapter is for the
    first tier above.
    """
    tiers = node.tiers()
    if tiers:
        return tiers
    rungs = [r for r in node_ladder(node, ladder) if r not in (EMBEDDINGS, HUMAN)]
    return frozenset(rungs[:1])


def _misfit(saved: SavedAdapter, tier: str, base: ServedBase) -> str:
    """Why `tier` cannot serve the adapter, and what to do."""
    manifest = saved.manifest
    label = manifest.label
    retrain = ADAPTERS.train_command.format(name=manifest.name)
    if base.kind == "none":
        return (
            f"adapter '{label}' cannot run on tier '{tier}', {base.description}: only "
            "llamacpp and sglang tiers serve LoRA adapters. Put the node on the tier it was "
            f"trained for (base {manifest.base.describe()}), or remove `adapter`."
        )
    trained, served = manifest.base, base.sha256 or base.folder
    if base.kind != "unchecked" and (base.kind == "gguf") != (trained.sha256 is not None):
        return (
            f"adapter '{label}' was trained on {trained.describe()}, but tier '{tier}' serves "
            f"{base.description}. Put the node on a tier that serves its base, or retrain it "
            f"for this tier with `{retrain}`."
        )
    if base.kind != "unchecked" and served not in (trained.sha256, trained.folder):
        return (
            f"adapter '{label}' was trained on {trained.describe()}, but tier '{tier}' now "
            f"serves {base.description}: the base model changed, so the adapter no longer "
            f"fits it. Retrain it with `{retrain}`, or bind tier '{tier}' to the model it "
            "was trained on."
        )
    export = "GGUF file (adapter.gguf)" if base.kind == "gguf" else "PEFT folder (peft/)"
    return (
        f"adapter '{label}' has no {export} in {saved.folder}, which tier '{tier}' needs. "
        f"Retrain it with `{retrain}`."
    )
