"""What the service refuses before a run starts: bodies too large or not JSON, bad text.

Text that is not Unicode is refused too, and ids that cannot go in a header are left out.

`RequestGuard` is ASGI middleware: a body over the limit is a 413 (at once when its
`Content-Length` says so, else as soon as the bytes received pass the limit, so a 50 MB body
is never read whole), and a body that is not sent as JSON is a 415. Both answer in the
service's JSON shape and say what to change.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyTooLarge", "RequestGuard", "check_text", "header_safe", "size_text"]

JSON_TYPES = ("application/json",)
PREVIEW = 80


def size_text(size: int) -> str:
    """A byte count as people read it (`1 MiB (1048576 bytes)`)."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:g} {unit} ({size} bytes)"
    return f"{size} bytes"


class BodyTooLarge(HTTPException):
    """A request body over the service's limit (answered as a 413 in the service's shape).

    Args:
        limit: The limit in bytes.
    """

    def __init__(self, limit: int) -> None:
        detail = (
            f"the request body is larger than the {size_text(limit)} this service accepts. "
            "Send a smaller body, or raise the limit where the service runs: `stepladder serve "
            "--max-body 5MB`, or `serve: {max_body: 5MB}` in stepladder.yaml."
        )
        super().__init__(413, detail)
        self.limit = limit

    def body(self) -> dict[str, Any]:
        """The JSON body of the 413."""
        return {"error": "content_too_large", "detail": self.detail, "max_body": self.limit}


class RequestGuard:
    """ASGI middleware: 413 for a body over `max_body` bytes, 415 for a body not sent as JSON.

    Args:
        app: The application.
        max_body: The largest body accepted, in bytes.
    """

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request at once when its headers say so; else count its bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self._problem(headers)
        if problem is not None:
            await problem(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _problem(self, headers: Headers) -> JSONResponse | None:
        length = _content_length(headers)
        if length is not None and length > self.max_body:
            too_large = BodyTooLarge(self.max_body)
            return JSONResponse(too_large.body(), status_code=413, headers={"Connection": "close"})
        has_body = bool(length) or "chunked" in headers.get("transfer-encoding", "").lower()
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if has_body and not (media_type in JSON_TYPES or media_type.endswith("+json")):
            shown = f"'{media_type}'" if media_type else "no Content-Type"
            detail = (
                f"the request body was sent with {shown}; this service reads JSON. Send the "
                "body as JSON with the header 'Content-Type: application/json'."
            )
            return JSONResponse({"error": "unsupported_media_type", "detail": detail}, 415)
        return None

    def _counting(self, receive: Receive) -> Receive:
        """`receive`, raising `BodyTooLarge` once the body passes the limit."""
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        return counted


def _content_length(headers: Headers) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


def header_safe(value: str) -> bool:
    """Whether `value` may go in a response header as is (printable ASCII)."""
    return value.isascii() and value.isprintable()


def check_text(value: Any, loc: Iterable[str | int]) -> None:
    r"""Refuse strings that are not Unicode text (a lone UTF-16 surrogate such as "\ud800").

    JSON allows such escapes, but the text cannot be stored, traced or sent back.

    Raises:
        RequestValidationError: Naming the first field that holds one.
    """
    pending: deque[tuple[tuple[str | int, ...], Any]] = deque([(tuple(loc), value)])
    while pending:
        where, item = pending.popleft()
        if isinstance(item, str):
            if not _is_unicode(item):
                raise RequestValidationError([_surrogate(where, item)])
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and not _is_unicode(key):
                    raise RequestValidationError([_surrogate(where, key)])
                pending.append(((*where, key), child))
        elif isinstance(item, list | tuple):
            pending.extend(((*where, index), child) for index, child in enumerate(item))


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surrogate(loc: tuple[str | int, ...], text: str) -> dict[str, Any]:
    message = (
        "holds a lone UTF-16 surrogate (an escape such as \\ud800 without its pair), which is "
        "not Unicode text; send valid text"
    )
    shown = text[:PREVIEW].encode("utf-8", "backslashreplace").decode("utf-8")
    return {"type": "string_unicode", "loc": loc, "msg": message, "input": shown}
