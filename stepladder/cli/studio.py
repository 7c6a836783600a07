"""`stepladder studio [--host 127.0.0.1] [--port 8765]`: the local web studio for a project."""

from __future__ import annotations

from typing import Annotated

import typer

from stepladder.cli.app import command, stderr
from stepladder.cli.common import project_for


@command()
def studio(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "warning",
) -> None:
    """Open the studio: runs and traces, evals side by side, flows drawn and run from a form."""
    # Lazy: FastAPI and uvicorn load only for this command.
    import uvicorn

    from stepladder.studio import create_studio_app  # lazy: keeps --help fast

    project = project_for()
    app = create_studio_app(project.root)
    stderr.print(f"studio for {project.root} at http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=port, log_level=log_level)
