#!/usr/bin/env python3
"""GPU check: launch SGLang through stepladder's runtime and time structured-output calls.

Run on a GPU machine from the repository root (`scripts/gpu_check.sh` installs what is missing):

    python3 scripts/gpu_check.py [MODEL_PATH] [--calls 20] [--concurrency 4] [--router 2]

The model is a local Hugging Face folder (there is no network on the GPU machine): the argument,
else `$MODEL_PATH`, else `models/SmolLM2-135M-Instruct`. Each call is one prompt of the example
support flow's triage step (a Bitext message in, `{category, order_id}` out) with its JSON Schema
as `response_format`, so SGLang's grammar backend (xgrammar) enforces it. The last line printed
is JSON: `{"check": "gpu", "tokens_per_s": ..., "calls": ..., "errors": ...}`. Exit codes:
0 all calls valid, 1 some failed, 2 the server did not start, 3 something to install first.

`--router N` checks the scale-out path instead: it launches N SGLang workers on the GPU (each
with `--mem-fraction-static` 0.8/N unless `--mem-fraction` is given), `sglang-router`
(`python -m sglang_router.launch_router --policy round_robin`) in front of them, and connects a
tier to the router (`{runtime: sglang, base_url: ROUTER}`), as a deployment would. The JSON line
then also has `"router": N` and `"per_worker"`: the chat calls each worker's log shows; a worker
that served none while the others did fails the check (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "SmolLM2-135M-Instruct"
FLOW = ROOT / "examples" / "flows" / "support_triage.yaml"
MESSAGES = ROOT / "examples" / "data" / "bitext" / "support_sample.csv"
sys.path.insert(0, str(ROOT))

try:
    import httpx
    import yaml

    from stepladder.config.tiers import SGLangTier
    from stepladder.errors import ModelError
    from stepladder.runtimes.base import Endpoint
    from stepladder.runtimes.sglang import SGLangRuntime, _terminate, wait_until_ready
except ImportError as missing:
    print(
        f"gpu_check: cannot import {missing.name} (install stepladder and its dependencies, "
        "e.g. from the .wheels folder: see scripts/gpu_check.sh)",
        file=sys.stderr,
    )
    sys.exit(3)


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=os.environ.get("MODEL_PATH"))
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--mem-fraction", type=float, default=None)
    parser.add_argument("--startup-timeout", type=float, default=600.0)
    parser.add_argument("--log-dir", default=os.environ.get("OUT") or None)
    parser.add_argument(
        "--router", type=int, default=0, metavar="N",
        help="launch N workers behind sglang-router and call through the router (N >= 2)",
    )  # fmt: skip
    return parser.parse_args()


def triage_task() -> tuple[list[str], dict[str, Any]]:
    """The example flow's messages and the JSON Schema of its triage step's output."""
    with MESSAGES.open(encoding="utf-8", newline="") as file:
        messages = [row["instruction"] for row in csv.DictReader(file)]
    flow = yaml.safe_load(FLOW.read_text(encoding="utf-8"))
    categories = list(flow["state"]["category"]["values"])
    schema = {
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": categories},
            "order_id": {"type": ["string", "null"]},
        },
        "required": ["category", "order_id"],
        "additionalProperties": False,
    }
    return messages, schema


def request_body(model: str, message: str, schema: dict[str, Any], max_tokens: int) -> Any:
    """One chat completion: the triage prompt with the schema as `response_format`."""
    categories = ", ".join(schema["properties"]["category"]["enum"])
    prompt = (
        "Triage this customer-support message. Pick its category from: "
        f"{categories}. Give the order number if it names one, else null.\n\n{message}"
    )
    return {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "max_tokens": max_tokens,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "triage", "schema": schema, "strict": True},
        },
    }


def check_output(content: str, schema: dict[str, Any]) -> None:
    """Raise ValueError unless the content is JSON matching the triage schema."""
    data = json.loads(content)
    if not isinstance(data, dict) or set(data) != {"category", "order_id"}:
        raise ValueError(f"wrong keys: {content[:200]!r}")
    if data["category"] not in schema["properties"]["category"]["enum"]:
        raise ValueError(f"category not in the enum: {data['category']!r}")
    if data["order_id"] is not None and not isinstance(data["order_id"], str):
        raise ValueError(f"order_id is not a string or null: {data['order_id']!r}")


async def one_call(client: httpx.AsyncClient, body: Any, schema: dict[str, Any]) -> int:
    """Make one call, check its output, and return its completion tokens."""
    response = await client.post("/chat/completions", json=body)
    response.raise_for_status()
    payload = response.json()
    check_output(payload["choices"][0]["message"]["content"], schema)
    return int(payload["usage"]["completion_tokens"])


async def run_calls(
    base_url: str, bodies: list[Any], schema: dict[str, Any], concurrency: int
) -> tuple[int, list[str], float]:
    """Run every call, `concurrency` at a time: (completion tokens, errors, wall seconds)."""
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def guarded(client: httpx.AsyncClient, body: Any) -> int:
        async with gate:
            try:
                return await one_call(client, body, schema)
            except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as error:
                errors.append(f"{type(error).__name__}: {error}")
                return 0

    headers = {"Authorization": "Bearer stepladder-local"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as client:
        await guarded(client, bodies[0])  # warm-up: grammar compilation, CUDA graphs
        errors.clear()
        began = time.perf_counter()
        tokens = await asyncio.gather(*(guarded(client, body) for body in bodies))
        wall = time.perf_counter() - began
    return sum(tokens), errors, wall


Launched = tuple[Endpoint, Callable[[], None], list[Path]]
"""The endpoint to call, how to stop everything, and each worker's log (router case)."""


