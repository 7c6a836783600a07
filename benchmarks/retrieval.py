"""Retrieval quality on real FAQ data, and the recall and speed of Chroma's HNSW index.

Everything uses the packaged all-MiniLM-L6-v2 (384-d, normalised vectors) and stepladder's
Chroma store (`open_store`) in a temporary folder.

- StackFAQ: 125 StackExchange threads and 1,249 paraphrased user questions. Each thread (its
  question and top answers) is ingested with `Store.add`, and every paraphrase is asked with
  `Store.query(k=5)`. A hit is any passage of the paraphrase's thread. Ranks count threads, so
  several chunks of one thread count once. Three ways to ingest are compared: `whole` (one
  document per thread, id = thread id; the model reads only its first 256 word pieces),
  `chunks` (the question and each answer cut into windows of 120 words, overlap 20; the
  headline) and `chunks+title` (the same windows, each answer window starting with the
  thread's question).
- SQuAD2-500: 500 SQuAD 2.0 dev questions on 411 distinct paragraphs. The paragraphs
  (deduplicated) are the documents and the questions are the queries; a hit is the question's
  own paragraph. The headline covers the 242 answerable questions. The 258 unanswerable ones
  are reported on their own line and left out of the headline: SQuAD 2.0's writers made them
  on that paragraph, so it is still "their" paragraph, but it holds no answer.
- HNSW: Chroma's recall@10 against exact search (numpy dot products on the normalised
  vectors) on 10k and 100k vectors, with per-query latency. The vectors are real embeddings
  of about 40k distinct texts (CLINC150, Banking77, StackFAQ and SQuAD), 500 of them held out
  as queries. The 100k set adds synthetic vectors to the real ones: normalise(w*a + (1-w)*b),
  with a and b two different real base vectors and w ~ Uniform(0.25, 0.75), seeded.
  `--synthetic random` uses random unit vectors instead; those lie far from every real
  vector, never among a query's exact neighbours, so they test less. Vectors go in through
  the raw Chroma collection with precomputed embeddings, in batches, with the HNSW settings
  given explicitly: by default Chroma's own defaults (M=16, ef_construction=100,
  ef_search=100), which are what a stepladder `Store` collection gets. The index is then
  reopened with each `ef_search` of the sweep (a loaded index keeps its search settings).

Embeddings are cached in `--cache-dir` (default `.stepladder/cache/`, gitignored): the first
run embeds about 40k texts (a few minutes on 2 cores), later runs embed nothing. The summary
goes to stdout and the progress bars to stderr; the last line of stdout is a JSON object.

    .venv/bin/python benchmarks/retrieval.py [--quick] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from stepladder.progress import progress_bar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from stepladder.config.retrieval import ChromaSettings, EmbeddingSettings
from stepladder.retrieval.embeddings import EmbeddingFunction, embedding_function
from stepladder.retrieval.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
K = 5
HNSW_K = 10
TIE_EPSILON = 1e-5
EMBED_BATCH = 512
WARMUP_QUERIES = 20

Matrix = NDArray[np.float32]


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


# --- embeddings, cached on disk ---------------------------------------------------------------


class CachedEmbeddings:
    """An embedding function that keeps every vector it made in one `.npz` file.

    Keys are SHA-1 digests of the texts; the file is named after the model. Texts that are not
    cached yet are embedded in length-sorted batches under a progress bar.
    """

    def __init__(self, inner: EmbeddingFunction, folder: Path) -> None:
        self.inner = inner
        self.name = inner.name
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", inner.name)
        self.path = folder / f"embeddings-{slug}.npz"
        self._vectors: dict[str, Matrix] = {}
        self._dirty = False
        self.embedded = 0
        self.embed_seconds = 0.0
        if self.path.exists():
            with np.load(self.path) as saved:
                for key, vector in zip(saved["keys"], saved["vectors"], strict=True):
                    self._vectors[str(key)] = vector
        self.loaded = len(self._vectors)

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def ensure(self, texts: Iterable[str], label: str = "embedding") -> None:
        """Embed (and cache) the texts that are not cached yet."""
        missing = sorted({t for t in texts if self.key(t) not in self._vectors}, key=len)
        if not missing:
            return
        start = time.perf_counter()
        with progress_bar() as progress:
            task = progress.add_task(f"{label} ({self.name})", total=len(missing))
            for begin in range(0, len(missing), EMBED_BATCH):
                batch = missing[begin : begin + EMBED_BATCH]
                for text, vector in zip(batch, self.inner.embed(batch), strict=True):
                    self._vectors[self.key(text)] = np.asarray(vector, dtype=np.float32)
                progress.update(task, advance=len(batch))
        self.embedded += len(missing)
        self.embed_seconds += time.perf_counter() - start
        self._dirty = True
        self.save()

    def matrix(self, texts: Sequence[str], label: str = "embedding") -> Matrix:
        """The texts' vectors as rows, renormalised in float32."""
        self.ensure(texts, label)
        rows = np.stack([self._vectors[self.key(t)] for t in texts]).astype(np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        return rows

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """The `EmbeddingFunction` protocol, served from the cache."""
        self.ensure(texts)
        return [self._vectors[self.key(t)].tolist() for t in texts]

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._vectors), dtype="U40")
        vectors = np.stack(list(self._vectors.values())).astype(np.float32)
        partial = self.path.with_suffix(".partial.npz")
        with partial.open("wb") as handle:
            np.savez(handle, keys=keys, vectors=vectors)
        partial.replace(self.path)
        self._dirty = False


