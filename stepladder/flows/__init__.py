"""Flows: specs, YAML loading, the Python builder, compiling to LangGraph, and running."""

from stepladder.flows.builder import FlowBuilder, type_expression
from stepladder.flows.compile import compile_flow
from stepladder.flows.flow import Flow
from stepladder.flows.loader import flow_from_dict, flow_from_yaml, flow_to_yaml, load_flow
from stepladder.flows.project import compile_project_flow
from stepladder.flows.reviews import PendingReview
from stepladder.flows.run import RunResult, run_flow
from stepladder.flows.spec import END, START, EdgeSpec, FlowSpec, StateField

__all__ = [
    "END",
    "START",
    "EdgeSpec",
    "Flow",
    "FlowBuilder",
    "FlowSpec",
    "PendingReview",
    "RunResult",
    "StateField",
    "compile_flow",
    "compile_project_flow",
    "flow_from_dict",
    "flow_from_yaml",
    "flow_to_yaml",
    "load_flow",
    "run_flow",
    "type_expression",
]
