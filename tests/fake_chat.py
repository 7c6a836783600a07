"""A loopback OpenAI-style chat server that answers every request with one fixed message."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _body(content: str) -> bytes:
    return json.dumps({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }).encode()  # fmt: skip


def schema_answer(request: dict[str, Any]) -> str:
    """Each output field of the request's JSON schema, answered `"<field> text"`."""
    schema = request["response_format"]["json_schema"]["schema"]
    return json.dumps({key: f"{key} text" for key in schema["properties"]})


@contextmanager
def chat_server(
    content: str | Callable[[dict[str, Any]], str],
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Serve `content` as every chat answer (or `content(request)`); yield the port and the
    requests received."""
    requests: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # /health
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["content-length"])))
            requests.append(request)
            body = _body(content(request) if callable(content) else content)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1]), requests
    finally:
        server.shutdown()
