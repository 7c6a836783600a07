"""The `stepladder` command: the Typer app, global options and error handling.

User errors exit with status 2 and one paragraph on stderr; run failures exit with 1. Errors
no stepladder code raised on purpose but whose cause the user can change (a file not UTF-8, a
path that cannot be read or written, nesting past Python's recursion limit) also exit 2 and
say what to change; anything else is an internal error (exit 1). `--debug` shows the traceback.
Ctrl-C stops a command with one line and status 130.
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

__all__ = ["Options", "app", "command", "command_in", "guarded", "main", "options"]

P = ParamSpec("P")
INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C (128 + SIGINT)

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
        wrapper = guarded(fn)
        group.command(*args, **kwargs)(wrapper)
        return wrapper

    return decorate


def guarded(fn: Callable[P, None]) -> Callable[P, None]:
    """`fn` with its errors turned into one paragraph and an exit status (for a callback)."""

    @functools.wraps(fn)
    def wrapper(*call_args: P.args, **call_kwargs: P.kwargs) -> None:
        try:
            fn(*call_args, **call_kwargs)
        except StepladderError as error:
            _report(error, "error" if isinstance(error, UserError) else "run failed")
            raise typer.Exit(2 if isinstance(error, UserError) else 1) from None
        except KeyboardInterrupt:  # Ctrl-C: the command's servers are closed by now
            stderr.print("[bold red]interrupted:[/] stopped by Ctrl-C.")
            raise typer.Exit(INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:  # not raised on purpose: still no bare traceback
            raise typer.Exit(_report_unexpected(error)) from None

    return wrapper


def main() -> None:
    """Run the `stepladder` command."""
    app(prog_name="stepladder")


def _report(error: BaseException, label: str, message: str | None = None) -> None:
    if options.debug:
        stderr.print(_printable("".join(traceback.format_exception(error))), markup=False)
    stderr.print(f"[bold red]{label}:[/] ", end="")
    stderr.print(_printable(str(error) if message is None else message), markup=False)


def _report_unexpected(error: Exception) -> int:
    """Report an exception no stepladder code raised on purpose; return the exit status.

    Some have a cause the user can change (a file's encoding or path, nesting, the terminal's
    encoding): those say what to change and exit 2. Anything else is a bug (exit 1).
    """
    advice = _advice(error)
    if advice is not None:
        _report(error, "error", advice)
        return 2
    _report(error, f"internal error ({type(error).__name__})")
    if not options.debug:
        stderr.print("This is a bug in stepladder: rerun with --debug and report the traceback.")
    return 1


def _advice(error: Exception) -> str | None:
    """What the user can change about `error`, when it has a cause outside stepladder's code."""
    if isinstance(error, RecursionError):
        return (
            "something you gave nests too deeply (Python's recursion limit was reached). "
            "Flatten the input, state value or file with lists or objects inside each other "
            "many levels deep, then rerun."
        )
    if isinstance(error, UnicodeDecodeError):
        return (
            f"a file is not UTF-8 text ({error.reason} at byte {error.start}). Save the files "
            "you gave (flows, settings, eval cases, inputs) as UTF-8, then rerun."
        )
    if isinstance(error, UnicodeEncodeError):
        return (
            f"the output has characters this terminal's encoding ({error.encoding}) cannot "
            "show. Set PYTHONIOENCODING=utf-8 (or a UTF-8 locale, LANG=C.UTF-8) and rerun."
        )
    if isinstance(error, OSError) and error.filename is not None:
        return (
            f"{error.filename}: {error.strerror or error}. Check the path, that you may read "
            "and write it, and that the disk has room, then rerun."
        )
    return None


def _printable(text: str) -> str:
    r"""`text` with what UTF-8 cannot encode (lone surrogates) written as `\udxxx` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
