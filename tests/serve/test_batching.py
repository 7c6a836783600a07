"""Run records written together: `GroupCommit` batches, and `save_runs` in one transaction."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from stepladder.serve.batching import GroupCommit
from stepladder.serve.history import load_run, save_runs
from stepladder.serve.runs import RunRecord

WAIT_S = 30


async def test_writes_that_arrive_during_a_write_go_in_the_next_batch() -> None:
    batches: list[list[int]] = []
    first_started, release = threading.Event(), threading.Event()

    def write(items: Sequence[int]) -> None:
        batches.append(list(items))
        if len(batches) == 1:
            first_started.set()
            release.wait(WAIT_S)

    commit = GroupCommit[int](write)
    first = asyncio.create_task(commit.put(0))
    await asyncio.to_thread(first_started.wait, WAIT_S)
    rest = [asyncio.create_task(commit.put(i)) for i in range(1, 10)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in [first, *rest])  # each waits for its own batch
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *rest), WAIT_S)
    assert batches == [[0], list(range(1, 10))]
    await commit.put(10)  # nothing pending: written at once, alone
    assert batches[-1] == [10]
    await commit.close()


async def test_a_failed_write_fails_the_callers_of_that_batch_only() -> None:
    def write(items: Sequence[str]) -> None:
        if "bad" in items:
            raise OSError("disk full")

    commit = GroupCommit[str](write)
    with pytest.raises(OSError, match="disk full"):
        await commit.put("bad")
    await commit.put("good")
    await commit.close()


async def test_close_writes_what_a_cancelled_caller_left() -> None:
    written: list[str] = []
    started, release = threading.Event(), threading.Event()

    def write(items: Sequence[str]) -> None:
        started.set()
        release.wait(WAIT_S)
        written.extend(items)

    commit = GroupCommit[str](write)
    first = asyncio.create_task(commit.put("a"))
    await asyncio.to_thread(started.wait, WAIT_S)
    second = asyncio.create_task(commit.put("b"))
    await asyncio.sleep(0)
    second.cancel()  # its caller went away: the record is still written
    release.set()
    await first
    await asyncio.wait_for(commit.close(), WAIT_S)
    assert written == ["a", "b"]


def test_runs_saved_together_are_read_back_and_only_the_latest_kept(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    records = [RunRecord(f"run-{i}", "greet", status="finished") for i in range(5)]
    save_runs(db, records[:3], keep=4)
    save_runs(db, [*records[3:], RunRecord("run-4", "greet", status="failed")], keep=4)
    assert load_run(db, "run-0") is None  # the oldest went
    kept = [load_run(db, f"run-{i}") for i in range(1, 5)]
    assert [r.status for r in kept if r is not None] == ["finished"] * 3 + ["failed"]
