"""Prompts: DSPy signatures from node specs, the constrained-JSON adapter, compiled prompts."""

from stepladder.prompts.compiled import (
    CompiledFile,
    CompiledNode,
    apply_compiled,
    compiled_path,
    compiled_state,
    fingerprint,
    load_compiled,
    save_compiled,
)
from stepladder.prompts.constrained import constrained_adapter, output_model, response_format
from stepladder.prompts.signatures import SignatureField, build_signature

__all__ = [
    "CompiledFile",
    "CompiledNode",
    "SignatureField",
    "apply_compiled",
    "build_signature",
    "compiled_path",
    "compiled_state",
    "constrained_adapter",
    "fingerprint",
    "load_compiled",
    "output_model",
    "response_format",
    "save_compiled",
]
