"""The import order of the package, in one place: imports point one way, down.

A module may import the packages on the lines below its own line, never those above it or
beside it on its line; inside one package its modules import each other freely (without
cycles). The package root (`stepladder/__init__.py`) sits above every line and re-exports the
public names, so nothing inside the package imports it. `tests/test_layers.py` enforces the
order, and README's "Layout" section shows the same lines (`render_layers()`).

`studio` sits above `serve`: it runs flows through the service's code, and `stepladder serve`
mounts it at `/studio` from the CLI. `replay` sits between `flows` and `nodes`:
`compile_flow` wraps every built node in its recorder, which sees only the node contract and
the run context. `config` sits above `specs` because reading
`stepladder.yaml` uses the spec-file reader. The bottom line holds the leaves everyone may
use: the error tree, the progress bar, atomic file writes, wording and the version.
"""

from __future__ import annotations

__all__ = ["LAYERS", "SITS_WITH", "layer_of", "render_layers"]

LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("studio",),
    ("serve",),
    ("api",),
    ("optimize", "monitor"),
    ("evalsets",),
    ("flows",),
    ("replay",),
    ("nodes",),
    ("predictors", "tools"),
    ("retrieval",),
    ("runtimes", "tracing"),
    ("prompts", "state"),
    ("config",),
    ("specs",),
    ("errors", "progress", "files", "version"),
)
"""Top-level packages and modules of `stepladder`, one line each, from the top down."""

SITS_WITH: dict[str, str] = {
    "__main__": "cli",
    "testing": "cli",
    "layers": "errors",
    "wording": "errors",
    "lazy": "errors",
}
"""Modules that count as part of another: `python -m stepladder` and the pytest helpers
(`stepladder.testing`) belong with the CLI; this module, which imports nothing, `wording`
(plurals in messages) and `lazy` (names imported on first access) with the leaves."""


def layer_of(name: str) -> int | None:
    """The line (0 at the top) of a top-level package or module, or None when it has none."""
    name = SITS_WITH.get(name, name)
    for index, line in enumerate(LAYERS):
        if name in line:
            return index
    return None


def render_layers() -> str:
    """The order as README and DESIGN show it: one line per layer, names joined by `, `."""
    return "\n".join(", ".join(line) for line in LAYERS)
