"""Record once, replay hermetically: each node call kept with its run, re-run only what changed.

A recording session keeps every node call of a run (its inputs, its update, and for LLM nodes
each model request and response) under a content hash of the node's definition and inputs
(`stepladder.replay.keys`), and keeps them as the run's record when it finishes, where the
project keeps its runs (`stepladder.replay.stores`: record files, or Postgres). Replaying
from a record serves each call whose key is there and runs the others; a hermetic replay fails
them instead. `recorded` is the wrapper `compile_flow` puts around every node.
"""

from stepladder.replay.hermetic import HermeticPool
from stepladder.replay.keys import PARTS, call_key, describe_change, digest
from stepladder.replay.node import recorded
from stepladder.replay.record import (
    FORMAT,
    VERSION,
    NodeCall,
    Record,
    load_record,
    record_path,
    save_record,
)
from stepladder.replay.session import NodeStats, ReplaySession, current_session
from stepladder.replay.sources import (
    REPLAY_FILE,
    find_record,
    finish_replayed_eval,
    new_run_id,
    replay_session,
    save_run_record,
)
from stepladder.replay.stores import RecordFiles, RecordStore, record_store

__all__ = [
    "FORMAT",
    "PARTS",
    "REPLAY_FILE",
    "VERSION",
    "HermeticPool",
    "NodeCall",
    "NodeStats",
    "Record",
    "RecordFiles",
    "RecordStore",
    "ReplaySession",
    "call_key",
    "current_session",
    "describe_change",
    "digest",
    "find_record",
    "finish_replayed_eval",
    "load_record",
    "new_run_id",
    "record_path",
    "record_store",
    "recorded",
    "replay_session",
    "save_record",
    "save_run_record",
]
