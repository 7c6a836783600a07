"""DSPy signatures built from node specs: instructions, typed inputs, typed outputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dspy

__all__ = ["SignatureField", "build_signature"]


@dataclass(frozen=True)
class SignatureField:
    """One input or output field of a signature.

    Attributes:
        name: The field (and state key) name.
        annotation: Its Python type.
        description: What it holds, shown to the model.
    """

    name: str
    annotation: Any
    description: str = ""


def build_signature(
    name: str,
    instructions: str,
    inputs: Sequence[SignatureField],
    outputs: Sequence[SignatureField],
) -> type[dspy.Signature]:
    """Make a `dspy.Signature` class from fields (DSPy is imported only here)."""
    # Lazy: DSPy takes seconds to import, so it loads when the first signature is made.
    import dspy

    fields: dict[str, tuple[Any, Any]] = {}
    for field in inputs:
        fields[field.name] = (field.annotation, dspy.InputField(desc=field.description or None))
    for field in outputs:
        fields[field.name] = (field.annotation, dspy.OutputField(desc=field.description or None))
    signature: type[dspy.Signature] = dspy.make_signature(
        fields, instructions or None, signature_name=_class_name(name)
    )
    return signature


def _class_name(name: str) -> str:
    parts = [p for p in name.replace("-", "_").split("_") if p]
    return "".join(p[:1].upper() + p[1:] for p in parts) + "Signature"
