import io
from pathlib import Path

import pytest
from rich.console import Console

from stepladder.evalsets.results import EvalRunRecord
from stepladder.evalsets.run_comparison import Comparison, compare_runs, gate, render_comparison
from tests.evalsets.runs import binary_run, case, write_run

# 40 cases; the candidate breaks 12 of the baseline's 36 passes and fixes none
BASE = [1] * 36 + [0] * 4
WORSE = [0] * 12 + [1] * 24 + [0] * 4


def test_a_clearly_worse_candidate_fails_the_gate(tmp_path: Path) -> None:
    base = binary_run(tmp_path / "base", BASE)
    cand = binary_run(tmp_path / "cand", WORSE)
    comparison = compare_runs(base, cand)
    (metric,) = comparison.metrics
    assert (metric.name, metric.n, metric.binary, metric.test) == (
        "exact",
        40,
        True,
        "mcnemar-exact",
    )
    assert metric.baseline_mean == 0.9 and metric.candidate_mean == 0.6
    assert metric.difference == pytest.approx(-0.3)
    assert metric.p_value == pytest.approx(2 * 0.5**12)  # b=12, c=0
    assert metric.diff_low < -0.3 < metric.diff_high < 0
    assert metric.verdict == "worse"
    failures = gate(comparison)
    assert len(failures) == 1 and failures[0].startswith("exact is significantly worse")
    assert "0.900 -> 0.600" in failures[0] and "mcnemar-exact" in failures[0]


def test_an_equal_candidate_passes(tmp_path: Path) -> None:
    base = binary_run(tmp_path / "base", BASE)
    cand = binary_run(tmp_path / "cand", BASE)
    comparison = compare_runs(base, cand)
    (metric,) = comparison.metrics
    assert metric.verdict == "no significant change" and metric.p_value == 1.0
    assert metric.difference == 0 and metric.diff_low == metric.diff_high == 0
    assert comparison.cost_per_case.absolute == 0 and comparison.cost_per_case.relative == 0
    assert gate(comparison) == []


def test_a_better_candidate_and_a_small_noisy_change(tmp_path: Path) -> None:
    better = compare_runs(binary_run(tmp_path / "a", WORSE), binary_run(tmp_path / "b", BASE))
    assert better.metrics[0].verdict == "better" and gate(better) == []
    # 1 broken, 2 fixed: not significant
    noisy = [0] + [1] * 35 + [1, 1, 0, 0]
    small = compare_runs(binary_run(tmp_path / "c", BASE), binary_run(tmp_path / "d", noisy))
    assert small.metrics[0].verdict == "no significant change"
    assert small.metrics[0].p_value == pytest.approx(1.0)


def continuous_run(folder: Path, values: list[float], **fields: float) -> EvalRunRecord:
    results = [
        case(f"c{i}", {"similarity": v}, continuous=("similarity",), **fields)
        for i, v in enumerate(values)
    ]
    return write_run(folder, results, metrics=["similarity"])


def test_continuous_metrics_use_the_paired_bootstrap(tmp_path: Path) -> None:
    values = [0.5 + 0.01 * (i % 10) for i in range(30)]
    base = continuous_run(tmp_path / "base", values)
    cand = continuous_run(tmp_path / "cand", [v - 0.1 for v in values])
    comparison = compare_runs(base, cand, resamples=2000)
    (metric,) = comparison.metrics
    assert (metric.binary, metric.test) == (False, "paired-bootstrap")
    assert metric.statistic == pytest.approx(-0.1) and metric.verdict == "worse"
    assert comparison == compare_runs(base, cand, resamples=2000)  # seeded
    assert gate(comparison)


def test_a_metric_binary_in_one_run_only_is_bootstrapped(tmp_path: Path) -> None:
    base = binary_run(tmp_path / "base", BASE)
    results = [
        case(f"c{i}", {"exact": float(p)}, continuous=("exact",)) for i, p in enumerate(BASE)
    ]
    cand = write_run(tmp_path / "cand", results, metrics=["exact"])
    assert compare_runs(base, cand).metrics[0].test == "paired-bootstrap"