def model_folder(args: argparse.Namespace) -> str | None:
    """The model to serve, or None after a message."""
    model = args.model or (str(DEFAULT_MODEL) if DEFAULT_MODEL.is_dir() else None)
    if model is None:
        print(
            "gpu_check: no model: pass a local model folder, set MODEL_PATH, or put one at "
            f"{DEFAULT_MODEL}",
            file=sys.stderr,
        )
    return model


def start_failed(error: ModelError) -> int:
    """Print why a server did not start; the exit code for it."""
    print(f"gpu_check: {error}", file=sys.stderr)
    return 3 if "not installed" in str(error) or "CUDA GPU" in str(error) else 2


def launch(args: argparse.Namespace) -> Launched | int:
    """Start the server: its endpoint and how to stop it, or an exit code after a message."""
    model = model_folder(args)
    if model is None:
        return 3
    settings = SGLangTier(
        runtime="sglang",
        model_path=model,
        startup_timeout_s=args.startup_timeout,
        mem_fraction=args.mem_fraction,
    )
    runtime = SGLangRuntime(settings, "gpu", log_dir=Path(args.log_dir) if args.log_dir else None)
    began = time.perf_counter()
    try:
        endpoint = runtime.start()
    except ModelError as error:
        return start_failed(error)
    ready = time.perf_counter() - began
    print(f"server ready in {ready:.1f}s at {endpoint.base_url} (log: {runtime.log_path})")
    return endpoint, runtime.stop, []


def launch_router(args: argparse.Namespace) -> Launched | int:
    """Start N workers, `sglang-router` in front, and connect a tier to the router."""
    model = model_folder(args)
    if model is None:
        return 3
    log_dir = Path(args.log_dir) if args.log_dir else ROOT / ".gpu_check"
    log_dir.mkdir(parents=True, exist_ok=True)
    fraction = args.mem_fraction or round(0.8 / args.router, 2)
    workers: list[SGLangRuntime] = []
    roots: list[str] = []
    router: list[subprocess.Popen[bytes]] = []

    def stop() -> None:
        for process in router:
            _terminate(process)
        for worker in workers:
            worker.stop()

    began = time.perf_counter()
    try:
        for index in range(args.router):
            settings = SGLangTier(runtime="sglang", model_path=model, mem_fraction=fraction,
                                  startup_timeout_s=args.startup_timeout)  # fmt: skip
            workers.append(SGLangRuntime(settings, f"worker{index + 1}", log_dir=log_dir))
            roots.append((workers[-1].start().base_url or "").removesuffix("/v1"))
            print(f"worker {index + 1} ready at {roots[-1]} (log: {workers[-1].log_path})")
        port = free_port()
        log = log_dir / f"sglang-router-{port}.log"
        command = [
            sys.executable, "-m", "sglang_router.launch_router", "--worker-urls", *roots,
            "--policy", "round_robin", "--host", "127.0.0.1", "--port", str(port),
            "--prometheus-port", str(free_port()),  # its default, 29000, may be taken
        ]  # fmt: skip
        print("router:", " ".join(command))
        with log.open("wb") as output:
            router.append(subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                           start_new_session=True))  # fmt: skip
        root = f"http://127.0.0.1:{port}"
        wait_until_ready(root, 120.0, lambda r, tried: f"sglang-router at {r}: {tried}; see {log}",
                         lambda: router[0].poll() is not None)  # fmt: skip
        tier = SGLangTier(runtime="sglang", base_url=root, startup_timeout_s=60)
        endpoint = SGLangRuntime(tier, "fleet").start()  # connect mode, through the router
    except ModelError as error:
        stop()
        return start_failed(error)
    except BaseException:
        stop()
        raise
    ready = time.perf_counter() - began
    print(f"{args.router} workers and the router ready in {ready:.1f}s at {endpoint.base_url}")
    return endpoint, stop, [w.log_path for w in workers if w.log_path is not None]


def free_port() -> int:
    """A free loopback port."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def chat_calls(log: Path) -> int:
    """How many chat completions a worker's log shows it answered."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    return len(re.findall(r"POST /v1/chat/completions", text))


def main() -> int:
    """Launch, measure, stop, and report."""
    args = parse_args()
    if args.router == 1 or args.router < 0:
        print("gpu_check: --router needs 2 or more workers", file=sys.stderr)
        return 3
    started = launch_router(args) if args.router else launch(args)
    if isinstance(started, int):
        print(json.dumps({"check": "gpu", "tokens_per_s": None, "calls": 0, "errors": 1}))
        return started
    endpoint, stop, worker_logs = started
    try:
        messages, schema = triage_task()
        model = endpoint.display_name
        bodies = [
            request_body(model, messages[i % len(messages)], schema, args.max_tokens)
            for i in range(args.calls)
        ]
        base_url = endpoint.base_url or ""
        calls = run_calls(base_url, bodies, schema, args.concurrency)
        tokens, errors, wall = asyncio.run(calls)
    finally:
        stop()
    for error in errors:
        print(f"error: {error}")
    rate = tokens / wall if wall > 0 else 0.0
    print(
        f"{args.calls} calls, concurrency {args.concurrency}: {tokens} completion tokens in "
        f"{wall:.2f}s = {rate:.1f} tokens/s, {len(errors)} errors"
    )
    result: dict[str, Any] = {"check": "gpu", "tokens_per_s": round(rate, 1), "calls": args.calls}
    idle = False
    if args.router:
        per_worker = [chat_calls(log) for log in worker_logs]
        idle = sum(per_worker) > 0 and min(per_worker) == 0
        print(f"chat calls per worker (from their logs): {per_worker}")
        result |= {"router": args.router, "per_worker": per_worker}
    print(json.dumps({**result, "errors": len(errors)}))
    return 1 if errors or idle else 0


if __name__ == "__main__":
    sys.exit(main())
