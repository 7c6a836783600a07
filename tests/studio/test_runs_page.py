"""The studio's runs: `/api/runs` filters and search, `/api/traces/{id}`, the serve mount, and
the runs page in a real headless Chromium (filter, search, open a trace)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stepladder.studio import create_studio_app
from tests.browser import headless_chromium, live_server
from tests.conftest import write_project
from tests.serve.helpers import serving
from tests.serve.projects import GREET, STEPS
from tests.studio.trace_files import LONG, OLD_FORM, traced_project
from tests.tracing.span_files import FAILED, HELLO, UNFINISHED

NEWEST_FIRST = [LONG, OLD_FORM, UNFINISHED, FAILED, HELLO]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return traced_project(tmp_path_factory.mktemp("runs") / "project")


@pytest.fixture(scope="module")
def client(project: Path) -> TestClient:
    return TestClient(create_studio_app(project))


def ids(client: TestClient, **params: Any) -> list[str]:
    answer = client.get("/api/runs", params=params)
    assert answer.status_code == 200, answer.text
    return [run["trace_id"] for run in answer.json()["runs"]]


def test_runs_are_listed_newest_first_with_what_a_table_needs(client: TestClient) -> None:
    body = client.get("/api/runs").json()
    assert [run["trace_id"] for run in body["runs"]] == NEWEST_FIRST
    assert (body["matched"], body["total"], body["malformed_lines"]) == (5, 5, 2)
    assert body["flows"] == ["digest", "hello", "support"]
    long = body["runs"][0]
    assert long["flow"] == "digest" and long["status"] == "ok"
    assert long["duration_s"] == 600.0 and long["cost_usd"] == 0.0042
    assert long["input"] == '{"ticket": "My parcel to Lisbon never arrived."}'
    assert long["output"] == '{"summary": "Parcel to Lisbon lost in transit."}'
    failed = body["runs"][3]
    assert (failed["escalations"], failed["invalid_outputs"], failed["output"]) == (1, 0, "")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"flow": "hello"}, [OLD_FORM, HELLO]),
        ({"status": "error"}, [FAILED]),
        ({"status": "incomplete"}, [UNFINISHED]),
        ({"escalated": "true"}, [UNFINISHED, FAILED]),
        ({"invalid": "true"}, [OLD_FORM]),
        ({"min_cost": 1}, [OLD_FORM]),
        ({"max_cost": 0.0001}, [UNFINISHED, HELLO]),
        ({"min_latency": 60}, [LONG]),
        ({"min_latency": 0.1, "max_latency": 10}, [OLD_FORM, FAILED]),
        ({"since": "2025-11-28T03:20:00"}, [LONG, OLD_FORM, UNFINISHED, FAILED]),
        ({"until": "2025-11-28T03:21"}, [FAILED, HELLO]),
        (
            {"since": "2025-11-28T03:00Z", "until": "2025-11-28T04:00Z"},
            [OLD_FORM, UNFINISHED, FAILED],
        ),
        ({"since": "1d"}, []),  # the runs are from 2025
        ({"q": "lisbon"}, [LONG]),
        ({"q": "WHERE is my ORDER"}, [FAILED]),
        ({"q": "hello, ada"}, [OLD_FORM]),  # one word in the input, the other in the output
        ({"q": "lost in transit"}, [LONG]),
        ({"q": "nothing like this"}, []),
        ({"flow": "support", "escalated": "true", "status": "error"}, [FAILED]),
    ],
)
def test_filters_and_search_narrow_the_runs(
    client: TestClient, params: dict[str, Any], expected: list[str]
) -> None:
    assert ids(client, **params) == expected


def test_a_limit_keeps_the_newest_and_counts_the_rest(client: TestClient) -> None:
    body = client.get("/api/runs", params={"limit": 2}).json()
    assert [run["trace_id"] for run in body["runs"]] == NEWEST_FIRST[:2]
    assert body["matched"] == 5


@pytest.mark.parametrize(
    ("params", "named"),
    [({"since": "last tuesday"}, "since 'last tuesday'"), ({"status": "fine"}, "status")],
)
def test_bad_filters_are_a_422_that_says_why(
    client: TestClient, params: dict[str, str], named: str
) -> None:
    answer = client.get("/api/runs", params=params)
    assert answer.status_code == 422
    assert named in str(answer.json()["detail"])


def test_a_project_with_no_traces_lists_nothing_and_says_so(tmp_path: Path) -> None:
    empty = TestClient(create_studio_app(write_project(tmp_path / "empty", {})))
    body = empty.get("/api/runs").json()
    assert body["runs"] == [] and "no traces yet" in body["note"]
    assert empty.get(f"/api/traces/{FAILED}").status_code == 404


def test_a_trace_is_found_by_its_start_and_lists_its_spans_in_tree_order(
    client: TestClient,
) -> None:
    body = client.get(f"/api/traces/{FAILED[:8].upper()}").json()
    assert body["trace_id"] == FAILED
    spans = body["spans"]
    assert [(span["name"], span["depth"]) for span in spans] == [
        ("run support", 0),
        ("node classify", 1),
        ("chat smollm2-135m", 2),
        ("node answer", 1),
        ("retrieve faq", 2),
        ("chat gpt-4o-mini", 2),
    ]
    small = spans[2]
    assert (small["offset_ms"], small["duration_ms"], small["type"]) == (20.0, 160.0, "model")
    assert small["parent_id"] == spans[1]["span_id"] and small["kind"] == "CLIENT"
    assert small["attributes"]["stepladder.tier"] == "small"
    assert small["chat"] is None  # content capture was off
    answer = spans[3]
    assert answer["status"] == "ERROR" and answer["error"] == "ValueError: no answer in the context"
    assert answer["events"][0]["attributes"]["exception.type"] == "ValueError"
    assert body["summary"]["status"] == "error" and body["summary"]["duration_s"] == 0.5
    assert "capture_content: true" in body["capture_hint"]


def test_a_model_span_carries_its_messages_as_a_chat(client: TestClient) -> None:
    spans = client.get(f"/api/traces/{LONG}").json()["spans"]
    chat = spans[2]["chat"]
    assert [(m["role"], m["content"]) for m in chat["input"]] == [
        ("system", "Summarise the ticket in one line."),
        ("user", "My parcel to Lisbon never arrived."),
    ]
    assert chat["output"] == [
        {
            "role": "assistant",
            "content": "Parcel to Lisbon lost in transit.",
            "finish_reason": "stop",
        }
    ]


def test_unknown_and_ambiguous_trace_ids_are_json_errors(client: TestClient) -> None:
    unknown = client.get("/api/traces/deadbeef")
    assert unknown.status_code == 404 and "deadbeef" in unknown.json()["detail"]
    ambiguous = client.get("/api/traces/ab")  # FAILED and HELLO both start so
    assert ambiguous.status_code == 409 and "2 traces" in ambiguous.json()["detail"]


def test_serve_mounts_the_studio_outside_its_openapi_document(tmp_path: Path) -> None:
    root = traced_project(tmp_path / "served")
    (root / "flows").mkdir()
    (root / "flows" / "greet.yaml").write_text(GREET, encoding="utf-8")
    (root / "flows" / "steps.py").write_text(STEPS, encoding="utf-8")
    with serving(root) as server, server.client() as served:
        home = served.get("/studio/")
        assert home.status_code == 307 and home.headers["location"] == "/studio/runs"
        page = served.get("/studio/runs")
        assert page.status_code == 200 and "Runs · stepladder studio" in page.text
        assert '<base href="/studio/">' in page.text
        assert served.get("/studio/static/runs.js").status_code == 200
        runs = served.get("/studio/api/runs").json()["runs"]
        assert [run["trace_id"] for run in runs] == NEWEST_FIRST
        trace = served.get(f"/studio/traces/{FAILED}")
        assert trace.status_code == 200 and "trace.js" in trace.text
        assert served.get("/studio/api/traces/deadbeef").status_code == 404
        paths = served.get("/openapi.json").json()["paths"]
        assert paths and not [path for path in paths if path.startswith("/studio")]
        assert served.get("/flows").status_code == 200  # the service itself is unchanged


def wait_for(driver: Any, loaded: str) -> None:
    """Wait until the page's script says it has shown the answer for `loaded`."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.body.dataset.loaded") == loaded
    )


