"""The eval runner's start pacer: starts are spaced, and the spacing follows CPU per case."""

from __future__ import annotations

import asyncio
import itertools
import time

from stepladder.evalsets.pacing import LONGEST_SPACING_S, StartPacer


def test_starts_are_spaced_by_the_current_spacing() -> None:
    pacer = StartPacer()
    pacer.spacing_s = 0.02
    started: list[float] = []

    async def one() -> None:
        await pacer.wait_turn()
        started.append(time.monotonic())

    async def all_at_once() -> None:
        await asyncio.gather(*(one() for _ in range(5)))

    asyncio.run(all_at_once())
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    assert len(gaps) == 4
    assert min(gaps) >= 0.019


def test_first_start_and_late_starts_do_not_wait() -> None:
    pacer = StartPacer()
    pacer.spacing_s = 0.5

    async def two_apart() -> float:
        await pacer.wait_turn()
        await asyncio.sleep(0.6)
        before = time.monotonic()
        await pacer.wait_turn()
        return time.monotonic() - before

    assert asyncio.run(two_apart()) < 0.05


def test_spacing_follows_cpu_per_case_and_is_bounded() -> None:
    pacer = StartPacer()
    deadline = time.process_time() + 0.02
    while time.process_time() < deadline:  # about 20 ms of CPU for one case
        pass
    pacer.case_finished()
    assert 0.005 <= pacer.spacing_s <= 0.02
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    pacer.case_finished()
    assert pacer.spacing_s == LONGEST_SPACING_S
