"""Model runtimes: embedded llama.cpp, SGLang, OpenAI-compatible servers, frontier APIs."""

from stepladder.runtimes.base import Endpoint, Runtime, make_lm, read_api_key
from stepladder.runtimes.models import KNOWN_MODELS, ensure_model, models_home, pull_model
from stepladder.runtimes.pool import BoundTier, ModelPool, runtime_for

__all__ = [
    "KNOWN_MODELS",
    "BoundTier",
    "Endpoint",
    "ModelPool",
    "Runtime",
    "ensure_model",
    "make_lm",
    "models_home",
    "pull_model",
    "read_api_key",
    "runtime_for",
]