# --- datasets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thread:
    id: str
    question: str
    answers: tuple[str, ...]
    paraphrases: tuple[str, ...]


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str
    context_id: str
    answerable: bool


@dataclass(frozen=True)
class Doc:
    """One chunk to ingest: its id, its text and the source (thread or paragraph) it is from."""

    id: str
    text: str
    source: str


def load_stackfaq(data: Path) -> list[Thread]:
    raw = json.loads((data / "faq" / "stackfaq" / "stackExchange-FAQ.json").read_text())
    threads = []
    for index, pair in enumerate(raw["root"]["qapair"]):
        answers = pair["answer"] if isinstance(pair["answer"], list) else [pair["answer"]]
        # "*" marks an empty paraphrase slot in the source file; one slot is null.
        paraphrases = [p.strip() for p in pair["rephr"] if p and p.strip() not in ("", "*")]
        threads.append(
            Thread(
                id=f"t{index:03d}",
                question=pair["question"].strip(),
                answers=tuple(a.strip() for a in answers if a and a.strip()),
                paraphrases=tuple(paraphrases),
            )
        )
    return threads


def load_squad(data: Path) -> tuple[dict[str, str], list[SquadQuestion]]:
    folder = data / "faq" / "squad2_500"
    rows = json.loads((folder / "queries.json").read_text())["queries"]
    truth = json.loads((folder / "ground_truth.json").read_text())
    contexts: dict[str, str] = {}  # text -> id, in first-seen order
    questions = []
    for row in rows:
        context_id = contexts.setdefault(row["context"], f"c{len(contexts):03d}")
        questions.append(
            SquadQuestion(
                id=row["id"],
                question=row["question"],
                context_id=context_id,
                answerable=not truth[row["id"]]["is_impossible"],
            )
        )
    return {cid: text for text, cid in contexts.items()}, questions


def intent_texts(data: Path) -> list[str]:
    """CLINC150 (all splits, out-of-scope included), then Banking77 (train and test)."""
    clinc = json.loads((data / "intents" / "clinc150" / "data_full.json").read_text())
    texts = [row[0] for split in sorted(clinc) for row in clinc[split]]
    for split in ("train", "test"):
        with (data / "intents" / "banking77" / f"{split}.csv").open(newline="") as handle:
            texts.extend(row["text"] for row in csv.DictReader(handle))
    return texts


def windows(text: str, size: int, overlap: int) -> list[str]:
    """Cut text into windows of at most `size` words, consecutive ones sharing `overlap`."""
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)] if words else []
    step = size - overlap
    return [" ".join(words[i : i + size]) for i in range(0, len(words) - overlap, step)]


