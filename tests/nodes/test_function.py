import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import stepladder.nodes.function as function
from stepladder import FlowBuilder, FlowCompileError, NodeError
from stepladder.nodes import RunContext
from stepladder.nodes.function import SYNC_NODE_EXECUTOR


def one_node(fn: Any, reads: list[str], writes: list[str], **kwargs: Any) -> FlowBuilder:
    builder = FlowBuilder("one").state("x", int, input=True).state("y", Any).state("z", Any)
    return builder.function("step", fn, reads=reads, writes=writes, **kwargs)


def test_sync_callable_runs_on_both_paths() -> None:
    flow = one_node(lambda x: x + 1, ["x"], ["y"]).compile()
    assert flow.invoke({"x": 1}) == {"x": 1, "y": 2}
    assert asyncio.run(flow.ainvoke({"x": 1})) == {"x": 1, "y": 2}


async def test_async_callable_and_dict_return() -> None:
    async def step(x: int) -> dict[str, int]:
        await asyncio.sleep(0)
        return {"y": x * 2, "z": x * 3}

    flow = one_node(step, ["x"], ["y", "z"]).compile()
    assert await flow.ainvoke({"x": 2}) == {"x": 2, "y": 4, "z": 6}


async def test_context_is_passed_when_asked_for() -> None:
    seen: list[RunContext] = []

    def step(x: int, context: RunContext) -> int:
        seen.append(context)
        return x

    flow = one_node(step, ["x"], ["y"]).compile()
    await flow.ainvoke({"x": 1}, tenant="acme")
    assert seen[0].flow_name == "one"
    assert seen[0].extras == {"tenant": "acme"}


async def test_in_thread_runs_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()

    def step(x: int) -> int:
        return threading.get_ident()

    flow = one_node(step, ["x"], ["y"], in_thread=True).compile()
    state = await flow.ainvoke({"x": 1})
    assert state["y"] != loop_thread


async def test_undeclared_key_is_a_node_error() -> None:
    flow = one_node(lambda x: {"y": 1, "oops": 2}, ["x"], ["y"]).compile()
    with pytest.raises(NodeError, match="undeclared key\\(s\\) oops"):
        await flow.ainvoke({"x": 1})


async def test_non_dict_with_several_writes_is_a_node_error() -> None:
    flow = one_node(lambda x: 5, ["x"], ["y", "z"]).compile()
    with pytest.raises(NodeError, match="expected a dict of updates"):
        await flow.ainvoke({"x": 1})


async def test_exceptions_become_node_errors() -> None:
    def step(x: int) -> int:
        raise ValueError("bad row")

    flow = one_node(step, ["x"], ["y"]).compile()
    with pytest.raises(NodeError, match="node 'step': ValueError: bad row") as caught:
        await flow.ainvoke({"x": 1})
    assert isinstance(caught.value.__cause__, ValueError)


def test_parameters_must_match_reads() -> None:
    def step(value: int) -> int:
        return value

    with pytest.raises(FlowCompileError, match="does not accept read key\\(s\\) x"):
        one_node(step, ["x"], ["y"]).compile()


def test_required_parameters_must_be_read() -> None:
    def step(x: int, y: int) -> int:
        return x

    with pytest.raises(FlowCompileError, match="requires parameter\\(s\\) y"):
        one_node(step, ["x"], ["y"]).compile()


def test_kwargs_callable_accepts_any_reads() -> None:
    flow = one_node(lambda **state: sorted(state), ["x"], ["y"]).compile()
    assert flow.invoke({"x": 1})["y"] == ["x"]


def _threads_of(flow: Any, runs: int) -> list[int]:
    """The thread `step` ran on in each of `runs` runs, with a node pool as the service sets."""

    async def go() -> list[int]:
        pool = ThreadPoolExecutor(2)
        SYNC_NODE_EXECUTOR.set(pool)
        try:
            return [(await flow.ainvoke({"x": i}))["y"] for i in range(runs)]
        finally:
            pool.shutdown()

    return asyncio.run(go())


def _loop_thread_node() -> tuple[Any, list[int]]:
    """A flow whose `step` answers its thread, and the event loop's thread of each run."""
    loop_threads: list[int] = []

    async def mark(x: int) -> int:
        loop_threads.append(threading.get_ident())
        return x

    def step(x: int) -> int:
        return threading.get_ident()

    builder = FlowBuilder("paced").state("x", int, input=True).state("y", Any).state("z", Any)
    builder.function("mark", mark, reads=["x"], writes=["z"])
    return builder.function("step", step, reads=["x"], writes=["y"]).compile(), loop_threads


def test_a_quick_node_moves_from_the_pool_to_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(function, "QUICK_S", 3600.0)  # every call counts as quick
    monkeypatch.setattr(function, "SLOW_S", 3600.0)
    flow, loop_threads = _loop_thread_node()
    threads = _threads_of(flow, function.QUICK_STREAK + 3)
    pooled, inline = threads[: function.QUICK_STREAK], threads[function.QUICK_STREAK :]
    assert not set(pooled) & set(loop_threads)
    assert inline == loop_threads[function.QUICK_STREAK :]


def test_a_slow_call_on_the_loop_sends_the_node_back_to_the_pool_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(function, "QUICK_S", 3600.0)
    monkeypatch.setattr(function, "SLOW_S", 0.0)  # every call on the loop counts as slow
    flow, loop_threads = _loop_thread_node()
    threads = _threads_of(flow, 3 * function.QUICK_STREAK)
    streak = function.QUICK_STREAK
    assert threads[streak] == loop_threads[streak]  # one call on the loop
    assert not set(threads[:streak] + threads[streak + 1 :]) & set(loop_threads)


def test_a_node_never_quick_stays_in_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(function, "QUICK_S", 0.0)  # no call counts as quick
    flow, loop_threads = _loop_thread_node()
    threads = _threads_of(flow, 2 * function.QUICK_STREAK)
    assert not set(threads) & set(loop_threads)
