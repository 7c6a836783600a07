"""Running an eval's cases on `stepladder serve` replicas instead of in this process.

`stepladder eval SPEC --remote URL[,URL...]` posts each case's inputs to a replica's
`POST /flows/{flow}/runs` (with the bearer token of `STEPLADDER_API_TOKEN`, or of the variable
`--token-env` names) and builds the case's result from the run it answers: its state, usage,
cost, latency (`duration_s`, the run's time on the replica) and trace id.

Cases go to the replicas in turn (round robin). A replica that cannot be reached (refused,
reset, killed mid-run) or answers as a service that cannot run the case (404 unknown flow,
429, 502, 503, 504) is skipped for a few seconds and the case is tried on the next one; a case
is recorded as failed only when every replica failed it. When no replica can be reached at
all the run stops with a `UserError` and keeps what it finished, to be resumed. A run the flow
itself failed (422, 500) is a failed case, as it is in process: trying it again elsewhere
would fail the same way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from stepladder.errors import UserError

__all__ = [
    "TOKEN_VARIABLE",
    "RemoteOutcome",
    "RemoteTarget",
    "Replicas",
    "parse_remote",
    "remote_target",
]

TOKEN_VARIABLE = "STEPLADDER_API_TOKEN"
"""The variable `stepladder serve` reads its token from (`stepladder.serve.auth`)."""
REPLICA_ERRORS = frozenset({404, 408, 429, 502, 503, 504})
"""Statuses that say this replica cannot run the case now (another may)."""
COOLDOWN_S = 5.0
"""How long a replica that failed is tried only after the others."""
CONNECT_TIMEOUT_S = 10.0
RUN_TIMEOUT_S = 600.0
"""How long one run may take on a replica before the case is tried elsewhere."""


@dataclass(frozen=True)
class RemoteTarget:
    """Where an eval's cases run: the replicas' base URLs and the token to send them."""

    urls: tuple[str, ...]
    token: str | None = field(default=None, repr=False)
    token_variable: str = TOKEN_VARIABLE


@dataclass(frozen=True)
class RemoteOutcome:
    """What the replicas answered for one case (the fields of an in-process run)."""

    state: dict[str, Any]
    usage: dict[str, Any]
    trace_id: str | None
    error: str | None
    latency_s: float
    replica: str


class ReplicasUnreachable(UserError):
    """No replica could be reached for a case: the run stops (and can be resumed)."""


def parse_remote(value: str | Sequence[str]) -> tuple[str, ...]:
    """The base URLs of `--remote URL[,URL...]` (or a list of them), checked.

    Raises:
        UserError: If no URL is given, or one is not an `http(s)://host[:port]` URL.
    """
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in v.split(",")]
    urls = [part.strip().rstrip("/") for part in parts if part.strip()]
    if not urls:
        raise UserError("--remote: give the base URL of at least one `stepladder serve`.")
    for url in urls:
        split = urlsplit(url)
        if split.scheme not in ("http", "https") or not split.netloc:
            raise UserError(
                f"--remote {url}: not a service URL; give each replica's base URL, such as "
                "http://10.0.0.5:8000 (several: separated by commas)."
            )
    return tuple(dict.fromkeys(urls))


def remote_target(value: str | Sequence[str], token_env: str | None = None) -> RemoteTarget:
    """The replicas of `--remote`, with the token read from `token_env` (or the default)."""
    variable = token_env or TOKEN_VARIABLE
    return RemoteTarget(parse_remote(value), os.environ.get(variable) or None, variable)


@dataclass
class _Replica:
    url: str
    down_until: float = 0.0


class Replicas:
    """HTTP clients to the replicas, the turn, and which replicas failed lately.

    Use as an async context manager; `check` before the first case.
    """

    def __init__(self, target: RemoteTarget, concurrency: int) -> None:
        self._target = target
        self._replicas = [_Replica(url) for url in target.urls]
        self._turn = 0
        headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
        limits = httpx.Limits(
            max_connections=concurrency * 2, max_keepalive_connections=concurrency
        )
        timeout = httpx.Timeout(RUN_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout, limits=limits)

    async def __aenter__(self) -> Replicas:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def check(self, flow: str) -> None:
        """Ask each replica (`GET /flows`) whether it serves `flow`.

        A replica that cannot be reached now is kept (it may come back; cases skip it
        meanwhile).

        Raises:
            UserError: If no replica answers, one refuses the token, or one that answers
                does not serve `flow` (naming the URL and the flows it serves).
        """
        unreachable: list[str] = []
        for replica in self._replicas:
            try:
                response = await self._client.get(f"{replica.url}/flows", timeout=CONNECT_TIMEOUT_S)
            except httpx.HTTPError as error:
                unreachable.append(f"{replica.url}: {_transport_error(error)}")
                replica.down_until = time.monotonic() + COOLDOWN_S
                continue
            if response.status_code in (401, 403):
                raise self._token_error(replica.url, response)
            if response.status_code != 200:
                raise UserError(
                    f"--remote {replica.url}: GET /flows answered {response.status_code} "
                    f"({_detail(response)}); is it a `stepladder serve`?"
                )
            served = [str(f.get("name")) for f in _json(response).get("flows", [])]
            if flow not in served:
                raise UserError(
                    f"--remote {replica.url} does not serve flow '{flow}' (it serves "
                    f"{', '.join(served) or 'no flow'}); serve the eval's project there."
                )
        if len(unreachable) == len(self._replicas):
            raise UserError(
                "--remote: no replica answers: " + "; ".join(unreachable) + ". Start "
                "`stepladder serve` there, or check the URLs."
            )

    async def run(self, flow: str, inputs: dict[str, Any]) -> RemoteOutcome:
        """Run one case on the replicas in turn until one answers it.

        Raises:
            ReplicasUnreachable: If no replica could be reached for it.
            UserError: If a replica refuses the token.
        """
        failures: list[str] = []
        answered = False
        for replica in self._order():
            started = time.perf_counter()
            try:
                response = await self._client.post(f"{replica.url}/flows/{flow}/runs", json=inputs)
            except httpx.HTTPError as error:
                replica.down_until = time.monotonic() + COOLDOWN_S
                failures.append(f"{replica.url}: {_transport_error(error)}")
                continue
            elapsed = time.perf_counter() - started
            status = response.status_code
            if status in (401, 403):
                raise self._token_error(replica.url, response)
            if status in REPLICA_ERRORS:
                replica.down_until = time.monotonic() + COOLDOWN_S
                failures.append(f"{replica.url}: {status} {_detail(response)}")
                answered = True
                continue
            replica.down_until = 0.0
            if status == 200:
                return _finished(_json(response), elapsed, replica.url)
            return await self._failed(response, elapsed, replica.url)
        reasons = "; ".join(failures)
        if not answered:
            raise ReplicasUnreachable(
                f"--remote: no replica can be reached ({reasons}). The cases finished so far "
                "are kept; start the services again and finish the run with --resume RUN_ID."
            )
        return RemoteOutcome({}, {}, None, f"every replica failed the case: {reasons}", 0.0, "")

    def _order(self) -> list[_Replica]:
        """Every replica once, from the next in turn; those that failed lately last."""
        count = len(self._replicas)
        start, self._turn = self._turn, (self._turn + 1) % count
        turn = [self._replicas[(start + i) % count] for i in range(count)]
        now = time.monotonic()
        return [r for r in turn if r.down_until <= now] + [r for r in turn if r.down_until > now]

    async def _failed(self, response: httpx.Response, elapsed: float, url: str) -> RemoteOutcome:
        """A run the flow failed: its error, and its state, usage and trace from GET /runs."""
        body = _json(response)
        error = str(body.get("message") or body.get("detail") or f"HTTP {response.status_code}")
        run: dict[str, Any] = {}
        run_id = body.get("run_id")
        if isinstance(run_id, str):
            try:
                found = await self._client.get(f"{url}/runs/{run_id}", timeout=CONNECT_TIMEOUT_S)
                run = _json(found) if found.status_code == 200 else {}
            except httpx.HTTPError:
                run = {}
        outcome = _finished(run, elapsed, url)
        return RemoteOutcome(
            outcome.state, outcome.usage, outcome.trace_id, error, outcome.latency_s, url
        )

    def _token_error(self, url: str, response: httpx.Response) -> UserError:
        given = "was refused" if self._target.token else "is needed"
        return UserError(
            f"--remote {url}: the service's token {given} ({_detail(response)}). Set "
            f"{self._target.token_variable} to the token the service was started with "
            "(--token-env names another variable)."
        )


def _finished(run: dict[str, Any], elapsed: float, url: str) -> RemoteOutcome:
    """The outcome of a run the service answered (finished, or paused for a review)."""
    error = None
    if run.get("status") == "paused":
        reviews = run.get("reviews") or []
        waiting = "; ".join(f"node '{r.get('node')}' ({r.get('reason')})" for r in reviews)
        error = f"awaits human review: {waiting}"
    duration = run.get("duration_s")
    return RemoteOutcome(
        state=dict(run.get("state") or {}),
        usage=dict(run.get("usage") or {}),
        trace_id=run.get("trace_id"),
        error=error,
        latency_s=float(duration) if isinstance(duration, int | float) else elapsed,
        replica=url,
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _detail(response: httpx.Response) -> str:
    body = _json(response)
    detail = body.get("message") or body.get("detail")
    return str(detail) if detail else response.reason_phrase or "no detail"


def _transport_error(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
