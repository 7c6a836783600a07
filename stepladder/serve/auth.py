"""Bearer-token authentication: on when the token's environment variable is set.

Every request but `GET /healthz` (a load balancer's probe) must then send
`Authorization: Bearer <token>`; others get 401. The token is compared in constant time and
never printed.
"""

from __future__ import annotations

import os
import secrets

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from stepladder.config.secrets import register_secret

__all__ = ["OPEN_PATHS", "TOKEN_VARIABLE", "BearerAuth", "read_token"]

TOKEN_VARIABLE = "STEPLADDER_API_TOKEN"
OPEN_PATHS = frozenset({"/healthz"})


def read_token(variable: str = TOKEN_VARIABLE) -> str | None:
    """The API token from the environment (None, or empty: authentication is off)."""
    token = os.environ.get(variable) or None
    if token is not None:
        register_secret(token)  # never shown in a trace
    return token


class BearerAuth:
    """ASGI middleware refusing HTTP requests without the bearer token (except open paths).

    Args:
        app: The application.
        token: The token clients must send.
        variable: Where the token came from, for the 401 message.
    """

    def __init__(self, app: ASGIApp, token: str, variable: str = TOKEN_VARIABLE) -> None:
        self.app = app
        self._token = token.encode()
        self.variable = variable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on when it may; answer 401 otherwise."""
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        problem = self._problem(dict(scope["headers"]).get(b"authorization"))
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "unauthorized", "detail": problem},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="stepladder"'},
        )
        await response(scope, receive, send)

    def _problem(self, header: bytes | None) -> str | None:
        if header is None:
            return (
                "this service needs 'Authorization: Bearer <token>' (the token is the value of "
                f"{self.variable} where the service runs)."
            )
        scheme, _, given = header.partition(b" ")
        if scheme.lower() != b"bearer" or not secrets.compare_digest(given.strip(), self._token):
            return "the bearer token is not valid."
        return None
