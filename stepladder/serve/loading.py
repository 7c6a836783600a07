"""The flows a service serves: every flow file of the project, compiled once at start-up.

A file that does not load or compile is skipped with its error (reported when the service
starts, and under `skipped` in `GET /flows`); the others are served. Two files declaring the
same flow name: the first (by file name) is served.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import BaseModel

from stepladder.config import Project
from stepladder.errors import StepladderError
from stepladder.flows import Flow, compile_project_flow
from stepladder.serve.schemas import run_model

__all__ = ["ServedFlows", "load_flows", "with_flows_dir"]


@dataclass(frozen=True)
class ServedFlows:
    """The compiled flows by name, their run models, and the files skipped.

    Attributes:
        flows: Compiled flows by flow name.
        run_models: Each flow's response model (its input model is `Flow.input_model`).
        skipped: Flow files that could not be served, with the reason.
    """

    flows: dict[str, Flow] = field(default_factory=dict)
    run_models: dict[str, type[BaseModel]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def with_flows_dir(project: Project, folder: Path | None) -> Project:
    """`project`, reading its flows from `folder` instead of its own flows folder."""
    if folder is None:
        return project
    settings = project.settings.model_copy(update={"flows_dir": str(folder.resolve())})
    return replace(project, settings=settings)


def load_flows(project: Project, *, compiled: bool = True) -> ServedFlows:
    """Compile every flow file of `project` (with its optimized prompts unless not `compiled`)."""
    served = ServedFlows()
    for name in project.flow_names():
        path = str(project.flow_path(name))
        try:
            flow = compile_project_flow(project, path, compiled=compiled)
            run = run_model(flow)
        except StepladderError as error:
            served.skipped[name] = str(error)
            continue
        except Exception as error:  # a module a flow imports raised: skip that flow alone
            served.skipped[name] = f"{type(error).__name__}: {error}"
            continue
        if flow.name in served.flows:
            served.skipped[name] = f"flow name '{flow.name}' is already served by another file"
            continue
        served.flows[flow.name] = flow
        served.run_models[flow.name] = run
    return served
