"""The embedded runtime: xllamacpp's OpenAI-compatible llama.cpp server, in-process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from stepladder.config.tiers import LlamaCppTier
from stepladder.errors import ModelError
from stepladder.runtimes.base import LOCAL_API_KEY, Endpoint
from stepladder.runtimes.models import KNOWN_MODELS, ensure_model

__all__ = ["LlamaCppRuntime"]

INSTALL_HINT = "pip install 'stepladder[local]' (the embedded llama.cpp server, xllamacpp)"
READY_TIMEOUT_S = 60.0


class LlamaCppRuntime:
    """Serves a GGUF model with llama.cpp on a free loopback port, inside this process.

    Args:
        settings: The tier's settings (model, threads, context size, parallel slots).
        tier: The tier's name, for messages.
    """

    def __init__(self, settings: LlamaCppTier, tier: str = "small") -> None:
        self.settings = settings
        self.tier = tier
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
        try:
            self._server = xllamacpp.Server(params)
        except Exception as error:
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
        )

    def stop(self) -> None:
        """Shut the server down (its threads exit and the port is freed)."""
        server, self._server = self._server, None
        del server


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
