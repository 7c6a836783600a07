"""Prompts: DSPy signatures from node specs and the constrained-JSON adapter."""

from stepladder.prompts.constrained import constrained_adapter, output_model, response_format
from stepladder.prompts.signatures import SignatureField, build_signature

__all__ = [
    "SignatureField",
    "build_signature",
    "constrained_adapter",
    "output_model",
    "response_format",
]
