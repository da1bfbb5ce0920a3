"""Counterfactual training texts made from SST-style phrases by rule: minimal edits that turn the
label, so a classifier must read the edited word in its place (Kaushik et al. 2020, "Learning the
difference that makes a difference", had people write such edits; here rules write them from the
training phrases themselves).

Two kinds, each kept only where the rule can trust the new label:

- ``negation``: a short phrase whose predicate is a polar word ("the film is never dull",
  "is funny") gets a negation put in after its copula, or its one negation taken out, and the
  opposite label. The polar words and their polarity come from the training data's own one-word
  phrases (SST labels single words too); the edit is made only where that word's polarity agrees
  with the phrase's label before the edit, so the word is what carries it.
- ``contrast``: two training phrases of opposite labels, A and B, joined as "A , but B" and
  "although A , B", both of which take B's label, each with its twin that swaps A and B.

    texts, labels = counterfactuals(train.texts, train.labels, "all", seed=1337)

The texts are lower-case, PTB-tokenised like GLUE's SST-2 ("is n't", "it 's"). Edits that only
sound right with a part-of-speech tagger (verbs: "liked" / "did n't like") are not made.
"""

from __future__ import annotations

import random
from collections import defaultdict

from seqlab.errors import UserError
from seqlab.sentiment.negation import CONTRAST_WORDS, NEGATION_WORDS

KINDS = ("none", "negation", "contrast", "all")
COPULAS = ("is", "are", "was", "were", "'s")
# "'s" is a copula after these (elsewhere it is mostly the possessive: "jolie 's hideous")
PRONOUNS = ("it", "that", "there", "he", "she", "what", "this", "here", "who", "everything")
# words that may stand between the copula and the polar word: adverbs that keep its polarity,
# and determiners ("is a disaster"); "too", "hardly" and the like turn it, so they are left out
BETWEEN = (
    "a", "an", "the", "very", "so", "really", "quite", "particularly", "especially", "always",
    "all", "that", "just", "ever", "genuinely", "truly", "remotely", "exactly", "entirely",
    "terribly", "completely", "altogether", "even", "as", "more", "most",
)  # fmt: skip
INSERTS = ("not", "never", "n't")
MAX_TOKENS = 12  # longer phrases have more than one clause to negate


def polar_words(texts: list[str], labels: list) -> dict[str, object]:
    """The one-word training phrases whose label never varies: word -> label."""
    seen = defaultdict(set)
    for text, label in zip(texts, labels, strict=True):
        tokens = text.split()
        if len(tokens) == 1 and tokens[0].isalpha():
            seen[tokens[0]].add(label)
    return {w: next(iter(ls)) for w, ls in seen.items() if len(ls) == 1}


def _polar_after(tokens: list[str], i: int, lexicon: dict) -> object | None:
    """The label of the polar word after tokens[i], past at most two BETWEEN words, or None."""
    for j in range(i + 1, min(i + 4, len(tokens))):
        if tokens[j] in lexicon:
            return lexicon[tokens[j]]
        if tokens[j] not in BETWEEN:
            return None
    return None


def _copula(tokens: list[str], i: int) -> bool:
    if tokens[i] not in COPULAS:
        return False
    return tokens[i] != "'s" or i == 0 or tokens[i - 1] in PRONOUNS


def negation_edit(text: str, label, other, lexicon: dict, rng: random.Random) -> str | None:
    """The phrase with its negation put in or taken out (its label: ``other``), or None where the
    rule does not apply or cannot trust the flip."""
    tokens = text.split()
    if len(tokens) > MAX_TOKENS or any(w in CONTRAST_WORDS for w in tokens):
        return None
    copulas = [i for i, w in enumerate(tokens) if _copula(tokens, i)]
    negations = [i for i, w in enumerate(tokens) if w in NEGATION_WORDS]
    if len(copulas) != 1:
        return None
    c = copulas[0]
    if not negations:  # put one in: "is dull" (negative) -> "is never dull" (positive)
        if _polar_after(tokens, c, lexicon) != label:
            return None
        word = rng.choice(INSERTS if tokens[c] != "'s" else INSERTS[:2])
        return " ".join(tokens[: c + 1] + [word] + tokens[c + 1 :])
    # take one out: "is n't funny" (negative) -> "is funny" (positive)
    if negations != [c + 1] or tokens[c + 1] in ("no", "nothing"):
        return None
    if _polar_after(tokens, c + 1, lexicon) != other:
        return None
    return " ".join(tokens[: c + 1] + tokens[c + 2 :])


def contrast_pairs(texts: list[str], labels: list, n_pairs: int, rng: random.Random):
    """4 * n_pairs texts: "A , but B" and "although A , B" (label of B), and their twins with A
    and B swapped, from training phrases of 3 to 10 tokens with opposite labels."""
    pool = defaultdict(list)
    for text, label in zip(texts, labels, strict=True):
        tokens = text.split()
        while tokens and tokens[-1] in (".", ",", "!", "?", ";", "--"):
            tokens = tokens[:-1]
        if 3 <= len(tokens) <= 10 and not any(w in CONTRAST_WORDS for w in tokens):
            pool[label].append(" ".join(tokens))
    classes = sorted(pool, key=str)
    if len(classes) != 2:
        return [], []
    out_texts, out_labels = [], []
    for _ in range(n_pairs):
        pos, neg = rng.choice(pool[classes[1]]), rng.choice(pool[classes[0]])
        for a, b, label in ((neg, pos, classes[1]), (pos, neg, classes[0])):
            out_texts += [f"{a} , but {b} .", f"although {a} , {b} ."]
            out_labels += [label, label]
    return out_texts, out_labels


def counterfactuals(
    texts: list[str], labels: list, kind: str, seed: int = 0, contrast_share: float = 0.03
) -> tuple[list[str], list]:
    """The training data with the counterfactual texts of ``kind`` (KINDS) appended.

    contrast: 4 texts per pair, as many pairs as ``contrast_share`` of the data (2,020 pairs,
    8,080 texts for SST-2's 67,349 phrases at 0.03)."""
    if kind not in KINDS:
        raise UserError(f"--counterfactuals must be one of {KINDS}, got {kind!r}")
    if kind == "none":
        return texts, labels
    classes = sorted(set(labels), key=str)
    if len(classes) != 2:
        raise UserError(f"--counterfactuals needs two classes, the data has {len(classes)}")
    rng = random.Random(seed)
    new_texts, new_labels = [], []
    if kind in ("negation", "all"):
        lexicon = polar_words(texts, labels)
        for text, label in zip(texts, labels, strict=True):
            other = classes[1] if label == classes[0] else classes[0]
            edited = negation_edit(text, label, other, lexicon, rng)
            if edited is not None:
                new_texts.append(edited)
                new_labels.append(other)
    if kind in ("contrast", "all"):
        more = contrast_pairs(texts, labels, int(len(texts) * contrast_share), rng)
        new_texts += more[0]
        new_labels += more[1]
    return texts + new_texts, list(labels) + new_labels
