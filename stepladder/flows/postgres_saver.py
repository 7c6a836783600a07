"""LangGraph's `AsyncPostgresSaver`, each read and write tried again when its connection drops.

A run's checkpoint writes are upserts (and its pending writes insert-or-ignore), so writing
one again after a lost connection leaves the same rows: the run goes on across a database
restart instead of failing at the next step (`stepladder.state.retry`). Before a
write is tried again, the run's thread lock is taken again if the restart dropped it
(`reassert_thread`), and before any write when its connection is seen to be gone: a run that
lost its thread to another meanwhile stops, writing nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from stepladder.flows.threads import reassert_thread, thread_lock_lost
from stepladder.state.retry import retried_async

__all__ = ["RetryingPostgresSaver"]


class RetryingPostgresSaver(AsyncPostgresSaver):
    """An `AsyncPostgresSaver` on a pool whose reads and writes survive a lost connection.

    Args:
        pool: The `psycopg_pool.AsyncConnectionPool` (checked connections).
        url: The database's URL (for the error when it stays away).
    """

    def __init__(self, pool: Any, url: str) -> None:
        super().__init__(pool)
        self.url = url

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The thread's checkpoint (see `AsyncPostgresSaver.aget_tuple`)."""
        return await retried_async(
            self.url, "reading a checkpoint", lambda: AsyncPostgresSaver.aget_tuple(self, config)
        )

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Write a checkpoint (see `AsyncPostgresSaver.aput`)."""
        await _keep_thread(config)
        return await retried_async(
            self.url,
            "writing a checkpoint",
            lambda: AsyncPostgresSaver.aput(self, config, checkpoint, metadata, new_versions),
            _thread_kept(config),
        )

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Write a step's pending writes (see `AsyncPostgresSaver.aput_writes`)."""
        await _keep_thread(config)
        await retried_async(
            self.url,
            "writing a step's results",
            lambda: AsyncPostgresSaver.aput_writes(self, config, writes, task_id, task_path),
            _thread_kept(config),
        )


async def _keep_thread(config: RunnableConfig) -> None:
    """Before a write: take the thread's lock again if a restart dropped it.

    Raises:
        ThreadConflictError: When another run took the thread meanwhile.
    """
    thread_id = str(config["configurable"]["thread_id"])
    if thread_lock_lost(thread_id):
        await asyncio.to_thread(reassert_thread, thread_id)


def _thread_kept(config: RunnableConfig) -> Callable[[], Awaitable[None]]:
    """Before a write is tried again: this process still holds the config's thread."""
    thread_id = str(config["configurable"]["thread_id"])

    async def check() -> None:
        await asyncio.to_thread(reassert_thread, thread_id)

    return check
