"""Spacing starts by what a case costs this process, so concurrent cases do not march in step.

The eval runner spaces its cases, and a map whose list is longer than its concurrency spaces its
elements (a case below is either).

When a wave of model answers arrives together, asyncio runs the waiting cases round-robin: each
await hands the loop to the next case, so every case in the wave finishes its CPU work (parse,
score, save, start the next case, build its request) only when all of them have, and the next
wave of requests leaves together again. Against a server whose latency is uniform that lockstep
never breaks, and each cycle pays the whole wave's CPU time instead of one case's.

Starting cases no closer together than half a case's CPU time spreads the first wave out; later
waves keep that spread, and nothing waits once it is there. The spacing is measured (process CPU
time over cases finished), so it follows the flow: a cheap flow is paced finely, and no start
waits when the previous one was longer ago than that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["StartPacer"]

FIRST_GUESS_S = 0.005
"""The spacing used until the first case has finished (about one LLM node's CPU here)."""

SHARE_OF_CASE_CPU = 0.5
"""Starts are spaced by this share of a case's CPU time: enough to spread a wave, with slack
left when the process is CPU-bound (a whole case's time would cap throughput at that bound)."""

LONGEST_SPACING_S = 0.05
"""The spacing never exceeds this, whatever a case costs."""


class StartPacer:
    """Spaces case starts by half the measured CPU time per finished case.

    Args:
        clock: Wall-clock seconds (monotonic); tests give a fake one.
        sleep: How to wait that many seconds; tests give one that advances their clock.

    Attributes:
        spacing_s: The current spacing between two case starts, in seconds.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._cpu_at_start = time.process_time()
        self._finished = 0
        self._next_start = 0.0
        self.spacing_s = FIRST_GUESS_S

    async def wait_turn(self) -> None:
        """Return when a case may start; start times are handed out in call order."""
        now = self._clock()
        start = max(now, self._next_start)
        self._next_start = start + self.spacing_s
        if start > now:
            await self._sleep(start - now)

    def case_finished(self) -> None:
        """Count a finished case and update the spacing from the CPU time spent so far."""
        self._finished += 1
        spent = time.process_time() - self._cpu_at_start
        self.spacing_s = min(SHARE_OF_CASE_CPU * spent / self._finished, LONGEST_SPACING_S)
