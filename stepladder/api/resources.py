"""`Resources`: the model pool, tracing and event loop a `Project` holds while it is open.

A call on a closed project gets a pool and tracing of its own, closed when it ends; an open
project (`with`/`async with`, or `Project.open`) keeps one pool, so the tiers a run starts stay
up for the next, and one tracing, flushed after each call so the store is current. Synchronous
calls on an open project share one event loop (`asyncio.Runner`), the loop the pool's model
clients were made on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from stepladder.config import Project as ProjectConfig
from stepladder.errors import UserError
from stepladder.flows.project import project_tracing
from stepladder.runtimes import ModelPool
from stepladder.tracing import Tracing

__all__ = ["Resources"]

T = TypeVar("T")


class Resources:
    """What a project's runs share: its pool (or the one given), its tracing, its loop.

    Args:
        config: The project.
        given: A pool to use instead of the project's own; never closed here.
    """

    def __init__(self, config: ProjectConfig, given: ModelPool | None = None) -> None:
        self.config = config
        self.given = given
        self._pool: ModelPool | None = None
        self._tracing: Tracing | None = None
        self._runner: asyncio.Runner | None = None
        self.is_open = False

    @property
    def models(self) -> ModelPool | None:
        """The pool calls use now: the given one, or the open project's (else None)."""
        return self.given or self._pool

    def open(self) -> None:
        """Hold a pool and tracing until `close`."""
        if self.is_open:
            return
        self._tracing = project_tracing(self.config)
        if self.given is None:
            self._pool = self._new_pool()
        self.is_open = True

    def close(self) -> None:
        """Stop the tiers the held pool started, shut tracing down, close the loop."""
        if not self.is_open:
            return
        self.is_open = False
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._tracing is not None:
            self._tracing.shutdown()
            self._tracing = None
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def flush(self) -> None:
        """Write the held tracing's finished spans to the store now."""
        if self._tracing is not None:
            self._tracing.flush()

    @asynccontextmanager
    async def session(self, cache: bool = False) -> AsyncIterator[tuple[ModelPool, Tracing]]:
        """The pool and tracing of one call: the held ones, or new ones closed after.

        A call that allows cached responses while the held pool does not (or the other way
        round) gets a pool of its own.
        """
        held = self._pool if self._pool is not None and self._pool.cache == cache else None
        models = self.given or held or self._new_pool(cache)
        tracing = self._tracing or project_tracing(self.config)
        try:
            yield models, tracing
        finally:
            if tracing is self._tracing:
                tracing.flush()
            else:
                tracing.shutdown()
            if models is not self.given and models is not held:
                await asyncio.to_thread(models.close)

    def sync(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine to its end: on the open project's loop, or on a loop of its own.

        Raises:
            UserError: When an event loop runs in this thread already.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coroutine.close()
            raise UserError(
                "Project.run and Project.eval cannot run while an event loop runs in this "
                "thread (async code, Jupyter): `await project.arun(...)` or `await "
                "project.aeval(...)` there instead."
            )
        if not self.is_open:
            return asyncio.run(coroutine)
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(coroutine)

    def _new_pool(self, cache: bool = False) -> ModelPool:
        return ModelPool.for_project(self.config, cache=cache)
