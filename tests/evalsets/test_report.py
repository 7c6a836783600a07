import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from stepladder.evalsets.html_report import report_html
from stepladder.evalsets.report import EvalSummary, render_summary, summarize
from stepladder.evalsets.results import EvalRunRecord
from stepladder.evalsets.stats import mean_ci
from tests.evalsets.runs import HOSTILE, case, write_run

SIM = ("similarity",)
TRACE = "ab" * 16


@pytest.fixture
def run(tmp_path: Path) -> EvalRunRecord:
    """Five cases: two tags, a failed case, an escalated one and a cached one."""
    results = [
        case(
            "c1",
            {"exact": 1, "similarity": 0.9},
            continuous=SIM,
            tags=["billing"],
            cost_usd=0.002,
            latency_s=1.0,
            trace_id="11" * 16,
        ),
        case(
            "c2",
            {"exact": 0, "similarity": 0.4},
            continuous=SIM,
            tags=["billing", "urgent"],
            cost_usd=0.004,
            latency_s=2.0,
            escalations=1,
            trace_id=TRACE,
        ),
        case(
            "c3",
            {},
            ok=False,
            error="ModelError: server down",
            tags=["urgent"],
            cost_usd=0.0,
            latency_s=3.0,
            trace_id="33" * 16,
        ),
        case(
            "c4",
            {"exact": 1, "similarity": 1.0},
            continuous=SIM,
            cost_usd=0.0,
            latency_s=0.2,
            cached_calls=2,
        ),
        case(
            "c5",
            {"exact": 1, "similarity": 0.7},
            continuous=SIM,
            cost_usd=0.002,
            latency_s=0.8,
            escalations=2,
        ),
    ]
    return write_run(tmp_path / "run-1", results, metrics=["exact", "similarity"], cache=True)


def test_quality_per_metric_in_manifest_order(run: EvalRunRecord) -> None:
    summary = summarize(run)
    exact, similarity = summary.metrics
    assert (exact.name, exact.binary, exact.n) == ("exact", True, 5)
    # the failed case scores 0: 3 of 5 pass
    wilson = mean_ci([1, 0, 0, 1, 1], binary=True)
    assert (exact.mean, exact.low, exact.high) == (0.6, wilson.low, wilson.high)
    assert (similarity.name, similarity.binary, similarity.n) == ("similarity", False, 5)
    assert similarity.mean == pytest.approx((0.9 + 0.4 + 0 + 1.0 + 0.7) / 5)
    assert similarity.low < similarity.mean < similarity.high


def test_counts_cost_latency_escalation_and_cache(run: EvalRunRecord) -> None:
    summary = summarize(run)
    assert (summary.cases, summary.ok, summary.failed, summary.planned) == (5, 4, 1, 5)
    assert summary.cost_total_usd == pytest.approx(0.008)
    assert summary.cost_per_case_usd == pytest.approx(0.0016)
    assert summary.latency_p50_s == pytest.approx(1.0)
    assert summary.latency_p95_s == pytest.approx(2.0 + 0.8 * (3.0 - 2.0))  # linear
    assert (summary.escalated_cases, summary.escalation_rate) == (2, 0.4)
    assert (summary.cached_cases, summary.used_cache, summary.cache_enabled) == (1, True, True)


def test_breakdown_by_tag(run: EvalRunRecord) -> None:
    tags = {tag.tag: tag for tag in summarize(run).tags}
    assert list(tags) == ["billing", "urgent"]
    assert tags["billing"].n == 2 and tags["billing"].metrics[0].mean == 0.5
    assert tags["urgent"].n == 2 and tags["urgent"].metrics[0].mean == 0.0
    assert tags["urgent"].metrics[1].mean == pytest.approx(0.2)


def test_worst_cases_put_failures_first_and_skip_perfect_ones(run: EvalRunRecord) -> None:
    worst = summarize(run).worst
    assert [w.case_id for w in worst] == ["c3", "c2", "c5", "c1"]
    failed = worst[0]
    assert not failed.ok and failed.error == "ModelError: server down"
    assert failed.scores == {"exact": 0.0, "similarity": 0.0}
    assert worst[1].mean_score == pytest.approx(0.2)
    assert worst[1].trace_id == TRACE
    assert worst[1].trace_command == f"stepladder traces show {TRACE[:12]}"
    assert summarize(run, worst=2).worst == worst[:2]


