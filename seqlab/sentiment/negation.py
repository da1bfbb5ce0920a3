"""Negation and contrast in sentiment: which texts carry a negation word or a contrast word
("but", "although"), to measure a classifier on them apart, and to see negations more often in
training.

Negation flips or softens polarity ("not a bad film at all" is praise), so a model that reads
word by word can get it wrong where a bag of words cannot get it right. SST-2's training rows are
phrases of the parsed sentences (Socher et al. 2013), so the negated phrases are there with their
own labels; ``negation_repeats`` shows them more often.

    has_negation("it 's not a bad film .")     # True
    has_contrast("a slow start but a wonderful ending .")   # True
"""

from __future__ import annotations

import re

NEGATION_WORDS = ("not", "n't", "no", "never", "nothing")
_NEGATION = re.compile(r"(?<![\w'])(not|no|never|nothing)(?![\w'])|n't(?!\w)", re.IGNORECASE)
# the words that set one clause against another; the verdict sits in the one that wins
CONTRAST_WORDS = ("but", "although", "though", "yet", "however", "while", "despite")
_CONTRAST = re.compile(r"(?<![\w'])(" + "|".join(CONTRAST_WORDS) + r")(?![\w'])", re.IGNORECASE)


def has_negation(text: str) -> bool:
    """Whether ``text`` has one of NEGATION_WORDS (as a word, or ``n't`` as in "isn't")."""
    return _NEGATION.search(text) is not None


def has_contrast(text: str) -> bool:
    """Whether ``text`` has one of CONTRAST_WORDS as a word."""
    return _CONTRAST.search(text) is not None


def repeat_negated(texts: list[str], labels: list, repeats: int) -> tuple[list[str], list]:
    """The data with each negated text ``repeats`` extra times (appended after the rest)."""
    extra = [i for i, t in enumerate(texts) if has_negation(t)] * repeats
    return texts + [texts[i] for i in extra], list(labels) + [labels[i] for i in extra]
