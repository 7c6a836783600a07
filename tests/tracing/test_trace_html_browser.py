"""The trace page in a real headless Chromium (Debian's `chromium` + `chromium-driver`).

`make browser` installs them; without them this test fails (it is not skipped). Selenium is
given the driver's path, so Selenium Manager never runs or downloads anything, and Chromium is
told to resolve no host names: the page is a local file and loads nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stepladder.tracing.html import trace_html
from stepladder.tracing.store import Trace, load_traces
from tests.browser import ARTIFACTS, headless_chromium
from tests.tracing.span_files import FAILED, NASTY, write_span_files


def test_the_waterfall_draws_and_a_click_shows_the_span(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    trace = load_traces(write_span_files(tmp_path / "traces")).find(FAILED)
    page = tmp_path / "trace.html"
    page.write_text(trace_html(trace), encoding="utf-8")
    with headless_chromium(monkeypatch) as driver:
        driver.get(page.as_uri())
        check_page(driver, trace)


def test_a_model_span_shows_its_messages_or_how_to_record_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    from stepladder.tracing.store import SpanRecord
    from tests.studio.trace_files import LONG, long_trace

    trace = Trace(LONG, tuple(SpanRecord.from_json(item) for item in long_trace()))
    page = tmp_path / "long.html"
    page.write_text(trace_html(trace), encoding="utf-8")
    failed = tmp_path / "failed.html"
    failed.write_text(
        trace_html(load_traces(write_span_files(tmp_path / "traces")).find(FAILED)),
        encoding="utf-8",
    )
    with headless_chromium(monkeypatch) as driver:
        driver.get(page.as_uri())
        cells = driver.find_elements(By.CSS_SELECTOR, ".span-row .dur")
        assert [cell.text for cell in cells] == ["10 min 00 s", "9 min 59 s", "1.0 ms"]
        assert all(cell.size["height"] < 2 * 13 * 1.45 for cell in cells)  # one line each
        bars = driver.find_elements(By.CSS_SELECTOR, ".span-row .bar")
        assert bars[2].rect["width"] >= 2  # 1 ms of 10 min stays visible
        driver.find_element(By.CSS_SELECTOR, '[data-span-id="a000000000000003"]').click()
        details = driver.find_element(By.ID, "details").text
        assert "MESSAGES SENT" in details and "My parcel to Lisbon never arrived." in details
        assert "COMPLETION" in details and "Parcel to Lisbon lost in transit." in details
        assert "duration 1.0 ms" in details
        driver.get(failed.as_uri())
        model = driver.find_element(By.XPATH, "//div[@title='chat smollm2-135m']/..")
        model.click()
        details = driver.find_element(By.ID, "details").text
        assert "capture_content: true" in details
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []


def check_page(driver: Any, trace: Trace) -> None:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, ".span-row")
    assert len(rows) == len(trace.spans) == 6
    widths = [bar.rect["width"] for bar in driver.find_elements(By.CSS_SELECTOR, ".span-row .bar")]
    assert len(widths) == 6 and all(width > 0 for width in widths)
    assert widths[0] > widths[2] > widths[4]  # the run > a model call > the retrieval
    details = driver.find_element(By.ID, "details")
    assert "Click a span" in details.text

    model = next(span for span in trace.spans if span.name == "chat smollm2-135m")
    row = driver.find_element(By.CSS_SELECTOR, f'.span-row[data-span-id="{model.span_id}"]')
    row.click()
    assert "selected" in (row.get_attribute("class") or "")
    text = details.text
    assert "chat smollm2-135m" in text
    lines = text.splitlines()
    assert any(line.split() == ["gen_ai.usage.input_tokens", "50"] for line in lines), text
    assert any(line.split() == ["stepladder.tier", "small"] for line in lines), text
    assert NASTY in text  # span data shown as text, never parsed as HTML
    assert not details.find_elements(By.CSS_SELECTOR, "img")

    failed = next(span for span in trace.spans if span.name == "node answer")
    driver.find_element(By.CSS_SELECTOR, f'[data-span-id="{failed.span_id}"]').click()
    assert "ValueError: no answer in the context" in details.text
    assert "Traceback (most recent call last)" in details.text

    row.click()  # leave the model call selected for the screenshot
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / "trace_waterfall.png"))
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []  # no script error, nothing blocked by the page's CSP