def thread_docs(threads: Sequence[Thread], strategy: str, size: int, overlap: int) -> list[Doc]:
    docs: list[Doc] = []
    for thread in threads:
        if strategy == "whole":
            text = "\n\n".join((thread.question, *thread.answers))
            docs.append(Doc(thread.id, text, thread.id))
            continue
        pieces = [thread.question]
        for answer in thread.answers:
            for window in windows(answer, size, overlap):
                pieces.append(
                    f"{thread.question}\n{window}" if strategy == "chunks+title" else window
                )
        docs.extend(Doc(f"{thread.id}#{n}", text, thread.id) for n, text in enumerate(pieces))
    return docs


def context_docs(contexts: dict[str, str], strategy: str, size: int, overlap: int) -> list[Doc]:
    if strategy == "whole":
        return [Doc(cid, text, cid) for cid, text in contexts.items()]
    return [
        Doc(f"{cid}#{n}", text, cid)
        for cid, context in contexts.items()
        for n, text in enumerate(windows(context, size, overlap))
    ]


# --- retrieval quality through the stepladder store ------------------------------------------


@dataclass
class Quality:
    dataset: str
    strategy: str
    sources: int
    chunks: int
    ranks: list[int | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    top_scores: list[float] = field(default_factory=list)

    def recall(self, k: int) -> float:
        return sum(r is not None and r <= k for r in self.ranks) / len(self.ranks)

    @property
    def mrr(self) -> float:
        return sum(1.0 / r for r in self.ranks if r is not None) / len(self.ranks)

    def row(self) -> list[str]:
        return [
            self.dataset,
            self.strategy,
            str(self.sources),
            str(self.chunks),
            str(len(self.ranks)),
            f"{self.recall(1):.3f}",
            f"{self.recall(K):.3f}",
            f"{self.mrr:.3f}",
            f"{statistics.median(self.seconds) * 1000:.1f}",
        ]


def ingest(store: Store, name: str, docs: Sequence[Doc]) -> None:
    batch = 2000  # under Chroma's maximum batch size
    for begin in range(0, len(docs), batch):
        part = docs[begin : begin + batch]
        store.add(
            name,
            [d.id for d in part],
            [d.text for d in part],
            [{"source": d.source} for d in part],
        )


def ask(
    store: Store,
    name: str,
    queries: Sequence[tuple[str, str]],
    quality: Quality,
    progress: Progress,
) -> Quality:
    """Query every (text, source) pair with k=K; record the rank of the right source."""
    task = progress.add_task(f"{quality.dataset} {quality.strategy}", total=len(queries))
    for text, source in queries:
        start = time.perf_counter()
        passages = store.query(name, text, k=K)
        quality.seconds.append(time.perf_counter() - start)
        order = list(dict.fromkeys(str(p.metadata["source"]) for p in passages))
        quality.ranks.append(order.index(source) + 1 if source in order else None)
        quality.top_scores.append(passages[0].score if passages else 0.0)
        progress.update(task, advance=1)
    return quality


# --- HNSW recall and speed --------------------------------------------------------------------


@dataclass
class Trial:
    ef_search: int
    recall: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    reopen_s: float


@dataclass
class IndexRun:
    size: int
    real: int
    synthetic: int
    build_s: float
    exact_p50_ms: float
    synthetic_share: float
    trials: list[Trial]

    def trial(self, ef_search: int) -> Trial:
        return next(t for t in self.trials if t.ef_search == ef_search)


def exact_top(base: Matrix, queries: Matrix, k: int) -> tuple[NDArray[np.int64], Matrix]:
    """Exact top-k ids by dot product, and each query's k-th best score."""
    ids = np.empty((len(queries), k), dtype=np.int64)
    kth = np.empty(len(queries), dtype=np.float32)
    for begin in range(0, len(queries), 64):
        scores = queries[begin : begin + 64] @ base.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_scores, axis=1)
        ids[begin : begin + 64] = np.take_along_axis(part, order, axis=1)
        kth[begin : begin + 64] = np.take_along_axis(part_scores, order, axis=1)[:, -1]
    return ids, kth