def test_cost_bound(tmp_path: Path) -> None:
    base = binary_run(tmp_path / "base", BASE, cost=0.001, latency=1.0)
    within = compare_runs(base, binary_run(tmp_path / "a", BASE, cost=0.00109, latency=1.0))
    assert within.cost_per_case.relative == pytest.approx(0.09)
    assert gate(within) == []
    above = compare_runs(base, binary_run(tmp_path / "b", BASE, cost=0.0012, latency=1.0))
    assert above.cost_per_case.absolute == pytest.approx(0.0002)
    (failure,) = gate(above)
    assert "cost per case rose +20.0%" in failure and "+10% bound" in failure
    assert gate(above, max_cost_increase=0.25) == []
    free = compare_runs(binary_run(tmp_path / "c", BASE, cost=0.0), base)
    assert free.cost_per_case.relative is None
    assert gate(free)[0].startswith("cost per case rose from $0.000000 -> $0.001000")


def test_latency_bound_only_when_set(tmp_path: Path) -> None:
    base = binary_run(tmp_path / "base", BASE, latency=1.0)
    slow = compare_runs(base, binary_run(tmp_path / "slow", BASE, latency=1.5))
    assert slow.latency_p50.absolute == pytest.approx(0.5)
    assert slow.latency_p50.relative == pytest.approx(0.5)
    assert gate(slow) == []
    (failure,) = gate(slow, max_latency_increase=0.2)
    assert failure.startswith("median latency rose +50.0% (1.00 s -> 1.50 s)")


def test_cases_are_paired_by_id_and_unpaired_ones_counted(tmp_path: Path) -> None:
    base = binary_run(tmp_path / "base", [1, 1, 0, 1])  # c0..c3
    shifted = [
        case("c2", {"exact": 1}),
        case("c3", {"exact": 1}),
        case("c1", {"exact": 0}),
        case("x9", {"exact": 1}),
        case("x8", {"exact": 1}),
    ]
    cand = write_run(tmp_path / "cand", shifted, metrics=["exact"])
    comparison = compare_runs(base, cand)
    assert (comparison.paired, comparison.only_in_baseline, comparison.only_in_candidate) == (
        3,
        1,
        2,
    )
    metric = comparison.metrics[0]
    assert metric.n == 3
    assert (metric.baseline_mean, metric.candidate_mean) == (pytest.approx(2 / 3), 2 / 3)
    disjoint = write_run(tmp_path / "other", [case("z", {"exact": 1})], metrics=["exact"])
    assert gate(compare_runs(base, disjoint)) == [
        "no case is in both runs: there is nothing to compare"
    ]


def test_failed_cases_score_zero_and_extra_metrics_are_listed(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", [case("a", {"exact": 1, "old": 1})])
    cand = write_run(
        tmp_path / "cand",
        [case("a", {}, ok=False, error="boom", cached_calls=1)],
        metrics=["exact", "new"],
    )
    comparison = compare_runs(base, cand)
    assert [m.name for m in comparison.metrics] == ["exact"]
    assert comparison.metrics[0].candidate_mean == 0.0
    assert comparison.metrics_only_in_baseline == ["old"]
    assert comparison.metrics_only_in_candidate == ["new"]
    assert any("cached" in w for w in comparison.warnings)
    assert any("failed" in w for w in comparison.warnings)


def test_comparison_is_json_and_renders(tmp_path: Path) -> None:
    base = binary_run(tmp_path / "base", BASE)
    cand = binary_run(tmp_path / "cand", WORSE, eval_name="other")
    comparison = compare_runs(base, cand)
    assert Comparison.model_validate_json(comparison.model_dump_json()) == comparison
    buffer = io.StringIO()
    render_comparison(comparison, Console(file=buffer, width=160, color_system=None))
    text = buffer.getvalue()
    for shown in (
        "baseline base",
        "candidate cand",
        "40 paired",
        "exact",
        "0.900",
        "0.600",
        "-0.300",
        "McNemar",
        "worse",
        "cost/case",
        "latency p50",
        "warning: the runs come from different evals",
    ):
        assert shown in text
