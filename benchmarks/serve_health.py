"""`/healthz` latency of `stepladder serve` while a CPU-bound synchronous node runs.

A benchmark harness only, loopback only. A temporary project holds two one-node flows whose
`function` node spins on the CPU until a file appears:

- `compute`: pure Python arithmetic that looks for the file every 20 ms, as CPU-bound work
  (parsing, scoring, a loop over rows) rarely makes a system call;
- `syscalls`: the same arithmetic, but it looks for the file after every 0.3 ms of work.

The service runs each node on a worker thread, so its event loop only needs the GIL back.
CPython hands the GIL to a waiting thread after the switch interval (the service sets 1 ms),
but a thread that releases it itself (any system call) and takes it straight back restarts
that wait: a node making a system call more often than every millisecond starves the event
loop (the "convoy effect"), which the `syscalls` phase shows.

For each phase, `--probes` sequential `GET /healthz` are timed while the node spins; the
baseline is the same probes against the idle service (in this run). The last line of stdout
is `{"benchmark": "serve_health", "idle_ms": .., "compute_ms": .., "compute_over_idle": ..,
"syscalls_ms": ..}` (medians), with p99s and maxima as more keys.

    .venv/bin/python benchmarks/serve_health.py [--probes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from serve_load import percentile, server  # type: ignore[import-not-found]

STEPS = """
import time
from pathlib import Path

HERE = Path(__file__).parent


def _spin(name: str, every_s: float) -> str:
    (HERE / "spinning").touch()
    deadline = time.monotonic() + 600
    look_at = 0.0
    total = 0
    while time.monotonic() < deadline:
        total += sum(range(20_000))
        if time.monotonic() >= look_at:
            if (HERE / "go").exists():
                break
            look_at = time.monotonic() + every_s
    return f"spun {name}"


def compute(name: str) -> str:
    return _spin(name, 0.02)


def syscalls(name: str) -> str:
    return _spin(name, 0.0)
"""
FLOW = """name: {name}
state:
  name: {{type: str, input: true}}
  result: str
nodes:
  - {{id: spin, kind: function, call: "flows.steps:{name}", reads: [name], writes: [result]}}
"""
PHASES = ("compute", "syscalls")
stderr = Console(stderr=True, highlight=False)


@contextmanager
def project() -> Iterator[Path]:
    """A temporary project with the two spinning flows."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "stepladder.yaml").write_text("name: serve-health\n")
        (root / "flows").mkdir()
        (root / "flows/steps.py").write_text(STEPS)
        for name in PHASES:
            (root / "flows" / f"{name}.yaml").write_text(FLOW.format(name=name))
        yield root


async def probe(client: httpx.AsyncClient, probes: int) -> list[float]:
    """Seconds each of `probes` sequential `GET /healthz` took."""
    seconds = []
    for _ in range(probes):
        started = time.perf_counter()
        answer = await client.get("/healthz")
        seconds.append(time.perf_counter() - started)
        answer.raise_for_status()
    return seconds


async def spinning(client: httpx.AsyncClient, flows: Path, name: str, probes: int) -> list[float]:
    """Probe while the flow `name` spins; then let it finish and check it did."""
    for mark in ("spinning", "go"):
        (flows / mark).unlink(missing_ok=True)
    run = asyncio.create_task(client.post(f"/flows/{name}/runs", json={"name": name}))
    while not (flows / "spinning").exists():
        await asyncio.sleep(0.02)
    seconds = await probe(client, probes)
    (flows / "go").touch()
    answer = await run
    if answer.status_code != 200 or answer.json()["state"]["result"] != f"spun {name}":
        raise SystemExit(f"the {name} run failed: {answer.status_code} {answer.text}")
    return seconds


def summary(seconds: list[float]) -> dict[str, float]:
    """Median, p99 and maximum in milliseconds."""
    ordered = sorted(s * 1000 for s in seconds)
    return {
        "ms": round(statistics.median(ordered), 2),
        "p99_ms": round(percentile(ordered, 0.99), 2),
        "max_ms": round(ordered[-1], 2),
    }


async def measure(url: str, flows: Path, probes: int) -> dict[str, Any]:
    """Idle, then each phase; the summary line."""
    result: dict[str, Any] = {"benchmark": "serve_health", "probes": probes}
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        await probe(client, 5)  # warm-up: connection, first request
        phases = {"idle": await probe(client, probes)}
        for name in PHASES:
            stderr.print(f"probing /healthz while `{name}` spins")
            phases[name] = await spinning(client, flows, name, probes)
    for name, seconds in phases.items():
        for key, value in summary(seconds).items():
            result[f"{name}_{key}"] = value
    result["compute_over_idle"] = round(result["compute_ms"] / result["idle_ms"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=50, help="probes per phase (50)")
    args = parser.parse_args()
    with project() as root, server(root) as url:
        stderr.print(f"server at {url}")
        print(json.dumps(asyncio.run(measure(url, root / "flows", args.probes))))


if __name__ == "__main__":
    main()
