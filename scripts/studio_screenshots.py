"""Screenshots of every studio page, for the README: `python scripts/studio_screenshots.py`.

Starts the studio on a project folder (default `examples/`) on a free loopback port, visits each
page in headless Chromium (Debian's `chromium` + `chromium-driver`, `make browser`) and writes one
PNG per page to a folder (default `docs/images/studio/`). Pages that need an id (a trace, an eval
run, two eval runs to compare, a flow) take the newest from the studio's own JSON API. A page that
cannot be shown (nothing to show yet, an error, a script error in the browser) is reported and
skipped; the others are still written, and the exit status is 1.

    python scripts/studio_screenshots.py [PROJECT] [--out DIR] [--width 1400] [--height 900]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 20.0
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


# straight to the local studio, whatever proxy the environment names
_open = urllib.request.build_opener(urllib.request.ProxyHandler({})).open


class PageUnavailable(Exception):
    """A page cannot be shown (nothing to show, or it failed); the message says why."""


@dataclass(frozen=True)
class Shot:
    """One page to photograph: its file name and how to find its path (relative to the base)."""

    name: str
    path: Callable[[str], str]


def main(argv: list[str] | None = None) -> int:
    """Write the screenshots; 1 when any page could not be shown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", nargs="?", type=Path, default=ROOT / "examples")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "studio")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument(
        "--max-height", type=int, default=1800, help="Grow the window to show long pages, to this."
    )
    args = parser.parse_args(argv)

    from stepladder.studio import create_studio_app

    args.out.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    app = create_studio_app(args.project.resolve())
    with serving(app) as base, chromium(args.width, args.height) as driver:
        for shot in SHOTS:
            target = args.out / f"{shot.name}.png"
            try:
                path = shot.path(base)
                take(driver, f"{base}/{path}", target, args.width, args.height, args.max_height)
            except PageUnavailable as problem:
                failed.append(shot.name)
                print(f"{shot.name}: not written: {problem}", file=sys.stderr)
                continue
            print(f"{shot.name}: {target} ({path})")
    if failed:
        print(f"{len(failed)} page(s) not written: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def newest_trace(base: str) -> str:
    """The trace page of the newest run, its first model call selected (else the run)."""
    runs = get_json(base, "api/runs?limit=50")["runs"]
    if not runs:
        raise PageUnavailable("no traced runs in this project (run a flow first)")
    trace = get_json(base, f"api/traces/{runs[0]['trace_id']}")
    spans = trace["spans"]
    model = next((span for span in spans if span["type"] == "model"), spans[0])
    return f"traces/{trace['trace_id']}#span={model['span_id']}"


def eval_runs(base: str, count: int) -> list[str]:
    """The ids of the newest `count` eval runs."""
    runs = get_json(base, "api/evals").get("runs") or []
    ids = [str(run.get("run_id") or run.get("id")) for run in runs]
    if len(ids) < count:
        raise PageUnavailable(
            f"{count} eval run(s) needed, {len(ids)} found (run `stepladder eval`)"
        )
    return ids[:count]


def compare(base: str) -> str:
    """Two eval runs compared: the older as baseline, the newer as candidate."""
    newer, older = eval_runs(base, 2)
    return "evals/compare?" + urllib.parse.urlencode({"a": older, "b": newer})


def first_flow(base: str) -> str:
    """The first flow's page."""
    flows = get_json(base, "api/flows").get("flows") or []
    if not flows:
        raise PageUnavailable("the project has no flows")
    biggest = max(flows, key=lambda flow: flow.get("nodes") or 0)  # the most to look at
    return f"flows/{urllib.parse.quote(biggest['name'])}"


SHOTS = (
    Shot("runs", lambda base: "runs"),
    Shot("trace", newest_trace),
    Shot("evals", lambda base: "evals"),
    Shot("eval-run", lambda base: f"evals/{eval_runs(base, 1)[0]}"),
    Shot("eval-compare", compare),
    Shot("flows", lambda base: "flows"),
    Shot("flow", first_flow),
)


def get_json(base: str, path: str) -> Any:
    """GET `path` of the studio as JSON; `PageUnavailable` when it answers an error."""
    try:
        with _open(f"{base}/{path}", timeout=120) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        raise PageUnavailable(f"GET /{path} answered {error.code}") from None


def take(driver: Any, url: str, target: Path, width: int, height: int, max_height: int) -> None:
    """Load `url`, wait until it has drawn, and save it as `target`."""
    path = urllib.parse.urlsplit(url)
    try:
        with _open(url.split("#")[0], timeout=120) as answer:
            answer.read()
    except urllib.error.HTTPError as error:
        raise PageUnavailable(f"GET {path.path} answered {error.code}") from None
    driver.set_window_size(width, height)
    driver.get(url)
    wait_until_drawn(driver)
    problems = [
        entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
    ]
    if problems:
        raise PageUnavailable(f"the page reported errors: {problems[0]}")
    tall = driver.execute_script("return document.documentElement.scrollHeight")
    if isinstance(tall, int) and tall > height:
        driver.set_window_size(width, min(tall, max_height))
        time.sleep(0.3)
    if not driver.save_screenshot(str(target)):
        raise PageUnavailable("Chromium could not save the screenshot")


def wait_until_drawn(driver: Any) -> None:
    """Wait until no "Loading…" placeholder is left and the page's fetches have settled."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    script = (
        "return document.readyState === 'complete' && !document.body.innerText.includes('Loading…')"
    )
    while time.monotonic() < deadline:
        if driver.execute_script(script):
            time.sleep(0.5)  # let late requests (a second fetch, a picture) finish drawing
            return
        time.sleep(0.1)
    raise PageUnavailable(f"still loading after {READY_TIMEOUT_S:.0f} s")


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port; yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise SystemExit("the studio did not start (see the log above)")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@contextmanager
def chromium(width: int, height: int) -> Iterator[Any]:
    """Headless Chromium through Selenium, with the system's driver (nothing downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    browser = next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
    )
    if driver_path is None or browser is None:
        raise SystemExit("headless Chromium is missing: run `make browser`")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a driver
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        os.environ.pop(name, None)  # talk to chromedriver on loopback, directly
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
