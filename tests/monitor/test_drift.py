"""Drift on real data: an eval set of Banking77 intents against traced production traffic.

Production from the same intents must not be flagged (nor when their mix differs from the eval
set's); production from other Banking77 intents, or from CLINC150, must be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

import pytest

from stepladder.config import load_project
from stepladder.errors import UserError
from stepladder.monitor.drift import DriftOptions, DriftReport, analyze_drift
from stepladder.monitor.drift_rates import RateThresholds, rate_changes
from stepladder.monitor.drift_report import drift_html
from stepladder.monitor.drift_sources import input_text
from stepladder.monitor.production import ProductionRun
from tests.monitor.drift_project import (
    IntentSets,
    intent_sets,
    run_production,
    run_traced_eval,
    write_intents_project,
)

Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class Traffic:
    """The project and the window each kind of production traffic was run in."""

    root: Path
    sets: IntentSets
    windows: dict[str, Window]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Traffic:
    sets = intent_sets()
    root = tmp_path_factory.mktemp("drift") / "project"
    spec = write_intents_project(root, sets.eval_rows)
    run_traced_eval(root, spec)
    windows = {}
    for name in ("same", "remix", "other", "clinc"):
        windows[name] = run_production(root, getattr(sets, name))
        time.sleep(0.01)
    return Traffic(root, sets, windows)


@pytest.fixture(scope="module")
def reports(traffic: Traffic) -> dict[str, DriftReport]:
    project = load_project(root=traffic.root)
    found = {}
    for name, (since, until) in traffic.windows.items():
        found[name] = analyze_drift(project, "intents", DriftOptions(since=since, until=until))
    return found


def test_same_intents_are_not_drift(reports: dict[str, DriftReport]) -> None:
    report = reports["same"]
    assert report.production_runs == 200
    assert report.eval_cases == 300
    assert not report.drifted, report.verdict()
    assert report.verdict().startswith("no drift — separability 0.")
    assert report.shift.p_value > 10 * report.options.alpha
    assert report.shift.separability < report.options.min_separability - 0.1
    assert report.far_share < report.options.min_far_share
    assert not report.novel and not report.clusters


def test_the_same_intents_in_another_mix_are_not_drift(reports: dict[str, DriftReport]) -> None:
    # A changed mix of the same intents moves the inputs a little (p=0.03 with 200 inputs):
    # significant at a laxer alpha, but barely separable, so still not a shift.
    report = reports["remix"]
    assert not report.drifted, report.verdict()
    assert report.far_share < report.options.min_far_share
    lax = replace(report, options=replace(report.options, alpha=0.05))
    assert lax.shift.p_value < lax.options.alpha
    assert lax.shift.separability < lax.options.min_separability
    assert not lax.shifted


@pytest.mark.parametrize("name", ["other", "clinc"])
def test_other_traffic_is_drift(
    traffic: Traffic, reports: dict[str, DriftReport], name: str
) -> None:
    report = reports[name]
    assert report.drifted
    assert report.verdict().startswith("drift: YES — inputs shifted (separability 0.9")
    assert report.shifted and report.novel
    assert report.shift.p_value < report.options.alpha
    assert report.shift.separability > 0.9
    assert report.far_share > 0.1
    assert report.clusters
    texts = set(getattr(traffic.sets, name))
    for cluster in report.clusters:
        assert set(cluster.examples) <= texts
        assert cluster.nearest_eval in {text for text, _ in traffic.sets.eval_rows}


def test_clinc_traffic_is_almost_all_far(reports: dict[str, DriftReport]) -> None:
    assert reports["clinc"].far_share > 0.8
    assert reports["clinc"].shift.coefficient > reports["same"].shift.coefficient * 10


def test_rates_are_measured_against_the_traced_eval_run(reports: dict[str, DriftReport]) -> None:
    rates = reports["same"].rates
    assert rates.reference_runs == 300
    assert rates.eval_runs == 1
    assert [change.name for change in rates.changes] == ["escalation rate", "invalid-output rate"]
    assert not any(change.flagged for change in rates.changes)
    assert "rates compared with 300 traced case(s) of 1 eval run(s)" in reports["same"].notes


def test_report_json_and_html(reports: dict[str, DriftReport]) -> None:
    report = reports["other"]
    data = report.to_json()
    assert data["drifted"] is True
    assert data["shift"]["shifted"] is True
    assert data["clusters"][0]["size"] == report.clusters[0].size
    page = drift_html(report)
    assert page.count("data:image/png;base64,") == 4
    assert "drift: YES" in page
    assert "<script" not in page
    assert escape(report.clusters[0].examples[0]) in page


def test_too_few_production_inputs_is_a_clear_error(traffic: Traffic) -> None:
    project = load_project(root=traffic.root)
    since, until = traffic.windows["same"]
    options = DriftOptions(since=since, until=until, min_runs=500)
    with pytest.raises(UserError, match=r"only 200 production input\(s\) .* too few"):
        analyze_drift(project, "intents", options)


def test_no_production_runs_in_the_window(traffic: Traffic) -> None:
    project = load_project(root=traffic.root)
    later = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(UserError, match=r"no production runs of flow 'intents' since .*widen"):
        analyze_drift(project, "intents", DriftOptions(since=later))


def test_field_must_be_an_input(traffic: Traffic) -> None:
    project = load_project(root=traffic.root)
    with pytest.raises(UserError, match=r"--field 'message'.*inputs: text"):
        analyze_drift(project, "intents", DriftOptions(field="message"))


def test_input_text_joins_string_values_or_picks_a_field() -> None:
    inputs = {"subject": "Refund", "body": "Where is my money?", "count": 3}
    assert input_text(inputs) == "Where is my money?\nRefund"
    assert input_text(inputs, "subject") == "Refund"
    assert input_text(inputs, "count") == "3"
    assert input_text(inputs, "missing") is None
    assert input_text({"n": 1}) is None


def _run(index: int, escalations: int = 0, invalid: int = 0, **scores: float) -> ProductionRun:
    return ProductionRun(
        trace_id=f"{index:032x}",
        flow="intents",
        started=datetime(2026, 11, 1, tzinfo=UTC),
        status="ok",
        inputs={"text": "x"},
        outputs=None,
        escalations=escalations,
        invalid_outputs=invalid,
        route_scores={tier: (p,) for tier, p in scores.items()},
    )


def test_a_higher_escalation_rate_is_flagged() -> None:
    reference = [_run(i, escalations=int(i % 25 == 0), small=0.8) for i in range(200)]
    production = [_run(i, escalations=int(i % 5 == 0), small=0.8) for i in range(200)]
    changes = {c.name: c for c in rate_changes(reference, production, RateThresholds())}
    escalation = changes["escalation rate"]
    assert escalation.flagged
    assert (escalation.reference, escalation.production) == (0.04, 0.2)
    assert escalation.describe().startswith("escalation rate 4.0% → 20.0% (p=")
    assert not changes["invalid-output rate"].flagged
    assert not changes["router score (small)"].flagged


def test_invalid_outputs_and_router_scores_are_compared() -> None:
    reference = [_run(i, invalid=int(i % 50 == 0), small=0.7 + (i % 10) / 100) for i in range(150)]
    production = [_run(i, invalid=int(i % 4 == 0), small=0.4 + (i % 10) / 100) for i in range(150)]
    changes = {c.name: c for c in rate_changes(reference, production, RateThresholds())}
    assert changes["invalid-output rate"].flagged
    score = changes["router score (small)"]
    assert score.flagged and not score.is_rate
    assert score.reference == pytest.approx(0.745) and score.production == pytest.approx(0.445)


def test_a_small_significant_rate_change_is_not_flagged() -> None:
    reference = [_run(i, escalations=int(i % 100 == 0)) for i in range(5000)]
    production = [_run(i, escalations=int(i % 50 == 0)) for i in range(5000)]
    thresholds = RateThresholds()
    change = rate_changes(reference, production, thresholds)[0]
    assert change.p_value < thresholds.alpha
    assert not change.flagged  # 1% -> 2% is below the 2-point change that counts
    assert rate_changes(reference, production, replace(thresholds, min_rate_change=0.005))[
        0
    ].flagged
