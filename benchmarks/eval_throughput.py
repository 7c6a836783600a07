"""Eval runner throughput against a model server with a fixed 500 ms delay.

A benchmark harness only: a loopback OpenAI-compatible server (asyncio, standard library, in a
child process) answers every chat request after `--delay` seconds with a valid JSON answer. A
one-node flow (`generate` on an `openai-compatible` tier pointed at it) is evaluated over
`--cases` cases at each concurrency, through the real eval runner (`prepare_eval`/`run_eval`,
traced to a temporary JSONL store, results on disk). Efficiency is the achieved throughput
(cases per second) over the ideal, concurrency / delay. The last line of stdout is a JSON
object.

    .venv/bin/python benchmarks/eval_throughput.py [--cases 512] [--delay 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from delayed_server import serve  # type: ignore[import-not-found]
from rich.console import Console
from rich.table import Table

from stepladder.config import load_project
from stepladder.evalsets.runner import EvalOptions, prepare_eval, run_eval
from stepladder.evalsets.spec import load_eval_spec
from stepladder.runtimes import ModelPool
from stepladder.tracing import Tracing

CONCURRENCIES = (1, 8, 32, 128)
TARGET_AT_32 = 0.90
CONTENT = '{"reply": "ok"}'  # what the delayed model answers


@contextmanager
def project(port: int, cases: int) -> Iterator[Path]:
    """A temporary project: the tier, a one-node flow, the eval spec and its cases."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "stepladder.yaml").write_text(
            "name: bench\ntiers:\n  small: {runtime: openai-compatible, "
            f'base_url: "http://127.0.0.1:{port}/v1", model: delayed, timeout_s: 600}}\n'
        )
        (root / "flows").mkdir()
        (root / "flows/reply.yaml").write_text(
            "name: reply\nstate:\n  message: {type: str, input: true}\n  reply: str\n"
            "nodes:\n  - {id: reply, kind: generate, reads: [message], output: reply, "
            "retries: 0}\n"
        )
        (root / "evalsets").mkdir()
        (root / "evalsets/reply.yaml").write_text(
            "name: reply\nflow: reply\ncases: reply.jsonl\nmetrics:\n  reply: exact\n"
        )
        lines = [json.dumps({"id": f"c{i}", "inputs": {"message": f"message {i}"},
                             "expected": {"reply": "ok"}}) for i in range(cases)]  # fmt: skip
        (root / "evalsets/reply.jsonl").write_text("\n".join(lines) + "\n")
        yield root


async def one_run(root: Path, concurrency: int, models: ModelPool, tracing: Tracing) -> float:
    """Seconds to run the whole eval at `concurrency`."""
    loaded = load_eval_spec(root / "evalsets/reply.yaml")
    prepared = prepare_eval(load_project(root=root), loaded, EvalOptions(concurrency=concurrency))
    started = time.perf_counter()
    record = await run_eval(prepared, models, tracing)
    seconds = time.perf_counter() - started
    wrong = [r.case_id for r in record.results if not r.ok or r.scores["reply"].value != 1.0]
    errors = [r.error for r in record.results if r.error][:2]
    assert not wrong, f"cases failed: {wrong[:5]} {errors}"
    return seconds


async def measure(
    root: Path, cases: int, delay: float, concurrencies: list[int]
) -> dict[int, float]:
    """Efficiency at each concurrency."""
    settings = load_project(root=root).settings
    tracing = Tracing.for_project(settings.tracing, root / ".stepladder", "bench")
    efficiency: dict[int, float] = {}
    async with ModelPool(settings.tiers) as models:
        for concurrency in concurrencies:
            seconds = await one_run(root, concurrency, models, tracing)
            efficiency[concurrency] = (cases / seconds) / (concurrency / delay)
            Console(stderr=True).print(
                f"concurrency {concurrency:>3}: {seconds:7.2f} s, "
                f"{cases / seconds:6.1f} cases/s, efficiency {efficiency[concurrency]:.3f}"
            )
    tracing.shutdown()
    return efficiency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=512)
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=list(CONCURRENCIES),
        help="concurrencies to run, in order (default: 1 8 32 128)",
    )  # fmt: skip
    args = parser.parse_args()
    # The server runs in its own process, so it does not compete with the runner for this
    # process's interpreter lock.
    ports: Any = multiprocessing.Queue()
    child = multiprocessing.Process(target=serve, args=(args.delay, CONTENT, ports), daemon=True)
    child.start()
    with project(ports.get(timeout=30), args.cases) as root:
        efficiency = asyncio.run(measure(root, args.cases, args.delay, args.concurrency))
    child.terminate()
    table = Table(title=f"eval throughput ({args.cases} cases, {args.delay:g} s per call)")
    table.add_column("concurrency", justify="right")
    table.add_column("efficiency", justify="right")
    for concurrency, value in efficiency.items():
        table.add_row(str(concurrency), f"{value:.3f}")
    Console(stderr=True).print(table)
    result = {"benchmark": "eval_throughput", "cases": args.cases, "delay_s": args.delay}
    result.update({f"efficiency_at_{c}": round(e, 4) for c, e in efficiency.items()})
    if 32 in efficiency:
        result["target_at_32"] = TARGET_AT_32
    print(json.dumps(result))


if __name__ == "__main__":
    main()
