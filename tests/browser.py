"""A real headless Chromium (Debian's `chromium` + `chromium-driver`) and a live local server.

`make browser` installs them; without them a browser test fails (it is not skipped). Selenium
is given the driver's path, so Selenium Manager never runs or downloads anything, and Chromium
is told to resolve no host names: pages are local files or served on 127.0.0.1.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ARTIFACTS", "headless_chromium", "live_server"]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1400,900",
    # stay off the network: no background fetches, no proxy, no name resolution but loopback
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def _browser_paths() -> tuple[str, str]:
    driver = shutil.which("chromedriver")
    browser = next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
    )
    if driver is None or browser is None:
        pytest.fail(
            "headless Chromium is missing (chromium and chromedriver must be on PATH): "
            "run `make browser` (as root it installs Debian's chromium and chromium-driver)",
            pytrace=False,
        )
    return driver, browser


@contextmanager
def headless_chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Selenium driver for the system's Chromium; the test fails if it is not installed."""
    driver_path, browser_path = _browser_paths()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: install the dev extra (pip install -e '.[dev]')")
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a driver
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)  # talk to chromedriver on loopback, directly
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve the ASGI `app` with uvicorn on a free loopback port; yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:  # no deadline: a loaded machine only makes this slower
            if not thread.is_alive():
                pytest.fail("the test server did not start (see the log above)", pytrace=False)
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