def shown_ids(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    return [row.get_attribute("data-trace-id") for row in rows]


def test_the_runs_page_filters_searches_and_opens_a_trace(
    monkeypatch: pytest.MonkeyPatch, project: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    app = create_studio_app(project)
    with live_server(app) as url, headless_chromium(monkeypatch) as driver:
        driver.get(url + "/runs")
        wait_for(driver, "")
        assert shown_ids(driver) == NEWEST_FIRST
        assert driver.find_element(By.ID, "count").text == "5 of 5 runs"
        first = driver.find_element(By.CSS_SELECTOR, "#runs tbody tr")
        assert "10 min 00 s" in first.text and "$0.004200" in first.text
        assert "My parcel to Lisbon" in first.text

        Select(driver.find_element(By.NAME, "status")).select_by_value("error")
        wait_for(driver, "status=error")
        assert shown_ids(driver) == [FAILED]
        assert driver.current_url.endswith("/runs?status=error")  # the view can be shared

        driver.find_element(By.CSS_SELECTOR, "button[type=reset]").click()
        wait_for(driver, "")
        assert shown_ids(driver) == NEWEST_FIRST
        flows = Select(driver.find_element(By.NAME, "flow")).options
        assert [option.text for option in flows] == ["any", "digest", "hello", "support"]

        driver.find_element(By.NAME, "q").send_keys("lisbon")
        wait_for(driver, "q=lisbon")
        assert shown_ids(driver) == [LONG]

        driver.find_element(By.CSS_SELECTOR, "#runs tbody tr td.when").click()
        wait_for(driver, LONG)
        assert driver.current_url == f"{url}/traces/{LONG}"
        assert len(driver.find_elements(By.CSS_SELECTOR, ".span-row")) == 3
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []


def test_a_shared_view_opens_with_its_filters(
    monkeypatch: pytest.MonkeyPatch, project: Path
) -> None:
    from selenium.webdriver.common.by import By

    with live_server(create_studio_app(project)) as url, headless_chromium(monkeypatch) as driver:
        driver.get(url + "/runs?flow=hello&invalid=true")
        wait_for(driver, "flow=hello&invalid=true")
        assert shown_ids(driver) == [OLD_FORM]
        assert driver.find_element(By.NAME, "invalid").is_selected()
        driver.get(url + "/runs?since=yesterday-ish")
        problem = driver.find_element(By.ID, "problem")
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(driver, 30).until(lambda d: problem.is_displayed())
        assert "since 'yesterday-ish'" in problem.text
