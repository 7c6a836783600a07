"""References resolve only to objects defined in allowed modules (issue 18, points 1 and 2).

Each bypass found on main is here, and each now gets a clear `ReferenceError_` naming the
reference and why; `stepladder validate` and `run` on such a flow exit 2 without running it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.errors import ReferenceError_
from stepladder.specs import ReferencePolicy
from tests.conftest import write_project

STEPLADDER_BYPASSES = [
    ("stepladder.serve.auth:os.system", "inside stepladder, whose internals flows may not"),
    ("stepladder.runtimes.models:subprocess.run", "inside stepladder, whose internals"),
    ("stepladder.specs.references:importlib.import_module", "inside stepladder"),
    ("stepladder.flows.run:asyncio.subprocess.create_subprocess_shell", "inside stepladder"),
    ("stepladder:os.system", "inside stepladder"),
]

PROJECT_STEPS = '''\
import os
import subprocess
from os import system
from subprocess import run as shell

from allow_helpers import helper, Model
from stepladder.tools import tool

TOOLS = ["a", "b"]
LIMITS = {"n": 3}


def own(text: str) -> str:
    return text


def _private() -> None:
    pass


class Steps:
    run = staticmethod(os.system)

    def method(self) -> None:
        pass


INSTANCE = Steps()


@tool()
def lookup(order_id: str) -> str:
    """Look an order up.

    Args:
        order_id: The order.
    """
    return order_id
'''

HELPERS = """\
from pydantic import BaseModel


def helper() -> int:
    return 7


class Model(BaseModel):
    x: int = 0
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    yield write_project(
        tmp_path / "p", {"allow_steps.py": PROJECT_STEPS, "allow_helpers.py": HELPERS}
    )
    for name in ("allow_steps", "allow_helpers"):  # each test's project is a new one
        sys.modules.pop(name, None)


@pytest.mark.parametrize(("reference", "why"), STEPLADDER_BYPASSES)
def test_stepladder_imports_are_not_reachable(reference: str, why: str, tmp_path: Path) -> None:
    with pytest.raises(ReferenceError_) as caught:
        ReferencePolicy(tmp_path).resolve(reference, ("nodes", 0, "call"))
    message = str(caught.value)
    assert message.startswith(f"nodes[0].call: reference '{reference}' is refused: ")
    assert why in message


def test_allowing_a_stepladder_prefix_still_refuses_its_imports() -> None:
    policy = ReferencePolicy(None, allow_imports=["stepladder.serve", "stepladder.specs"])
    with pytest.raises(ReferenceError_, match="'os' is the module os, not an object defined"):
        policy.resolve("stepladder.serve.auth:os.system", ())
    with pytest.raises(ReferenceError_, match="'importlib' is the module importlib"):
        policy.resolve("stepladder.specs.references:importlib.import_module", ())
    with pytest.raises(ReferenceError_, match="'JSONResponse' is defined in module 'starlette"):
        policy.resolve("stepladder.serve.auth:JSONResponse", ())
    from stepladder.specs.references import callable_reference

    resolved = policy.resolve("stepladder.specs.references:callable_reference", ())
    assert resolved is callable_reference


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("allow_steps:os", "'os' is the module os"),
        ("allow_steps:os.system", "'os' is the module os"),
        ("allow_steps:system", "'system' is defined in module 'posix' (loaded from (built"),
        ("allow_steps:shell", "'shell' is defined in module 'subprocess'"),
        ("allow_steps:subprocess.run", "'subprocess' is the module subprocess"),
        ("allow_steps:Steps.run", "'run' is defined in module 'posix'"),
        ("allow_steps:tool", "'tool' is defined in module 'stepladder.tools.schema'"),
        ("allow_steps:_private", "'_private' is a private name"),
        ("allow_steps:own.__globals__", "'__globals__' is a private name"),
        ("allow_steps:Steps.__init__", "'__init__' is a private name"),
    ],
)
def test_project_module_imports_are_not_reachable(project: Path, reference: str, why: str) -> None:
    with pytest.raises(ReferenceError_) as caught:
        ReferencePolicy(project).resolve(reference, ())
    assert f"reference '{reference}' is refused: {why}" in str(caught.value)


