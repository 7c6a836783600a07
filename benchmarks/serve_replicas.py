"""`stepladder serve` on Postgres: one worker, two workers, and two replicas on one database.

A benchmark harness only, loopback only. The function-flow phase of `serve_load.py` (the
example `support_triage`, five function nodes, tracing on) against services whose state is in
Postgres (`STEPLADDER_POSTGRES_URL`): `--workers 1`, `--workers 2` (two processes on one
port), and two replicas (two `stepladder serve` processes, each with a project folder of its
own, on two ports; the client sends runs to them in turn, as a round-robin load balancer
would). The same runs against the project-folder state (SQLite, `--workers 1`) come first, as
the reference. Each setup gets `--repeats` rounds (one warm-up run per server first, not
counted), alternating setups each round; a round sends all `--runs` runs at once and waits
for every answer. A run counts as an error unless it answers 200 with status `finished`.
Per round one JSON line; at the end one line per setup with the medians of rps and p99, and
the last line `{"benchmark": "serve_replicas", "errors": ..., <setup>_rps: ..., ...}`.

Without `--postgres URL`, a PostgreSQL server is started in a temporary folder as the tests
do (tests/postgres_server.py: Debian's server, run unprivileged).

    .venv/bin/python benchmarks/serve_replicas.py [--runs 200] [--repeats 5] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from serve_load import MESSAGES, one, project, server, stderr, throughput

PATH = "/flows/support_triage/runs"
SETUPS = ("sqlite_workers_1", "postgres_workers_1", "postgres_workers_2", "postgres_replicas_2")


@contextmanager
def services(setup: str, url: str) -> Iterator[list[str]]:
    """The base URLs of `setup`'s service (one, or one per replica)."""
    postgres = {} if setup.startswith("sqlite") else {"STEPLADDER_POSTGRES_URL": url}
    with ExitStack() as stack:
        if setup.endswith("replicas_2"):
            roots = [stack.enter_context(project()) for _ in range(2)]
            yield [stack.enter_context(server(root, env=postgres)) for root in roots]
            return
        workers = setup.rsplit("_", 1)[1]
        root = stack.enter_context(project())
        yield [stack.enter_context(server(root, "--workers", workers, env=postgres))]


async def rounds(urls: list[str], runs: int, timeout: float) -> dict[str, Any]:
    """All `runs` at once, sent to `urls` in turn; count, errors, rps, p50, p99."""
    limits = httpx.Limits(max_connections=runs + 8, max_keepalive_connections=runs)
    clients = [httpx.AsyncClient(base_url=u, timeout=timeout, limits=limits) for u in urls]
    try:
        for client in clients:
            warm = await one(client, PATH, {"message": MESSAGES[0]})
            if warm[1]:
                raise SystemExit(f"the warm-up run failed: {warm[1]}")
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(
                one(clients[i % len(clients)], PATH, {"message": MESSAGES[i % len(MESSAGES)]})
            )
            for i in range(runs)
        ]
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        wall = time.perf_counter() - started
        for task in pending:
            task.cancel()
    finally:
        for client in clients:
            await client.aclose()
    results = [task.result() for task in done]
    problems = [problem for _, problem in results if problem] + ["timed out"] * len(pending)
    for problem in sorted(set(problems))[:5]:
        stderr.print(f"[red]{problem}[/]")
    latencies = [seconds for seconds, problem in results if not problem]
    return {"count": runs, "errors": len(problems), **throughput(latencies, wall)}


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """`url`, or a temporary PostgreSQL server's database."""
    if url:
        yield url
        return
    from tests.postgres_server import postgres_server  # the tests' fixture, outside pytest

    with postgres_server() as started:
        yield started.url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per round (200)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds per setup (5)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per round (120)")
    parser.add_argument("--postgres", help="a Postgres URL (default: start a temporary server)")
    parser.add_argument("--setups", default=",".join(SETUPS), help="which setups, in order")
    args = parser.parse_args()
    setups = [s for s in args.setups.split(",") if s]
    measured: dict[str, list[dict[str, Any]]] = {setup: [] for setup in setups}
    with database(args.postgres) as url:
        for number in range(args.repeats):
            for setup in setups:
                with services(setup, url) as urls:
                    result = asyncio.run(rounds(urls, args.runs, args.timeout))
                result = {"setup": setup, "round": number + 1, **result}
                stderr.print(
                    f"{setup} round {number + 1}: {result['rps']} runs/s, p99 {result['p99_ms']}"
                    f" ms, {result['errors']} errors"
                )
                print(json.dumps(result), flush=True)
                measured[setup].append(result)
    summary: dict[str, Any] = {
        "benchmark": "serve_replicas",
        "errors": sum(r["errors"] for results in measured.values() for r in results),
    }
    for setup, results in measured.items():
        median = {
            "setup": setup,
            "rounds": len(results),
            "rps": round(statistics.median(r["rps"] for r in results), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] or 0.0 for r in results), 1),
        }
        print(json.dumps(median), flush=True)
        summary[f"{setup}_rps"] = median["rps"]
        summary[f"{setup}_p99_ms"] = median["p99_ms"]
    print(json.dumps(summary))
    if summary["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
