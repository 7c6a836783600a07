"""`stepladder router train --data`, `router evaluate`, and where calibration finds prices."""

import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import stepladder.cli.router  # noqa: F401  (registers the `router` group)
from stepladder.cli import app
from stepladder.predictors.router import Router, load_router, router_path, save_router
from tests.conftest import write_project
from tests.predictors.router.sample import EASY, HARD, HashEmbeddings, sample

runner = CliRunner()
COSTS = {"frontier": 0.01, "small": 0.0002}


def data_rows(n: int, seed: int, costs: dict[str, float] | None = COSTS) -> list[dict[str, Any]]:
    """Easy prompts the small tier gets right, hard ones only the frontier tier does."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        hard = i % 2 == 1
        words = rng.sample(HARD if hard else EASY, 3) + rng.sample(EASY + HARD, 1)
        quality = {  # frontier first: with costs the tiers are still ordered cheapest first
            "frontier": float(rng.random() < 0.95),
            "small": float(rng.random() < (0.15 if hard else 0.9)),
        }
        row: dict[str, Any] = {"id": f"s{seed}-{i}", "prompt": " ".join(words), "quality": quality}
        if costs is not None:
            row["cost"] = costs
        rows.append(row)
    return rows


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_project(
        tmp_path_factory.mktemp("router-data") / "p", {}, "name: t\nstate_dir: s\n"
    )
    write_rows(root / "train.jsonl", data_rows(60, 0))
    write_rows(root / "test.jsonl", data_rows(40, 1))
    write_rows(root / "plain.jsonl", data_rows(40, 2, costs=None))
    return root


def invoke(root: Path, *args: str) -> Any:
    return runner.invoke(app, ["--project", str(root), "router", *args])


def test_train_from_a_file_uses_the_shared_defaults_and_records_costs(root: Path) -> None:
    trained = invoke(root, "train", "filed", "--data", str(root / "train.jsonl"))
    assert trained.exit_code == 0, trained.output
    assert "saved filed@v1" in trained.output
    manifest = load_router(router_path("filed", root / "s")).manifest
    assert manifest.tiers == ["small", "frontier"]
    assert (manifest.model.kind, manifest.model.select_by) == ("ensemble", "gain")
    assert manifest.training.source == "file train.jsonl" and manifest.training.examples == 60
    assert manifest.training.tiers["frontier"].cost_usd_per_call == pytest.approx(0.01)
    assert manifest.training.tiers["small"].run_id is None


def test_calibrate_takes_the_files_costs_unless_a_price_is_given(root: Path) -> None:
    assert invoke(root, "train", "priced", "--data", str(root / "train.jsonl"), "--kind", "knn",
                  "--select-by", "brier").exit_code == 0  # fmt: skip
    done = invoke(root, "calibrate", "priced", "--target-quality", "0.9")
    assert done.exit_code == 0, done.output
    calibration = load_router(router_path("priced", root / "s")).manifest.calibration
    assert calibration is not None and calibration.prices == pytest.approx(COSTS)
    again = invoke(root, "calibrate", "priced", "--price", "frontier=0.03", "--price", "small=0")
    assert again.exit_code == 0, again.output
    calibration = load_router(router_path("priced", root / "s")).manifest.calibration
    assert calibration is not None and calibration.prices == {"small": 0.0, "frontier": 0.03}
    unknown = invoke(root, "calibrate", "priced", "--price", "medium=0.1")
    assert (
        unknown.exit_code == 2 and "no tier 'medium'; its tiers: small, frontier" in unknown.output
    )


def test_evaluate_reports_the_metrics_and_the_calibrated_point(root: Path) -> None:
    invoke(root, "train", "scored", "--data", str(root / "train.jsonl"), "--kind", "knn")
    uncalibrated = invoke(root, "evaluate", "scored", "--data", str(root / "test.jsonl"))
    assert uncalibrated.exit_code == 2
    assert "'scored@v1' is not calibrated" in uncalibrated.output
    assert "stepladder router calibrate scored" in uncalibrated.output
    assert invoke(root, "calibrate", "scored", "--target-quality", "0.9").exit_code == 0
    shown = invoke(root, "evaluate", "scored@v1", "--data", str(root / "test.jsonl"))
    assert shown.exit_code == 0, shown.output
    assert "APGR (small vs frontier)" in shown.output and "CPT(80%)" in shown.output
    as_json = invoke(root, "evaluate", "scored", "--data", str(root / "test.jsonl"), "--json")
    assert as_json.exit_code == 0, as_json.output
    result = json.loads(as_json.stdout)
    assert {"apgr", "cpt50", "cpt80", "quality_ratio", "share", "cost_ratio"} <= set(result)
    assert result["examples"] == 40 and result["tiers"] == ["small", "frontier"]
    assert (result["cheapest"], result["strongest"], result["costs_from"]) == (
        "small", "frontier", "file"
    )  # fmt: skip
    assert sum(result["share"].values()) == pytest.approx(1.0)
    assert result["apgr"] > 0.6  # the prompts' words say which tier is right
    assert 0 < result["cost_ratio"] < 1 and result["seen_in_training"] == 0
    plain = invoke(root, "evaluate", "scored", "--data", str(root / "plain.jsonl"), "--json")
    assert json.loads(plain.stdout)["costs_from"] == "calibration"
    seen = invoke(root, "evaluate", "scored", "--data", str(root / "train.jsonl"), "--json")
    assert json.loads(seen.stdout)["seen_in_training"] == 60
    assert "60 of 60 rows have the ids of training examples" in seen.stderr


def test_evaluate_refuses_a_file_of_other_tiers(root: Path, tmp_path: Path) -> None:
    invoke(root, "train", "tiered", "--data", str(root / "train.jsonl"), "--kind", "knn")
    invoke(root, "calibrate", "tiered", "--target-quality", "0.9")
    rows = [{"prompt": r["prompt"], "quality": {"small": 1, "medium": 0}} for r in data_rows(12, 3)]
    other = invoke(
        root, "evaluate", "tiered", "--data", str(write_rows(tmp_path / "o.jsonl", rows))
    )
    assert other.exit_code == 2
    assert "o.jsonl has tiers small, medium; router 'tiered@v1' chooses between small, " in (
        other.output
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "forest"], "--kind forest: choose ensemble, logistic, knn"),
        (["--select-by", "auc"], "--select-by auc: choose gain, brier"),
        (["--run", "small=r1"], "give the training data once"),
        ([], "give the training data once"),
        (["--metric", "answer"], "--metric and --field read eval runs"),
    ],
)
def test_train_option_errors(root: Path, args: list[str], message: str) -> None:
    data = ["--data", str(root / "train.jsonl")] if args != [] else []
    result = invoke(root, "train", "x", *data, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_train_names_the_bad_line(root: Path, tmp_path: Path) -> None:
    rows = data_rows(12, 4)
    rows[4]["quality"]["small"] = 2
    result = invoke(root, "train", "x", "--data", str(write_rows(tmp_path / "bad.jsonl", rows)))
    assert result.exit_code == 2
    assert "bad.jsonl line 5: `quality.small` is 2; it must be a number in [0, 1]" in result.output


def test_calibrate_says_where_prices_can_come_from(root: Path) -> None:
    invoke(root, "train", "costless", "--data", str(root / "plain.jsonl"), "--kind", "knn")
    from_file = invoke(root, "calibrate", "costless")
    assert from_file.exit_code == 2
    assert "the training file plain.jsonl gave no `cost`" in " ".join(from_file.output.split())
    ids, texts, correct = sample(40)
    router = Router.train(texts, correct, "knn", name="python", ids=ids, embedder=HashEmbeddings())
    save_router(router, root / "s")
    from_python = invoke(root, "calibrate", "python")
    assert from_python.exit_code == 2
    output = " ".join(from_python.output.split())
    assert "no price known for tiers 'small', 'frontier'" in output
    assert "trained from examples in Python, which record no cost" in output
    assert "--price small=USD_PER_CALL --price frontier=USD_PER_CALL" in output
    assert "--data FILE.jsonl" in output and "eval run" not in output


def test_calibrate_with_a_horizon_bounds_batches_of_that_size(root: Path) -> None:
    assert invoke(root, "train", "batched", "--data", str(root / "train.jsonl"),
                  "--kind", "knn").exit_code == 0  # fmt: skip
    everyone = invoke(root, "calibrate", "batched", "--target-quality", "0.8")
    assert everyone.exit_code == 0, everyone.output
    folder = router_path("batched", root / "s")
    population = load_router(folder).manifest.calibration
    batched = invoke(root, "calibrate", "batched", "--target-quality", "0.8", "--horizon", "20")
    assert batched.exit_code == 0, batched.output
    assert "on each batch of 20 requests" in batched.output
    record = load_router(folder).manifest.calibration
    assert population is not None and record is not None
    assert (population.horizon, record.horizon) == (None, 20)
    assert record.chosen.cost_usd_per_call >= population.chosen.cost_usd_per_call
    assert "each batch of 20 requests" in (folder / "calibration.html").read_text()
    assert set(record.tier_quality) == {"small", "frontier"}
    assert invoke(root, "calibrate", "batched", "--horizon", "0").exit_code == 2