def test_objects_defined_in_the_project_resolve(project: Path) -> None:
    policy = ReferencePolicy(project)
    assert policy.resolve("allow_steps:own", ())("x") == "x"
    assert policy.resolve("allow_steps:TOOLS", ()) == ["a", "b"]
    assert policy.resolve("allow_steps:LIMITS", ()) == {"n": 3}
    assert policy.resolve("allow_steps:Steps", ()).__name__ == "Steps"
    assert policy.resolve("allow_steps:INSTANCE.method", ())() is None
    assert policy.resolve("allow_steps:lookup", ()).name == "lookup"  # a Tool (data)
    assert policy.resolve("allow_steps:helper", ())() == 7  # defined in another project module
    assert policy.resolve("allow_steps:Model", ())().x == 0


def test_allow_imports_resolves_objects_defined_under_the_prefix(tmp_path: Path) -> None:
    policy = ReferencePolicy(tmp_path, allow_imports=["json"])
    assert policy.resolve("json:dumps", ()) is json.dumps
    assert policy.resolve("json:JSONDecoder", ()) is json.JSONDecoder  # from json.decoder
    with pytest.raises(ReferenceError_, match="'codecs' is the module codecs"):
        policy.resolve("json:codecs", ())
    with pytest.raises(ReferenceError_, match=r"'decoder' is the module json\.decoder"):
        policy.resolve("json:decoder.JSONDecoder", ())


def test_an_empty_folder_named_like_a_stdlib_package_does_not_count(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {})
    (root / "test").mkdir()
    with pytest.raises(ReferenceError_) as caught:
        ReferencePolicy(root).resolve("test.support:os.system", ())
    message = str(caught.value)
    assert "reference 'test.support:os.system' is refused: module 'test.support' is neither" in (
        message
    )
    assert "its 'test' there does not count: importing 'test' finds" in message


def test_an_os_folder_does_not_load_the_stdlib_os(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {})
    (root / "os").mkdir()
    before = sys.modules["os"]
    with pytest.raises(ReferenceError_, match="its 'os' there does not count"):
        ReferencePolicy(root).resolve("os:system", ())
    assert sys.modules["os"] is before is os


def test_a_project_module_named_like_a_loaded_module_is_refused(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"json.py": "def dumps(x):\n    return 'mine'\n"})
    with pytest.raises(ReferenceError_, match="the project's module 'json' has the name of a "):
        ReferencePolicy(root).resolve("json:dumps", ())
    assert json.dumps({}) == "{}" and sys.modules["json"] is json


def test_public_names_resolve_exactly(tmp_path: Path) -> None:
    from stepladder.tools import ToolResult

    policy = ReferencePolicy(tmp_path)
    assert policy.resolve("stepladder.tools:ToolResult", ()) is ToolResult
    with pytest.raises(ReferenceError_, match="inside stepladder"):
        policy.resolve("stepladder.tools:ToolResult.ok", ())
    with pytest.raises(ReferenceError_, match="inside stepladder"):
        policy.resolve("stepladder.tools:run_tool", ())


FLOW = """\
name: hostile
state:
  text: {{type: str, input: true}}
nodes:
  - id: a
    kind: function
    call: {call}
    reads: [text]
    writes: [text]
"""


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(
    ("call", "folder"),
    [
        *[(reference, None) for reference, _ in STEPLADDER_BYPASSES[:3]],
        ("test.support:os.system", "test"),
        ("os:system", "os"),
    ],
)
def test_cli_refuses_the_bypasses_with_exit_2(
    tmp_path: Path, command: str, call: str, folder: str | None
) -> None:
    canary = tmp_path / "canary"
    root = write_project(tmp_path / "p", {"flows/f.yaml": FLOW.format(call=call)})
    if folder:
        (root / folder).mkdir()
    args = ["--project", str(root), command, str(root / "flows" / "f.yaml")]
    if command == "run":
        args += ["--input", json.dumps({"text": f"touch {canary}"})]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    message = result.stderr.strip()
    assert "Traceback" not in message and "\n\n" not in message
    assert f"nodes[0].call ({root / 'flows' / 'f.yaml'}, line 7)" in message
    assert f"reference '{call}' is refused" in message
    assert not canary.exists()