def test_summary_round_trips_through_json(run: EvalRunRecord) -> None:
    summary = summarize(run)
    assert EvalSummary.model_validate_json(summary.model_dump_json()) == summary


def test_an_empty_run_summarizes_to_zeros(tmp_path: Path) -> None:
    summary = summarize(write_run(tmp_path / "empty", [], metrics=["exact"]))
    assert summary.cases == 0 and summary.metrics[0].n == 0
    assert summary.cost_per_case_usd == 0 and summary.escalation_rate == 0
    assert not summary.worst and not summary.used_cache


def rendered(summary: EvalSummary) -> str:
    buffer = io.StringIO()
    render_summary(summary, Console(file=buffer, width=160, color_system=None))
    return buffer.getvalue()


def test_render_shows_tables_and_warnings(run: EvalRunRecord) -> None:
    text = rendered(summarize(run))
    for shown in (
        "quality",
        "exact",
        "0.600",
        "by tag",
        "billing",
        "worst cases",
        f"stepladder traces show {TRACE[:12]}",
        "$0.001600",
        "40.0% (2)",
    ):
        assert shown in text
    assert "warning: 1 case(s) failed" in text
    assert "warning: 1 case(s) used cached model responses" in text


def test_render_has_no_warnings_for_a_clean_live_run(tmp_path: Path) -> None:
    clean = write_run(tmp_path / "clean", [case("a", {"exact": 1}), case("b", {"exact": 0})])
    text = rendered(summarize(clean))
    assert "warning" not in text and "by tag" not in text


def test_render_escapes_rich_markup(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", [case("[bold red]x[/]", {"exact": 0}, tags=["[i]t[/i]"])])
    text = rendered(summarize(run))
    assert "[bold red]x[/]" in text and "[i]t[/i]" in text


class Page(HTMLParser):
    """Elements with their attributes, and all text, of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]


def test_html_page_has_its_plots_and_tables(run: EvalRunRecord) -> None:
    text = report_html(run, summarize(run))
    page = Page(text)
    labels = [svg["aria-label"] for svg in page.tags("svg")]
    assert labels == ["quality per metric", "quality per tag", "cost per case", "latency"]
    assert len(page.tags("circle")) == 2  # one mean marker per metric
    assert len(page.tags("tr")) == 1 + 4  # header row + worst cases
    joined = "".join(page.text)
    for shown in (
        "support",
        "run-1",
        "triage",
        "5 (4 ok, 1 failed)",
        "cached model responses",
        f"stepladder traces show {TRACE[:12]}",
        "ModelError: server down",
    ):
        assert shown in joined
    histogram_bars = [r for r in page.tags("rect") if r.get("fill") == "#0969da"]
    assert len(histogram_bars) >= 2


def test_html_page_loads_nothing_and_runs_nothing(run: EvalRunRecord) -> None:
    text = report_html(run, summarize(run))
    page = Page(text)
    assert "http://" not in text and "https://" not in text and "url(" not in text
    assert not page.tags("script") and not page.tags("link")
    assert not [a for _, a in page.elements if {"src", "href"} & a.keys()]
    policy = next(a["content"] for a in page.tags("meta") if "http-equiv" in a)
    assert policy is not None and policy.startswith("default-src 'none';")


def test_html_page_escapes_hostile_text(tmp_path: Path) -> None:
    results = [
        case(HOSTILE, {HOSTILE: 0}, ok=False, error=HOSTILE, tags=[HOSTILE], trace_id="ff" * 16),
        case("fine", {HOSTILE: 1}, tags=[HOSTILE]),
    ]
    run = write_run(tmp_path / "r", results, eval_name="support", metrics=[HOSTILE])
    text = report_html(run, summarize(run))
    page = Page(text)
    assert not page.tags("script") and not page.tags("img")
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img" in text
    assert HOSTILE in "".join(page.text)  # shown as text, not markup


def test_html_page_of_a_run_without_tags_or_cases(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", [], metrics=["exact"])
    page = Page(report_html(run, summarize(run)))
    assert "No case has tags." in "".join(page.text)
    assert "No cases." in "".join(page.text)
    same = write_run(tmp_path / "s", [case("a", {"exact": 1}), case("b", {"exact": 1})])
    text = report_html(same, summarize(same))  # equal costs and latencies: one bar
    assert re.search(r'<svg class="plot" role="img" aria-label="latency"', text)
    assert "Every case scored perfectly." in text
