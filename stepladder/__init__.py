"""stepladder: task flows on small models, escalating hard cases, with evals and traces."""

import os
from typing import TYPE_CHECKING

# DSPy/LiteLLM would otherwise fetch a model price list from the internet on first use.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from stepladder.errors import (
    BudgetExhausted,
    CompiledPromptsError,
    ConfigError,
    EvalSetError,
    FlowCompileError,
    FlowInputError,
    FlowSpecError,
    ModelError,
    NodeError,
    NodeInputError,
    NodeOutputError,
    RecordError,
    ReferenceError_,
    ReplayMiss,
    ReviewRequired,
    RunError,
    StateStoreError,
    StepladderError,
    StepLimitError,
    ThreadConflictError,
    ToolServerError,
    UnknownToolError,
    UserError,
)
from stepladder.lazy import lazy_exports
from stepladder.version import __version__

if TYPE_CHECKING:
    from stepladder.api import EvalResult, Project, open_project
    from stepladder.flows import (
        END,
        START,
        Flow,
        FlowBuilder,
        FlowSpec,
        PendingReview,
        RunResult,
        compile_flow,
        flow_from_dict,
        flow_from_yaml,
        flow_to_yaml,
        load_flow,
        run_flow,
    )

# Flows import LangGraph, DSPy and the node kinds (about a second): they load on first use, so
# that `stepladder --help` and light imports (`stepladder.errors`) stay fast.
_LAZY = {
    "END": "stepladder.flows",
    "START": "stepladder.flows",
    "Flow": "stepladder.flows",
    "FlowBuilder": "stepladder.flows",
    "FlowSpec": "stepladder.flows",
    "PendingReview": "stepladder.flows",
    "RunResult": "stepladder.flows",
    "compile_flow": "stepladder.flows",
    "flow_from_dict": "stepladder.flows",
    "flow_from_yaml": "stepladder.flows",
    "flow_to_yaml": "stepladder.flows",
    "load_flow": "stepladder.flows",
    "run_flow": "stepladder.flows",
    "EvalResult": "stepladder.api",
    "Project": "stepladder.api",
    "open_project": "stepladder.api",
}


__getattr__, __dir__ = lazy_exports("stepladder", globals(), _LAZY)


__all__ = [
    "END",
    "START",
    "BudgetExhausted",
    "CompiledPromptsError",
    "ConfigError",
    "EvalResult",
    "EvalSetError",
    "Flow",
    "FlowBuilder",
    "FlowCompileError",
    "FlowInputError",
    "FlowSpec",
    "FlowSpecError",
    "ModelError",
    "NodeError",
    "NodeInputError",
    "NodeOutputError",
    "PendingReview",
    "Project",
    "RecordError",
    "ReferenceError_",
    "ReplayMiss",
    "ReviewRequired",
    "RunError",
    "RunResult",
    "StateStoreError",
    "StepLimitError",
    "StepladderError",
    "ThreadConflictError",
    "ToolServerError",
    "UnknownToolError",
    "UserError",
    "__version__",
    "compile_flow",
    "flow_from_dict",
    "flow_from_yaml",
    "flow_to_yaml",
    "load_flow",
    "open_project",
    "run_flow",
]
