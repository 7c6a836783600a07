"""Per-call overhead of a stepladder LLM node over calling the model server directly.

One embedded llama.cpp server (the `small` tier: SmolLM2-135M-Instruct on the CPU) is started
through `ModelPool`, with one slot (`parallel=1`) so calls run one at a time. A one-node flow
with an `extract` node (`order_id: str`, `quantity: int`, reading `message`) is compiled, and
the exact request the node sends is rebuilt: the messages from the node's adapter
(`constrained_adapter().format(...)`) and the `response_format` (the output JSON schema). The
first node call's request, as recorded in the LM's history, must equal the rebuilt one.

Contestants, interleaved call by call (the order alternating each round) after a warm-up:

- `direct`: the `openai` client, `await client.chat.completions.create(model=..., messages=...,
  response_format=..., temperature=0, max_tokens=64)` against the tier's endpoint.
- `node`: `run_flow(flow, {"message": ...}, models=pool)`: input checks, LangGraph, the node,
  DSPy (adapter formatting, the LM client, parsing), pydantic validation and usage records.
- `dspy` (with `--breakdown`): the node's DSPy program alone, `await predict.acall(...)` under
  the same adapter and LM, to split the node's extra time between DSPy and stepladder.

Every call sends the same message at temperature 0, so every call generates the same tokens;
the outputs of the contestants are checked to be equal. The table shows medians in ms; the
last line of stdout is a JSON object with the results (`node_over_direct` = median node /
median direct; target <= 1.10).

    .venv/bin/python benchmarks/runtime.py [--n 30] [--warmup 3] [--breakdown]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional

from openai import AsyncOpenAI
from pydantic import StringConstraints
from rich.console import Console
from rich.table import Table

from stepladder import compile_flow, flow_from_dict
from stepladder.config.tiers import LlamaCppTier
from stepladder.flows.run import run_flow
from stepladder.prompts import (
    SignatureField,
    build_signature,
    constrained_adapter,
    output_model,
    response_format,
)
from stepladder.runtimes import ModelPool
from stepladder.runtimes.pool import BoundTier

TARGET_RATIO = 1.10
TIER = "small"
MAX_TOKENS = 64
NODE_ID = "extract"
INSTRUCTIONS = "Extract the order number and the quantity from the message; null if absent."
MESSAGE = "Hi, I need to change order 48213: please make it 3 units instead of 2. Thanks!"
DIRECT, DSPY, NODE = "direct", "dspy", "node"

FLOW: dict[str, Any] = {
    "name": "runtime_bench",
    "state": {
        "message": {"type": "str", "input": True},
        "order_id": "optional[str]",
        "quantity": "optional[int]",
    },
    "nodes": [
        {
            "id": NODE_ID,
            "kind": "extract",
            "tier": TIER,
            "reads": ["message"],
            "instructions": INSTRUCTIONS,
            "fields": {"order_id": "str", "quantity": "int"},
        }
    ],
}


@dataclass
class Contestant:
    """One way of making the call, and what its calls took and returned."""

    name: str
    call: Callable[[], Awaitable[tuple[dict[str, Any], int, float | None]]]
    seconds: list[float] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    outside: list[float] = field(default_factory=list)

    async def timed(self, record: bool) -> None:
        started = time.perf_counter()
        output, tokens, inner = await self.call()
        elapsed = time.perf_counter() - started
        if record:
            self.seconds.append(elapsed)
            self.outputs.append(output)
            self.tokens.append(tokens)
            if inner is not None:
                self.outside.append(elapsed - inner)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000


def node_signature() -> Any:
    """The signature the extract node builds for `FLOW` (see `ExtractNodeSpec._predict`)."""
    text = Annotated[str, StringConstraints(max_length=200)]
    return build_signature(
        NODE_ID,
        INSTRUCTIONS,
        [SignatureField("message", str, "")],
        [
            SignatureField("order_id", Optional[text], ""),  # noqa: UP045  (as the node does)
            SignatureField("quantity", Optional[int], ""),  # noqa: UP045
        ],
    )


def check_request(bound: BoundTier, messages: list[dict[str, Any]], schema: dict[str, Any]) -> None:
    """The node's last request (from the LM history) must be the rebuilt one."""
    sent = bound.lm.history[-1]
    if sent["messages"] != messages:
        raise SystemExit(
            "the node sent other messages than the rebuilt ones:\n"
            f"node:    {sent['messages']!r}\nrebuilt: {messages!r}"
        )
    sent_format = sent["kwargs"].get("response_format")
    if sent_format != schema:
        raise SystemExit(
            f"the node sent another response_format:\nnode:    {sent_format!r}\nrebuilt: {schema!r}"
        )
    lm_kwargs = bound.lm.kwargs
    if lm_kwargs.get("temperature") != 0 or lm_kwargs.get("max_tokens") != MAX_TOKENS:
        raise SystemExit(f"the tier's LM is not at temperature 0, {MAX_TOKENS} tokens: {lm_kwargs}")


