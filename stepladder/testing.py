"""Helpers for users' own tests: run an eval spec from pytest and assert on its summary.

```python
from stepladder.testing import replay_eval, run_eval

def test_support_quality():
    result = run_eval("evalsets/support.yaml", limit=20)
    assert result.metric("category").mean >= 0.8
    assert not result.failed

def test_support_flow_against_recorded_answers():  # no model server, deterministic
    result = replay_eval("evalsets/support.yaml", "recordings/support.json")
    assert result.metric("category").mean >= 0.8
```

`replay_eval` replays a recorded eval run hermetically (`stepladder.replay`): every node call
is served from the recording, and a call the recording does not hold fails the test with
`ReplayMiss`, naming the node and what changed in its key (its spec, compiled prompt, tier
model or code, or its inputs). Record again with `stepladder eval SPEC` (records by default)
and copy `.stepladder/records/RUN_ID.json` next to the tests.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from stepladder.api import EvalResult
from stepladder.api import Project as ProjectAPI
from stepladder.config import Project, load_project
from stepladder.evalsets.report import summarize
from stepladder.evalsets.runner import EvalOptions, prepare_eval
from stepladder.evalsets.runner import run_eval as run_prepared
from stepladder.evalsets.spec import load_eval_spec
from stepladder.runtimes import ModelPool
from stepladder.tracing import Tracing

__all__ = ["EvalResult", "areplay_eval", "arun_eval", "replay_eval", "run_eval"]


async def arun_eval(
    spec: str | Path,
    *,
    project: str | Path | None = None,
    models: ModelPool | None = None,
    tracing: Tracing | None = None,
    concurrency: int | None = None,
    split: str | None = None,
    cache: bool | None = None,
    limit: int | None = None,
    resume: str | None = None,
    tier: str | None = None,
) -> EvalResult:
    """Run an eval spec (from an async test).

    Args:
        spec: The eval spec file.
        project: The project folder (default: found from the spec's folder upwards).
        models: Model tiers to use (default: the project's, started and stopped here).
        tracing: Where the cases' spans go (default: not traced).
        concurrency: Cases at once (default: the spec's).
        split: Run only this split's cases.
        cache: Allow cached model responses (default: the spec's).
        limit: Run at most this many cases.
        resume: Finish this killed run instead of starting one.
        tier: Run every model node on this tier.
    """
    path = Path(spec)
    found = _project(path, project)
    options = EvalOptions(concurrency, resume, split, cache, limit, tier)
    prepared = prepare_eval(found, load_eval_spec(path), options)
    if models is not None:
        record = await run_prepared(prepared, models, tracing)
    else:
        pool = ModelPool.for_project(found, cache=prepared.manifest.cache)
        async with pool:
            record = await run_prepared(prepared, pool, tracing)
    return EvalResult(record, summarize(record))


def run_eval(spec: str | Path, **options: Any) -> EvalResult:
    """Run an eval spec from a plain (not async) test; takes `arun_eval`'s options."""
    return asyncio.run(arun_eval(spec, **options))


async def areplay_eval(
    spec: str | Path,
    recording: str | Path,
    *,
    project: str | Path | None = None,
    models: ModelPool | None = None,
    hermetic: bool = True,
    split: str | None = None,
    limit: int | None = None,
    concurrency: int | None = None,
) -> EvalResult:
    """Replay a recorded eval run (from an async test); hermetic unless told otherwise.

    Args:
        spec: The eval spec file.
        recording: The record to replay: a record file (relative to the project folder, or
            absolute) or a recorded run's id (under `.stepladder/records/`, or in Postgres
            with `state.postgres`).
        project: The project folder (default: found from the spec's folder upwards).
        models: Model tiers for the calls that run (only when not `hermetic`).
        hermetic: Fail every call the recording does not hold, and start no model server.
        split: Run only this split's cases.
        limit: Run at most this many cases.
        concurrency: Cases at once (default: the spec's).

    Raises:
        ReplayMiss: In a hermetic replay, naming each node call the recording does not hold
            and what changed in its key.
    """
    path = Path(spec)
    found = ProjectAPI(_project(path, project), models=models)
    return await found.aeval(
        path, split=split, limit=limit, concurrency=concurrency, record=False,
        replay=recording, hermetic=hermetic,
    )  # fmt: skip


def replay_eval(spec: str | Path, recording: str | Path, **options: Any) -> EvalResult:
    """Replay a recorded eval run from a plain test; takes `areplay_eval`'s options."""
    return asyncio.run(areplay_eval(spec, recording, **options))


def _project(spec: Path, project: str | Path | None) -> Project:
    if project is not None:
        return load_project(root=Path(project))
    return load_project(start=spec.resolve().parent)
