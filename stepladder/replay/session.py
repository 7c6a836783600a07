"""A replay session: what a run (or an eval) records, and the record it replays from.

A session is made current for a block (`with session.active():`); every node of every flow
run inside the block then goes through it (`stepladder.replay.node.recorded`). Outside a
session nodes run as they always do. A session that records keeps each node call, and
`finish` keeps them all at once as the run's record, in the project's record store
(`stepladder.replay.stores`). A session that replays serves a call from its record when the
call's key (see `stepladder.replay.keys`) is there, and counts, per node, the calls replayed
and run, and the time and cost the replayed ones took when recorded.
A hermetic session fails a call that is not in the record (`ReplayMiss`), saying what
changed in the node's key.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python

from stepladder.errors import ReplayMiss, UserError
from stepladder.nodes import RunContext
from stepladder.replay.keys import NodeDefinition, call_key, describe_change, inputs_of
from stepladder.replay.record import NodeCall, Record
from stepladder.replay.stores import RecordStore
from stepladder.tracing.attributes import EVAL_CASE_ID

__all__ = ["NodeStats", "PendingCall", "ReplaySession", "current_session"]

_CURRENT: ContextVar[ReplaySession | None] = ContextVar("stepladder_replay", default=None)


def current_session() -> ReplaySession | None:
    """The session of the running block, if any."""
    return _CURRENT.get()


@dataclass
class NodeStats:
    """One node's calls in a replayed run."""

    replayed: int = 0
    ran: int = 0
    saved_seconds: float = 0.0
    saved_cost_usd: float = 0.0
    saved_model_calls: int = 0
    model_calls: int = 0

    def as_json(self) -> dict[str, Any]:
        """The counts as a JSON object."""
        return {
            "replayed": self.replayed,
            "ran": self.ran,
            "saved_seconds": round(self.saved_seconds, 4),
            "saved_cost_usd": self.saved_cost_usd,
            "saved_model_calls": self.saved_model_calls,
            "model_calls": self.model_calls,
        }


@dataclass(frozen=True)
class PendingCall:
    """A node call about to run: its key and where it sits; `hit` when the record has it."""

    node: str
    kind: str
    case: str
    seq: int
    key: str
    parts: dict[str, str]
    inputs: dict[str, Any]
    hit: NodeCall | None = None


