"""Secrets are masked in every span and record from a command's first span."""

import uuid
from pathlib import Path

import pytest
from opentelemetry.trace import StatusCode
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.config.secrets import MASK, register_environment, scrub
from stepladder.serve.auth import read_token
from stepladder.tracing import Previews
from tests.tracing.spans_helpers import attrs, in_memory

runner = CliRunner()


def fresh(prefix: str) -> str:
    """A secret no earlier test registered (secrets are remembered for the process)."""
    return f"{prefix}-{uuid.uuid4().hex}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    result = runner.invoke(app, ["init", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    return tmp_path / "demo"


def test_a_run_stores_no_secret_from_its_first_span(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "OPENAI_API_KEY": fresh("sk-test"),
        "MY_SERVICE_TOKEN": fresh("tok"),
        "DB_SECRET": fresh("db"),
        "PROVIDER_CREDENTIAL": fresh("named"),  # only stepladder.yaml's api_key_env names it
        "STEPLADDER_API_TOKEN": fresh("bearer"),
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = project / "stepladder.yaml"
    settings.write_text(
        settings.read_text() + "  frontier: {runtime: litellm, model: openai/gpt-4.1-mini, "
        "api_key_env: PROVIDER_CREDENTIAL}\n"
    )
    text = " ".join(f"{name}={value}" for name, value in secrets.items())
    result = runner.invoke(
        app, ["--project", str(project), "run", "hello", "--input", f'{{"text": "{text}"}}']
    )
    assert result.exit_code == 0, result.output
    stored = "".join(p.read_text() for p in (project / ".stepladder/traces").rglob("*"))
    assert stored.count('"run hello"') == 1
    for value in secrets.values():
        assert value not in stored
        assert value in result.stdout  # the run's own result is the user's: not masked
    assert MASK in stored


def test_every_part_of_a_span_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = fresh("sk-live")
    monkeypatch.setenv("PAYMENTS_API_KEY", secret)
    tracing, exporter = in_memory()  # registers the environment's secrets
    with tracing.tracer.start_as_current_span(f"call {secret}") as span:
        span.set_attribute("plain", f"key={secret}")
        span.set_attribute("listed", [secret, "other"])
        span.add_event(f"event {secret}", {"detail": secret})
        span.add_link(span.get_span_context(), {"why": secret})
        span.set_status(StatusCode.ERROR, f"failed with {secret}")
    with pytest.raises(ValueError), tracing.tracer.start_as_current_span("raises"):
        raise ValueError(f"bad key {secret}")
    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    for ended in spans:
        seen = [
            ended.name,
            str(attrs(ended)),
            str(ended.status.description),
            *(f"{e.name} {dict(e.attributes or {})}" for e in ended.events),
            *(str(dict(link.attributes or {})) for link in ended.links),
        ]
        assert not [part for part in seen if secret in part]
    first = spans[0]
    assert first.name == f"call {MASK}"
    assert attrs(first)["listed"] == (MASK, "other")
    assert first.status.description == f"failed with {MASK}"
    assert spans[1].events[0].attributes["exception.message"] == f"bad key {MASK}"


def test_previews_mask_before_cutting(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = fresh("cut-secret")
    monkeypatch.setenv("CUT_TOKEN", secret)
    tracing, exporter = in_memory(Previews(limit=20))
    with tracing.tracer.start_as_current_span("run") as span:
        span.set_attribute("stepladder.input", tracing.previews("x" * 10 + secret))
    value = attrs(exporter.get_finished_spans()[0])["stepladder.input"]
    assert secret[:8] not in value
    assert value.startswith("x" * 10 + MASK)


def test_which_environment_values_are_secrets() -> None:
    long_key, short_key, named, other = (fresh("a"), "short", fresh("n"), fresh("o"))
    environ = {
        "SOME_KEY": long_key,
        "TINY_TOKEN": short_key,
        "NAMED_BY_SETTINGS": named,
        "PLAIN_VALUE": other,
        "lower_secret": fresh("l"),
    }
    register_environment(["NAMED_BY_SETTINGS", None, "UNSET_VARIABLE"], environ)
    assert scrub(long_key) == MASK
    assert scrub(named) == MASK
    assert scrub(environ["lower_secret"]) == MASK
    assert scrub(f"{short_key} {other}") == f"{short_key} {other}"  # too short; not a secret


def test_the_bearer_token_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    token = fresh("bearer")
    monkeypatch.setenv("SERVICE_PASSPHRASE", token)
    assert read_token("SERVICE_PASSPHRASE") == token
    assert scrub(f"Bearer {token}") == f"Bearer {MASK}"
