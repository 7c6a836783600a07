from pathlib import Path

import pytest

from stepladder.errors import ReferenceError_
from stepladder.specs import ReferencePolicy
from tests.conftest import write_project


def test_project_modules_resolve(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"tools/ref_mod_a.py": "def f():\n    return 1\n"})
    policy = ReferencePolicy(root)
    assert policy.resolve("tools.ref_mod_a:f", ("x",))() == 1


def test_stepladder_public_names_are_allowed() -> None:
    from stepladder.tools import ToolSpec

    assert ReferencePolicy(None).resolve("stepladder.tools:ToolSpec", ()) is ToolSpec


def test_stepladder_internals_are_refused() -> None:
    with pytest.raises(ReferenceError_, match="inside stepladder, whose internals flows may not"):
        ReferencePolicy(None).resolve("stepladder.flows.spec:FlowSpec", ())


def test_outside_modules_are_refused_before_import(tmp_path: Path) -> None:
    policy = ReferencePolicy(tmp_path)
    with pytest.raises(ReferenceError_, match="refused: module 'os' is neither in the project"):
        policy.resolve("os:system", ("nodes", 0, "call"))


def test_allow_imports_extends_the_allowlist(tmp_path: Path) -> None:
    import json

    policy = ReferencePolicy(tmp_path, allow_imports=["json"])
    assert policy.resolve("json:dumps", ()) is json.dumps
    with pytest.raises(ReferenceError_):
        policy.resolve("jsonschema:validate", ())


def test_missing_attribute_suggests_a_near_miss(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"tools/ref_mod_b.py": "def normalize():\n    pass\n"})
    with pytest.raises(ReferenceError_, match="Did you mean 'normalize'"):
        ReferencePolicy(root).resolve("tools.ref_mod_b:normalise", ())


def test_two_projects_with_the_same_module_name(tmp_path: Path) -> None:
    first = write_project(tmp_path / "one", {"steps_same.py": "VALUE = 1\n"})
    second = write_project(tmp_path / "two", {"steps_same.py": "VALUE = 2\n"})
    assert ReferencePolicy(first).resolve("steps_same:VALUE", ()) == 1
    assert ReferencePolicy(second).resolve("steps_same:VALUE", ()) == 2


def test_two_projects_with_the_same_module_in_a_folder_without_init(tmp_path: Path) -> None:
    # `shared_flows` is a namespace package spanning both projects once both are on sys.path.
    first = write_project(tmp_path / "one", {"shared_flows/steps.py": "VALUE = 1\n"})
    second = write_project(tmp_path / "two", {"shared_flows/steps.py": "VALUE = 2\n"})
    assert ReferencePolicy(first).resolve("shared_flows.steps:VALUE", ()) == 1
    assert ReferencePolicy(second).resolve("shared_flows.steps:VALUE", ()) == 2
    assert ReferencePolicy(first).resolve("shared_flows.steps:VALUE", ()) == 1
