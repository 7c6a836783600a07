"""The studio's trace page in a real headless Chromium: the waterfall stays readable from 1 ms to
10 min, a click shows a span's attributes, and a model span its messages (or how to record them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stepladder.studio import create_studio_app
from tests.browser import ARTIFACTS, headless_chromium, live_server
from tests.studio.trace_files import LONG, OLD_FORM, traced_project
from tests.tracing.span_files import FAILED, NASTY

MIN_BAR_PX = 3


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    project = traced_project(tmp_path_factory.mktemp("trace") / "project")
    with live_server(create_studio_app(project)) as url:
        yield url


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with headless_chromium(monkeypatch) as chrome:
        yield chrome


def open_trace(driver: Any, url: str, trace_id: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{url}/traces/{trace_id}")
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.body.dataset.loaded") in (trace_id, "error")
    )


def row(driver: Any, name: str) -> Any:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, ".span-row")
    return next(
        found
        for found in rows
        if found.find_element(By.CSS_SELECTOR, ".name").text.startswith(name)
    )


def no_script_errors(driver: Any) -> None:
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def test_one_ms_and_ten_minutes_both_read_well(driver: Any, studio: str) -> None:
    from selenium.webdriver.common.by import By

    open_trace(driver, studio, LONG)
    rows = driver.find_elements(By.CSS_SELECTOR, ".span-row")
    assert [r.get_attribute("data-depth") for r in rows] == ["0", "1", "2"]
    durations = [r.find_element(By.CSS_SELECTOR, ".dur") for r in rows]
    assert [d.text for d in durations] == ["10 min 00 s", "9 min 59 s", "1.0 ms"]
    for cell in durations:  # one line, nothing cut: "54,254.8 / ms" no more
        assert cell.value_of_css_property("white-space") == "nowrap"
        assert driver.execute_script(
            "return arguments[0].scrollWidth <= arguments[0].clientWidth", cell
        )
    bars = [r.find_element(By.CSS_SELECTOR, ".bar") for r in rows]
    track = rows[0].find_element(By.CSS_SELECTOR, ".track").rect
    widths = [bar.rect["width"] for bar in bars]
    assert widths[0] == pytest.approx(track["width"], abs=1)  # the run spans the timeline
    assert widths[2] >= MIN_BAR_PX  # 1 ms of 10 min is 0.0002 %: shown at the least width
    model = bars[2].rect
    assert track["x"] <= model["x"] <= track["x"] + track["width"] * 0.01  # it starts at +1 s
    axis = driver.find_element(By.CSS_SELECTOR, ".axis .track").text.split("\n")
    assert axis == ["0", "2 min", "4 min", "6 min", "8 min", "10 min"]  # round steps
    header = driver.find_element(By.ID, "summary").text
    assert "digest" in header and "duration 10 min 00 s" in header and "$0.004200" in header
    no_script_errors(driver)


def test_a_model_span_shows_the_messages_sent_and_the_completion(driver: Any, studio: str) -> None:
    from selenium.webdriver.common.by import By

    open_trace(driver, studio, LONG)
    model = row(driver, "chat smollm2-135m")
    model.click()
    assert model.get_attribute("aria-selected") == "true"
    details = driver.find_element(By.ID, "details")
    messages = details.find_elements(By.CSS_SELECTOR, ".chat .message")
    shown = [
        (m.find_element(By.CSS_SELECTOR, ".role").text, m.find_element(By.CSS_SELECTOR, "pre").text)
        for m in messages
    ]
    assert shown == [
        ("SYSTEM", "Summarise the ticket in one line."),
        ("USER", "My parcel to Lisbon never arrived."),
        ("ASSISTANT · STOP", "Parcel to Lisbon lost in transit."),
    ]
    assert "MESSAGES SENT" in details.text and "COMPLETION" in details.text
    assert "duration 1.0 ms" in details.text and "start +1.00 s" in details.text
    assert driver.current_url.endswith("#span=a000000000000003")  # the selection can be shared
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / "studio_trace.png"))

    row(driver, "node summarise").click()
    assert not details.find_elements(By.CSS_SELECTOR, ".chat, .capture-off")

    open_trace(driver, studio, OLD_FORM)  # the older {"role", "content"} form
    row(driver, "chat gpt-4o-mini").click()
    text = driver.find_element(By.ID, "details").text
    assert "Greet Ada" in text and "ASSISTANT · LENGTH" in text
    assert "invalid output: greeting: field required" in text
    no_script_errors(driver)


def test_a_click_shows_attributes_events_and_how_to_record_messages(
    driver: Any, studio: str
) -> None:
    from selenium.webdriver.common.by import By

    open_trace(driver, studio, FAILED)
    assert len(driver.find_elements(By.CSS_SELECTOR, ".span-row")) == 6
    assert "status error" in driver.find_element(By.ID, "summary").text
    details = driver.find_element(By.ID, "details")
    assert "Click a span" in details.text

    row(driver, "chat smollm2-135m").click()
    lines = details.text.splitlines()
    assert "gen_ai.usage.input_tokens 50" in lines and "stepladder.tier small" in lines
    tier = details.find_element(By.XPATH, ".//th[text()='stepladder.tier']/following-sibling::td")
    assert tier.text == "small"
    assert NASTY in details.text and not details.find_elements(By.CSS_SELECTOR, "img")
    note = details.find_element(By.CSS_SELECTOR, ".capture-off").text
    assert "capture_content: true" in note
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true" in note
    assert "PARSED OUTPUT" in details.text  # not called the prompt

    row(driver, "node answer").click()
    assert "ValueError: no answer in the context" in details.text
    assert "Traceback (most recent call last)" in details.text
    no_script_errors(driver)


def test_an_unknown_trace_says_so(driver: Any, studio: str) -> None:
    from selenium.webdriver.common.by import By

    open_trace(driver, studio, "deadbeef")
    assert "no trace id starts with 'deadbeef'" in driver.find_element(By.ID, "summary").text
    assert driver.find_element(By.LINK_TEXT, "All runs")
