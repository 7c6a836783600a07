"""Stand-ins for SGLang workers and `sglang-router` in front of them, on loopback ports.

The router answers what the real one does for a client (`GET /health`, `GET /v1/models`, the
OpenAI routes) and sends each request to the next worker in turn (its `round_robin` policy),
marking it with a header, so a test can see that a request went through the router.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

MODEL = "org/tiny"
ROUTED = "x-routed-by"


@dataclass
class Worker:
    """One fake SGLang worker: its name, URL, and the requests it answered (path, headers)."""

    name: str
    url: str = ""
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@dataclass
class Router:
    """The fake router: its URL, its workers, and the paths it forwarded (to which worker)."""

    url: str
    workers: list[Worker]
    forwarded: list[tuple[str, str]] = field(default_factory=list)


def _answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
    handler.send_response(status)
    handler.send_header("content-type", kind)
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _completion(worker: str) -> bytes:
    content = json.dumps({"reply": f"from {worker}"})
    return json.dumps({
        "id": "x", "object": "chat.completion", "created": 0, "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }).encode()  # fmt: skip


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _worker_handler(worker: Worker) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            worker.seen.append((self.path, dict(self.headers)))
            if self.path == "/v1/models":
                models = {"object": "list", "data": [{"id": MODEL, "object": "model"}]}
                _answer(self, 200, json.dumps(models).encode(), "application/json")
            else:
                _answer(self, 200 if self.path == "/health" else 404, b"", "text/plain")

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            worker.seen.append((self.path, dict(self.headers)))
            _answer(self, 200, _completion(worker.name), "application/json")

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def _router_handler(router: Router) -> type[BaseHTTPRequestHandler]:
    turns = itertools.cycle(router.workers)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health":
                _answer(self, 200, b"OK", "text/plain")
            else:
                self._forward(b"")

        def do_POST(self) -> None:
            self._forward(self.rfile.read(int(self.headers.get("content-length", 0))))

        def _forward(self, body: bytes) -> None:
            with lock:
                worker = next(turns)
                router.forwarded.append((self.path, worker.name))
            headers = {"content-type": "application/json", ROUTED: "fake-sglang-router"}
            if "authorization" in self.headers:
                headers["authorization"] = self.headers["authorization"]
            method = "POST" if body else "GET"
            answer = httpx.request(method, worker.url + self.path, content=body or None,
                                   headers=headers, timeout=30)  # fmt: skip
            _answer(self, answer.status_code, answer.content, "application/json")

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def router_with_workers(count: int = 2) -> Iterator[Router]:
    """`count` fake SGLang workers and a round-robin router in front of them."""
    workers = [Worker(f"w{i + 1}") for i in range(count)]
    with ExitStack() as stack:
        for worker in workers:
            worker.url = stack.enter_context(_serve(_worker_handler(worker)))
        router = Router("", workers)
        router.url = stack.enter_context(_serve(_router_handler(router)))
        yield router


FAKE_LAUNCH_SERVER = """
import argparse, json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
for flag in ("--model-path", "--host", "--port", "--grammar-backend", "--tp-size",
             "--mem-fraction-static", "--served-model-name"):
    parser.add_argument(flag)
args = parser.parse_args()
print("fake sglang", " ".join(sys.argv[1:]), flush=True)


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, data):
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v1/models":
            self.answer(200, {"data": [{"id": args.model_path}]})
        else:
            self.answer(200 if self.path == "/health" else 404, {})

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        print(f'"POST {self.path} HTTP/1.1" 200', flush=True)  # as SGLang's access log
        schema = request["response_format"]["json_schema"]["schema"]
        content = {"category": schema["properties"]["category"]["enum"][0], "order_id": None}
        message = {"role": "assistant", "content": json.dumps(content)}
        self.answer(200, {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                          "usage": {"prompt_tokens": 9, "completion_tokens": 5}})

    def log_message(self, *args):
        pass


ThreadingHTTPServer((args.host, int(args.port)), Handler).serve_forever()
"""
"""A stand-in `sglang.launch_server` that answers the GPU check's triage calls."""

FAKE_LAUNCH_ROUTER = """
import argparse, time

from tests.runtimes.fake_router import Router, Worker, serve_router

parser = argparse.ArgumentParser()
parser.add_argument("--worker-urls", nargs="+")
for flag in ("--policy", "--host", "--port", "--prometheus-port"):
    parser.add_argument(flag)
args = parser.parse_args()
print("fake sglang-router", args.policy, " ".join(args.worker_urls), flush=True)
workers = [Worker(f"w{i + 1}", url) for i, url in enumerate(args.worker_urls)]
serve_router(Router(f"http://{args.host}:{args.port}", workers), int(args.port))
"""
"""A stand-in `sglang_router.launch_router` (the fake router above, in its own process)."""


def serve_router(router: Router, port: int) -> None:
    """Serve `router` on a loopback port until the process is stopped."""
    ThreadingHTTPServer(("127.0.0.1", port), _router_handler(router)).serve_forever()