def server_speed(response: Any) -> float | None:
    """llama.cpp's own decoding speed (tokens/s), when the response carries its timings."""
    timings = (getattr(response, "model_extra", None) or {}).get("timings") or {}
    value = timings.get("predicted_per_second")
    return float(value) if isinstance(value, int | float) else None


async def bench(n: int, warmup: int, breakdown: bool) -> dict[str, Any]:
    import dspy

    console = Console()
    progress = Console(stderr=True)
    flow = compile_flow(flow_from_dict(FLOW), tiers={TIER})
    signature = node_signature()
    outputs = output_model(signature)
    adapter = constrained_adapter()
    messages = adapter.format(signature, demos=[], inputs={"message": MESSAGE})
    schema = response_format(signature)
    predict = dspy.Predict(signature)

    settings = LlamaCppTier(runtime="llamacpp", parallel=1, max_tokens=MAX_TOKENS)
    pool = ModelPool({TIER: settings})
    started = time.perf_counter()
    await pool.start([TIER])
    progress.print(f"server ready in {time.perf_counter() - started:.1f} s")
    bound = await pool.bound(TIER)
    endpoint = bound.endpoint
    assert endpoint.base_url is not None
    client = AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0)
    model = endpoint.model.removeprefix("openai/")
    speeds: list[float] = []

    async def direct() -> tuple[dict[str, Any], int, float | None]:
        response = await client.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            response_format=schema,  # type: ignore[arg-type]
            temperature=0,
            max_tokens=MAX_TOKENS,
        )
        if (speed := server_speed(response)) is not None:
            speeds.append(speed)
        content = response.choices[0].message.content or ""
        values = outputs.model_validate_json(content).model_dump()
        return values, response.usage.completion_tokens if response.usage else 0, None

    async def node() -> tuple[dict[str, Any], int, float | None]:
        result = await run_flow(flow, {"message": MESSAGE}, models=pool)
        values = {key: result.state.get(key) for key in outputs.model_fields}
        # The ledger times the node's DSPy call; the rest is run_flow, LangGraph and the node.
        return values, int(result.usage.get("completion_tokens", 0)), float(result.usage["seconds"])

    async def dspy_only() -> tuple[dict[str, Any], int, float | None]:
        with dspy.context(lm=bound.lm, adapter=adapter, track_usage=True):
            prediction = await predict.acall(message=MESSAGE)
        usage = prediction.get_lm_usage() or {}
        tokens = sum(int(u.get("completion_tokens") or 0) for u in usage.values())
        return {key: prediction.get(key) for key in outputs.model_fields}, tokens, None

    contestants = [Contestant(DIRECT, direct), Contestant(NODE, node)]
    if breakdown:
        contestants.append(Contestant(DSPY, dspy_only))
    try:
        await contestants[1].timed(record=False)  # the node first: its request is checked
        check_request(bound, messages, schema)
        for _ in range(warmup):
            for contestant in contestants:
                await contestant.timed(record=False)
        speeds.clear()
        for index in range(n):
            shift = index % len(contestants)
            for contestant in contestants[shift:] + contestants[:shift]:
                await contestant.timed(record=True)
            progress.print(
                f"call {index + 1}/{n}: "
                + ", ".join(f"{c.name} {c.seconds[-1] * 1000:.0f} ms" for c in contestants),
                highlight=False,
            )
    finally:
        await client.close()
        await asyncio.to_thread(pool.close)

    reference = contestants[0].outputs[0]
    mismatches = [
        f"{c.name} call {i + 1}: {out!r}"
        for c in contestants
        for i, out in enumerate(c.outputs)
        if out != reference
    ]
    token_counts = sorted({t for c in contestants for t in c.tokens})
    by_name = {c.name: c for c in contestants}
    direct_ms, node_ms = by_name[DIRECT].median_ms, by_name[NODE].median_ms
    tokens = statistics.median_low(by_name[DIRECT].tokens)

    def paired_ms(name: str) -> float:
        """Median over rounds of (name - direct): drift between rounds cancels."""
        pairs = zip(by_name[DIRECT].seconds, by_name[name].seconds, strict=True)
        return round(statistics.median(b - a for a, b in pairs) * 1000, 2)

    results: dict[str, Any] = {
        "benchmark": "runtime",
        "node_over_direct": round(node_ms / direct_ms, 4),
        "direct_ms": round(direct_ms, 2),
        "node_ms": round(node_ms, 2),
        "node_extra_ms": round(node_ms - direct_ms, 2),
        "paired_extra_ms": paired_ms(NODE),
        "node_outside_call_ms": round(statistics.median(by_name[NODE].outside) * 1000, 2),
        "n": n,
        "completion_tokens": tokens,
        "tokens_per_s": round(tokens / (direct_ms / 1000), 2),
        "server_decode_tokens_per_s": round(statistics.median(speeds), 2) if speeds else None,
        "outputs_match": not mismatches,
        "output": reference,
    }
    if breakdown:
        dspy_ms = by_name[DSPY].median_ms
        results.update(
            dspy_ms=round(dspy_ms, 2),
            dspy_over_direct=round(dspy_ms / direct_ms, 4),
            dspy_paired_extra_ms=paired_ms(DSPY),
            node_over_dspy=round(node_ms / dspy_ms, 4),
            **offline_costs(adapter, signature, outputs, reference),
        )
    report(console, contestants, results, token_counts, mismatches)
    return results


