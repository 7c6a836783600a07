"""Streamable HTTP that answers each request in the cheaper form it allows: JSON or SSE.

The MCP spec lets a server answer a POSTed request with one `application/json` body or an
SSE stream. The stream is what carries the progress notifications of a flow's nodes, but it
costs about as much per call as the flow itself when the flow is quick. So a request that
asks for no progress (its params carry no `_meta.progressToken`) is answered with JSON, and
one that does, or that opens the session (`initialize`), with SSE. Nothing else scoped to a
request is sent here without a progress token (the flows' server sends no log messages and
makes no requests of the client), so a JSON answer loses nothing.
"""

from __future__ import annotations

from contextvars import ContextVar

import pydantic_core
from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.jsonrpc_dispatcher import progress_token_from_params
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

__all__ = ["ProgressAwareSessionManager", "ProgressAwareTransport", "wants_json"]

_JSON_ANSWER: ContextVar[bool] = ContextVar("stepladder_mcp_json_answer", default=False)


def wants_json(body: bytes) -> bool:
    """Whether a POSTed body is one request (not `initialize`) that asks for no progress."""
    try:
        message = pydantic_core.from_json(body)
    except ValueError:
        return False  # the SDK answers the parse error
    if not isinstance(message, dict) or "id" not in message:
        return False  # a notification, a response or a batch: the SDK's own way
    if message.get("method") in (None, "initialize"):
        return False
    params = message.get("params")
    return progress_token_from_params(params if isinstance(params, dict) else None) is None


class ProgressAwareTransport(StreamableHTTPServerTransport):
    """The SDK's transport, choosing JSON or SSE for each request (see `wants_json`).

    The SDK reads `is_json_response_enabled` while it handles a POST (which answer to build,
    which `Accept` to require, whether the request may be sent requests back); here it is
    the choice made for the request being handled, kept in a context variable of that
    request's task, so requests in flight on one session do not see each other's choice.
    """

    @property
    def is_json_response_enabled(self) -> bool:
        """Whether the request being handled is answered with JSON."""
        return _JSON_ANSWER.get()

    @is_json_response_enabled.setter
    def is_json_response_enabled(self, value: bool) -> None:
        """The SDK sets the session-wide mode at construction: each request chooses here."""

    async def _handle_post_request(
        self, scope: Scope, request: Request, receive: Receive, send: Send
    ) -> None:
        choice = _JSON_ANSWER.set(wants_json(await request.body()))  # the body is kept
        try:
            await super()._handle_post_request(scope, request, receive, send)
        finally:
            _JSON_ANSWER.reset(choice)


class ProgressAwareSessionManager(StreamableHTTPSessionManager):
    """The SDK's session manager, each new session on a `ProgressAwareTransport`."""

    def _admit_session(
        self, requestor: AuthorizationContext | None
    ) -> StreamableHTTPServerTransport | None:
        transport = super()._admit_session(requestor)
        if transport is not None:  # built and registered by the SDK; only its class changes
            transport.__class__ = ProgressAwareTransport
        return transport
