"""`GET /healthz`: the service answers, and how each model tier its flows use is doing.

Each tier is reported as one of:

- `up`: started, or a server that answered (`GET <base_url>/models`, any HTTP answer);
- `idle`: an embedded or launched server that starts on first use;
- `configured`: a provider API whose key is set (not called: a health check costs nothing);
- `down`: a server that does not answer, or a tier whose last start failed;
- `no_key`: an API tier whose key variable is not set.

A tier that some flow starts on (`required`) and is `down` or `no_key` makes the status
`degraded`; rungs only escalated to (a key-less frontier tier is normal on a fresh machine)
do not. The answer is 200 either way, so a load balancer keeps a service whose function
flows still work; `?strict=true` answers 503 when degraded (a readiness probe).

With a shared state store (`state.postgres`), `state` reports it (`up` or `down`): a store
that cannot be reached makes the status `unavailable` and the answer a 503, strict or not,
since no run can be checkpointed, resumed or reviewed without it.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import Any

import httpx

from stepladder.config.state import masked_url
from stepladder.config.tiers import HUMAN, LiteLLMTier, LlamaCppTier, SGLangTier, TierBase
from stepladder.errors import StateStoreError
from stepladder.serve.service import Service

__all__ = ["PROBE_TIMEOUT_S", "health"]

PROBE_TIMEOUT_S = 2.0
BAD = ("down", "no_key")


async def health(service: Service) -> dict[str, Any]:
    """The service's health: `status` (`ok` or `degraded`), flows served, and each tier."""
    required = {tier for flow in service.flows.values() for tier in flow.tiers}
    rungs = {r for r in service.project.settings.ladder if r != HUMAN}
    names = sorted(required | (rungs if required else set()))
    checks: list[dict[str, Any]] = []
    if names:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S, verify=_tls()) as client:
            checks = await asyncio.gather(*(_tier(service, client, name) for name in names))
    tiers = {}
    for name, check in zip(names, checks, strict=True):
        tiers[name] = {**check, "required": name in required}
    degraded = any(t["status"] in BAD and t["required"] for t in tiers.values())
    report: dict[str, Any] = {
        "status": "degraded" if degraded else "ok",
        "flows": sorted(service.flows),
        "runs_in_progress": service.running,
        "tiers": tiers,
    }
    url = service.project.settings.state.postgres
    if url is not None:
        report["state"] = await _state(url)
        if report["state"]["status"] == "down":
            report["status"] = "unavailable"
    return report


async def _state(url: str) -> dict[str, Any]:
    """The Postgres state store: `up` when a connection opens, else `down` and why."""
    from stepladder.state.postgres import probe  # lazy: the optional Postgres driver

    where = {"store": "postgres", "url": masked_url(url)}
    try:
        await asyncio.to_thread(probe, url)
    except StateStoreError as error:
        return {"status": "down", **where, "detail": str(error)}
    return {"status": "up", **where}


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every probe (building one reads the CA bundle: too slow per call)."""
    return httpx.create_ssl_context()


async def _tier(service: Service, client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    settings = service.project.settings.tiers.get(name)
    if settings is None:
        return {"status": "down", "detail": "not bound in stepladder.yaml"}
    runtime = str(getattr(settings, "runtime", ""))
    error = service.tier_errors.get(name)
    if error is not None:
        return {"status": "down", "runtime": runtime, "detail": error}
    bound = service.started.get(name)
    url = bound.endpoint.base_url if bound is not None else _remote_url(settings)
    if url is not None:
        return {"runtime": runtime, **(await _probe(client, url))}
    if bound is not None:
        return {"status": "configured", "runtime": runtime}
    return {"runtime": runtime, **_unstarted(service, name, settings)}


def _remote_url(settings: TierBase) -> str | None:
    """The URL of a server the tier connects to (None: embedded, launched, or a provider API)."""
    if isinstance(settings, LlamaCppTier | LiteLLMTier):
        return None
    base = getattr(settings, "base_url", None)
    return str(base).rstrip("/") if base else None


def _unstarted(service: Service, name: str, settings: TierBase) -> dict[str, Any]:
    if isinstance(settings, LlamaCppTier | SGLangTier):
        return {"status": "idle", "detail": "starts on first use"}
    if missing := service.models.unavailable(name):
        return {"status": "no_key", "detail": missing}
    return {"status": "configured"}


async def _probe(client: httpx.AsyncClient, base_url: str) -> dict[str, Any]:
    try:
        response = await client.get(f"{base_url}/models")
    except httpx.HTTPError as error:
        return {"status": "down", "url": base_url, "detail": str(error) or type(error).__name__}
    return {"status": "up", "url": base_url, "http_status": response.status_code}
