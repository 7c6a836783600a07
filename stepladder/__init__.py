"""stepladder: task flows on small models, escalating hard cases, with evals and traces."""

import os

# DSPy/LiteLLM would otherwise fetch a model price list from the internet on first use.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from stepladder.errors import (
    ConfigError,
    EvalSetError,
    FlowCompileError,
    FlowInputError,
    FlowSpecError,
    ModelError,
    NodeError,
    NodeInputError,
    NodeOutputError,
    RunError,
    StepladderError,
    UserError,
)
from stepladder.flows import (
    END,
    START,
    Flow,
    FlowBuilder,
    FlowSpec,
    compile_flow,
    flow_from_dict,
    flow_from_yaml,
    flow_to_yaml,
    load_flow,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "END",
    "START",
    "ConfigError",
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
    "RunError",
    "StepladderError",
    "UserError",
    "__version__",
    "compile_flow",
    "flow_from_dict",
    "flow_from_yaml",
    "flow_to_yaml",
    "load_flow",
]