def synthetic_vectors(base: Matrix, count: int, kind: str, rng: np.random.Generator) -> Matrix:
    if count <= 0:
        return np.empty((0, base.shape[1]), dtype=np.float32)
    if kind == "random":
        vectors = rng.standard_normal((count, base.shape[1])).astype(np.float32)
    else:
        first = rng.integers(len(base), size=count)
        second = (first + rng.integers(1, len(base), size=count)) % len(base)  # never == first
        weight = rng.uniform(0.25, 0.75, size=(count, 1)).astype(np.float32)
        vectors = weight * base[first] + (1.0 - weight) * base[second]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def hnsw_run(
    base: Matrix,
    real: int,
    queries: Matrix,
    folder: Path,
    config: dict[str, Any],
    sweep: Sequence[int],
    embeddings: EmbeddingFunction,
) -> IndexRun:
    """Build one collection from `base`, then query it once per `ef_search` in `sweep`."""
    from chromadb.api.shared_system_client import SharedSystemClient

    name = f"hnsw-{len(base)}"
    exact_ids, kth = exact_top(base, queries, HNSW_K)
    exact_times = []
    for query in queries[:100]:
        start = time.perf_counter()
        np.argpartition(-(base @ query), HNSW_K)[:HNSW_K]
        exact_times.append(time.perf_counter() - start)

    store = open_store(ChromaSettings(path=str(folder)), ROOT, embeddings)
    collection = store.client.create_collection(
        name, configuration={"hnsw": {"space": "cosine", **config}}, embedding_function=None
    )
    batch = min(5000, int(store.client.get_max_batch_size()))
    build = 0.0
    with progress_bar() as progress:
        task = progress.add_task(f"build {len(base):,} vectors", total=len(base))
        for begin in range(0, len(base), batch):
            ids = [str(i) for i in range(begin, min(begin + batch, len(base)))]
            start = time.perf_counter()
            collection.add(ids=ids, embeddings=base[begin : begin + batch])
            build += time.perf_counter() - start
            progress.update(task, advance=len(ids))
    assert collection.count() == len(base)

    trials = []
    with progress_bar() as progress:
        for ef_search in sweep:
            collection.modify(configuration={"hnsw": {"ef_search": ef_search}})
            # The index keeps its search settings while loaded: reopen it to apply them.
            SharedSystemClient.clear_system_cache()
            start = time.perf_counter()
            store = open_store(ChromaSettings(path=str(folder)), ROOT, embeddings)
            collection = store.client.get_collection(name, embedding_function=None)
            collection.query(query_embeddings=[queries[0]], n_results=HNSW_K, include=[])
            reopen = time.perf_counter() - start
            for query in queries[:WARMUP_QUERIES]:
                collection.query(query_embeddings=[query], n_results=HNSW_K, include=[])
            task = progress.add_task(
                f"query {len(base):,}, ef_search {ef_search}", total=len(queries)
            )
            times, recalls = [], []
            for index, query in enumerate(queries):
                start = time.perf_counter()
                result = collection.query(
                    query_embeddings=[query], n_results=HNSW_K, include=["distances"]
                )
                times.append(time.perf_counter() - start)
                found = np.array([int(i) for i in result["ids"][0]], dtype=np.int64)
                # Tie-aware: a returned vector counts if it scores at least the k-th exact score.
                hits = int(np.sum(base[found] @ query >= kth[index] - TIE_EPSILON))
                recalls.append(min(hits, HNSW_K) / HNSW_K)
                progress.update(task, advance=1)
            trials.append(
                Trial(
                    ef_search=ef_search,
                    recall=float(np.mean(recalls)),
                    p50_ms=percentile(times, 50) * 1000,
                    p99_ms=percentile(times, 99) * 1000,
                    mean_ms=float(np.mean(times)) * 1000,
                    reopen_s=reopen,
                )
            )
    SharedSystemClient.clear_system_cache()
    return IndexRun(
        size=len(base),
        real=real,
        synthetic=len(base) - real,
        build_s=build,
        exact_p50_ms=percentile(exact_times, 50) * 1000,
        synthetic_share=float(np.mean(exact_ids >= real)),
        trials=trials,
    )


