"""The stepladder error tree: every error the package raises on purpose, in one module.

```
StepladderError
├── UserError                   a developer mistake: fix a file or a call, then retry
│   ├── ConfigError             stepladder.yaml missing, unreadable or invalid
│   ├── FlowSpecError           a flow file that does not parse or validate
│   ├── FlowCompileError        a valid spec that cannot become a graph (ids, edges, keys, refs)
│   │   └── ReferenceError_     a `module:attr` reference refused or not importable
│   ├── FlowInputError          run input that does not match the flow's state
│   │   └── ThreadConflictError a thread whose run is in progress, or that is another flow's
│   ├── EvalSetError            an eval spec or case file that does not parse or validate
│   ├── CompiledPromptsError    compiled prompts unreadable, or made for another flow version
│   ├── RecordError             a run's record missing, unreadable, or of an unknown format
│   └── UnknownToolError        a tool name an agent's registry does not hold;
│                               also a LookupError
├── RunError                    a run failed while executing
│   ├── NodeError               one node raised or returned something it must not
│   │   ├── NodeInputError      a state value the node cannot work on; also a UserError
│   │   ├── NodeOutputError     a model's output failed validation after its retries
│   │   ├── ReplayMiss          a hermetic replay found no recorded call; also a UserError
│   │   └── ReviewRequired      a node escalated to a human, but the run has no thread to pause
│   ├── ModelError              a model server is down, times out, or its file is bad
│   ├── ToolServerError         an MCP server would not start, went away, or broke the protocol
│   └── StepLimitError          a run took more steps than allowed (a loop never took its exit);
│                               also a UserError: change the flow or its step limit
├── BudgetExhausted             an optimization stopped before a run could pass its budget
└── StateStoreError             the shared state store (Postgres) cannot be reached
```

User errors carry a one-paragraph message that names the offending item by its YAML path
(`nodes[2].reads[0]`), its line when it came from a file, and the valid choices.

Two exceptions stay outside the tree on purpose, because no caller of the package sees them:
`stepladder.specs.spec_yaml.SpecYAMLError` is a `yaml.YAMLError`, so that one `except` catches
it with PyYAML's own errors, and every reader turns it into a `ConfigError`, `FlowSpecError` or
`EvalSetError`; `stepladder.serve.errors.ServeError` is the service's HTTP answer (status and
JSON body), raised and answered inside `stepladder.serve`, and it wraps errors of this tree.
"""

from __future__ import annotations

__all__ = [
    "BudgetExhausted",
    "CompiledPromptsError",
    "ConfigError",
    "EvalSetError",
    "FlowCompileError",
    "FlowInputError",
    "FlowSpecError",
    "ModelError",
    "NodeError",
    "NodeInputError",
    "NodeOutputError",
    "RecordError",
    "ReferenceError_",
    "ReplayMiss",
    "ReviewRequired",
    "RunError",
    "StateStoreError",
    "StepLimitError",
    "StepladderError",
    "ThreadConflictError",
    "ToolServerError",
    "UnknownToolError",
    "UserError",
]


class StepladderError(Exception):
    """Base class of every error stepladder raises on purpose."""


class UserError(StepladderError):
    """A developer mistake in a file, an argument or a call."""


class ConfigError(UserError):
    """The project settings (`stepladder.yaml`) are missing or invalid."""


class FlowSpecError(UserError):
    """A flow file or dict does not parse or does not validate against `FlowSpec`."""


class FlowCompileError(UserError):
    """A flow spec is valid on its own but cannot be compiled into a graph."""


class ReferenceError_(FlowCompileError):
    """A `module:attr` reference was refused by the allowlist or could not be imported."""


class FlowInputError(UserError):
    """The input given to a run does not match the flow's declared state."""


class ThreadConflictError(FlowInputError):
    """A run on a checkpoint thread that is busy, or that belongs to another flow.

    Attributes:
        thread_id: The thread.
        reason: `running` (another run holds the thread) or `other_flow`.
    """

    def __init__(self, thread_id: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.thread_id = thread_id
        self.reason = reason


class EvalSetError(UserError):
    """An eval spec, its metrics or its cases file does not parse or validate."""


class CompiledPromptsError(UserError):
    """A compiled prompts file is unreadable, or was made for another version of the flow."""


class RecordError(UserError):
    """A run's record (`stepladder.replay`) is missing, unreadable, or of an unknown version."""


class UnknownToolError(UserError, LookupError):
    """A tool name that is not in the registry."""


class RunError(StepladderError):
    """A flow run failed while executing.

    Attributes:
        usage: The run's model calls and tokens up to the failure (set by `run_flow`).
        partial_state: The state after the last completed step (set by `run_flow`).
        trace_id: The failed run's trace (hex), when it was traced (set by `run_flow`).
    """

    usage: dict[str, object] | None = None
    partial_state: dict[str, object] | None = None
    trace_id: str | None = None


class NodeError(RunError):
    """A node raised, or returned keys it did not declare.

    Attributes:
        node_id: The id of the node that failed.
    """

    def __init__(self, node_id: str, message: str) -> None:
        super().__init__(f"node '{node_id}': {message}")
        self.node_id = node_id


class NodeInputError(NodeError, UserError):
    """A node was given a state value it cannot work on (an empty query): fix the input."""


class NodeOutputError(NodeError):
    """A model's output did not parse or validate, even after the node's retries.

    Attributes:
        raw_output: The last text the model returned.
        attempts: How many calls were made.
    """

    def __init__(self, node_id: str, message: str, raw_output: str, attempts: int) -> None:
        super().__init__(node_id, message)
        self.raw_output = raw_output
        self.attempts = attempts


class ReplayMiss(NodeError, UserError):
    """A hermetic replay met a node call its record does not hold.

    The message says what changed in the node's key.
    """


class ReviewRequired(NodeError):
    """A node escalated to the `human` rung, but the run is not checkpointed, so it cannot pause.

    Attributes:
        reason: Why the node escalated.
    """

    def __init__(self, node_id: str, message: str, reason: str) -> None:
        super().__init__(node_id, message)
        self.reason = reason


class ModelError(RunError):
    """A model runtime failed: server unreachable or timing out, model file missing or bad."""


class ToolServerError(RunError):
    """An MCP server an agent takes tools from: would not start, went away, or misbehaved."""


class StepLimitError(RunError, UserError):
    """A run took more steps than its limit (LangGraph's recursion limit) without ending.

    Attributes:
        max_steps: The limit that was reached.
    """

    def __init__(self, message: str, max_steps: int) -> None:
        super().__init__(message)
        self.max_steps = max_steps


class BudgetExhausted(StepladderError):
    """The next flow run could pass the optimization's budget, so it was not started."""


class StateStoreError(StepladderError):
    """The shared state store (`state.postgres`) cannot be reached or used."""
