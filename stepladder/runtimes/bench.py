"""Measuring a self-hosted server's throughput: prompt and completion tokens per second.

Three rounds of chat requests, `concurrency` in flight at a time, each request with a prompt of
its own (so no prompt cache is shared between them): short prompts asking for one token (the
base: request overhead, a short prompt, one token), long prompts asking for one token, and
short prompts asking for many tokens (`ignore_eos`, so the model does not stop early). Prompt
throughput is the extra prompt tokens of the second round over its extra wall time, completion
throughput the extra completion tokens of the third over its extra wall time; what every
request costs alike cancels out. Token counts are the server's own (`usage`). A first request
warms the server up and is not counted.
"""

from __future__ import annotations

import os
import platform
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from stepladder.config.costs import DEFAULT_USD_PER_HOUR, MeasuredThroughput, Throughput
from stepladder.config.price_table import read_price_table
from stepladder.config.tiers import LiteLLMTier, LlamaCppTier
from stepladder.errors import ConfigError, ModelError, UserError
from stepladder.runtimes.base import Endpoint
from stepladder.runtimes.pool import runtime_for

if TYPE_CHECKING:
    from stepladder.config.settings import Project

__all__ = ["BenchResult", "bench_endpoint", "bench_tier", "machine_description"]

FILLER = (
    "Ledgers of small mountain towns record rainfall, harvests, the price of salt and the "
    "names of travellers who crossed the pass before the first snow closed it for winter. "
)
COUNTING = "Count from 1 to 1000, one number per line, and say nothing else."


@dataclass(frozen=True)
class BenchResult:
    """What a measurement saw.

    Attributes:
        requests: Requests per round.
        concurrency: Requests in flight at a time.
        prompt_tokens: Prompt tokens of the long-prompt round beyond the base round's.
        prompt_seconds: Its wall time beyond the base round's.
        completion_tokens: Completion tokens of the long-completion round beyond the base's.
        completion_seconds: Its wall time beyond the base round's.
    """

    requests: int
    concurrency: int
    prompt_tokens: int
    prompt_seconds: float
    completion_tokens: int
    completion_seconds: float

    @property
    def throughput(self) -> Throughput:
        """Prompt and completion tokens per second."""
        return Throughput(
            prompt_tokens_per_second=self.prompt_tokens / self.prompt_seconds,
            completion_tokens_per_second=self.completion_tokens / self.completion_seconds,
        )


def bench_endpoint(
    endpoint: Endpoint,
    *,
    requests: int = 4,
    concurrency: int = 1,
    prompt_words: int = 300,
    completion_tokens: int = 128,
    timeout_s: float = 600.0,
) -> BenchResult:
    """Measure the throughput of the OpenAI-compatible server behind `endpoint`.

    Raises:
        ModelError: If the server fails a request or reports no tokens.
    """
    if endpoint.base_url is None:
        raise ModelError("only a server with an OpenAI-compatible URL can be measured.")
    nonce = secrets.token_hex(4)
    with httpx.Client(timeout=timeout_s) as client:
        post = _poster(client, endpoint)
        post(f"Warm-up {nonce}. Say hello.", 4)
        base = _round(post, _short_prompts(f"{nonce}-a", requests), 1, concurrency)
        long = [_long_prompt(f"{nonce}-b-{i}", prompt_words) for i in range(requests)]
        read = _round(post, long, 1, concurrency)
        short = _short_prompts(f"{nonce}-c", requests)
        written = _round(post, short, completion_tokens, concurrency)
    prompt_tokens, prompt_seconds = read[0] - base[0], read[2] - base[2]
    completion, completion_seconds = written[1] - base[1], written[2] - base[2]
    if prompt_tokens <= 0 or prompt_seconds <= 0:
        raise ModelError(
            f"{endpoint.base_url}: could not measure prompt throughput ({prompt_tokens} more "
            f"tokens took {prompt_seconds:+.3f} s more); try a larger --prompt-words."
        )
    if completion <= 0 or completion_seconds <= 0:
        raise ModelError(
            f"{endpoint.base_url}: could not measure completion throughput ({completion} more "
            f"tokens took {completion_seconds:+.3f} s more); try a larger --completion-tokens."
        )
    return BenchResult(
        requests, concurrency, prompt_tokens, prompt_seconds, completion, completion_seconds
    )


def machine_description() -> str:
    """This machine in a few words: CPU cores, architecture, system."""
    return f"{os.cpu_count()} CPU cores, {platform.machine()}, {platform.system()}"


