"""The names `stepladder` exports, and the error tree drawn in `stepladder/errors.py`."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import stepladder
from stepladder import errors

REPOSITORY = Path(__file__).resolve().parents[1]

EXPORTED = [
    "END",
    "START",
    "BudgetExhausted",
    "CompiledPromptsError",
    "ConfigError",
    "EvalResult",
    "EvalSetError",
    "Flow",
    "FlowBuilder",
    "FlowCompileError",
    "FlowInputError",
    "FlowSpec",
    "FlowSpecError",
    "ModelError",
    "NodeError",
    "NodeInputError",
    "NodeOutputError",
    "PendingReview",
    "Project",
    "RecordError",
    "ReferenceError_",
    "ReplayMiss",
    "ReviewRequired",
    "RunError",
    "RunResult",
    "StateStoreError",
    "StepLimitError",
    "StepladderError",
    "ThreadConflictError",
    "ToolServerError",
    "UnknownToolError",
    "UserError",
    "__version__",
    "compile_flow",
    "flow_from_dict",
    "flow_from_yaml",
    "flow_to_yaml",
    "load_flow",
    "open_project",
    "run_flow",
]

# Named in README.md's prose as Python API (the code blocks are read below).
README_PROSE_NAMES = {"run_flow", "RunResult", "PendingReview", "ReviewRequired", "NodeOutputError"}

HEAVY = ("dspy", "chromadb", "torch", "sentence_transformers", "litellm", "matplotlib", "sklearn")


def isort_order(name: str) -> tuple[int, list[int | str]]:
    """Ruff's RUF022 order: CONSTANTS, then CamelCase, then the rest; each naturally sorted."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def test_the_exported_names_are_pinned_sorted_and_importable() -> None:
    assert stepladder.__all__ == EXPORTED
    assert sorted(EXPORTED, key=isort_order) == EXPORTED
    namespace: dict[str, object] = {}
    exec(f"from stepladder import {', '.join(EXPORTED)}", namespace)
    assert all(namespace[name] is getattr(stepladder, name) for name in EXPORTED)


def test_the_readme_uses_only_exported_names() -> None:
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    imported = {
        name.strip()
        for names in re.findall(r"^from stepladder import ([^\n#]+)", readme, re.MULTILINE)
        for name in names.split(",")
    }
    assert imported, "README.md imports nothing from stepladder: update this test"
    used = imported | README_PROSE_NAMES
    assert used <= set(EXPORTED), (
        f"README uses names stepladder does not export: {used - set(EXPORTED)}"
    )
    assert all(re.search(rf"\b{name}\b", readme) for name in README_PROSE_NAMES)


def test_every_error_of_the_tree_is_exported_from_the_package() -> None:
    assert set(errors.__all__) == set(_error_classes())
    assert set(errors.__all__) <= set(EXPORTED)
    assert sorted(errors.__all__, key=isort_order) == errors.__all__


def test_importing_stepladder_loads_no_heavy_dependency() -> None:
    code = f"import sys, stepladder; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]", f"`import stepladder` loads {loaded}; import them where they are used"


def _error_classes() -> dict[str, type[BaseException]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    }


def _docstring_tree() -> dict[str, tuple[str | None, str]]:
    """Each class in the docstring's tree: its parent in the tree, and its description."""
    assert errors.__doc__
    block = re.search(r"```\n(.*?)```", errors.__doc__, re.DOTALL)
    assert block, "stepladder/errors.py's docstring has no tree in a ``` block"
    tree: dict[str, tuple[str | None, str]] = {}
    path: list[str] = []  # the names from the root down to the last entry
    last = ""
    for line in block.group(1).splitlines():
        entry = re.match(r"^((?:│   |    )*)(?:├── |└── )(\w+)\s*(.*)$", line)
        root = re.match(r"^(\w+)\s*(.*)$", line)
        if entry:
            depth = len(entry.group(1)) // 4 + 1
            name, text = entry.group(2), entry.group(3)
        elif root:
            depth, name, text = 0, root.group(1), root.group(2)
        else:  # a description going on from the line above
            tree[last] = (tree[last][0], f"{tree[last][1]} {line.strip(' │')}")
            continue
        assert name not in tree, f"'{name}' is drawn twice in the tree"
        del path[depth:]
        tree[name] = (path[-1] if path else None, text)
        path.append(name)
        last = name
    return tree


def test_the_docstring_tree_draws_every_error_under_its_parent() -> None:
    tree = _docstring_tree()
    classes = _error_classes()
    assert set(tree) == set(classes), (
        f"drawn but not defined: {sorted(set(tree) - set(classes))}; "
        f"defined but not drawn: {sorted(set(classes) - set(tree))}"
    )
    for name, cls in classes.items():
        parent, text = tree[name]
        first, *others = cls.__bases__
        expected = None if first is Exception else first.__name__
        assert parent == expected, f"{name} is drawn under {parent}, but its base is {expected}"
        for other in others:
            assert f"also a {other.__name__}" in text, (
                f"{name} is also a {other.__name__}: say so in its description ('also a ...')"
            )


def test_errors_keep_their_other_bases() -> None:
    error = stepladder.UnknownToolError("unknown tool 'x'; valid tools: (none)")
    assert isinstance(error, LookupError)
    assert isinstance(error, stepladder.UserError)
    assert str(error) == "unknown tool 'x'; valid tools: (none)"
    assert issubclass(stepladder.CompiledPromptsError, stepladder.UserError)
    assert issubclass(stepladder.BudgetExhausted, stepladder.StepladderError)
    assert not issubclass(stepladder.BudgetExhausted, (stepladder.UserError, stepladder.RunError))
