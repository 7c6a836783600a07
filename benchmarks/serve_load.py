"""Load on `stepladder serve`: concurrent runs of a function-node flow and an embedded-model flow.

A benchmark harness only, loopback only. A temporary project holds two flows: the example
`support_triage` (five function nodes; copied from examples/flows with its steps module) and
`sentiment`, one `classify` node on tier `small` (the embedded SmolLM2-135M on llama.cpp, the
model `stepladder models pull smollm2-135m` fetches). `stepladder serve` runs it in a child
process (tracing on, as by default). After one warm-up run per flow (not counted; it starts
the model server), each phase sends all its runs at once with httpx and waits for every
answer, within `--timeout` seconds. A run counts as an error unless it answers 200 with
status `finished`. Each phase prints count, errors, rps, p50_ms, p99_ms; the last line of
stdout is `{"benchmark": "serve_load", "errors": ..., "rps": ..., "p99_ms": ...}` (errors of
both phases; rps and p99 of the function-flow phase), with both phases' numbers as more keys.
The baseline is the same function-flow runs executed in this process with `run_flow` (traced
the same way, no HTTP): `serve_over_direct` is the served throughput over that one.

    .venv/bin/python benchmarks/serve_load.py [--runs 200] [--model-runs 20] [--timeout 120]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from stepladder.config import load_project
from stepladder.flows import run_flow
from stepladder.flows.project import compile_project_flow, project_tracing

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "flows"
SETTINGS = """name: serve-load
tiers:
  small: {runtime: llamacpp, model: smollm2-135m, max_tokens: 32, parallel: 2}
"""
SENTIMENT = """name: sentiment
state:
  review: {type: str, input: true}
  sentiment: {type: enum, values: [positive, negative]}
nodes:
  - {id: classify, kind: classify, tier: small, reads: [review], output: sentiment,
     labels: [positive, negative],
     instructions: Decide whether the review is positive or negative.}
"""
MESSAGES = [
    "I want a refund for order 48213",
    "Where is my invoice for last month?",
    "How do I change the delivery address of order 1190?",
    "Can I talk to a human please",
    "My parcel has not arrived yet",
]
REVIEWS = ["I love it, works perfectly.", "Broke after a day, awful.", "Great value!"]
URL = re.compile(r" at (http://[^\s]+) ")
stderr = Console(stderr=True, highlight=False)


@contextmanager
def project() -> Iterator[Path]:
    """A temporary project with the two flows."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "stepladder.yaml").write_text(SETTINGS)
        (root / "flows").mkdir()
        for name in ("support_triage.yaml", "support_steps.py"):
            shutil.copy(EXAMPLES / name, root / "flows" / name)
        (root / "flows/sentiment.yaml").write_text(SENTIMENT)
        yield root