# --- the benchmark ---------------------------------------------------------------------------


def normalised_text(text: str) -> str:
    """The model lowercases, so texts equal up to case and spacing embed identically."""
    return " ".join(text.lower().split())


def real_pool(
    threads: Sequence[Thread],
    contexts: dict[str, str],
    questions: Sequence[SquadQuestion],
    docs: Sequence[Doc],
    data: Path,
) -> list[str]:
    """Distinct real texts (up to case and spacing), in a fixed order."""
    texts = intent_texts(data)
    texts += [p for t in threads for p in t.paraphrases]
    texts += [q.question for q in questions] + list(contexts.values())
    texts += [d.text for d in docs]
    seen: dict[str, str] = {}
    for text in texts:
        if text.strip():
            seen.setdefault(normalised_text(text), text)
    return list(seen.values())


def bench(args: argparse.Namespace) -> dict[str, Any]:
    console = Console() if sys.stdout.isatty() else Console(width=120)
    inner = embedding_function(EmbeddingSettings())
    cache = CachedEmbeddings(inner, args.cache_dir)
    threads = load_stackfaq(args.data)
    contexts, questions = load_squad(args.data)
    faq_queries = [(p, t.id) for t in threads for p in t.paraphrases]
    answerable = [(q.question, q.context_id) for q in questions if q.answerable]
    unanswerable = [(q.question, q.context_id) for q in questions if not q.answerable]

    strategies = {
        "stackfaq": {
            s: thread_docs(threads, s, args.chunk_words, args.overlap)
            for s in ("whole", "chunks", "chunks+title")
        },
        "squad": {
            s: context_docs(contexts, s, args.chunk_words, args.overlap)
            for s in ("whole", "chunks")
        },
    }
    all_docs = [d for per in strategies.values() for docs in per.values() for d in docs]
    chunk_docs = strategies["stackfaq"]["chunks"] + strategies["squad"]["chunks"]
    query_texts = [t for t, _ in faq_queries] + [q.question for q in questions]
    cache.ensure([d.text for d in all_docs] + query_texts, "FAQ documents and queries")

    qualities: list[Quality] = []
    with tempfile.TemporaryDirectory(prefix="stepladder-retrieval-") as tmp:
        store = open_store(ChromaSettings(path=str(Path(tmp) / "faq")), ROOT, cache)
        with progress_bar() as progress:
            for dataset, per in strategies.items():
                for strategy, docs in per.items():
                    name = f"{dataset}-{strategy.replace('+', '-')}"
                    ingest(store, name, docs)
                    sources = len({d.source for d in docs})
                    query_sets = (
                        [("stackfaq", faq_queries)]
                        if dataset == "stackfaq"
                        else [("squad", answerable), ("squad-unanswerable", unanswerable)]
                    )
                    for label, queries in query_sets:
                        quality = Quality(label, strategy, sources, len(docs))
                        qualities.append(ask(store, name, queries, quality, progress))

        # HNSW: real vectors, 500 held out as queries; the rest (then synthetic ones) as base.
        pool = real_pool(threads, contexts, questions, chunk_docs, args.data)
        order = np.random.default_rng(args.seed).permutation(len(pool))
        query_texts = [pool[i] for i in order[: args.queries]]
        base_texts = [pool[i] for i in order[args.queries :]]
        if args.quick:
            base_texts = base_texts[:10_000]
        cache.ensure(query_texts + base_texts, "HNSW corpus")
        query_vectors = cache.matrix(query_texts)
        real_base = cache.matrix(base_texts)

        config = {
            "max_neighbors": args.m,
            "ef_construction": args.construction_ef,
            "ef_search": args.search_ef,
        }
        sweep = sorted({args.search_ef, *args.sweep})
        runs: list[IndexRun] = []
        sizes = [10_000] if args.quick else [10_000, 100_000]
        for size in sizes:
            real = min(size, len(real_base))
            rng = np.random.default_rng(args.seed + size)
            base = np.concatenate(
                [real_base[:real], synthetic_vectors(real_base, size - real, args.synthetic, rng)]
            )
            folder = Path(tmp) / f"hnsw-{size}"
            runs.append(hnsw_run(base, real, query_vectors, folder, config, sweep, cache))

    results = summarise(args, qualities, runs, config, sweep, len(pool))
    report(console, args, cache, qualities, runs, results)
    return results


