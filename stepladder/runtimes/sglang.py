"""The SGLang runtime: connect to a running SGLang server, or launch one (GPU hosts only).

```yaml
tiers:
  gpu: {runtime: sglang, base_url: "http://127.0.0.1:30000"}       # connect
  fleet: {runtime: sglang, base_url: "http://router:30000"}        # sglang-router, N workers
  big: {runtime: sglang, model_path: Qwen/Qwen2.5-7B-Instruct}     # launch (needs sglang + CUDA)
```

Connecting to `sglang-router` works the same: it answers `/health` and `/v1/models` and sends
each call to one of its workers (README, "SGLang workers behind sglang-router").

A launched server runs `python -m sglang.launch_server` in its own process group, logs to
`<log dir>/sglang-<tier>-<port>.log` and is stopped with the group (SIGTERM, then SIGKILL).

LoRA adapters (PEFT folders) are launched with `--enable-lora --lora-paths NAME@vN=FOLDER`
and picked per request with `"lora_path": "NAME@vN"`; a connected server must have been
launched with the same names (the folders are `<state dir>/adapters/NAME/vN/peft`).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from stepladder.config.tiers import SGLangTier
from stepladder.errors import ModelError
from stepladder.runtimes.adapters import AdapterLoad
from stepladder.runtimes.base import LOCAL_API_KEY, Endpoint

__all__ = ["SGLangRuntime", "adapter_bodies", "build_command"]

INSTALL_HINT = "pip install 'stepladder[sglang]' (GPU hosts only)"
POLL_INTERVAL_S = 0.5
REQUEST_TIMEOUT_S = 2.0
STOP_GRACE_S = 15.0
LOG_TAIL_LINES = 20


def build_command(
    settings: SGLangTier, port: int, adapters: Sequence[AdapterLoad] = ()
) -> list[str]:
    """The command that launches an SGLang server for a tier (flags of `sglang.launch_server`).

    Args:
        settings: The tier's settings.
        port: The port to listen on.
        adapters: LoRA adapters to serve (their PEFT folders), each picked per request.

    Raises:
        ValueError: If the settings have no `model_path` (they connect instead), or an
            adapter has no PEFT folder.
    """
    if settings.model_path is None:
        raise ValueError("build_command needs settings with a model_path")
    command = [
        sys.executable, "-m", "sglang.launch_server",
        "--model-path", settings.model_path,
        "--host", settings.host,
        "--port", str(port),
        "--grammar-backend", settings.grammar_backend,
        "--tp-size", str(settings.tp),
    ]  # fmt: skip
    if settings.mem_fraction is not None:
        command += ["--mem-fraction-static", str(settings.mem_fraction)]
    if settings.quantization is not None:
        command += ["--quantization", settings.quantization]
    if settings.served_model_name is not None:
        command += ["--served-model-name", settings.served_model_name]
    if adapters:
        missing = [a.label for a in adapters if a.peft is None]
        if missing:
            raise ValueError(f"adapter(s) {', '.join(missing)} have no PEFT folder to serve")
        command += ["--enable-lora", "--lora-paths"]
        command += [f"{a.served_name}={a.peft}" for a in adapters]
    return command


def adapter_bodies(adapters: Sequence[AdapterLoad]) -> dict[str, dict[str, Any]]:
    """The body field that selects each adapter on an SGLang server (`lora_path`), by key."""
    return {adapter.key: {"lora_path": adapter.served_name} for adapter in adapters}


class SGLangRuntime:
    """An SGLang server for one tier: connected to (`base_url`) or launched (`model_path`).

    Args:
        settings: The tier's settings.
        tier: The tier's name, for messages and the log file's name.
        log_dir: Where a launched server's log goes (default: the system's temp folder).
        adapters: LoRA adapters it serves (launched with them, or trusted to have them).

    Attributes:
        log_path: The launched server's log file, once `start` has launched one.
    """

    def __init__(
        self,
        settings: SGLangTier,
        tier: str = "gpu",
        log_dir: Path | str | None = None,
        adapters: Sequence[AdapterLoad] = (),
    ) -> None:
        self.settings = settings
        self.tier = tier
        self.adapters = tuple(adapters)
        self.log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.gettempdir())
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Endpoint:
        """Launch the server if asked to, wait until it answers and read its model name.

        Raises:
            ModelError: If sglang or a GPU is missing, the server exits, or it never answers.
        """
        if self.settings.base_url is not None:
            root = server_root(self.settings.base_url)
            wait_until_ready(root, self.settings.startup_timeout_s, self._not_ready_hint)
        else:
            root = self._launch()
        try:
            model_id = self.settings.served_model_name or served_model_id(root, self.tier)
        except ModelError:
            self.stop()
            raise
        return Endpoint(
            model=f"openai/{model_id}",
            base_url=f"{root}/v1",
            api_key=LOCAL_API_KEY,
            supports_logprobs=True,
            display_name=model_id,
            adapters=adapter_bodies(self.adapters),
        )

    def stop(self) -> None:
        """Stop a launched server's process group (idempotent; nothing to do when connected)."""
        process, self._process = self._process, None
        if process is not None:
            atexit.unregister(self.stop)
            _terminate(process)

    def _launch(self) -> str:
        _check_launchable(self.tier)
        self.stop()
        port = self.settings.port or _free_port(self.settings.host)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / f"sglang-{self.tier}-{port}.log"
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                build_command(self.settings, port, self.adapters),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=environment, start_new_session=True,
            )  # fmt: skip
        atexit.register(self.stop)
        root = f"http://{_connect_host(self.settings.host)}:{port}"
        try:
            wait_until_ready(root, self.settings.startup_timeout_s, self._launch_hint, self._exited)
        except BaseException:
            self.stop()
            raise
        return root

    def _not_ready_hint(self, root: str, tried: str) -> str:
        return (
            f"tier '{self.tier}': no SGLang server answered at {root} within "
            f"{self.settings.startup_timeout_s:g}s ({tried}). Start the server (python -m "
            "sglang.launch_server --model-path ... --port ..., or python -m "
            "sglang_router.launch_router --worker-urls ... in front of several) and check "
            "`base_url` in stepladder.yaml, or set `model_path` instead of `base_url` to let "
            "stepladder launch one."
        )

    def _launch_hint(self, root: str, tried: str) -> str:
        code = self._process.poll() if self._process is not None else None
        timeout = f"{self.settings.startup_timeout_s:g}s"
        what, advice = (
            (f"exited with code {code} before it was ready", "Fix the cause above.")
            if code is not None
            else (
                f"did not answer at {root} within {timeout} ({tried})",
                "Raise `startup_timeout_s` if the model is still loading.",
            )
        )
        return (
            f"tier '{self.tier}': the SGLang server for {self.settings.model_path} {what}. "
            f"Last lines of {self.log_path}:\n{log_tail(self.log_path)}\n{advice}"
        )

    def _exited(self) -> bool:
        return self._process is not None and self._process.poll() is not None


