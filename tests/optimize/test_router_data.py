from pathlib import Path

import pytest
from typer.testing import CliRunner

import stepladder.cli.router  # noqa: F401  (registers the `router` group)
from stepladder.cli import app
from stepladder.config import load_project
from stepladder.errors import UserError
from stepladder.optimize.router_data import load_training_data
from stepladder.predictors.router import load_router, router_path
from tests.predictors.router.evalproject import eval_project, write_run
from tests.predictors.router.sample import sample

runner = CliRunner()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return eval_project(tmp_path_factory.mktemp("routing") / "project")


def test_pairs_the_runs_by_case_and_reads_inputs_from_the_spec(root: Path) -> None:
    project = load_project(root=root)
    data = load_training_data(project, {"small": "run-small", "frontier": "run-big"}, "answer")
    ids, texts, correct = sample(60)
    assert data.ids == ids and data.texts == texts
    assert data.correct["small"].tolist() == correct["small"].tolist()
    assert data.eval_name == "qa"
    assert data.tiers["small"].cost_usd_per_call == pytest.approx(0.0001)
    assert data.tiers["frontier"].run_id == "run-big"


@pytest.mark.parametrize(
    ("runs", "metric", "message"),
    [
        ({"small": "run-small", "frontier": "nope"}, "answer", r"no eval run 'nope'.*recent runs"),
        (
            {"small": "run-small", "frontier": "run-other"},
            "answer",
            r"different evals.*frontier: other",
        ),
        (
            {"small": "run-small", "frontier": "run-big"},
            "f1",
            r"has no metric 'f1'; its metrics: answer",
        ),
        ({"small": "run-small", "frontier": "run-few"}, "answer", r"only 2 case\(s\).*at least 10"),
        ({"small": "run-small"}, "answer", r"at least two tiers"),
    ],
)
def test_clear_errors(root: Path, runs: dict[str, str], metric: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_training_data(load_project(root=root), runs, metric)
    args = ["--project", str(root), "router", "train", "x", "--metric", metric]
    for tier, run_id in runs.items():
        args += ["--run", f"{tier}={run_id}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_cli_train_calibrate_list(root: Path) -> None:
    base = ["--project", str(root), "router"]
    trained = runner.invoke(
        app, [*base, "train", "qa_router", "--run", "small=run-small", "--run", "frontier=run-big",
              "--metric", "answer", "--kind", "knn"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "saved qa_router@v1" in trained.output
    missing = runner.invoke(app, [*base, "calibrate", "qa_router", "--target-quality", "0.9"])
    assert missing.exit_code == 2
    assert "no price known for tier 'frontier'" in missing.output
    assert "--price frontier=USD_PER_CALL" in missing.output
    done = runner.invoke(
        app,
        [*base, "calibrate", "qa_router", "--target-quality", "0.9", "--price", "frontier=0.01"],
    )
    assert done.exit_code == 0, done.output
    assert "thresholds: small >=" in done.output
    folder = router_path("qa_router", root / "state")
    assert (folder / "calibration.png").is_file() and (folder / "calibration.html").is_file()
    router = load_router(folder)
    calibration = router.manifest.calibration
    assert calibration is not None
    assert calibration.prices == {"small": pytest.approx(0.0001), "frontier": 0.01}
    listed = runner.invoke(app, [*base, "list"])
    assert listed.exit_code == 0 and "qa_router@v1" in listed.output and "knn" in listed.output
    bad = runner.invoke(app, [*base, "calibrate", "qa_router", "--price", "frontier"])
    assert bad.exit_code == 2 and "expected TIER=USD" in bad.output


def test_runs_made_with_eval_tier_name_their_own_tier(tmp_path: Path) -> None:
    root = eval_project(tmp_path / "project")
    ids, _, correct = sample(60)
    for tier in ("small", "frontier"):
        scores = dict(zip(ids, correct[tier].tolist(), strict=True))
        write_run(root, f"tiered-{tier}", "qa", scores, 0.0, tier=tier)
    base = ["--project", str(root), "router", "train", "r", "--metric", "answer", "--kind", "knn"]
    trained = runner.invoke(app, [*base, "--run", "tiered-small", "--run", "tiered-frontier"])
    assert trained.exit_code == 0, trained.output
    assert load_router(router_path("r", root / "state")).tiers == ["small", "frontier"]
    untiered = runner.invoke(app, [*base, "--run", "run-small", "--run", "tiered-frontier"])
    assert untiered.exit_code == 2 and "give it as TIER=run-small" in untiered.output
