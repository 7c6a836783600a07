"""The `chroma.host` path against a real `chroma run` server: ingest from one process,
retrieve from two `stepladder serve` replicas, and clear errors when the server is down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepladder.config.retrieval import ChromaSettings
from stepladder.errors import ConfigError, ModelError
from stepladder.retrieval import open_store
from tests.conftest import write_project
from tests.retrieval.chroma_server import ChromaServer, chroma_server
from tests.retrieval.embedded import packaged_embeddings
from tests.serve.helpers import closed_port, serving

pytestmark = pytest.mark.slow

LOOKUP = """
name: lookup
state:
  question: {type: str, input: true}
  passages: "list[dict]"
nodes:
  - {id: search, kind: retrieve, collection: faq, query: question, output: passages, k: 2}
"""
RECORDS = [
    {"id": "refunds", "text": "Refunds reach your card within five working days of approval."},
    {"id": "shipping", "text": "Parcels ship free of charge to every country in the EU."},
    {"id": "passwords", "text": "Reset a forgotten password from the sign-in page link."},
]
QUESTIONS = {
    "How long until my refund arrives?": "refunds",
    "Do I pay for delivery to Germany?": "shipping",
    "I forgot my password, what now?": "passwords",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    with chroma_server(tmp_path_factory.mktemp("chroma")) as running:
        yield running


def project_on(root: Path, settings: str) -> Path:
    """A project whose store is `settings` (a `chroma:` line), with the lookup flow and data."""
    data = "".join(json.dumps(record) + "\n" for record in RECORDS)
    files = {"flows/lookup.yaml": LOOKUP, "data/faq.jsonl": data}
    return write_project(root, files, "name: chroma-server\n" + settings)


def stepladder(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in its own process, as a deployment would."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    command = [sys.executable, "-m", "stepladder", "--project", str(project), *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300,
                          cwd=project)  # fmt: skip


def test_chroma_server_ingest_once_then_two_replicas_retrieve(
    server: ChromaServer, tmp_path: Path
) -> None:
    project = project_on(tmp_path / "project", server.settings)
    ingested = stepladder(project, "ingest", "faq", "data/faq.jsonl", "--id-field", "id")
    assert ingested.returncode == 0, ingested.stderr
    assert "3 record(s), 3 chunk(s): 3 added, 0 already there" in ingested.stdout
    listed = stepladder(project, "collections")
    assert listed.returncode == 0, listed.stderr
    assert f"the Chroma server at 127.0.0.1:{server.port}" in listed.stdout
    assert not (project / ".stepladder" / "chroma").exists()  # nothing went to disk

    with serving(project) as first, serving(project) as second:
        assert first.url != second.url
        for replica in (first, second):
            with replica.client() as client:
                for question, record_id in QUESTIONS.items():
                    response = client.post("/flows/lookup/runs", json={"question": question})
                    assert response.status_code == 200, response.text
                    passages = response.json()["state"]["passages"]
                    assert len(passages) == 2
                    best = passages[0]
                    assert best["metadata"]["record_id"] == record_id
                    assert best["text"] == next(r["text"] for r in RECORDS if r["id"] == record_id)


def test_chroma_server_down_is_a_clear_error_for_ingest_and_serve(tmp_path: Path) -> None:
    port = closed_port()
    project = project_on(tmp_path / "project", f"chroma: {{host: 127.0.0.1, port: {port}}}\n")
    ingested = stepladder(project, "ingest", "faq", "data/faq.jsonl")
    assert ingested.returncode != 0
    assert f"cannot reach the Chroma server at 127.0.0.1:{port}" in ingested.stderr
    assert "chroma run" in ingested.stderr and "Traceback" not in ingested.stderr

    with serving(project) as replica, replica.client() as client:
        response = client.post("/flows/lookup/runs", json={"question": "refund?"})
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["error"] == "model_unavailable"
        assert f"cannot reach the Chroma server at 127.0.0.1:{port}" in body["detail"]


def test_chroma_server_that_stops_after_opening_raises_model_error(tmp_path: Path) -> None:
    with chroma_server(tmp_path / "chroma") as running:
        settings = ChromaSettings(host=running.host, port=running.port)
        store = open_store(settings, tmp_path, packaged_embeddings())
        assert store.add("faq", ["a"], ["refunds take five days"], [{}]) == 1
        assert [p.id for p in store.query("faq", "refund", k=1)] == ["a"]
        running.stop()
        for call in (store.names, lambda: store.query("faq", "refund", k=1)):
            with pytest.raises(ModelError, match=f"Chroma server at 127.0.0.1:{running.port}"):
                call()


def test_chroma_server_missing_collection_names_the_server(
    server: ChromaServer, tmp_path: Path
) -> None:
    store = open_store(ChromaSettings(host=server.host, port=server.port), tmp_path,
                       packaged_embeddings())  # fmt: skip
    with pytest.raises(ConfigError, match="no collection 'absent' in the Chroma server at "):
        store.collection("absent")


def test_chroma_server_that_cannot_start_fails_the_test_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "chroma"
    broken.write_text("#!/bin/sh\necho 'error: cannot bind the port' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr("tests.retrieval.chroma_server.chroma_command", lambda: str(broken))
    with pytest.raises(pytest.fail.Exception) as failed, chroma_server(tmp_path / "data"):
        pass
    message = str(failed.value)
    assert "the Chroma server did not start" in message and "exit 3" in message
    assert "cannot bind the port" in message