def _poster(client: httpx.Client, endpoint: Endpoint) -> Any:
    url = f"{endpoint.base_url}/chat/completions"
    model = endpoint.model.removeprefix("openai/")
    headers = {"Authorization": f"Bearer {endpoint.api_key}"}

    def post(prompt: str, max_tokens: int) -> tuple[int, int]:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "ignore_eos": max_tokens > 1,  # llama.cpp, SGLang and vLLM: write every token
            **endpoint.extra_body,
        }
        try:
            response = client.post(url, json=body, headers=headers)
            response.raise_for_status()
            usage = response.json().get("usage") or {}
        except (httpx.HTTPError, ValueError) as error:
            raise ModelError(f"{url}: a measuring request failed ({error}).") from error
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)

    return post


def _round(
    post: Any, prompts: list[str], max_tokens: int, concurrency: int
) -> tuple[int, int, float]:
    """Send every prompt, `concurrency` at a time: prompt and completion tokens, wall seconds."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(concurrency, 1)) as pool:
        counts = list(pool.map(lambda prompt: post(prompt, max_tokens), prompts))
    seconds = time.perf_counter() - started
    return sum(c[0] for c in counts), sum(c[1] for c in counts), seconds


def _short_prompts(tag: str, count: int) -> list[str]:
    """`count` short prompts, each starting with its own tag."""
    return [f"Request {tag}-{i}. {COUNTING}" for i in range(count)]


def _long_prompt(tag: str, words: int) -> str:
    """A prompt of about `words` words that starts with `tag`, so no two share a prefix."""
    filler = FILLER.split()
    body = " ".join(filler[i % len(filler)] for i in range(words))
    return f"Request {tag}. Read this and answer with one word.\n\n{body}"


def bench_tier(
    project: Project,
    tier: str,
    *,
    requests: int = 4,
    concurrency: int | None = None,
    prompt_words: int = 300,
    completion_tokens: int = 128,
) -> tuple[MeasuredThroughput, BenchResult]:
    """Start tier `tier` of `project`, measure its throughput, stop it; the table entry.

    The entry keeps the machine's hourly price: the tier's `cost.usd_per_hour`, else the
    table's earlier entry's, else its runtime's default. `concurrency` defaults to the
    server's parallel slots for llamacpp and to 8 for other servers (which batch requests).

    Raises:
        ConfigError: If no such tier is configured.
        UserError: If the tier is an API tier (priced per token, nothing to measure).
        ModelError: If the server does not start or answer.
    """
    settings = project.settings.tiers.get(tier)
    if settings is None:
        known = ", ".join(sorted(project.settings.tiers)) or "(none)"
        raise ConfigError(f"no tier '{tier}' in stepladder.yaml; tiers: {known}.")
    if isinstance(settings, LiteLLMTier) or getattr(settings, "api_key_env", None):
        raise UserError(
            f"tier '{tier}' is an API tier, priced per token (`prices:` or LiteLLM's table); "
            "`models bench` measures self-hosted tiers."
        )
    if concurrency is None:
        concurrency = settings.parallel if isinstance(settings, LlamaCppTier) else 8
    runtime = runtime_for(tier, settings)
    endpoint = runtime.start()
    try:
        result = bench_endpoint(
            endpoint, requests=requests, concurrency=concurrency,
            prompt_words=prompt_words, completion_tokens=completion_tokens,
        )  # fmt: skip
    finally:
        runtime.stop()
    earlier = read_price_table(project.root).self_hosted.get(tier)
    hourly = (
        settings.cost.usd_per_hour
        if settings.cost is not None
        else earlier.usd_per_hour
        if earlier is not None
        else DEFAULT_USD_PER_HOUR.get(settings.runtime, DEFAULT_USD_PER_HOUR["openai-compatible"])
    )
    served_here = isinstance(settings, LlamaCppTier) or getattr(settings, "model_path", None)
    rates = result.throughput
    entry = MeasuredThroughput(
        model=settings.model_name,
        runtime=settings.runtime,
        usd_per_hour=hourly,
        prompt_tokens_per_second=round(rates.prompt_tokens_per_second, 2),
        completion_tokens_per_second=round(rates.completion_tokens_per_second, 2),
        concurrency=concurrency,
        measured_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        machine=machine_description() if served_here else f"the server at {endpoint.base_url}",
    )
    return entry, result
