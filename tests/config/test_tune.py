"""The `tune:` section of stepladder.yaml: LoRA defaults, checked like every other setting."""

from pathlib import Path

import pytest

from stepladder.config import load_project
from stepladder.config.tune import TuneSettings
from stepladder.errors import ConfigError
from tests.conftest import write_project


def test_defaults_suit_a_small_model_on_a_cpu() -> None:
    settings = TuneSettings()
    assert (settings.rank, settings.alpha, settings.learning_rate) == (16, 32, 2e-3)
    assert settings.batch_size == 16 and settings.target_modules == "all-linear"
    assert settings.seed == 0 and settings.threads is None


def test_the_section_is_read_from_the_project(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        {},
        settings="name: t\ntune:\n  rank: 8\n  target_modules: [q_proj, v_proj]\n"
        "  validation: 50\n  threads: 1\n",
    )
    tune = load_project(root=root).settings.tune
    assert tune.rank == 8 and tune.target_modules == ["q_proj", "v_proj"]
    assert tune.validation_size(1000) == 50 and tune.threads == 1
    assert load_project(root=write_project(tmp_path / "q", {})).settings.tune == TuneSettings()


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        ("tune: {rnak: 8}", "tune.rnak"),
        ("tune: {learning_rate: 0}", "tune.learning_rate"),
        ("tune: {validation: 2.5}", "a whole count"),
        ("tune: {target_modules: everything}", "tune.target_modules"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, section: str, fragment: str) -> None:
    root = write_project(tmp_path / "p", {}, settings=f"name: t\n{section}\n")
    with pytest.raises(ConfigError) as caught:
        load_project(root=root)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("validation", "examples", "held_out"),
    [(0.1, 100, 10), (0.1, 5, 1), (0, 100, 0), (30, 100, 30), (30, 20, 19), (0.5, 1, 0)],
)
def test_validation_is_a_share_or_a_count(validation: float, examples: int, held_out: int) -> None:
    assert TuneSettings(validation=validation).validation_size(examples) == held_out
