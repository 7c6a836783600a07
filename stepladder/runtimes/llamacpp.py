"""The embedded runtime: xllamacpp's OpenAI-compatible llama.cpp server, in-process.

It may load GGUF LoRA adapters beside the model (`stepladder.runtimes.adapters`), all at
scale 0; then every request names its adapters: `"lora": [{"id": i, "scale": 1.0}]` runs on
adapter `i`, `"lora": [{"id": 0, "scale": 0.0}]` on the base. Naming them always matters:
this llama.cpp build clears a slot's prompt cache when a request's adapters differ from the
slot's last ones, except after a request that names none, which keeps the previous adapter's
cache (measured: a base request after an adapter request then answered as the adapter did).
Its host-memory prompt cache does not tell adapters apart at all, so it is off while adapters
are loaded (measured: 13 of 54 answers wrong with it, 0 of 54 without, and 0 of 27 under
concurrent mixed requests); each slot still reuses its own cache.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from stepladder.config.tiers import LlamaCppTier
from stepladder.errors import ModelError
from stepladder.runtimes.adapters import AdapterLoad
from stepladder.runtimes.base import LOCAL_API_KEY, Endpoint
from stepladder.runtimes.models import KNOWN_MODELS, ensure_model

__all__ = ["BASE_REQUEST", "LlamaCppRuntime", "adapter_bodies"]

INSTALL_HINT = "pip install 'stepladder[local]' (the embedded llama.cpp server, xllamacpp)"
READY_TIMEOUT_S = 60.0


class LlamaCppRuntime:
    """Serves a GGUF model with llama.cpp on a free loopback port, inside this process.

    Args:
        settings: The tier's settings (model, threads, context size, parallel slots).
        tier: The tier's name, for messages.
        adapters: GGUF LoRA adapters to load beside the model (each picked per request).
    """

    def __init__(
        self, settings: LlamaCppTier, tier: str = "small", adapters: Sequence[AdapterLoad] = ()
    ) -> None:
        self.settings = settings
        self.tier = tier
        self.adapters = tuple(adapters)
        self._server: Any = None
        self._model_file: Path | None = None

    def start(self) -> Endpoint:
        """Pull the model if needed, start the server and wait until it answers.

        Raises:
            ModelError: If xllamacpp is missing, the model is bad, or the server does not start.
        """
        try:
            # Lazy: the optional embedded runtime (`pip install stepladder[local]`).
            import xllamacpp
        except ImportError as error:
            raise ModelError(f"the llamacpp runtime needs xllamacpp: {INSTALL_HINT}.") from error
        self._model_file = ensure_model(self.settings.model)
        params = xllamacpp.CommonParams()
        params.model.path = str(self._model_file)
        params.n_ctx = self.settings.context_size
        params.n_parallel = self.settings.parallel
        params.cpuparams.n_threads = self.settings.threads
        params.cpuparams_batch.n_threads = self.settings.threads
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        params.verbosity = -1
        params.warmup = False
        params.lora_adapters = [
            xllamacpp.CommonAdapterLoraInfo(str(path), 0.0) for path in self._adapter_files()
        ]
        if self.adapters:
            params.cache_ram_mib = 0  # the host-memory prompt cache ignores adapters
        try:
            self._server = xllamacpp.Server(params)
        except Exception as error:
            if self.adapters:
                raise ModelError(
                    f"tier '{self.tier}': llama.cpp could not load {self._model_file} with the "
                    f"adapter(s) {', '.join(a.label for a in self.adapters)} ({error}); check "
                    "that each is a GGUF LoRA adapter trained on this model, or retrain it."
                ) from error
            fix = (
                f"delete it and run `stepladder models pull {self.settings.model}`"
                if self.settings.model in KNOWN_MODELS
                else "check that it is a GGUF model file"
            )
            raise ModelError(
                f"tier '{self.tier}': llama.cpp could not load {self._model_file} ({error}); {fix}."
            ) from error
        base = str(self._server.listening_address).rstrip("/")
        _wait_until_healthy(base, self.tier)
        return Endpoint(
            model=f"openai/{self._model_file.stem}",
            base_url=f"{base}/v1",
            api_key=LOCAL_API_KEY,
            display_name=self._model_file.stem,
            extra_body=BASE_REQUEST if self.adapters else {},
            adapters=adapter_bodies(self.adapters),
        )

    def _adapter_files(self) -> list[Path]:
        """The adapters' GGUF files, in id order.

        Raises:
            ModelError: Naming an adapter with no GGUF file.
        """
        files = []
        for adapter in self.adapters:
            if adapter.gguf is None or not adapter.gguf.is_file():
                raise ModelError(
                    f"tier '{self.tier}': adapter {adapter.label} has no GGUF file "
                    f"({adapter.gguf}); llama.cpp serves GGUF LoRA adapters: retrain it, or "
                    "export it again."
                )
            files.append(adapter.gguf)
        return files

    def stop(self) -> None:
        """Shut the server down (its threads exit and the port is freed)."""
        server, self._server = self._server, None
        del server


BASE_REQUEST: dict[str, Any] = {"lora": [{"id": 0, "scale": 0.0}]}
"""The body fields of a base-model request to a server with adapters: no adapter, said
explicitly (a request that names none would reuse the last adapter's prompt cache)."""


def adapter_bodies(adapters: Sequence[AdapterLoad]) -> dict[str, dict[str, Any]]:
    """The body fields that select each adapter (its id is its place in the list)."""
    return {
        adapter.key: {"lora": [{"id": index, "scale": 1.0}]}
        for index, adapter in enumerate(adapters)
    }


def _wait_until_healthy(base_url: str, tier: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{base_url}/health", timeout=2.0)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as error:
            last = str(error)
        time.sleep(0.05)
    raise ModelError(f"tier '{tier}': the embedded server at {base_url} never got ready ({last}).")
