"""The studio's flows pages in a real headless Chromium: the list, a flow's picture and form,
a run whose node updates stream onto the page, a pending review answered from the page."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepladder.studio import create_studio_app
from tests.browser import headless_chromium, live_server
from tests.escalation.helpers import KEYLESS
from tests.fake_chat import chat_server
from tests.serve.helpers import closed_port
from tests.serve.projects import TOO_LONG
from tests.studio.flow_project import studio_project

CATEGORIES = {"ACCOUNT", "CANCELLATION_FEE", "CONTACT", "DELIVERY", "FEEDBACK", "INVOICE",
              "NEWSLETTER", "ORDER", "PAYMENT", "REFUND", "SHIPPING_ADDRESS"}  # fmt: skip
WAIT_S = 120  # only an upper bound: a loaded machine makes pages slower, never wrong


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with chat_server(TOO_LONG) as (port, _):
        yield studio_project(tmp_path_factory.mktemp("studio") / "desk", port, closed_port())


@pytest.fixture
def studio(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    monkeypatch.delenv(KEYLESS, raising=False)  # no key for the frontier tier: small -> human
    with live_server(create_studio_app(project)) as url, headless_chromium(monkeypatch) as driver:
        yield url, driver


def wait_for(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(
        shown.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def test_the_flows_page_lists_each_flow_and_links_to_it(studio: tuple[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    url, driver = studio
    driver.get(url + "/flows")
    wait_for(driver, "table.flows")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.flows tbody tr")
    assert [row.get_attribute("data-flow") for row in rows] == [
        "ask_down", "ask_locked", "ask_small", "desk", "greet",
    ]  # fmt: skip
    greet = driver.find_element(By.CSS_SELECTOR, 'tr[data-flow="greet"]').text
    assert "Greet someone, a number of times." in greet and "2 nodes" in greet
    assert "human review" in driver.find_element(By.CSS_SELECTOR, 'tr[data-flow="desk"]').text
    driver.find_element(By.LINK_TEXT, "greet").click()
    wait_for(driver, "#graph svg")
    assert driver.current_url == url + "/flows/greet"


def test_the_form_starts_a_run_whose_updates_stream_onto_the_page(
    studio: tuple[str, Any],
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, driver = studio
    driver.get(url + "/flows/greet")
    wait_for(driver, "form#inputs")
    drawn = driver.find_elements(By.CSS_SELECTOR, "#graph svg g.node")
    assert [g.get_attribute("data-node") for g in drawn] == ["START", "compose", "measure", "END"]
    fields = driver.find_elements(By.CSS_SELECTOR, "form#inputs .field")
    assert [f.get_attribute("data-field") for f in fields] == ["name", "times", "loud", "mood",
                                                               "tags"]  # fmt: skip
    name = driver.find_element(By.CSS_SELECTOR, '.field[data-field="name"]')
    assert "*" in name.find_element(By.TAG_NAME, "label").text  # required
    assert "Who to greet." in name.text
    times = driver.find_element(By.NAME, "times")
    assert times.get_attribute("value") == "2"  # the default
    assert driver.find_element(By.NAME, "tags").get_attribute("value") == "[]"

    driver.find_element(By.CSS_SELECTOR, "form#inputs button").click()  # name is required
    assert wait_for(driver, '.field[data-field="name"] .field-error').text == "required"

    driver.find_element(By.NAME, "name").send_keys("Ada")
    times.clear()
    times.send_keys("1")
    driver.find_element(By.NAME, "loud").click()
    Select(driver.find_element(By.NAME, "mood")).select_by_visible_text("sad")
    tags = driver.find_element(By.NAME, "tags")
    tags.clear()
    tags.send_keys('["vip", "new"]')
    driver.find_element(By.CSS_SELECTOR, "form#inputs button").click()

    wait_for(driver, '#run[data-status="finished"]')
    updates = driver.find_elements(By.CSS_SELECTOR, "#run li.update")
    assert [u.get_attribute("data-node") for u in updates] == ["compose", "measure"]
    greeting = json.loads(updates[0].find_element(By.TAG_NAME, "pre").text)
    assert greeting == {"greeting": "HELLO ADA (sad) #vip #new"}
    state = json.loads(driver.find_element(By.CSS_SELECTOR, "#run pre.state").text)
    assert state["length"] == len("HELLO ADA (sad) #vip #new")
    trace = driver.find_element(By.CSS_SELECTOR, "#run a.trace").get_attribute("href")
    assert trace.startswith(url + "/traces/")  # the run's trace, on the runs area's page
    ran = driver.find_elements(By.CSS_SELECTOR, "#graph g.node.ran")
    assert {g.get_attribute("data-node") for g in ran} == {"compose", "measure"}


def test_a_pending_review_is_answered_from_the_page(studio: tuple[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    url, driver = studio
    driver.get(url + "/flows/desk")
    wait_for(driver, "form#inputs")
    driver.find_element(By.NAME, "message").send_keys("  where is my order?  ")
    driver.find_element(By.CSS_SELECTOR, "form#inputs button").click()

    review = wait_for(driver, 'form.review[data-node="reply"]')
    assert driver.find_element(By.CSS_SELECTOR, "#run").get_attribute("data-status") == "paused"
    assert "node reply asks a person" in review.text and "invalid" in review.text
    first = driver.find_element(By.CSS_SELECTOR, '#run li.update[data-node="first"] pre')
    assert json.loads(first.text) == {"text": "where is my order?"}
    waiting = driver.find_elements(By.CSS_SELECTOR, "#graph g.node.waiting")
    assert [g.get_attribute("data-node") for g in waiting] == ["reply"]
    answer = review.find_element(By.NAME, "reply")
    assert answer.get_attribute("maxlength") == "10"  # the node's max_chars
    driver.execute_script("arguments[0].value = 'far too long for ten';", answer)  # past it
    review.find_element(By.CSS_SELECTOR, "button").click()
    refused = wait_for(driver, 'form.review[data-node="reply"] .message.bad')
    assert "at most 10 characters" in refused.text
    assert driver.find_element(By.CSS_SELECTOR, "#run").get_attribute("data-status") == "paused"
    answer.clear()
    answer.send_keys("On its way")
    review.find_element(By.CSS_SELECTOR, "button").click()

    wait_for(driver, '#run[data-status="finished"]')
    updates = driver.find_elements(By.CSS_SELECTOR, "#run li.update")
    assert [u.get_attribute("data-node") for u in updates] == ["first", "reply", "after"]
    state = json.loads(driver.find_element(By.CSS_SELECTOR, "#run pre.state").text)
    assert state["sent"] == "sent: On its way"
    assert not driver.find_elements(By.CSS_SELECTOR, "form.review")


def test_errors_show_as_messages(studio: tuple[str, Any]) -> None:
    url, driver = studio
    driver.get(url + "/flows/ask_locked")
    wait_for(driver, "form#inputs")
    from selenium.webdriver.common.by import By

    driver.find_element(By.NAME, "message").send_keys("hello")
    driver.find_element(By.CSS_SELECTOR, "form#inputs button").click()
    wait_for(driver, '#run[data-status="failed"]')
    message = driver.find_element(By.CSS_SELECTOR, "#run .message.bad").text
    assert "tier 'locked' cannot start" in message and KEYLESS in message

    driver.get(url + "/flows/nope")
    assert wait_for(driver, ".message.bad").text.startswith("no flow 'nope' here")


def test_the_flow_page_works_mounted_with_the_servers_service(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi import FastAPI
    from selenium.webdriver.common.by import By

    from stepladder.config import load_project
    from stepladder.serve import Service, load_flows

    loaded = load_project(root=project)
    service = Service(loaded, load_flows(loaded))
    server = FastAPI()
    server.mount("/studio", create_studio_app(project, service=service))
    with live_server(server) as url, headless_chromium(monkeypatch) as driver:
        driver.get(url + "/studio/flows")
        wait_for(driver, 'tr[data-flow="greet"] a').click()
        wait_for(driver, "form#inputs")
        assert driver.current_url == url + "/studio/flows/greet"
        driver.find_element(By.NAME, "name").send_keys("Cy")
        driver.find_element(By.CSS_SELECTOR, "form#inputs button").click()
        wait_for(driver, '#run[data-status="finished"]')
        run_id = driver.find_element(By.CSS_SELECTOR, "#run .run-id").text
    assert service.registry.get(run_id) is not None  # run by the service it was given
    asyncio.run(service.close())


@pytest.mark.slow
def test_the_support_example_runs_from_the_studio(monkeypatch: pytest.MonkeyPatch) -> None:
    from selenium.webdriver.common.by import By

    from tests.test_examples import EXAMPLES, example_classifier

    example_classifier()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the ladder: small -> human
    message = json.loads((EXAMPLES / "inputs" / "invoice.json").read_text())["message"]
    with live_server(create_studio_app(EXAMPLES)) as url, headless_chromium(monkeypatch) as driver:
        driver.get(url + "/flows/support")
        wait_for(driver, "form#inputs")
        driver.find_element(By.NAME, "message").send_keys(message)
        driver.find_element(By.CSS_SELECTOR, "form#inputs button").click()
        for _ in range(4):  # the small model's output may stay invalid: a person answers
            wait_for(driver, '#run[data-status="finished"], #run[data-status="paused"]')
            reviews = driver.find_elements(By.CSS_SELECTOR, "form.review")
            if not reviews:
                break
            for field in reviews[0].find_elements(By.TAG_NAME, "textarea"):
                field.clear()
                field.send_keys("Thanks!")
            reviews[0].find_element(By.CSS_SELECTOR, "button").click()
            wait_for(driver, '#run[data-status="finished"], #run[data-status="paused"]')
        assert driver.find_element(By.ID, "run").get_attribute("data-status") == "finished"
        updates = driver.find_elements(By.CSS_SELECTOR, "#run li.update")
        assert [u.get_attribute("data-node") for u in updates] == ["classify", "extract", "reply"]
        state = json.loads(driver.find_element(By.CSS_SELECTOR, "#run pre.state").text)
        assert state["category"] in CATEGORIES
        assert isinstance(state["reply"], str) and 0 < len(state["reply"]) <= 400
