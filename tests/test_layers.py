"""Imports point one way: the order of `stepladder.layers`, read from the source with `ast`.

Each test prints every violation it finds, one per line: file:line, the import, and why.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import re
import tokenize
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGE = REPOSITORY / "stepladder"
ROOT = "stepladder"

# Read on its own, so the order is checked even while the package does not import.
_spec = importlib.util.spec_from_file_location("stepladder_layers", PACKAGE / "layers.py")
assert _spec and _spec.loader
layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(layers)
LAYERS, SITS_WITH, layer_of, render_layers = (
    layers.LAYERS,
    layers.SITS_WITH,
    layers.layer_of,
    layers.render_layers,
)


@dataclass(frozen=True)
class Import:
    """One module imported by one statement of a stepladder module."""

    source: str  # the importing module, dotted
    target: str  # the imported module, dotted (a stepladder module, or the first name outside)
    path: Path
    line: int
    text: str  # the statement, on one line
    in_function: bool
    type_only: bool  # under `if TYPE_CHECKING:`
    explained: bool  # a comment on its lines, or on its own line just above

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPOSITORY)}:{self.line}"

    @property
    def shown(self) -> str:
        return f"`{self.text}`" + (" (under TYPE_CHECKING)" if self.type_only else "")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPOSITORY).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top(module: str) -> str:
    """The top-level package or module of a stepladder module (`ROOT` for the root itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def package_of(module: str) -> str:
    """The top-level name a module counts as (`stepladder.testing` counts as `cli`)."""
    return SITS_WITH.get(top(module), top(module))


MODULES: dict[str, Path] = {
    module_name(path): path
    for path in sorted(PACKAGE.rglob("*.py"))
    if "scaffold" not in path.relative_to(PACKAGE).parts  # templates copied by `init`
}


class _Walker(ast.NodeVisitor):
    def __init__(self, module: str, path: Path, source: str) -> None:
        self.module = module
        self.path = path
        self.source = source
        self.lines = source.splitlines()
        self.commented = _commented_lines(source)
        self.functions = 0
        self.type_checking = 0
        self.found: list[Import] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._inside_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._inside_function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._inside_function(node)

    def _inside_function(self, node: ast.AST) -> None:
        self.functions += 1
        self.generic_visit(node)
        self.functions -= 1

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name != "TYPE_CHECKING":
            self.generic_visit(node)
            return
        self.type_checking += 1
        for child in node.body:
            self.visit(child)
        self.type_checking -= 1
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._absolute(node)
        if base != ROOT and not base.startswith(ROOT + "."):
            self._add(node, base)
            return
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(node, submodule if submodule in MODULES else base)

    def _absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        package = self.module.split(".")
        if self.path.name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        return ".".join([*package, node.module] if node.module else package)

    def _add(self, node: ast.Import | ast.ImportFrom, target: str) -> None:
        if any(item.line == node.lineno and item.target == target for item in self.found):
            return  # `from package import a, b`: one import of `package`
        end = node.end_lineno or node.lineno
        above = node.lineno - 1
        explained = any(line in self.commented for line in range(node.lineno, end + 1)) or (
            above >= 1 and self.lines[above - 1].lstrip().startswith("#")
        )
        text = " ".join((ast.get_source_segment(self.source, node) or "").split())
        text = text.replace("( ", "(").replace(", )", ")")
        self.found.append(
            Import(
                source=self.module,
                target=target,
                path=self.path,
                line=node.lineno,
                text=text,
                in_function=self.functions > 0,
                type_only=self.type_checking > 0,
                explained=explained,
            )
        )


def _commented_lines(source: str) -> set[int]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {token.start[0] for token in tokens if token.type == tokenize.COMMENT}


def _imports() -> list[Import]:
    found: list[Import] = []
    for module, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        walker = _Walker(module, path, source)
        walker.visit(ast.parse(source, filename=str(path)))
        found.extend(walker.found)
    return found


IMPORTS = _imports()
INTERNAL = [item for item in IMPORTS if item.target == ROOT or item.target.startswith(ROOT + ".")]


def _fail(problems: list[str], title: str) -> None:
    assert not problems, f"{title} ({len(problems)}):\n" + "\n".join(sorted(problems))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for following in sorted(edges.get(node, ())):
            if following not in index:
                visit(following)
                low[node] = min(low[node], low[following])
            elif following in on_stack:
                low[node] = min(low[node], index[following])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _cycle_report(kind: str, members: list[str], closing: list[Import]) -> str:
    lines = [f"{kind} cycle: {' <-> '.join(members)}; the imports that close it:"]
    lines += [f"    {item.where}: {item.shown}" for item in closing]
    return "\n".join(lines)


def test_every_module_is_on_a_line_and_every_line_names_real_modules() -> None:
    problems = [
        f"{path.relative_to(REPOSITORY)}: '{top(module)}' is on no line of "
        "stepladder.layers.LAYERS (add it to the line it belongs to)"
        for module, path in MODULES.items()
        if top(module) != ROOT and layer_of(top(module)) is None
    ]
    names = [name for line in LAYERS for name in line] + list(SITS_WITH)
    problems += [
        f"stepladder/layers.py: '{name}' is neither stepladder/{name}.py nor a package"
        for name in names
        if f"{ROOT}.{name}" not in MODULES
    ]
    assert len(names) == len(set(names)), f"a name is on two lines: {names}"
    _fail(problems, "modules outside the layer order")


def test_imports_point_down() -> None:
    problems: list[str] = []
    for item in INTERNAL:
        source, target = package_of(item.source), package_of(item.target)
        if source in (ROOT, target):
            continue
        if target == ROOT:
            why = "imports the package root, which sits above every layer and re-exports names"
            problems.append(f"{item.where}: {item.shown}: {why}; import from the defining module")
            continue
        above, below = layer_of(source), layer_of(target)
        if above is None or below is None or below > above:
            continue
        line = ", ".join(LAYERS[below])
        direction = f"beside it (same line: {line})" if below == above else f"above it ({line})"
        why = f"'{source}' may not import '{target}', which is {direction}"
        problems.append(f"{item.where}: {item.shown}: {why}")
    _fail(problems, "imports that point up or sideways against stepladder/layers.py")


def _points_down(item: Import) -> bool:
    above, below = layer_of(package_of(item.source)), layer_of(package_of(item.target))
    return above is not None and below is not None and below > above


def test_no_cycles_between_packages() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for item in INTERNAL:
        source, target = package_of(item.source), package_of(item.target)
        if source != target and ROOT not in (source, target):
            edges[source].add(target)
    problems = []
    for members in _cycles(edges):
        between = [
            item
            for item in INTERNAL
            if package_of(item.source) != package_of(item.target)
            and {package_of(item.source), package_of(item.target)} <= set(members)
        ]
        closing = [item for item in between if not _points_down(item)] or between
        problems.append(_cycle_report("package", members, closing))
    _fail(problems, "cycles between packages")


def test_no_cycles_between_modules_of_a_package() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for item in INTERNAL:
        if (
            item.source != item.target
            and package_of(item.source) == package_of(item.target) != ROOT
        ):
            edges[item.source].add(item.target)
    problems = [
        _cycle_report(
            "module",
            members,
            [i for i in INTERNAL if i.source in members and i.target in members],
        )
        for members in _cycles(edges)
    ]
    _fail(problems, "cycles between modules inside a package")


def test_imports_inside_functions_say_why() -> None:
    problems = {
        f"{item.where}: {item.shown}: inside a function, without a comment saying why"
        for item in IMPORTS
        if item.in_function and not item.explained
    }
    title = (
        "imports inside functions need a comment on their line (or the line above) saying why; "
        "only a lazy import of a heavy optional dependency is a good reason, so move any other "
        "to the top of its module"
    )
    _fail(sorted(problems), title)


def test_readme_layout_shows_the_order_of_layers_py() -> None:
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", readme, re.DOTALL | re.MULTILINE)
    assert section, "README.md has no '## Layout' section"
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", section.group(1), re.DOTALL | re.MULTILINE)
    expected = render_layers()
    assert any(block.strip() == expected for block in blocks), (
        "README.md's Layout section must show the import order of stepladder/layers.py "
        f"as a code block:\n```\n{expected}\n```"
    )


def test_render_layers_is_one_line_per_layer() -> None:
    rendered = render_layers().splitlines()
    assert rendered[0] == "cli"
    assert rendered[-1] == "errors, progress, files, version"
    assert rendered.index("config") < rendered.index("specs")
    assert len(rendered) == len(LAYERS)