def summarise(
    args: argparse.Namespace,
    qualities: Sequence[Quality],
    runs: Sequence[IndexRun],
    config: dict[str, Any],
    sweep: Sequence[int],
    pool: int,
) -> dict[str, Any]:
    def quality(dataset: str, strategy: str = "chunks") -> Quality:
        return next(q for q in qualities if q.dataset == dataset and q.strategy == strategy)

    faq, squad, squad_no = quality("stackfaq"), quality("squad"), quality("squad-unanswerable")
    by_size = {run.size: run for run in runs}
    small, large = by_size[10_000], by_size.get(100_000)
    headline_large = large.trial(args.search_ef) if large else None
    return {
        "benchmark": "retrieval",
        "stackfaq_recall_at_1": round(faq.recall(1), 4),
        "stackfaq_recall_at_5": round(faq.recall(K), 4),
        "squad_recall_at_1": round(squad.recall(1), 4),
        "squad_recall_at_5": round(squad.recall(K), 4),
        "hnsw_recall_at_10_10k": round(small.trial(args.search_ef).recall, 4),
        "hnsw_recall_at_10_100k": round(headline_large.recall, 4) if headline_large else None,
        "query_p50_ms_100k": round(headline_large.p50_ms, 3) if headline_large else None,
        "query_p99_ms_100k": round(headline_large.p99_ms, 3) if headline_large else None,
        "build_s_100k": round(large.build_s, 2) if large else None,
        "hnsw": {
            "space": "cosine",
            **config,
            "k": HNSW_K,
            "queries": args.queries,
            "real_vectors": pool - args.queries,
            "synthetic": (
                "normalise(w*a + (1-w)*b), a != b real base vectors, w ~ U(0.25, 0.75)"
                if args.synthetic == "mix"
                else "random unit vectors (normalised Gaussian)"
            ),
            "recall": "tie-aware: a hit scores >= the exact 10th best score - 1e-5",
            "runs": [
                {
                    "size": run.size,
                    "real": run.real,
                    "synthetic": run.synthetic,
                    "build_s": round(run.build_s, 2),
                    "exact_numpy_p50_ms": round(run.exact_p50_ms, 3),
                    "synthetic_share_of_exact_top10": round(run.synthetic_share, 4),
                    "sweep": [
                        {
                            "ef_search": t.ef_search,
                            "recall_at_10": round(t.recall, 4),
                            "p50_ms": round(t.p50_ms, 3),
                            "p99_ms": round(t.p99_ms, 3),
                        }
                        for t in run.trials
                    ],
                }
                for run in runs
            ],
        },
        "stackfaq_mrr_at_5": round(faq.mrr, 4),
        "stackfaq_queries": len(faq.ranks),
        "squad_answerable": len(squad.ranks),
        "squad_unanswerable_recall_at_1": round(squad_no.recall(1), 4),
        "squad_unanswerable_recall_at_5": round(squad_no.recall(K), 4),
        "strategies": {
            f"{q.dataset}/{q.strategy}": {
                "recall_at_1": round(q.recall(1), 4),
                "recall_at_5": round(q.recall(K), 4),
                "chunks": q.chunks,
            }
            for q in qualities
        },
        "chunk_words": args.chunk_words,
        "chunk_overlap": args.overlap,
        "quick": args.quick,
        "seed": args.seed,
    }


