"""The eval runner's start pacer: starts are spaced, and the spacing follows CPU per case.

The pacer is given a fake clock whose `sleep` advances it, so the spacing is checked exactly,
whatever else the machine is doing (no test here asserts on the wall clock).
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from stepladder.evalsets.pacing import LONGEST_SPACING_S, StartPacer


class FakeClock:
    """A monotonic clock that only the test moves; sleeps are recorded, not slept."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


def test_starts_are_spaced_by_the_current_spacing() -> None:
    clock = FakeClock()
    pacer = StartPacer(clock=clock, sleep=clock.sleep)
    pacer.spacing_s = 0.02

    async def all_at_once() -> None:
        await asyncio.gather(*(pacer.wait_turn() for _ in range(5)))

    asyncio.run(all_at_once())
    starts = [clock.now, *(clock.now + waited for waited in sorted(clock.sleeps))]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert gaps == pytest.approx([0.02] * 4)


def test_first_start_and_late_starts_do_not_wait() -> None:
    clock = FakeClock()
    pacer = StartPacer(clock=clock, sleep=clock.sleep)
    pacer.spacing_s = 0.5

    async def two_apart() -> None:
        await pacer.wait_turn()
        clock.now += 0.6  # the next case comes later than the spacing
        await pacer.wait_turn()

    asyncio.run(two_apart())
    assert clock.sleeps == []


def test_a_start_inside_the_spacing_waits_for_the_rest_of_it() -> None:
    clock = FakeClock()
    pacer = StartPacer(clock=clock, sleep=clock.sleep)
    pacer.spacing_s = 0.5

    async def close_together() -> None:
        await pacer.wait_turn()
        clock.now += 0.2
        await pacer.wait_turn()

    asyncio.run(close_together())
    assert clock.sleeps == [pytest.approx(0.3)]


def test_spacing_follows_cpu_per_case_and_is_bounded() -> None:
    pacer = StartPacer()
    deadline = time.process_time() + 0.02
    while time.process_time() < deadline:  # about 20 ms of CPU for one case
        pass
    pacer.case_finished()
    assert 0.005 <= pacer.spacing_s <= LONGEST_SPACING_S
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    pacer.case_finished()
    assert pacer.spacing_s == LONGEST_SPACING_S