@dataclass
class ReplaySession:
    """What a run records and what it replays from.

    Attributes:
        record: Keep every node call, for `finish` to write as the run's record.
        source: The record to replay from (None: every node runs).
        hermetic: Fail a call the source does not hold instead of running it.
    """

    record: bool = True
    source: Record | None = None
    hermetic: bool = False
    calls: list[NodeCall] = field(default_factory=list)
    stats: dict[str, NodeStats] = field(default_factory=lambda: defaultdict(NodeStats))
    misses: list[str] = field(default_factory=list)
    saved: Path | None = None
    """The file `finish` wrote the record to (None when it went to Postgres)."""
    saved_run: str | None = None
    """The run id `finish` kept the record as."""
    saved_where: str = ""
    """The store `finish` kept the record in (a folder, or the Postgres state store)."""
    _seq: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _by_key: dict[str, NodeCall] = field(default_factory=dict)
    _by_node: dict[tuple[str, str], list[NodeCall]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.hermetic and self.source is None:
            raise UserError("--hermetic replays a record: give the run to replay (--replay).")
        by_node: dict[tuple[str, str], list[NodeCall]] = defaultdict(list)
        for call in self.source.calls if self.source is not None else ():
            self._by_key.setdefault(call.key, call)
            by_node[(call.case, call.node)].append(call)
        self._by_node = dict(by_node)

    @contextmanager
    def active(self) -> Iterator[ReplaySession]:
        """Make this the session of the block's runs."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    @property
    def replaying(self) -> bool:
        """Whether calls are looked up in a record."""
        return self.source is not None

    def begin(
        self, definition: NodeDefinition, state: Mapping[str, Any], context: RunContext
    ) -> PendingCall:
        """The key of a node call about to run, and its recorded call when there is one.

        Raises:
            ReplayMiss: In a hermetic session, when the record does not hold the call.
        """
        node = definition.node
        case = context.trace_attributes.get(EVAL_CASE_ID, "")
        with self._lock:
            seq = self._seq[(case, node.id)]
            self._seq[(case, node.id)] = seq + 1
        parts = definition.parts(context)
        inputs = inputs_of(node, state)
        key = call_key(node.id, parts, inputs)
        pending = PendingCall(node.id, node.kind_name(), case, seq, key, parts, inputs)
        if self.source is None:
            return pending
        hit = self._by_key.get(key)
        if hit is not None:
            self._replayed(pending, hit)
            return replace(pending, hit=hit)
        if self.hermetic:
            why = describe_change(node.id, parts, inputs, self._recorded(case, node.id, seq))
            where = f" (case '{case}')" if case else ""
            message = f"hermetic replay{where}: no recorded call matches; {why}."
            with self._lock:
                self.misses.append(f"node '{node.id}': {message}")
            raise ReplayMiss(node.id, message)
        return pending

    def finished(
        self,
        pending: PendingCall,
        update: Mapping[str, Any],
        seconds: float,
        usage: tuple[float, int],
        exchanges: list[dict[str, Any]],
    ) -> None:
        """A node call ran: count it, and keep it when recording."""
        cost, model_calls = usage
        with self._lock:
            if self.source is not None:
                stats = self.stats[pending.node]
                stats.ran += 1
                stats.model_calls += model_calls
            if self.record:
                call = NodeCall(
                    key=pending.key, node=pending.node, kind=pending.kind,
                    case=pending.case, seq=pending.seq, parts=pending.parts,
                    inputs=pending.inputs, outputs=_jsonable(update), seconds=seconds,
                    cost_usd=cost, model_calls=model_calls, exchanges=exchanges,
                )  # fmt: skip
                self.calls.append(call)

    def _replayed(self, pending: PendingCall, hit: NodeCall) -> None:
        with self._lock:
            stats = self.stats[pending.node]
            stats.replayed += 1
            stats.saved_seconds += hit.seconds
            stats.saved_cost_usd += hit.cost_usd
            stats.saved_model_calls += hit.model_calls
            if self.record:
                self.calls.append(replace(hit, case=pending.case, seq=pending.seq))

    def _recorded(self, case: str, node_id: str, seq: int) -> NodeCall | None:
        """The recorded call a miss is compared with: the same node's, same case and turn."""
        same_case = self._by_node.get((case, node_id)) or []
        for call in same_case:
            if call.seq == seq:
                return call
        if same_case:
            return same_case[0]
        calls = self.source.calls if self.source is not None else ()
        return next((c for c in calls if c.node == node_id), None)

    def summary(self) -> dict[str, Any]:
        """Per node: calls replayed and run, and the time, cost and model calls saved."""
        nodes = {node: stats.as_json() for node, stats in sorted(self.stats.items())}
        total = NodeStats()
        for stats in self.stats.values():
            total.replayed += stats.replayed
            total.ran += stats.ran
            total.saved_seconds += stats.saved_seconds
            total.saved_cost_usd += stats.saved_cost_usd
            total.saved_model_calls += stats.saved_model_calls
            total.model_calls += stats.model_calls
        source = self.source.run_id if self.source is not None else None
        return {"replayed_from": source, "nodes": nodes, "total": total.as_json()}

    def finish(
        self,
        run_id: str,
        flow: str,
        store: RecordStore,
        secret_variables: tuple[str, ...] = (),
        keep: Record | None = None,
    ) -> str | None:
        """Keep the run's record in `store` at once; the run id (None when not recording).

        `keep`: an earlier record of the same run (a resumed eval), whose calls of cases this
        session did not run are kept.
        """
        if not self.record:
            return None
        calls = list(self.calls)
        if keep is not None:
            done = {call.case for call in calls}
            calls = [c for c in keep.calls if c.case not in done] + calls
        calls.sort(key=lambda c: c.case)  # by case, each in the order its calls finished
        created = datetime.now(UTC).isoformat(timespec="seconds")
        record = Record(run_id, flow, created, tuple(calls))
        self.saved = store.save(record, secret_variables)
        self.saved_run, self.saved_where = run_id, store.where
        return run_id

    def check_hermetic(self) -> None:
        """Fail when a hermetic replay missed a call (after the run, naming each miss).

        Raises:
            ReplayMiss: Naming the first node that missed, and every miss.
        """
        if not self.misses:
            return
        first = self.misses[0].split("'")[1]
        shown = "\n  ".join(self.misses[:10])
        more = f"\n  ... and {len(self.misses) - 10} more" if len(self.misses) > 10 else ""
        raise ReplayMiss(first, f"{len(self.misses)} call(s) not in the record:\n  {shown}{more}")


def _jsonable(update: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): to_jsonable_python(v, fallback=repr) for k, v in dict(update).items()}
