"""The progress bar long work shows: description, bar, done/total, elapsed and remaining time."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["progress_bar"]


def progress_bar(
    *extra: ProgressColumn | str, console: Console | None = None, disable: bool = False
) -> Progress:
    """A bar on stderr (or `console`), with `extra` columns after the standard ones."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        *extra,
        console=console or Console(stderr=True),
        disable=disable,
    )
