"""`StudioFlows`: the serve `Service` the studio runs flows with, given or made on first use.

Running a flow needs what `stepladder serve` holds: the compiled flows, the model tiers (a
`ModelPool`), tracing into the project's store, checkpoints for runs that pause for a person.
Mounted by `stepladder serve`, the studio is given the server's own `Service`; on its own
(`stepladder studio`) it compiles the project's flows and makes one on the first request that
needs it, and closes it when the app shuts down.
"""

from __future__ import annotations

import asyncio

from fastapi import HTTPException
from starlette.requests import Request

from stepladder.config import Project
from stepladder.errors import StepladderError
from stepladder.serve import Service, load_flows

__all__ = ["StudioFlows", "studio_flows"]


class StudioFlows:
    """The studio's access to a `Service` (its own, made lazily, or one it was given).

    Args:
        project: The project whose flows are run.
        service: A service to use (and not close); None makes one on first use.
    """

    def __init__(self, project: Project, service: Service | None = None) -> None:
        self.project = project
        self._service = service
        self._owned = service is None
        self._lock = asyncio.Lock()

    async def service(self) -> Service:
        """The service, made on first use (compiling every flow of the project, in a thread).

        Raises:
            HTTPException: 503 with the reason, when the project's flows cannot be served.
        """
        if self._service is not None:
            return self._service
        async with self._lock:
            if self._service is None:
                try:
                    self._service = await asyncio.to_thread(self._make)
                except StepladderError as error:
                    raise HTTPException(503, f"cannot run this project's flows: {error}") from None
        return self._service

    def _make(self) -> Service:
        return Service(self.project, load_flows(self.project))

    async def close(self) -> None:
        """Close the service if the studio made it (a given one belongs to its giver)."""
        if self._owned and self._service is not None:
            service, self._service = self._service, None
            await service.close()


def studio_flows(request: Request) -> StudioFlows:
    """The studio's flows, for route handlers (`Depends(studio_flows)`)."""
    flows: StudioFlows = request.app.state.studio_flows
    return flows
