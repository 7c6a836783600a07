"""`stepladder eval --remote`: eval throughput on one `stepladder serve` replica against two.

A benchmark harness only, loopback only. A temporary project holds two function-node flows
and an eval set over each:

- `hold`: one synchronous node that blocks `--hold` seconds (as a call to a model server
  would); each replica runs it on `serve.node_threads: 4` threads, so one replica's capacity is
  bounded (4 / hold cases/s) and a second replica adds its own.
- `shout`: one pure-Python node (no wait): the cost is the HTTP path and the run itself. One
  replica is one Python process, held to about one core by the interpreter lock; a second
  replica can use another core (the eval's own process needs some too).

Each replica is `stepladder serve --port 0` in a child process serving its own copy of the
project (tracing on, as by default). Each phase runs `Project.aeval(spec, remote=URLS)` over
`--cases` cases at `--concurrency`, after one warm-up eval of 8 cases (not counted), and
reports `cases_per_s` = cases / the eval's wall time (the replicas' `GET /flows` check
included); the median of `--repeats` runs. The last line of stdout is
`{"benchmark": "eval_remote", ...}` with each phase's median and `*_two_over_one` ratios.

    .venv/bin/python benchmarks/eval_remote.py [--cases 400] [--concurrency 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from serve_load import server  # type: ignore[import-not-found]

from stepladder.api import Project
from stepladder.config import load_project

SETTINGS = "name: eval-remote\ntiers: {}\nserve: {node_threads: 4}\n"
STEPS = """
import time

HOLD_S = {hold}


def hold(text: str) -> str:
    time.sleep(HOLD_S)
    return text.upper()


def shout(text: str) -> str:
    return text.upper()
"""
FLOW = """
name: {name}
state:
  text: {{type: str, input: true}}
  loud: str
nodes:
  - {{id: {name}, kind: function, call: "flows.bench_steps:{name}", reads: [text], writes: [loud]}}
"""
SPEC = "name: {name}\nflow: {name}\ncases: {name}.jsonl\nmetrics:\n  loud: exact\n"
stderr = Console(stderr=True, highlight=False)


def write_project(root: Path, cases: int, hold: float) -> None:
    """The project: both flows, and an eval set of `cases` cases over each."""
    root.mkdir()
    (root / "stepladder.yaml").write_text(SETTINGS)
    (root / "flows").mkdir()
    (root / "evalsets").mkdir()
    (root / "flows" / "bench_steps.py").write_text(STEPS.format(hold=hold))
    for name in ("hold", "shout"):
        (root / "flows" / f"{name}.yaml").write_text(FLOW.format(name=name))
        (root / "evalsets" / f"{name}.yaml").write_text(SPEC.format(name=name))
        lines = (
            json.dumps({"id": f"c{i}", "inputs": {"text": f"w{i}"}, "expected": {"loud": f"W{i}"}})
            for i in range(cases)
        )
        (root / "evalsets" / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


@contextmanager
def replica(root: Path) -> Iterator[str]:
    """`stepladder serve --port 0` on a copy of the project; its base URL."""
    folder = root.parent / f"replica-{os.urandom(3).hex()}"
    shutil.copytree(root, folder)
    with server(folder) as url:
        yield url


async def timed_eval(project: Project, spec: str, urls: list[str], **options: Any) -> float:
    """Seconds one eval takes on the replicas; exits when a case failed."""
    started = time.perf_counter()
    result = await project.aeval(spec, remote=urls, **options)
    seconds = time.perf_counter() - started
    if result.failed:
        raise SystemExit(f"{spec}: {len(result.failed)} cases failed: {result.failed[0].error}")
    return seconds


async def measure(root: Path, urls: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Each flow's cases/s (median of the repeats) on these replicas."""
    project = Project(load_project(root=root))
    numbers: dict[str, Any] = {}
    for name in ("hold", "shout"):
        await timed_eval(project, name, urls, limit=8, concurrency=args.concurrency)
        rates = []
        for _ in range(args.repeats):
            seconds = await timed_eval(project, name, urls, concurrency=args.concurrency)
            rates.append(args.cases / seconds)
        numbers[name] = round(statistics.median(rates), 1)
        numbers[f"{name}_range"] = [round(min(rates), 1), round(max(rates), 1)]
        stderr.print(f"{len(urls)} replica(s), {name}: {numbers[name]} cases/s ({rates})")
    return numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hold", type=float, default=0.05, help="Seconds the hold node blocks.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        root = Path(folder) / "client"
        write_project(root, args.cases, args.hold)
        urls = [stack.enter_context(replica(root)) for _ in range(2)]
        one = asyncio.run(measure(root, urls[:1], args))
        two = asyncio.run(measure(root, urls, args))
    summary: dict[str, Any] = {"benchmark": "eval_remote", "cases": args.cases}
    summary |= {"concurrency": args.concurrency, "hold_s": args.hold, "cores": os.cpu_count()}
    for name in ("hold", "shout"):
        summary[f"{name}_one_replica"] = one[name]
        summary[f"{name}_two_replicas"] = two[name]
        summary[f"{name}_two_over_one"] = round(two[name] / one[name], 2)
        summary[f"{name}_ranges"] = {"one": one[f"{name}_range"], "two": two[f"{name}_range"]}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
