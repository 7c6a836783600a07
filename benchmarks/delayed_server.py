"""A stand-in OpenAI-compatible model server that answers every request after a fixed delay.

Used by the benchmarks that measure scheduling (`eval_throughput.py`, `compose.py`): with a
model whose latency is known and constant, the ideal wall time is known too. It runs in a
child process (`multiprocessing.Process(target=serve, args=(delay, content, ports))`) and
puts its port on `ports`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

__all__ = ["response", "serve"]


def response(content: str) -> bytes:
    """A whole HTTP response carrying one chat completion whose message is `content`."""
    answer = json.dumps({
        "id": "x", "object": "chat.completion", "created": 0, "model": "delayed",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
    }).encode()  # fmt: skip
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(answer)}"
    return head.encode() + b"\r\n\r\n" + answer


async def _answer_after(delay: float, answer: bytes, reader: Any, writer: Any) -> None:
    """Serve one keep-alive connection: every request is answered after `delay` seconds."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            await asyncio.sleep(delay)
            writer.write(answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def serve(delay: float, content: str, ports: Any) -> None:
    """Run the delayed server (asyncio, one task per connection) until terminated."""
    answer = response(content)

    async def forever() -> None:
        server = await asyncio.start_server(
            lambda r, w: _answer_after(delay, answer, r, w), "127.0.0.1", 0, backlog=1024
        )
        ports.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(forever())
