"""Python steps of the `hello` flow: each gets its reads as keyword arguments."""


def split_words(text: str) -> list[str]:
    """Split the text into lower-case words."""
    return [word.strip(".,!?;:").lower() for word in text.split() if word.strip(".,!?;:")]


def count_words(words: list[str]) -> int:
    """Count the words."""
    return len(words)


def summarize(words: list[str], word_count: int) -> str:
    """Write a one-line summary."""
    longest = max(words, key=len) if words else ""
    return f"{word_count} words; the longest is '{longest}'."
