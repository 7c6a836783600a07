"""Records hold the model's request and response, never a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

import stepladder
from stepladder.replay import load_record, replay_session
from tests.conftest import write_project
from tests.fake_chat import chat_server

FAKE_KEY = "sk-fake-replay-0123456789abcdef"
TOKEN = "tok-fake-bearer-9876543210"
FLOW = """
name: answer
state:
  message: {type: str, input: true}
  reply: str
nodes:
  - id: reply
    kind: generate
    tier: api
    reads: [message]
    instructions: Answer the customer.
    output: reply
"""


def test_a_recorded_llm_call_keeps_its_request_and_response_but_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLAY_TEST_API_KEY", FAKE_KEY)
    monkeypatch.setenv("REPLAY_TEST_TOKEN", TOKEN)
    with chat_server('{"reply": "Your order ships today."}') as (port, requests):
        settings = (
            "name: secrets\ntiers:\n  api: {runtime: openai-compatible, "
            f'base_url: "http://127.0.0.1:{port}/v1", model: m, '
            "api_key_env: REPLAY_TEST_API_KEY, temperature: 0.3, max_tokens: 64}\n"
        )
        root = write_project(tmp_path / "project", {"flows/answer.yaml": FLOW}, settings)
        project = stepladder.open_project(root)
        session = replay_session(project.config, record=True)
        message = f"where is my order? my key is {FAKE_KEY} and token {TOKEN}"
        result = project.run("answer", {"message": message}, replay=session)
    assert result.state["reply"] == "Your order ships today."
    assert requests, "the model server was called"
    assert session.saved is not None
    text = session.saved.read_text(encoding="utf-8")
    assert FAKE_KEY not in text and TOKEN not in text
    assert "REPLAY_TEST_API_KEY" not in text
    (call,) = load_record(session.saved).calls
    (exchange,) = call.exchanges
    request, response = exchange["request"], exchange["response"]
    assert request["model"].endswith("m") and request["adapter"] == "ConstrainedJSONAdapter"
    assert request["schema"]["type"] == "json_schema"
    assert request["sampling"]["temperature"] == 0.3 and request["sampling"]["max_tokens"] == 64
    assert not any("key" in name.lower() for name in request["sampling"])
    assert any("where is my order" in str(m["content"]) for m in request["messages"])
    assert "[secret]" in str(request["messages"])
    assert response["outputs"] == ['{"reply": "Your order ships today."}']
    assert response["usage"]["completion_tokens"] == 5
    assert response["finish_reasons"] == ["stop"]
    assert call.model_calls == 1 and call.seconds > 0
