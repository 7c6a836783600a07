"""The studio's eval pages in a real headless Chromium, over real eval runs on disk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stepladder.evalsets.report import EvalSummary, MetricSummary
from stepladder.studio import create_studio_app, eval_runs
from tests.browser import headless_chromium, live_server
from tests.studio.evals_project import (
    BASELINE_BROKEN,
    CANDIDATE_BROKEN,
    LONG,
    QUESTIONS,
    EvalRuns,
    make_eval_runs,
)

WAIT_S = 60  # an upper bound for a loaded machine; pages normally render at once


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EvalRuns]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield make_eval_runs(tmp_path_factory.mktemp("evals"), monkeypatch)


def wait_for(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    located = expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    return WebDriverWait(driver, WAIT_S).until(located)


def texts(driver: Any, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, css)]


def type_into(field: Any, text: str) -> None:
    """Replace a text field's value as a person types (each key fires an input event)."""
    from selenium.webdriver.common.keys import Keys

    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.BACKSPACE)
    if text:
        field.send_keys(text)


def case_order(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#cases tbody tr")
    return [str(row.get_attribute("data-case")) for row in rows]


def test_the_list_links_each_run_and_opens_a_comparison_when_mounted(
    runs: EvalRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    parent = FastAPI()
    parent.mount("/studio", create_studio_app(runs.root))
    with live_server(parent) as url, headless_chromium(monkeypatch) as driver:
        driver.get(url + "/studio/evals")
        wait_for(driver, "#runs tbody tr")
        assert sorted(texts(driver, "a.run-link")) == sorted([runs.baseline, runs.candidate])
        row = driver.find_element(By.CSS_SELECTOR, f'tr[data-run="{runs.candidate}"]')
        assert "answer_f1" in row.text and "1 failed" in row.text
        row.find_element(By.CSS_SELECTOR, "a.run-link").click()
        wait_for(driver, "#cases tbody tr")
        assert driver.current_url == f"{url}/studio/evals/{runs.candidate}"
        assert driver.find_element(By.CSS_SELECTOR, "#run-header").text.startswith("answers")

        driver.get(url + "/studio/evals")
        wait_for(driver, "#runs tbody tr")
        driver.find_element(By.CSS_SELECTOR, f'input[name=a][value="{runs.baseline}"]').click()
        driver.find_element(By.CSS_SELECTOR, f'input[name=b][value="{runs.candidate}"]').click()
        driver.find_element(By.ID, "compare-button").click()
        wait_for(driver, "#verdict")
        assert driver.current_url.startswith(f"{url}/studio/evals/compare?")
        assert f"a={runs.baseline}" in driver.current_url
        assert f"b={runs.candidate}" in driver.current_url


def test_the_run_page_shows_metrics_and_sorts_and_filters_its_cases(
    runs: EvalRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    app = create_studio_app(runs.root)
    run = TestClient(app).get(f"/api/evals/{runs.candidate}").json()
    with live_server(app) as url, headless_chromium(monkeypatch) as driver:
        driver.get(f"{url}/evals/{runs.candidate}")
        wait_for(driver, "#cases tbody tr")
        metric_rows = texts(driver, "#metrics tbody tr")
        for metric, shown in zip(run["summary"]["metrics"], metric_rows, strict=True):
            assert shown.startswith(metric["name"])
            assert f"[{metric['low']:.3f}, {metric['high']:.3f}]" in shown
        assert set(texts(driver, "#tags tbody td:first-child")) == {"even", "odd", "long", "short"}
        (labels,) = run["summary"]["label_metrics"]
        per_label = texts(driver, "#labels table.per-label tbody td:first-child")
        assert per_label == [row["label"] for row in labels["per_label"]]
        diagonal = [row[i] for i, row in enumerate(labels["confusion"])]
        rows = driver.find_elements(By.CSS_SELECTOR, "#labels table.confusion tbody tr")
        shown = [int(row.find_elements(By.TAG_NAME, "td")[i].text) for i, row in enumerate(rows)]
        assert shown == diagonal
        assert "cost per case" in driver.find_element(By.ID, "operations").text
        assert len(case_order(driver)) == len(QUESTIONS)
        assert driver.find_element(By.ID, "case-count").text == f"{len(QUESTIONS)} of 14 cases"

        header = driver.find_element(By.CSS_SELECTOR, '#cases th[data-key="score:answer"]')
        header.click()
        ascending = case_order(driver)
        scores = {c["case_id"]: c["score_values"]["answer"] for c in run["cases"]}
        assert [scores[c] for c in ascending] == sorted(scores.values())
        header.click()
        descending = case_order(driver)
        assert [scores[c] for c in descending] == sorted(scores.values(), reverse=True)
        assert header.get_attribute("aria-sort") == "descending"

        search = driver.find_element(By.ID, "case-filter")
        type_into(search, CANDIDATE_BROKEN[2].split()[0])
        assert case_order(driver) == [f"q{QUESTIONS.index(CANDIDATE_BROKEN[2])}"]
        type_into(search, "word59")  # only in the long case's input
        assert case_order(driver) == [f"q{QUESTIONS.index(LONG)}"]
        assert driver.find_element(By.ID, "case-count").text == "1 of 14 cases"
        type_into(search, "")
        assert len(case_order(driver)) == len(QUESTIONS)
        status = Select(driver.find_element(By.ID, "case-status"))
        status.select_by_value("error")
        assert case_order(driver) == [f"q{QUESTIONS.index('boom')}"]
        status.select_by_value("failed")
        failed = {f"q{QUESTIONS.index(q)}" for q in [*CANDIDATE_BROKEN, "boom"]}
        assert set(case_order(driver)) == failed


def test_clicking_a_case_shows_its_input_expected_output_and_trace(
    runs: EvalRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    app = create_studio_app(runs.root)
    cases = TestClient(app).get(f"/api/evals/{runs.candidate}").json()["cases"]
    question = CANDIDATE_BROKEN[3]
    case = next(c for c in cases if c["inputs"] == {"question": question})
    with live_server(app) as url, headless_chromium(monkeypatch) as driver:
        driver.get(f"{url}/evals/{runs.candidate}")
        wait_for(driver, "#cases tbody tr")
        driver.find_element(By.CSS_SELECTOR, f'#cases tr[data-case="{case["case_id"]}"] td').click()
        dialog = wait_for(driver, "dialog#case-dialog[open]")
        assert question in dialog.find_element(By.ID, "case-input").text
        assert question.upper() in dialog.find_element(By.ID, "case-expected").text
        output = dialog.find_element(By.ID, "case-output").text
        assert question.split()[0].upper() in output and question.upper() not in output
        scores = texts(driver, "dialog .scores tbody tr")
        assert scores[0].startswith("answer 0.000") and "expected" in scores[0]
        link = dialog.find_element(By.CSS_SELECTOR, "#case-trace a")
        assert link.get_attribute("href") == f"{url}/traces/{case['trace_id']}"
        assert driver.current_url.endswith(f"#case={case['case_id']}")
        driver.find_element(By.ID, "case-close").click()
        assert not driver.find_elements(By.CSS_SELECTOR, "dialog#case-dialog[open]")

        driver.get(f"{url}/evals/{runs.candidate}#case=q{QUESTIONS.index('boom')}")
        dialog = wait_for(driver, "dialog#case-dialog[open]")
        assert "boom is not allowed" in dialog.find_element(By.ID, "case-error").text
        driver.find_element(By.ID, "case-close").click()
        driver.find_element(By.CSS_SELECTOR, "#run-header a.compare-link").click()
        wait_for(driver, "#verdict")
        assert f"a={runs.baseline}&b={runs.candidate}" in driver.current_url


def test_the_compare_page_shows_changed_cases_and_the_verdict(
    runs: EvalRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    app = create_studio_app(runs.root)
    query = f"a={runs.baseline}&b={runs.candidate}"
    data = TestClient(app).get(f"/api/evals/compare?{query}").json()
    with live_server(app) as url, headless_chromium(monkeypatch) as driver:
        driver.get(f"{url}/evals/compare?{query}")
        verdict = wait_for(driver, "#verdict")
        assert "Gate failed" in verdict.text
        assert "fail" in str(verdict.get_attribute("class"))
        for failure in data["gate"]["failures"]:
            assert failure in verdict.text
        regressions = texts(driver, "article.change.regression .head b")
        assert sorted(regressions) == sorted(f"q{QUESTIONS.index(q)}" for q in CANDIDATE_BROKEN)
        improvements = texts(driver, "article.change.improvement .head b")
        assert improvements == [f"q{QUESTIONS.index(q)}" for q in BASELINE_BROKEN]
        question = CANDIDATE_BROKEN[0]
        article = driver.find_element(
            By.CSS_SELECTOR, f'article[data-case="q{QUESTIONS.index(question)}"]'
        )
        output_a = article.find_element(By.CSS_SELECTOR, '[data-side="a"] pre').text
        output_b = article.find_element(By.CSS_SELECTOR, '[data-side="b"] pre').text
        assert question.upper() in output_a and question.upper() not in output_b
        assert question.split()[0].upper() in output_b
        assert question in article.text  # the input

        driver.get(f"{url}/evals/compare?a={runs.candidate}&b={runs.candidate}")
        assert "Gate passed" in wait_for(driver, "#verdict").text
        assert "No paired case changed" in driver.find_element(By.ID, "changed").text

        driver.get(f"{url}/evals/compare?a={runs.baseline}&b=nope")
        assert "no eval run 'nope'" in wait_for(driver, ".error-box").text


class LabelMetric(MetricSummary):
    """A metric summary with a per-label table, as label metrics may carry."""

    per_label: list[dict[str, Any]] = []


class LabelSummary(EvalSummary):
    """A summary with a confusion matrix the page has no dedicated view for."""

    metrics: list[LabelMetric]  # type: ignore[assignment]
    confusion_matrix: dict[str, dict[str, int]] = {}


def test_tables_the_page_does_not_know_are_drawn_generically(
    runs: EvalRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    real = eval_runs.summarize

    def with_labels(record: Any) -> LabelSummary:
        data = real(record).model_dump()
        for metric in data["metrics"]:
            metric["per_label"] = [{"label": "YES", "precision": 0.75, "recall": 0.5, "f1": 0.6}]
        data["confusion_matrix"] = {"YES": {"YES": 3, "NO": 1}, "NO": {"YES": 2, "NO": 7}}
        return LabelSummary.model_validate(data)

    monkeypatch.setattr(eval_runs, "summarize", with_labels)
    eval_runs._SUMMARIES.clear()
    try:
        with live_server(create_studio_app(runs.root)) as url, headless_chromium(monkeypatch) as d:
            d.get(f"{url}/evals/{runs.baseline}")
            matrix = wait_for(d, 'section[data-key="confusion_matrix"] table.matrix')
            assert texts(d, 'section[data-key="confusion_matrix"] tbody tr') == [
                "YES 3 1",
                "NO 2 7",
            ]
            assert matrix.find_element(By.CSS_SELECTOR, "thead").text == "YES NO"
            metrics = d.find_element(By.ID, "metrics").text
            assert "answer: per label" in metrics and "0.750" in metrics
    finally:
        eval_runs._SUMMARIES.clear()