@contextmanager
def server(root: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`stepladder serve --port 0 ARGS` on the project (`env` added); its base URL."""
    command = [
        sys.executable, "-m", "stepladder", "--project", str(root), "serve", "--port", "0", *args,
    ]  # fmt: skip
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        **(env or {}),
    }
    env.pop("STEPLADDER_API_TOKEN", None)
    child = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
    )
    lines: list[str] = []
    found = threading.Event()

    def pump() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            lines.append(line)
            if URL.search(line):
                found.set()
        found.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        found.wait(120)
        match = next((m for line in lines if (m := URL.search(line))), None)
        if match is None:
            raise SystemExit("the server did not start:\n" + "".join(lines))
        yield match.group(1)
    finally:
        child.terminate()
        child.wait(30)


async def one(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> tuple[float, str]:
    """One run: its latency (s) and '' or what went wrong."""
    started = time.perf_counter()
    try:
        response = await client.post(path, json=body)
    except httpx.HTTPError as error:
        return time.perf_counter() - started, f"{type(error).__name__}: {error}"
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        return seconds, f"HTTP {response.status_code}: {response.text[:200]}"
    status = response.json().get("status")
    return seconds, "" if status == "finished" else f"status {status}"


async def phase(
    url: str, name: str, path: str, bodies: list[dict[str, Any]], timeout: float
) -> dict[str, Any]:
    """Send every body at once; count, errors, rps, p50 and p99 latency."""
    limits = httpx.Limits(max_connections=len(bodies) + 8, max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        warm = await one(client, path, bodies[0])
        if warm[1]:
            raise SystemExit(f"{name}: the warm-up run failed: {warm[1]}")
        started = time.perf_counter()
        tasks = [asyncio.create_task(one(client, path, body)) for body in bodies]
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        wall = time.perf_counter() - started
        for task in pending:
            task.cancel()
    results = [task.result() for task in done]
    problems = [problem for _, problem in results if problem] + ["timed out"] * len(pending)
    for problem in sorted(set(problems))[:5]:
        stderr.print(f"[red]{name}: {problem}[/]")
    latencies = [seconds for seconds, problem in results if not problem]
    return {
        "phase": name,
        "count": len(bodies),
        "errors": len(problems),
        "seconds": round(wall, 3),
        **throughput(latencies, wall),
    }


def throughput(latencies: list[float], wall: float) -> dict[str, Any]:
    """rps (runs per second of wall time) and p50, p99 latency (ms, nearest rank)."""
    ordered = sorted(seconds * 1000 for seconds in latencies)
    return {
        "rps": round(len(ordered) / wall, 2),
        "p50_ms": round(statistics.median(ordered), 1) if ordered else None,
        "p99_ms": round(percentile(ordered, 0.99), 1) if ordered else None,
    }


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted values (nearest rank)."""
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def measure(url: str, runs: int, model_runs: int, timeout: float) -> list[dict[str, Any]]:
    """Both phases, one after the other."""
    results = []
    plan = [
        ("function", "/flows/support_triage/runs", runs, MESSAGES, "message"),
        ("model", "/flows/sentiment/runs", model_runs, REVIEWS, "review"),
    ]
    for name, path, count, texts, key in plan:
        if count <= 0:
            continue
        bodies = [{key: texts[i % len(texts)]} for i in range(count)]
        stderr.print(f"{name}: {count} concurrent runs of {path} ...")
        result = await phase(url, name, path, bodies, timeout)
        stderr.print(
            f"{name}: {result['count']} runs, {result['errors']} errors, {result['rps']} runs/s, "
            f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms"
        )
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


async def direct(root: Path, runs: int) -> dict[str, Any]:
    """The baseline: the function-flow runs at once in this process (no HTTP), traced."""
    project = load_project(root=root)
    flow = compile_project_flow(project, "support_triage")
    tracing = project_tracing(project)

    async def timed(message: str) -> float:
        started = time.perf_counter()
        await run_flow(flow, {"message": message}, tracing=tracing)
        return time.perf_counter() - started

    try:
        await timed(MESSAGES[0])
        started = time.perf_counter()
        messages = (MESSAGES[i % len(MESSAGES)] for i in range(runs))
        latencies = await asyncio.gather(*(timed(message) for message in messages))
        wall = time.perf_counter() - started
    finally:
        tracing.shutdown()
    return {"phase": "direct", "count": runs, **throughput(list(latencies), wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="function-flow runs (200)")
    parser.add_argument("--model-runs", type=int, default=20, help="model-flow runs (20)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per phase (120)")
    args = parser.parse_args()
    with project() as root, server(root) as url:
        stderr.print(f"server at {url}")
        results = asyncio.run(measure(url, args.runs, args.model_runs, args.timeout))
        baseline = asyncio.run(direct(root, args.runs)) if args.runs > 0 else None
    if baseline is not None:
        print(json.dumps(baseline), flush=True)
    by_phase = {r["phase"]: r for r in results}
    main_phase = by_phase.get("function") or results[0]
    summary: dict[str, Any] = {
        "benchmark": "serve_load",
        "errors": sum(r["errors"] for r in results),
        "rps": main_phase["rps"],
        "p99_ms": main_phase["p99_ms"],
    }
    for name, result in by_phase.items():
        for key in ("count", "errors", "rps", "p50_ms", "p99_ms"):
            summary[f"{name}_{key}"] = result[key]
    if baseline is not None:
        summary["direct_rps"] = baseline["rps"]
        summary["serve_over_direct"] = round(main_phase["rps"] / baseline["rps"], 3)
    print(json.dumps(summary))
    if summary["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