def offline_costs(
    adapter: Any, signature: Any, outputs: Any, reference: dict[str, Any]
) -> dict[str, float]:
    """Microseconds the node spends formatting the prompt and parsing the answer (no model)."""
    from stepladder.prompts.constrained import parse_output

    completion = json.dumps(reference)

    def per_call_us(function: Callable[[], object], rounds: int = 2000) -> float:
        started = time.perf_counter()
        for _ in range(rounds):
            function()
        return (time.perf_counter() - started) / rounds * 1e6

    return {
        "format_us": round(per_call_us(
            lambda: adapter.format(signature, demos=[], inputs={"message": MESSAGE})), 1),
        "response_format_us": round(per_call_us(lambda: response_format(signature)), 1),
        "parse_us": round(per_call_us(lambda: parse_output(signature, completion)), 1),
        "validate_us": round(per_call_us(lambda: outputs.model_validate(reference)), 1),
    }  # fmt: skip


def report(
    console: Console,
    contestants: list[Contestant],
    results: dict[str, Any],
    token_counts: list[int],
    mismatches: list[str],
) -> None:
    direct = contestants[0]
    table = Table(title=f"one extract call, {results['n']} calls each (median, ms)")
    for column in ("path", "median", "min", "p90", "over direct"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for c in contestants:
        ordered = sorted(c.seconds)
        table.add_row(
            c.name,
            f"{c.median_ms:.1f}",
            f"{ordered[0] * 1000:.1f}",
            f"{ordered[int(0.9 * (len(ordered) - 1))] * 1000:.1f}",
            f"{c.median_ms / direct.median_ms:.3f}",
        )
    console.print(table)
    console.print(
        f"completion tokens per call: {', '.join(map(str, token_counts))}; "
        f"{results['tokens_per_s']} tokens/s end to end (server decode: "
        f"{results['server_decode_tokens_per_s']} tokens/s)"
    )
    console.print(f"output: {results['output']}")
    if mismatches:
        console.print(f"[red]outputs differ from the first direct call:[/red] {mismatches[:5]}")
    if "format_us" in results:
        console.print(
            f"offline, per call: adapter.format {results['format_us']} us, response_format "
            f"{results['response_format_us']} us, parse {results['parse_us']} us, "
            f"pydantic validate {results['validate_us']} us"
        )
    console.print(
        f"node - direct: {results['node_extra_ms']} ms between medians, "
        f"{results['paired_extra_ms']} ms median of per-round differences; of the node's time, "
        f"{results['node_outside_call_ms']} ms is outside its DSPy call (run_flow, LangGraph)"
    )
    if "dspy_paired_extra_ms" in results:
        console.print(f"dspy - direct: {results['dspy_paired_extra_ms']} ms (per-round median)")
    verdict = "ok" if results["node_over_direct"] <= TARGET_RATIO else "ABOVE TARGET"
    console.print(
        f"node_over_direct = {results['node_over_direct']} (target <= {TARGET_RATIO}: {verdict}); "
        f"python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="timed calls per contestant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per contestant")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time the DSPy program alone, and formatting/parsing offline",
    )
    args = parser.parse_args()
    results = asyncio.run(bench(args.n, args.warmup, args.breakdown))
    print(json.dumps(results))
    if not results["outputs_match"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
