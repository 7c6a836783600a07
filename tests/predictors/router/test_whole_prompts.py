"""Router features see the whole prompt (the packaged embedding model, real windows)."""

import numpy as np
from tokenizers import Tokenizer

from stepladder.config.retrieval import EmbeddingSettings
from stepladder.predictors.router.features import embed_texts, text_features, text_windows
from stepladder.predictors.router.lexical import word_counts
from stepladder.retrieval.embeddings import shared_embedder

SHOTS = [
    "Question: A farmer has {a} cows and buys {b} more. How many cows are there now? "
    "Answer: {a} + {b} = {c}. The answer is {c}.",
    "Question: A train travels {a} km in the morning and {b} km after lunch. How far did it "
    "go? Answer: {a} + {b} = {c}. The answer is {c}.",
]


def few_shot_prefix(shots: int = 70) -> str:
    parts = []
    for i in range(shots):
        a, b = 3 + 7 * i, 11 + 5 * i
        parts.append(SHOTS[i % 2].format(a=a, b=b, c=a + b))
    return "\n\n".join(parts) + "\n\n"


def test_prompts_sharing_a_2000_token_prefix_get_different_features() -> None:
    settings = EmbeddingSettings()
    embedder = shared_embedder(settings)
    prefix = few_shot_prefix()
    tokenizer = Tokenizer.from_file(str(embedder.folder / "tokenizer.json"))  # type: ignore[attr-defined]
    tokenizer.no_truncation()
    assert len(tokenizer.encode(prefix).ids) >= 2000
    first = prefix + "Question: What is the capital city of France? Answer:"
    second = prefix + "Question: Prove that the square root of two is irrational. Answer:"
    assert len(text_windows(first)) > 2  # embedded whole, in windows, not its first 256 tokens
    vectors = embed_texts([first, second], embedder, settings)
    cosine = float(vectors[0] @ vectors[1])
    assert cosine < 0.99, cosine  # 0.979 measured; the truncated embeddings: 1.0000
    plain = np.asarray(embedder.embed([first, second]), dtype=np.float32)  # one window: truncated
    assert float(plain[0] @ plain[1]) > 0.999
    words = word_counts([first, second])
    assert (words[0] != words[1]).nnz > 0
    assert not np.array_equal(text_features([first])[0], text_features([second])[0])
