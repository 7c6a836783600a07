"""The service keeps its OpenAPI promise: schemathesis generates requests for every operation
of a served project (valid and invalid ones, fixed seed, bounded count) and checks every answer
over real HTTP: documented status codes and content types, bodies and each stream event
against their schemas, and no 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.serve.helpers import serving
from tests.serve.projects import fuzz_project

EXAMPLES = 150
REQUEST_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    project = fuzz_project(tmp_path_factory.mktemp("contract") / "project")
    with serving(project) as server:
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json")


@pytest.mark.parametrize(
    ("mode", "reached"), [(GenerationMode.POSITIVE, 7), (GenerationMode.NEGATIVE, 4)]
)
def test_every_operation_keeps_its_openapi_promise(
    api: Any, mode: GenerationMode, reached: int
) -> None:
    calls: list[str] = []

    @given(case=api.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    def check(case: Any) -> None:
        calls.append(f"{case.method} {case.path}")
        case.call_and_validate(timeout=REQUEST_TIMEOUT_S)

    check()
    assert len(set(calls)) >= reached, sorted(set(calls))  # the cases reached the operations
