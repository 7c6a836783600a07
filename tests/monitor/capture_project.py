"""Projects with traced production runs, for `stepladder capture` tests.

`shout` is a rules flow (no model): `loud` is the text in upper case, `size` is `short` or
`long`; the text `boom` fails. `triage` classifies a message with a model node on tier `small`
(a DummyLM in production here) that escalates invalid answers to `big`, the label tier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stepladder.config import load_project
from stepladder.errors import RunError
from stepladder.flows import compile_project_flow, run_flow
from stepladder.runtimes import ModelPool
from stepladder.tracing import Tracing
from tests.conftest import write_project

RULES = '''
def shout(text: str) -> str:
    """Upper-case the text; fail on 'boom'."""
    if text == "boom":
        raise ValueError("boom is not allowed")
    return text.upper()


def size(text: str) -> str:
    return "long" if len(text) > 4 else "short"
'''
SHOUT = """
name: shout
state:
  text: {type: str, input: true}
  note: {type: str, default: "-"}
  loud: str
  size: {type: enum, values: [short, long]}
nodes:
  - {id: shout, kind: function, call: "rules:shout", reads: [text], writes: [loud]}
  - {id: size, kind: function, call: "rules:size", reads: [text], writes: [size]}
"""
LABELS = ["ORDER", "REFUND", "ACCOUNT", "DELIVERY"]
TRIAGE = f"""
name: triage
state:
  message: {{type: str, input: true}}
  category: {{type: enum, values: {LABELS}}}
nodes:
  - id: classify
    kind: classify
    tier: small
    reads: [message]
    instructions: Which department should answer this customer message?
    labels: {LABELS}
    output: category
    retries: 1
    escalate: {{triggers: [invalid]}}
"""
TIERS = """
tiers:
  small: {runtime: llamacpp, max_tokens: 64}
  big: {runtime: llamacpp, max_tokens: 64}
ladder: [small, big]
"""


def capture_project(root: Path) -> Path:
    """Write a project with the `shout` and `triage` flows (no eval spec yet)."""
    files = {"rules.py": RULES, "flows/shout.yaml": SHOUT, "flows/triage.yaml": TRIAGE}
    write_project(root, files, "name: capturetest\n" + TIERS)
    (root / "evalsets").mkdir()
    return root


async def traced_runs(
    root: Path,
    flow_name: str,
    inputs: Sequence[Mapping[str, Any]],
    *,
    models: ModelPool | None = None,
    redact: bool = False,
    attributes: Mapping[str, str] | None = None,
) -> list[str]:
    """Run `flow_name` on each input with the project's tracing; the trace ids, in order.

    A run that fails is traced too (its trace id is kept).
    """
    project = load_project(root=root)
    flow = compile_project_flow(project, flow_name)
    settings = project.settings.tracing.model_copy(update={"redact": redact})
    tracing = Tracing.for_project(settings, project.state_dir, project.settings.name)
    ids: list[str] = []
    try:
        for data in inputs:
            try:
                result = await run_flow(
                    flow, dict(data), models=models, tracing=tracing,
                    trace_attributes=attributes,
                )  # fmt: skip
                ids.append(str(result.trace_id))
            except RunError as error:
                ids.append(str(error.trace_id))
    finally:
        tracing.shutdown()
    return ids


def texts(*values: str) -> list[dict[str, Any]]:
    """`shout` inputs."""
    return [{"text": value} for value in values]