def report(
    console: Console,
    args: argparse.Namespace,
    cache: CachedEmbeddings,
    qualities: Sequence[Quality],
    runs: Sequence[IndexRun],
    results: dict[str, Any],
) -> None:
    console.print(
        f"[bold]Embeddings[/]: {cache.name}; cache {cache.path} ({cache.loaded:,} vectors loaded, "
        f"{cache.embedded:,} embedded now in {cache.embed_seconds:.1f} s)"
    )
    table = Table(title=f"Retrieval quality (stepladder Store, k={K})")
    for column in ("data", "ingest", "sources", "chunks", "queries", "R@1", "R@5", "MRR@5"):
        table.add_column(column, justify="left" if column in ("data", "ingest") else "right")
    table.add_column("query ms p50", justify="right")
    for quality in qualities:
        table.add_row(*quality.row())
    console.print(table)
    squad = {q.dataset: q for q in qualities if q.strategy == "chunks"}
    console.print(
        f"Windows of {args.chunk_words} words, overlap {args.overlap}. Headline: `chunks`. "
        "SQuAD's unanswerable questions are scored against the paragraph they were written on "
        "and kept out of the headline. Mean top-1 score: answerable "
        f"{statistics.fmean(squad['squad'].top_scores):.3f}, unanswerable "
        f"{statistics.fmean(squad['squad-unanswerable'].top_scores):.3f}."
    )
    hnsw = results["hnsw"]
    table = Table(
        title=(
            f"Chroma HNSW vs exact search (M={hnsw['max_neighbors']}, "
            f"ef_construction={hnsw['ef_construction']}, cosine, k={HNSW_K})"
        )
    )
    for column in ("vectors", "real", "synthetic", "build s", "ef_search", "recall@10"):
        table.add_column(column, justify="right")
    for column in ("p50 ms", "p99 ms", "mean ms", "numpy exact p50 ms"):
        table.add_column(column, justify="right")
    for run in runs:
        for trial in run.trials:
            mark = " *" if trial.ef_search == args.search_ef else ""
            table.add_row(
                f"{run.size:,}",
                f"{run.real:,}",
                f"{run.synthetic:,}",
                f"{run.build_s:.1f}",
                f"{trial.ef_search}{mark}",
                f"{trial.recall:.4f}",
                f"{trial.p50_ms:.2f}",
                f"{trial.p99_ms:.2f}",
                f"{trial.mean_ms:.2f}",
                f"{run.exact_p50_ms:.2f}",
            )
    console.print(table)
    console.print(
        f"{args.queries} held-out real query vectors; real base vectors: distinct texts from "
        "CLINC150, Banking77, StackFAQ and SQuAD2-500. Synthetic: "
        f"{hnsw['synthetic']} (seed {args.seed}). Recall is {hnsw['recall']}. "
        f"* = headline ef_search. Latency: one `collection.query` per vector after "
        f"{WARMUP_QUERIES} warm-up queries. Synthetic share of the exact top-10: "
        + ", ".join(f"{run.size:,}: {run.synthetic_share:.1%}" for run in runs)
        + "."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="HNSW on 10k vectors only")
    parser.add_argument(
        "--cache-dir", type=Path, default=ROOT / ".stepladder" / "cache", help="embedding cache"
    )
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--chunk-words", type=int, default=120, help="words per chunk")
    parser.add_argument("--overlap", type=int, default=20, help="words shared by chunks")
    parser.add_argument("--queries", type=int, default=500, help="held-out HNSW queries")
    parser.add_argument("--m", type=int, default=16, help="HNSW max_neighbors (hnsw:M)")
    parser.add_argument("--construction-ef", type=int, default=100, help="HNSW ef_construction")
    parser.add_argument("--search-ef", type=int, default=100, help="headline HNSW ef_search")
    parser.add_argument(
        "--sweep",
        type=lambda s: [int(v) for v in s.split(",") if v],
        default=[50, 100, 200],
        help="ef_search values to measure (comma-separated)",
    )
    parser.add_argument("--synthetic", choices=("mix", "random"), default="mix")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 0 <= args.overlap < args.chunk_words:
        parser.error("--overlap must be at least 0 and less than --chunk-words")
    print(json.dumps(bench(args)))


if __name__ == "__main__":
    main()
