from pathlib import Path

import pytest

from stepladder.config import find_project_root, load_project
from stepladder.errors import ConfigError
from tests.conftest import write_project


def test_settings_load_and_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_project(tmp_path / "p", {}, settings="name: shop\nallow_imports: [json]\n")
    project = load_project(root=root)
    assert project.settings.name == "shop"
    assert project.settings.allow_imports == ["json"]
    monkeypatch.setenv("STEPLADDER_NAME", "from-env")
    monkeypatch.setenv("STEPLADDER_STATE_DIR", "elsewhere")
    project = load_project(root=root)
    assert project.settings.name == "from-env"
    assert project.state_dir == root.resolve() / "elsewhere"


def test_project_is_found_from_a_subfolder(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"flows/a.yaml": "name: a\n"})
    assert find_project_root(root / "flows") == root.resolve()
    assert load_project(start=root / "flows").flow_names() == ["a"]


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="stepladder init"):
        load_project(start=tmp_path)


def test_unknown_key_names_line_and_choices(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {}, settings="name: x\nflow_dir: flows\n")
    with pytest.raises(ConfigError) as caught:
        load_project(root=root)
    message = str(caught.value)
    assert "flow_dir" in message and "line 2" in message and "did you mean 'flows_dir'" in message


def test_bad_yaml_and_wrong_types(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {}, settings="name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_project(root=root)
    root = write_project(tmp_path / "q", {}, settings="allow_imports: 5\n")
    with pytest.raises(ConfigError, match="allow_imports"):
        load_project(root=root)


def test_unknown_flow_lists_the_flows(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"flows/alpha.yaml": "", "flows/beta.yml": ""})
    with pytest.raises(ConfigError, match="Flows here: alpha, beta"):
        load_project(root=root).flow_path("gamma")


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        ("serve: {node_threads: 1000000000}", "serve.node_threads"),
        ("serve: {max_body: 5TB}", "serve.max_body"),
        ("serve: {max_steps: 100000000}", "serve.max_steps"),
        ("embeddings: {api_key_env: 'sk-live-abc123 def'}", "not the key itself"),
    ],
)
def test_limits_and_key_variables_are_checked(tmp_path: Path, section: str, fragment: str) -> None:
    (tmp_path / "stepladder.yaml").write_text(f"name: t\n{section}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    assert fragment in str(caught.value)
    assert "sk-live-abc123" not in str(caught.value)
