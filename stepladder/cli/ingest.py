"""`stepladder ingest COLLECTION PATH...` and `stepladder collections`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from stepladder.cli.app import command, stderr
from stepladder.cli.common import project_for
from stepladder.retrieval.documents import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, SUFFIXES

if TYPE_CHECKING:
    from stepladder.config import Project


console = Console(highlight=False, soft_wrap=True)


@command()
def ingest(
    collection: Annotated[str, typer.Argument(help="The collection to fill (created if new).")],
    paths: Annotated[
        list[Path],
        typer.Argument(help=f"Files or folders to read ({', '.join(SUFFIXES)})."),
    ],
    text_field: Annotated[
        str, typer.Option("--text-field", help="JSONL field or CSV column holding the text.")
    ] = "text",
    id_field: Annotated[
        str | None,
        typer.Option("--id-field", help="JSONL field or CSV column holding a record id."),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Longest chunk, in characters.")
    ] = DEFAULT_CHUNK_SIZE,
    overlap: Annotated[
        int, typer.Option("--overlap", help="Characters repeated between neighbouring chunks.")
    ] = DEFAULT_OVERLAP,
) -> None:
    """Chunk files and add them to a collection (chunks already there are skipped)."""
    from stepladder.retrieval.ingest import ingest as ingest_files  # lazy: keeps --help fast
    from stepladder.retrieval.store import open_project_store  # lazy: keeps --help fast

    project = project_for()
    result = ingest_files(
        open_project_store(project),
        collection,
        paths,
        text_field=text_field,
        id_field=id_field,
        chunk_size=chunk_size,
        overlap=overlap,
        root=project.root,
        progress=True,
        console=stderr,
    )
    console.print(
        f"[green]ok[/] {collection}: {result.files} file(s), {result.records} record(s), "
        f"{result.chunks} chunk(s): {result.added} added, {result.skipped} already there "
        f"({result.seconds:.1f} s)"
    )


@command()
def collections() -> None:
    """List the project's collections and how many chunks each holds."""
    from stepladder.retrieval.store import open_project_store  # lazy: keeps --help fast

    project = project_for()
    counts = open_project_store(project).counts()
    where = _location(project)
    if not counts:
        console.print(
            f"no collections in {where}; create one with `stepladder ingest NAME PATH...`."
        )
        return
    table = Table()
    table.add_column("collection")
    table.add_column("chunks", justify="right")
    for name, count in counts.items():
        table.add_row(name, str(count))
    console.print(table)
    console.print(f"store: {where}")


def _location(project: Project) -> str:
    chroma = project.settings.chroma
    if chroma.host:
        return f"the Chroma server at {chroma.host}:{chroma.port}"
    path = Path(chroma.path)
    return str(path if path.is_absolute() else project.root / path)
