"""The studio's shell in a real headless Chromium: it loads, navigates, and works mounted."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepladder.studio import create_studio_app
from tests.browser import headless_chromium, live_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_shell_navigates_between_areas(monkeypatch: pytest.MonkeyPatch) -> None:
    from selenium.webdriver.common.by import By

    with live_server(create_studio_app(EXAMPLES)) as url, headless_chromium(monkeypatch) as driver:
        driver.get(url + "/")
        assert driver.current_url == url + "/runs"
        driver.find_element(By.LINK_TEXT, "Evals").click()
        assert driver.current_url == url + "/evals"
        active = driver.find_element(By.CSS_SELECTOR, "header.studio nav a.active")
        assert active.text == "Evals"
