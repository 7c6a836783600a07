"""Loading flows from YAML files, YAML text and dicts, and dumping them back to YAML."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stepladder.errors import FlowSpecError
from stepladder.flows.spec import FlowSpec
from stepladder.specs.explain import explain_validation_error
from stepladder.specs.locations import (
    LocatedDocument,
    describe_yaml_error,
    load_yaml,
    read_spec_text,
)

__all__ = ["flow_from_dict", "flow_from_yaml", "flow_to_yaml", "load_flow"]


def load_flow(path: str | Path) -> FlowSpec:
    """Load a flow from a YAML file.

    Raises:
        FlowSpecError: If the file is missing, is not YAML, or is not a valid flow.
    """
    file = Path(path)
    try:
        text = read_spec_text(file)
    except FileNotFoundError as error:
        raise FlowSpecError(f"{file}: flow file not found.") from error
    except yaml.YAMLError as error:
        raise FlowSpecError(describe_yaml_error(error, file)) from error
    except (OSError, UnicodeDecodeError) as error:
        raise FlowSpecError(f"{file}: cannot read flow file: {error}.") from error
    return flow_from_yaml(text, source=file)


def flow_from_yaml(text: str, source: Path | None = None) -> FlowSpec:
    """Parse and validate a flow from YAML text.

    Raises:
        FlowSpecError: If the text is not YAML or is not a valid flow.
    """
    try:
        document = load_yaml(text, source)
    except yaml.YAMLError as error:
        raise FlowSpecError(describe_yaml_error(error, source)) from error
    return _validate(document)


def flow_from_dict(data: Mapping[str, Any]) -> FlowSpec:
    """Validate a flow given as plain data.

    Raises:
        FlowSpecError: If the data is not a valid flow.
    """
    return _validate(LocatedDocument(data=dict(data)))


def flow_to_yaml(spec: FlowSpec) -> str:
    """Dump a flow to YAML; loading the result gives an equal spec."""
    return yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True)


def _validate(document: LocatedDocument) -> FlowSpec:
    origin = str(document.source) if document.source else "flow"
    if document.data is None:
        raise FlowSpecError(f"{origin}: the flow is empty; it needs at least `name` and `nodes`.")
    if not isinstance(document.data, dict):
        raise FlowSpecError(
            f"{origin}: a flow must be a mapping with `name`, `state`, `nodes` and `edges`, "
            f"not a {type(document.data).__name__}."
        )
    try:
        spec = FlowSpec.model_validate(document.data)
    except ValidationError as error:
        raise FlowSpecError(explain_validation_error(error, document, FlowSpec, "flow")) from None
    return spec.with_document(document)