def server_root(base_url: str) -> str:
    """The server's root URL: no trailing slash, no trailing `/v1`, `http://` if none given."""
    root = base_url.strip().rstrip("/")
    if "://" not in root:
        root = f"http://{root}"
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root


def wait_until_ready(
    root: str,
    timeout_s: float,
    describe: Callable[[str, str], str],
    exited: Callable[[], bool] | None = None,
) -> None:
    """Poll `GET {root}/health` (or `/v1/models` where there is no /health) until it answers 200.

    Args:
        root: The server's root URL.
        timeout_s: Seconds to wait in all.
        describe: Builds the error message from the root and what was tried.
        exited: Says whether the server's process has exited (which ends the wait early).

    Raises:
        ModelError: If the server does not answer in time, or its process exits.
    """
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    with httpx.Client() as client:
        while not (exited is not None and exited()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, last = _probe(client, root, min(REQUEST_TIMEOUT_S, remaining))
            if ready:
                return
            time.sleep(max(0.0, min(POLL_INTERVAL_S, deadline - time.monotonic())))
    tried = f"tried GET {root}/health and {root}/v1/models; last: {last}"
    raise ModelError(describe(root, tried))


def _probe(client: httpx.Client, root: str, timeout_s: float) -> tuple[bool, str]:
    try:
        response = client.get(f"{root}/health", timeout=timeout_s)
        if response.status_code == 404:
            response = client.get(f"{root}/v1/models", timeout=timeout_s)
    except httpx.HTTPError as error:
        return False, f"{type(error).__name__}: {error}"
    return response.status_code == 200, f"{response.request.url} -> HTTP {response.status_code}"


def served_model_id(root: str, tier: str) -> str:
    """The id of the first model a server lists at `GET {root}/v1/models`.

    Raises:
        ModelError: If the list cannot be read or is empty.
    """
    url = f"{root}/v1/models"
    try:
        response = httpx.get(url, timeout=10.0)
        response.raise_for_status()
        model_id = response.json()["data"][0]["id"]
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as error:
        raise ModelError(
            f"tier '{tier}': could not read the served model from {url} ({error}). Set "
            "`served_model_name` in the tier to name it yourself."
        ) from error
    return str(model_id)


def log_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, or a note when there is none."""
    if path is None or not path.is_file():
        return "(no log)"
    with path.open("r", encoding="utf-8", errors="replace") as file:
        tail = deque(file, maxlen=lines)
    return "".join(tail).rstrip() or "(empty log)"


def _check_launchable(tier: str) -> None:
    if importlib.util.find_spec("sglang") is None:
        raise ModelError(
            f"tier '{tier}' launches an SGLang server (model_path), but sglang is not "
            f"installed: {INSTALL_HINT}. Or set `base_url` to connect to a running server."
        )
    if not _has_cuda():
        raise ModelError(
            f"tier '{tier}': SGLang needs a CUDA GPU and none was found (no nvidia-smi, and "
            "torch sees no CUDA device). On a CPU machine bind the tier to the embedded "
            "runtime instead: {runtime: llamacpp}."
        )


def _has_cuda() -> bool:
    if shutil.which("nvidia-smi") is not None:
        return True
    if importlib.util.find_spec("torch") is None:
        return False
    torch = importlib.import_module("torch")
    return bool(torch.cuda.is_available())


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_connect_host(host), 0))
        return int(probe.getsockname()[1])


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0") else host


def _terminate(process: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """Stop a process started with `start_new_session=True` and its whole group.

    SIGTERM goes to the group; whatever is left after `grace_s` seconds gets SIGKILL.
    """
    group = process.pid
    _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    while _group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group_alive(group):
        _signal_group(group, signal.SIGKILL)
    process.wait()


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _group_alive(group: int) -> bool:
    """Whether a process group has a live member (zombies, which nobody may reap, don't count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            state, _, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
            if int(pgrp) == group and state not in ("Z", "X"):
                return True
    return False
