"""A small generated sentiment dataset, so the demo runs offline on first launch.

Short English movie-review sentences built from templates, labelled by rule: plain praise and
complaint, intensifiers, negation ("not good at all" is negative, "never boring" positive) and
contrast ("slow start but a wonderful ending" takes the polarity of the clause after "but"; the
one before "although" loses). Order and bag-of-words alone cannot solve the negated and
contrastive ones, which is what a recurrent model should learn. Same seed, same file.

    uv run python -m seqlab.toy.sentiment data/cache/sentiment_demo   # train/dev.tsv
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

POSITIVE = [
    "good",
    "great",
    "wonderful",
    "excellent",
    "brilliant",
    "delightful",
    "moving",
    "funny",
    "charming",
    "beautiful",
    "superb",
    "enjoyable",
    "fantastic",
    "gripping",
    "clever",
    "fresh",
    "touching",
    "memorable",
    "smart",
    "lovely",
]
NEGATIVE = [
    "bad",
    "boring",
    "dull",
    "awful",
    "terrible",
    "weak",
    "tedious",
    "clumsy",
    "predictable",
    "flat",
    "bland",
    "painful",
    "messy",
    "lifeless",
    "forgettable",
    "slow",
    "silly",
    "stale",
    "poor",
    "annoying",
]
SUBJECTS = [
    "the movie",
    "the film",
    "the plot",
    "the acting",
    "the script",
    "the story",
    "the cast",
    "the soundtrack",
    "the direction",
    "this picture",
    "the dialogue",
    "the lead",
    "the pacing",
    "the photography",
    "it",
]
PARTS = [
    "start",
    "ending",
    "middle",
    "opening",
    "finale",
    "first half",
    "second half",
    "cast",
    "script",
    "premise",
    "performance",
    "score",
]
INTENSIFIERS = ["", "", "very ", "really ", "truly ", "quite ", "absolutely ", "so ", "rather "]
OPENERS = ["", "", "", "honestly , ", "overall , ", "i thought ", "in the end , ", "frankly , "]
LABELS = ("negative", "positive")


def _adj(rng: random.Random, positive: bool) -> str:
    return rng.choice(POSITIVE if positive else NEGATIVE)


def _clause(rng: random.Random, positive: bool) -> str:
    """A clause with the given polarity, sometimes reached through a negation."""
    subj, inten = rng.choice(SUBJECTS), rng.choice(INTENSIFIERS)
    verb = "is" if subj == "it" or rng.random() < 0.5 else "was"
    if rng.random() < 0.3:  # negation flips the adjective's polarity
        neg = rng.choice(["not", "never", "not at all", "hardly"])
        return f"{subj} {verb} {neg} {_adj(rng, not positive)}"
    return f"{subj} {verb} {inten}{_adj(rng, positive)}"


def _phrase(rng: random.Random, positive: bool) -> str:
    return f"a {rng.choice(INTENSIFIERS)}{_adj(rng, positive)} {rng.choice(PARTS)}"


def example(rng: random.Random) -> tuple[str, str]:
    """One (sentence, label) pair."""
    positive = rng.random() < 0.5
    kind = rng.random()
    if kind < 0.35:
        text = _clause(rng, positive)
    elif kind < 0.5:
        text = f"not {_adj(rng, not positive)} at all"
        if rng.random() < 0.5:
            text = f"{rng.choice(SUBJECTS)} was {text}"
    elif kind < 0.7:  # contrast: the clause after "but" decides
        text = f"{_phrase(rng, not positive)} but {_phrase(rng, positive)}"
        if rng.random() < 0.5:
            text = f"{_clause(rng, not positive)} , but {_clause(rng, positive)}"
    elif kind < 0.8:
        text = f"although {_clause(rng, not positive)} , {_clause(rng, positive)}"
    elif kind < 0.9:
        text = f"{_clause(rng, positive)} and {_clause(rng, positive)}"
    else:
        text = _phrase(rng, positive)
    return rng.choice(OPENERS) + text, LABELS[positive]


def generate(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [example(rng) for _ in range(n)]


def write_tsv(path: str | Path, n: int, seed: int = 0) -> Path:
    """Write ``n`` examples as a ``text<TAB>label`` TSV with a header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{t}\t{label}\n" for t, label in generate(n, seed))
    path.write_text("text\tlabel\n" + rows, encoding="utf-8")
    return path


def write_splits(folder: str | Path, n_train: int = 20000, n_dev: int = 1000) -> tuple[Path, Path]:
    """train.tsv (seed 0) and dev.tsv (seed 1) in ``folder``."""
    folder = Path(folder)
    return (
        write_tsv(folder / "train.tsv", n_train, seed=0),
        write_tsv(folder / "dev.tsv", n_dev, seed=1),
    )


if __name__ == "__main__":
    train, dev = write_splits(sys.argv[1] if len(sys.argv) > 1 else "data/cache/sentiment_demo")
    print(f"wrote {train} and {dev}")
