"""`GroupCommit`: writes from many concurrent runs, committed together on one worker thread.

Each caller awaits its own item's write, as with one write per call, but the items that arrive
while a write is under way wait for it and then go in one batch: one transaction (and one
`fsync`) for all of them instead of one each. Under load the batches grow by themselves; a
lone call is written at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """Items written in batches by `write`, on a thread of their own.

    Args:
        write: Writes a batch of items (in one transaction); runs on the worker thread.
        name: The worker thread's name.
    """

    def __init__(
        self, write: Callable[[Sequence[T]], None], name: str = "stepladder-writer"
    ) -> None:
        self._write = write
        self._worker = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def put(self, item: T) -> None:
        """Write `item`; return once the batch holding it is written.

        Raises:
            Exception: What `write` raised for that batch.
        """
        await asyncio.shield(self.post(item))  # a cancelled caller leaves its item in the batch

    def post(self, item: T) -> asyncio.Future[None]:
        """Queue `item` for the next batch without waiting; the future ends once it is written.

        Items are written in the order they were queued (a later one in a later batch or
        after it in the same one).
        """
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        written.add_done_callback(_retrieved)
        self._pending.append((item, written))
        if self._flushing is None:
            self._flushing = loop.create_task(self._flush())
        return written

    async def _flush(self) -> None:
        """Write what is pending, batch after batch, until nothing is."""
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await loop.run_in_executor(self._worker, self._write, [i for i, _ in batch])
                except asyncio.CancelledError:
                    for _, written in batch:
                        written.cancel()
                    raise
                except Exception as error:
                    for _, written in batch:
                        written.set_exception(error)
                else:
                    for _, written in batch:
                        written.set_result(None)
        finally:
            self._flushing = None

    async def close(self) -> None:
        """Write what is pending, then stop the worker thread."""
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        self._worker.shutdown(wait=False)


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a write's error as seen (its caller may have been cancelled and gone)."""
    if not future.cancelled():
        future.exception()
