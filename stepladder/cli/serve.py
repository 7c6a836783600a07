"""`stepladder serve [--flows DIR] [--host 127.0.0.1] [--port 8000]`: the flows over HTTP.

Requests are limited by `--max-body` (1 MiB by default) and runs by `--max-steps`.
`--workers N` runs N processes on the port, once the state is shared (see `serve.workers`).

Every flow file is compiled at start-up; one that does not compile is skipped with a warning
(and listed under `skipped` in `GET /flows`); with none left to serve the command stops.
FastAPI and uvicorn are imported only when the command runs.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ByteSize, TypeAdapter, ValidationError

from stepladder.cli.app import command, stderr
from stepladder.cli.common import UseCompiled, project_for
from stepladder.errors import ConfigError

if TYPE_CHECKING:
    from stepladder.serve import ServedFlows


@command()
def serve(
    flows: Annotated[
        Path | None,
        typer.Option("--flows", help="Folder of flow files (default: the project's flows/)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: a free one).")] = 8000,
    token_env: Annotated[
        str | None,
        typer.Option(
            "--token-env",
            help="Environment variable holding the API token (default STEPLADDER_API_TOKEN); "
            "when it is set, requests need 'Authorization: Bearer <token>'.",
        ),
    ] = None,
    warm: Annotated[
        bool, typer.Option("--warm", help="Start the flows' model tiers now, not on first use.")
    ] = False,
    keep_runs: Annotated[
        int, typer.Option(min=1, help="Finished runs kept for GET /runs/{id}.")
    ] = 10_000,
    max_body: Annotated[
        str | None,
        typer.Option(
            "--max-body",
            help="Largest request body: bytes, or a size like 512KB, 5MB, 2MiB (default: the "
            "serve.max_body setting, 1MiB).",
        ),
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps",
            min=1,
            help="Steps a run may take before it stops (default: serve.max_steps, 25).",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="uvicorn's log level (info and below: access log too).")
    ] = "warning",
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Processes answering on the port. More than 1 needs shared state (Postgres: "
            "`state: {postgres: ...}` in stepladder.yaml, or STEPLADDER_POSTGRES_URL).",
        ),
    ] = 1,
    mcp: Annotated[
        bool,
        typer.Option("--mcp", help="Also serve the flows as MCP tools at /mcp (streamable HTTP)."),
    ] = False,
    use_compiled: UseCompiled = True,
) -> None:
    """Serve the project's flows over HTTP: runs, streams, reviews, health, metrics, OpenAPI.

    The studio (runs, traces, evals, flows) is mounted at `/studio`; with `--mcp`, the flows
    are MCP tools at `/mcp`, behind the same token.
    """
    # Lazy: FastAPI and uvicorn load only for this command, not for every other command.
    from stepladder.serve import (
        TOKEN_VARIABLE,
        Service,
        create_app,
        listen,
        load_flows,
        read_token,
        run_server,
        url_of,
        with_flows_dir,
    )
    from stepladder.serve.workers import (  # lazy: the serve package loads FastAPI
        check_workers,
        inherited_socket,
        run_workers,
    )
    from stepladder.studio import create_studio_app  # lazy: FastAPI, as above

    project = with_flows_dir(project_for(), flows)
    check_workers(project, workers)
    inherited = inherited_socket()  # this process is one of several workers
    served = load_flows(project, compiled=use_compiled)
    if inherited is None:
        _check_served(served, project.flows_dir)
    if project.settings.state.postgres is not None:
        from stepladder.state.postgres import open_state  # lazy: optional extra

        with open_state(project.settings.state.postgres):
            pass  # reachable, its schema migrated: before the port opens
    variable = token_env or TOKEN_VARIABLE
    token = read_token(variable)
    limit = _byte_size(max_body)
    sock = inherited or listen(host, port)
    if workers > 1:
        _announce(url_of(sock), served, variable, host, auth=token is not None)
        stderr.print(f"  workers: {workers} processes")
        raise typer.Exit(run_workers(sock, workers))
    service = Service(project, served, keep_runs=keep_runs, max_steps=max_steps)
    app = create_app(service, token=token, token_variable=variable, warm=warm, max_body=limit)
    if mcp:
        from stepladder.serve.mcp import mount_mcp, transport_security  # lazy: the MCP SDK

        mount_mcp(app, service, transport_security(host))
    # the studio at /studio: a mounted app, so it stays out of the service's OpenAPI document
    app.mount("/studio", create_studio_app(project.root, service=service), name="studio")
    if inherited is None:
        _announce(url_of(sock), served, variable, host, auth=token is not None, mcp=mcp)
    run_server(app, sock, log_level=log_level)


def _byte_size(text: str | None) -> int | None:
    """`--max-body` in bytes.

    Raises:
        ConfigError: When it is not a size.
    """
    if text is None:
        return None
    try:
        size = int(TypeAdapter(ByteSize).validate_python(text.strip()))
    except ValidationError:
        size = 0
    if size <= 0:
        raise ConfigError(
            f"--max-body {text}: not a size; give bytes (1048576) or a size with a unit "
            "(512KB, 5MB, 2MiB)."
        )
    return size


def _check_served(served: ServedFlows, folder: Path) -> None:
    for name, problem in served.skipped.items():
        stderr.print(f"[yellow]skipped flow {name}:[/] ", end="")
        stderr.print(problem, markup=False)
    if not served.flows:
        found = "its flow files do not compile" if served.skipped else "it holds no flow files"
        raise ConfigError(f"nothing to serve: {found} ({folder}).")


def _announce(
    url: str, served: ServedFlows, variable: str, host: str, *, auth: bool, mcp: bool = False
) -> None:
    names = ", ".join(served.flows)
    stderr.print(f"serving {len(served.flows)} flow(s) at {url} ({names})", markup=False)
    stderr.print(f"  OpenAPI: {url}/docs, health: {url}/healthz, metrics: {url}/metrics")
    stderr.print(f'  LangGraph SDK: get_client(url="{url}"), one assistant per flow')
    if mcp:
        stderr.print(f"  MCP: {url}/mcp (streamable HTTP; each flow is a tool)")
    if auth:
        stderr.print(f"  auth: on (Authorization: Bearer <the value of {variable}>)")
        return
    stderr.print(f"  auth: off (set {variable} to require a bearer token)")
    if not _is_loopback(host):
        stderr.print(
            f"[yellow]warning:[/] listening on {host} with no token: anyone who reaches this "
            f"port can run flows. Set {variable}."
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
