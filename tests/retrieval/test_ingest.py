"""Ingest into a real on-disk Chroma store with the packaged embedding model."""

import itertools
import json
import re
from pathlib import Path

import pytest

from stepladder.errors import ConfigError
from stepladder.retrieval import Store
from stepladder.retrieval.documents import chunk_text, collect_files, read_records
from stepladder.retrieval.ingest import ingest
from tests.retrieval.embedded import store_in

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return store_in(tmp_path)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(*rows: dict[str, object]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


# --- chunking


def test_chunks_keep_words_whole_and_overlap() -> None:
    words = [f"w{i:03d}" for i in range(100)]
    chunks = chunk_text(" ".join(words), chunk_size=50, overlap=12)
    assert all(len(chunk) <= 50 for chunk in chunks)
    assert all(set(chunk.split()) <= set(words) for chunk in chunks)  # no cut words
    for before, after in itertools.pairwise(chunks):
        shared = before.split()[-2:]
        assert after.split()[:2] == shared  # the last 12 characters hold two 4-letter words
    covered = {word for chunk in chunks for word in chunk.split()}
    assert covered == set(words)


def test_short_empty_and_overlong_text() -> None:
    assert chunk_text("just a line", 800, 100) == ["just a line"]
    assert chunk_text("  \n\t ", 800, 100) == []
    pieces = chunk_text("x" * 120 + " tail", chunk_size=50, overlap=10)
    assert pieces[:2] == ["x" * 50, "x" * 50]
    assert pieces[-1].endswith("tail") and all(len(p) <= 50 for p in pieces)


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (100, 100), (100, -1)])
def test_bad_chunk_sizes(size: int, overlap: int) -> None:
    with pytest.raises(ConfigError, match="overlap"):
        chunk_text("text", size, overlap)


# --- each format


def test_text_and_markdown_are_one_document_each(tmp_path: Path, store: Store) -> None:
    notes = write(tmp_path, "docs/notes.txt", "Refunds take five business days.")
    guide = write(tmp_path, "docs/guide.md", "# Shipping\n\nOrders ship within two days.")
    result = ingest(store, "docs", [notes, guide], root=tmp_path)
    assert (result.files, result.records, result.chunks, result.added) == (2, 2, 2, 2)
    assert result.skipped == 0 and result.seconds > 0
    [best] = store.query("docs", "how long until my refund arrives?", k=1)
    assert best.text == "Refunds take five business days."
    assert best.metadata == {"source": "docs/notes.txt", "chunk": 0}


def test_jsonl_fields_become_metadata(tmp_path: Path, store: Store) -> None:
    rows = jsonl(
        {"id": 7, "body": "Reset a password from the sign-in page.", "topic": "account",
         "votes": 3, "score": 0.5, "solved": True, "tags": ["login", "password"],
         "author": {"name": "ann"}, "note": None},
        {"id": 8, "body": "Track an order from the orders page.", "topic": "orders"},
    )  # fmt: skip
    path = write(tmp_path, "faq.jsonl", rows)
    result = ingest(store, "faq", [path], text_field="body", id_field="id", root=tmp_path)
    assert (result.records, result.chunks, result.added) == (2, 2, 2)
    [best] = store.query("faq", "I forgot my password", k=1)
    assert best.metadata == {
        "source": "faq.jsonl",
        "record_id": "7",
        "chunk": 0,
        "topic": "account",
        "votes": 3,
        "score": 0.5,
        "solved": True,
        "tags": '["login", "password"]',
        "author": '{"name": "ann"}',
    }
    [orders] = store.query("faq", "password", k=1, where={"topic": "orders"})
    assert orders.metadata["record_id"] == "8"


def test_csv_with_chosen_text_and_id_columns(tmp_path: Path, store: Store) -> None:
    path = write(
        tmp_path,
        "rows.csv",
        "key,question,category\nq1,Where is my parcel?,DELIVERY\nq2,Cancel my plan,ACCOUNT\n",
    )
    result = ingest(store, "rows", [path], text_field="question", id_field="key")
    assert (result.files, result.records, result.added) == (1, 2, 2)
    [best] = store.query("rows", "my package has not arrived", k=1)
    assert best.text == "Where is my parcel?"
    assert best.metadata["category"] == "DELIVERY"
    assert best.metadata["record_id"] == "q1"


