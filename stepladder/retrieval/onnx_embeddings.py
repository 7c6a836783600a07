"""A sentence-transformers model run through ONNX Runtime: same vectors, ~3x faster per query.

The model folder's transformer is exported to ONNX once (with torch, ~1 s) and cached under
`$STEPLADDER_HOME/onnx/`; after that only `tokenizers`, `numpy` and `onnxruntime` run. Pooling
(mean or CLS) follows the folder's `1_Pooling/config.json`, so the vectors match
sentence-transformers' own to float precision.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stepladder.errors import ConfigError, ModelError
from stepladder.retrieval.local_models import quiet_transformers
from stepladder.runtimes.models import models_home

__all__ = ["OnnxEmbeddings", "onnx_available", "onnx_pooling"]

ONNX_HINT = "pip install onnxruntime onnx (in 'stepladder[local]')"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def onnx_available() -> bool:
    """Whether ONNX Runtime can be imported here."""
    try:
        import onnxruntime  # noqa: F401  # lazy: optional ([local] extra), heavy
    except ImportError:
        return False
    return True


def onnx_pooling(folder: Path) -> str | None:
    """The folder's pooling mode if the ONNX path supports it (`mean` or `cls`), else None."""
    if not (folder / "tokenizer.json").is_file() or not (folder / "config.json").is_file():
        return None
    config_file = folder / "1_Pooling" / "config.json"
    if not config_file.is_file():
        return None
    config = json.loads(config_file.read_text())
    modes = {key for key, on in config.items() if key.startswith("pooling_mode_") and on}
    if modes == {"pooling_mode_mean_tokens"}:
        return "mean"
    if modes == {"pooling_mode_cls_token"}:
        return "cls"
    return None


class OnnxEmbeddings:
    """A sentence-transformers folder (BERT-style encoder) run with ONNX Runtime.

    Args:
        folder: The model folder (sentence-transformers layout).
        name: The name vectors are known by (stored with collections and classifiers).
        batch_size: Texts per forward pass.
    """

    def __init__(self, folder: Path, name: str, batch_size: int = 64) -> None:
        pooling = onnx_pooling(folder)
        if pooling is None:
            raise ConfigError(
                f"embedding model folder {folder} cannot run on ONNX Runtime (it needs "
                "tokenizer.json and mean or CLS pooling); set `embeddings.backend: torch`."
            )
        self.folder = folder
        self.name = name
        self.batch_size = batch_size
        self.pooling = pooling
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: tuple[str, ...] = ()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts in length-sorted batches, normalised."""
        if not texts:
            return []
        self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[Any] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            for index, row in zip(chosen, self._forward([texts[i] for i in chosen]), strict=True):
                vectors[index] = row
        return [[float(v) for v in row] for row in vectors]

    def _forward(self, batch: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(batch)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, {k: feeds[k] for k in self._input_names})[0]
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(hidden.dtype)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None))

    def _load(self) -> None:
        if self._session is not None:
            return
        try:
            import onnxruntime  # lazy: optional ([local] extra), heavy
            from tokenizers import Tokenizer  # lazy: optional ([local] extra)
        except ImportError as error:
            raise ConfigError(f"the ONNX embedding backend needs {ONNX_HINT}.") from error
        tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(_max_length(self.folder))
        pad_id = tokenizer.token_to_id("[PAD]") or 0
        tokenizer.enable_padding(pad_id=pad_id, pad_token=tokenizer.id_to_token(pad_id) or "")
        model_file = _exported(self.folder)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            session = onnxruntime.InferenceSession(
                str(model_file), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:
            raise ModelError(f"could not load the ONNX export {model_file}: {error}") from error
        self._input_names = tuple(i.name for i in session.get_inputs())
        self._tokenizer = tokenizer
        self._session = session


def _max_length(folder: Path) -> int:
    config_file = folder / "sentence_bert_config.json"
    if config_file.is_file():
        return int(json.loads(config_file.read_text()).get("max_seq_length", 256))
    return 256


def _fingerprint(folder: Path) -> str:
    """A cheap identity of a model folder: its config and weight files' sizes and heads."""
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
        with weights.open("rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def _exported(folder: Path) -> Path:
    """The folder's transformer as an ONNX file, exported on first use and cached."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder.name).strip("-") or "model"
    target = models_home().parent / "onnx" / f"{slug}-{_fingerprint(folder)}.onnx"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    try:
        _export(folder, partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _export(folder: Path, target: Path) -> None:
    try:
        import torch  # lazy: optional ([local] extra), heavy
        from transformers import AutoModel  # lazy: optional ([local] extra), heavy
    except ImportError as error:
        raise ConfigError(
            f"exporting an embedding model to ONNX needs torch: {ONNX_HINT}."
        ) from error
    quiet_transformers()
    model = AutoModel.from_pretrained(str(folder)).eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            return self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

    sample = torch.ones((1, 4), dtype=torch.int64)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "hidden")}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Encoder(),
                (sample, sample, torch.zeros_like(sample)),
                str(target),
                input_names=list(INPUTS),
                output_names=["hidden"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
    except Exception as error:
        raise ModelError(f"could not export {folder} to ONNX: {error}") from error
