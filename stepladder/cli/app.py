"""The `stepladder` command: the Typer app, global options and error handling.

User errors exit with status 2 and one paragraph on stderr; run failures exit with 1.
`--debug` shows the traceback.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ParamSpec

import typer
from rich.console import Console

from stepladder.errors import StepladderError, UserError

__all__ = ["Options", "app", "command", "command_in", "main", "options"]

P = ParamSpec("P")

app = typer.Typer(
    name="stepladder",
    help="Task flows on small models, escalating hard cases, with evals, traces and costs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)


@dataclass
class Options:
    """Options given before the command name."""

    debug: bool = False
    project: Path | None = None


options = Options()


@app.callback()
def _global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="Project folder (default: found from here up)."),
    ] = None,
) -> None:
    options.debug = debug
    options.project = project


def command(*args: Any, **kwargs: Any) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Register a command whose errors become one paragraph and an exit status."""
    return command_in(app, *args, **kwargs)


def command_in(
    group: typer.Typer, *args: Any, **kwargs: Any
) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Register a command on `group` (errors become one paragraph and an exit status)."""

    def decorate(fn: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(fn)
        def wrapper(*call_args: P.args, **call_kwargs: P.kwargs) -> None:
            try:
                fn(*call_args, **call_kwargs)
            except StepladderError as error:
                _report(error, "error" if isinstance(error, UserError) else "run failed")
                raise typer.Exit(2 if isinstance(error, UserError) else 1) from None
            except (typer.Exit, typer.Abort, KeyboardInterrupt):
                raise
            except Exception as error:  # a bug in stepladder: still no bare traceback
                _report(error, f"internal error ({type(error).__name__})")
                if not options.debug:
                    stderr.print("Rerun with --debug for the traceback, and please report it.")
                raise typer.Exit(1) from None

        group.command(*args, **kwargs)(wrapper)
        return wrapper

    return decorate


def main() -> None:
    """Run the `stepladder` command."""
    app(prog_name="stepladder")


def _report(error: BaseException, label: str) -> None:
    if options.debug:
        stderr.print("".join(traceback.format_exception(error)), markup=False)
    stderr.print(f"[bold red]{label}:[/] ", end="")
    stderr.print(str(error), markup=False)
