"""A compiled flow as a `dspy.Module`, so DSPy optimizers tune all its LLM nodes at once.

`FlowProgram.named_predictors()` are the flow's LLM-node programs (named by node id) and
`forward(**inputs)` runs the whole graph over the program's *own* predictors: optimizers
deep-copy a program, and each copy must run its copies (see DESIGN.md). DSPy calls programs
synchronously, from several threads; `FlowRunner` runs the flows on one event loop in a
background thread, so the model tiers are started once and shared, and it counts what the
runs spend against an optional budget.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dspy

from stepladder.errors import BudgetExhausted, ModelError, RunError
from stepladder.flows import Flow, run_flow
from stepladder.retrieval import Store
from stepladder.runtimes import ModelPool
from stepladder.tracing import Tracing

__all__ = ["ERROR_KEY", "FlowProgram", "FlowRunner", "Spend"]

ERROR_KEY = "stepladder_error"
T = TypeVar("T")


@dataclass
class Spend:
    """What the flow runs of an optimization have cost so far (thread-safe).

    Attributes:
        max_calls: Stop before the model calls could pass this (None: no limit).
        max_cost_usd: Stop before the cost could pass this (None: no limit).
    """

    max_calls: int | None = None
    max_cost_usd: float | None = None
    runs: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self) -> None:
        """Refuse the next run when it could pass a limit (judged by the runs so far).

        Raises:
            BudgetExhausted: Naming the limit and what was spent.
        """
        with self._lock:
            per_run_calls = self.calls / self.runs if self.runs else 0.0
            per_run_cost = self.cost_usd / self.runs if self.runs else 0.0
            if self.max_calls is not None and self.calls + per_run_calls > self.max_calls:
                raise BudgetExhausted(
                    f"the call budget ({self.max_calls}) is reached: {self.calls} model calls in "
                    f"{self.runs} flow runs, about {per_run_calls:.1f} a run."
                )
            if self.max_cost_usd is not None and self.cost_usd + per_run_cost > self.max_cost_usd:
                raise BudgetExhausted(
                    f"the cost budget (${self.max_cost_usd:g}) is reached: ${self.cost_usd:.6f} "
                    f"in {self.runs} flow runs, about ${per_run_cost:.6f} a run."
                )

    def add(self, usage: Mapping[str, Any]) -> None:
        """Count one finished (or failed) run's usage."""
        with self._lock:
            self.runs += 1
            self.calls += int(usage.get("calls") or 0)
            self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.completion_tokens += int(usage.get("completion_tokens") or 0)
            self.cost_usd += float(usage.get("cost_usd") or 0.0)

    def summary(self) -> dict[str, Any]:
        """Runs, calls, tokens and cost so far."""
        with self._lock:
            return {
                "flow_runs": self.runs,
                "calls": self.calls,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cost_usd": round(self.cost_usd, 8),
            }


class FlowRunner:
    """Runs flows for synchronous callers on one event loop in a background thread.

    Use as a context manager: entering starts the loop, leaving stops the model tiers the
    runs started and the loop.

    Args:
        models: The model tiers (started on first use, closed on exit).
        store: The project's Chroma store, for flows that retrieve.
        tracing: Where the runs' spans go (None: untraced).
        spend: The budget and what was spent (shared by every program using this runner).
        on_run: Called after each run with the spend so far (a progress display).
    """

    def __init__(
        self,
        models: ModelPool,
        store: Store | None = None,
        tracing: Tracing | None = None,
        spend: Spend | None = None,
        on_run: Callable[[Spend], None] | None = None,
    ) -> None:
        self.models = models
        self.store = store
        self.tracing = tracing
        self.spend = spend or Spend()
        self.on_run = on_run
        self.fatal: ModelError | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FlowRunner:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="stepladder-flow-runner", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self.call(self.models.__aexit__(None, None, None))
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()
            self._loop = self._thread = None

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the runner's loop and wait for it, in the caller's context.

        The caller's context variables (DSPy's settings, such as the trace an optimizer
        collects) are seen by the coroutine.
        """
        loop = self._loop
        if loop is None:
            coroutine.close()
            raise RuntimeError("FlowRunner is not started; use it as a context manager")
        context = contextvars.copy_context()
        done: Future[T] = Future()

        def start() -> None:
            task = loop.create_task(coroutine, context=context)
            task.add_done_callback(lambda t: _settle(done, t))

        loop.call_soon_threadsafe(start)
        return done.result()

    def run(self, flow: Flow, inputs: Mapping[str, Any], programs: Mapping[str, Any]) -> Any:
        """Run `flow` on `inputs` with `programs` for its LLM nodes; the final state.

        A run that fails (invalid output after retries, a node error) is not raised: its
        partial state comes back with the error under `stepladder_error`, so it scores 0.

        Raises:
            BudgetExhausted: Before the run, when it could pass the budget.
            ModelError: When a model server is down or times out (scoring it 0 would hide it).
        """
        self.raise_fatal()
        self.spend.check()
        try:
            result = self.call(
                run_flow(flow, dict(inputs), models=self.models, store=self.store,
                         tracing=self.tracing, programs=programs)
            )  # fmt: skip
        except ModelError as failure:
            self.fatal = failure  # a server that is down stops the optimization
            raise
        except RunError as failure:
            self.spend.add(getattr(failure, "usage", None) or {})
            self._report()
            state = dict(getattr(failure, "partial_state", None) or {})
            return {**state, ERROR_KEY: str(failure)}
        self.spend.add(result.usage)
        self._report()
        return result.state

    def raise_fatal(self) -> None:
        """Raise the model failure an earlier run met (DSPy's optimizers catch errors)."""
        if self.fatal is not None:
            raise self.fatal

    def _report(self) -> None:
        if self.on_run is not None:
            self.on_run(self.spend)


def _settle(done: Future[T], task: asyncio.Task[T]) -> None:
    if task.cancelled():
        done.cancel()
    elif (failure := task.exception()) is not None:
        done.set_exception(failure)
    else:
        done.set_result(task.result())


class FlowProgram(dspy.Module):  # type: ignore[misc]
    """A flow as a DSPy program whose predictors are its LLM nodes' programs.

    Args:
        flow: The compiled flow.
        runner: Runs the flow (shared by the program's copies).
        node_ids: The LLM nodes to expose to optimizers (default: all); the others run with
            the flow's own programs.
    """

    def __init__(self, flow: Flow, runner: FlowRunner, node_ids: Sequence[str] = ()) -> None:
        super().__init__()
        self._flow = flow
        self._runner = runner
        self._node_ids = tuple(node_ids or flow.programs)
        for node_id in self._node_ids:
            setattr(self, node_id, flow.programs[node_id].deepcopy())

    @property
    def node_ids(self) -> tuple[str, ...]:
        """The nodes whose programs this one tunes."""
        return self._node_ids

    def node_programs(self) -> dict[str, Any]:
        """This copy's program for each tuned node, by node id."""
        return {node_id: getattr(self, node_id) for node_id in self._node_ids}

    def forward(self, **inputs: Any) -> dspy.Prediction:
        """Run the flow on `inputs`; the final state as a prediction."""
        state = self._runner.run(self._flow, inputs, self.node_programs())
        return dspy.Prediction(**state)

    def __deepcopy__(self, memo: dict[int, Any]) -> FlowProgram:
        """Copy the node programs; share the flow and the runner."""
        twin = self.__class__.__new__(self.__class__)
        for key, value in self.__dict__.items():
            shared = key in ("_flow", "_runner")
            twin.__dict__[key] = value if shared else copy.deepcopy(value, memo)
        return twin