def test_long_documents_are_chunked_with_their_index(tmp_path: Path, store: Store) -> None:
    text = " ".join(f"sentence {i} about shipping rules." for i in range(60))
    path = write(tmp_path, "long.txt", text)
    result = ingest(store, "long", [path], chunk_size=300, overlap=60)
    assert result.chunks == len(chunk_text(text, 300, 60)) > 5
    indexes = sorted(p.metadata["chunk"] for p in store.query("long", "shipping", k=50))
    assert indexes == list(range(result.chunks))


def test_a_second_ingest_adds_nothing(tmp_path: Path, store: Store) -> None:
    path = write(tmp_path, "a.jsonl", jsonl({"text": "alpha one"}, {"text": "beta two"}))
    first = ingest(store, "twice", [path])
    again = ingest(store, "twice", [path])
    assert (first.added, first.skipped) == (2, 0)
    assert (again.chunks, again.added, again.skipped) == (2, 0, 2)
    assert store.counts() == {"twice": 2}


def test_repeated_chunks_are_added_once(tmp_path: Path, store: Store) -> None:
    path = write(tmp_path, "dup.jsonl", jsonl({"text": "same"}, {"text": "same"}))
    result = ingest(store, "dup", [path])
    assert (result.records, result.chunks, result.added, result.skipped) == (2, 2, 1, 1)


def test_a_folder_gives_its_supported_files(tmp_path: Path) -> None:
    write(tmp_path, "in/a.txt", "a")
    write(tmp_path, "in/sub/b.md", "b")
    write(tmp_path, "in/skip.pdf", "%PDF")
    write(tmp_path, "in/.hidden/c.txt", "c")
    files = collect_files([tmp_path / "in"])
    assert [f.relative_to(tmp_path / "in").as_posix() for f in files] == ["a.txt", "sub/b.md"]


# --- bad input: a clear error, and nothing written


@pytest.mark.parametrize(
    ("name", "text", "options", "expected"),
    [
        ("a.pdf", "%PDF", {}, "cannot ingest '.pdf' files; supported: .txt, .md, .jsonl, .csv"),
        (
            "a.csv",
            "question,label\nhi,GREETING\n",
            {},
            "no column 'text' for the text; columns: question, label. Pick one with --text-field",
        ),
        ("a.jsonl", '{"body": "x"}\n', {}, "line 1: no field 'text' for the text; fields: body"),
        ("a.jsonl", '{"text": "x"}\n{oops\n', {}, "line 2: not valid JSON"),
        ("a.jsonl", "[1, 2]\n", {}, "line 1: each line must be a JSON object, not list"),
        ("a.jsonl", '{"text": "x"}\n', {"id_field": "id"}, "no value for the id field 'id'"),
        ("a.txt", "x", {"chunk_size": 10, "overlap": 20}, "smaller than the chunk size"),
    ],
)
def test_bad_input_changes_nothing(
    tmp_path: Path, store: Store, name: str, text: str, options: dict[str, object], expected: str
) -> None:
    good = write(tmp_path, "good.txt", "fine")
    bad = write(tmp_path, name, text)
    with pytest.raises(ConfigError, match=re.escape(expected)):
        ingest(store, "docs", [good, bad], **options)  # type: ignore[arg-type]
    assert store.names() == []


def test_missing_paths_and_bad_names(tmp_path: Path, store: Store) -> None:
    with pytest.raises(ConfigError, match=r"nope\.txt: no such file or folder"):
        ingest(store, "docs", [tmp_path / "nope.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="the folder holds no files to ingest"):
        ingest(store, "docs", [tmp_path / "empty"])
    with pytest.raises(ConfigError, match="not a valid collection name"):
        ingest(store, "a b", [write(tmp_path, "x.txt", "x")])
    assert store.names() == []


# --- the shipped sample


def test_shipped_faq_sample_reads_cleanly() -> None:
    folder = EXAMPLES / "data" / "stackfaq"
    records = read_records(folder / "threads.jsonl", id_field="id")
    assert len(records) == 40
    assert len({r.record_id for r in records}) == 40
    assert all(r.text.startswith("Question: ") and r.metadata["question"] for r in records)
    threads = {r.record_id for r in records}
    queries = read_records(folder / "queries.jsonl", text_field="query")
    assert queries and all(q.metadata["thread"] in threads for q in queries)
    assert sum(f.stat().st_size for f in folder.iterdir()) < 300_000
