"""Benchmark: does a sentiment checkpoint read word order? Negation, contrast and intensity.

    taskset -c 0 uv run python bench/sentiment_contrast.py \
        [--checkpoint sentiment-sst2 runs/x/lstm/ckpt_best.pt ...] \
        [--contrast tests/data/sentiment_contrast.tsv] [--sst2 ../shared/data/sst2] [--threads 1]

For each checkpoint (default: the shipped ``sentiment-sst2``), issue 34's figures:
- the contrast set (tests/data/sentiment_contrast.tsv, written for seqlab and kept out of every
  training run; see tests/data/README.md): accuracy overall and per phenomenon, and the share of
  pairs with both sentences right (Gardner et al. 2020's contrast consistency); and the same
  sentences as a user types them ("it's not a bad film.", nltk's Treebank detokenizer), which
  a model trained on Treebank tokens ("it 's", "was n't") may read as other pieces;
- SST-2 dev: accuracy overall, on the sentences with a negation word (not, n't, no, never,
  nothing: ``seqlab.sentiment.negation.has_negation``, as ``seqlab sentiment evaluate`` and the
  card count them) and on the rest;
- the fit: the share of SST-2's training phrases with a negation word that the model gets right.

``--ensemble`` adds a row for the checkpoints together: the mean of their probabilities (an
ensemble of seeds; they must share their labels).

A data path that is absent is skipped (its columns read "-"). Prints the CPU and the command, one
markdown row per checkpoint, and then each row's figures as a JSON line.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRAST = ROOT / "tests" / "data" / "sentiment_contrast.tsv"
DEFAULT_SST2 = ROOT.parent / "shared" / "data" / "sst2"
COLUMNS = ("sentence", "label", "pair", "phenomenon")


def read_contrast(path: Path) -> list[dict]:
    """The contrast set's rows: {sentence, label, pair, phenomenon}."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or set(COLUMNS) - set(rows[0]):
        raise SystemExit(f"{path}: expected a TSV with the columns {', '.join(COLUMNS)}")
    return rows


class Ensemble:
    """Predictors whose probabilities are averaged: ``predict`` as SentimentPredictor's."""

    def __init__(self, members: list):
        self.members = members
        self.labels = members[0].labels
        if any(m.labels != self.labels for m in members):
            raise SystemExit("--ensemble: the checkpoints have different labels")

    def predict(self, texts: list[str]) -> list[dict]:
        runs = [m.predict(texts) for m in self.members]
        out = []
        for results in zip(*runs, strict=True):
            probs = {n: sum(r["probs"][n] for r in results) / len(results) for n in self.labels}
            out.append({"label": max(probs, key=probs.get), "probs": probs})
        return out


def share(right: int, n: int) -> dict:
    return {"right": right, "n": n, "accuracy": round(100 * right / n, 2) if n else None}


def right_answers(predictor, texts: list[str], labels: list[str]) -> list[bool]:
    """Whether the predicted label of each text is its gold label."""
    preds = [r["label"] for r in predictor.predict(texts)]
    return [p == gold for p, gold in zip(preds, labels, strict=True)]


def score_contrast(predictor, rows: list[dict]) -> dict:
    """Accuracy overall and per phenomenon, and pairs with both sentences right."""
    texts, labels = [row["sentence"] for row in rows], [row["label"] for row in rows]
    right = right_answers(predictor, texts, labels)
    out = {"all": share(sum(right), len(rows))}
    for phenomenon in dict.fromkeys(row["phenomenon"] for row in rows):
        hits = [r for r, row in zip(right, rows, strict=True) if row["phenomenon"] == phenomenon]
        out[phenomenon] = share(sum(hits), len(hits))
    pairs: dict[str, bool] = {}
    for r, row in zip(right, rows, strict=True):
        pairs[row["pair"]] = pairs.get(row["pair"], True) and r
    out["pairs_both_right"] = share(sum(pairs.values()), len(pairs))
    from nltk.tokenize.treebank import TreebankWordDetokenizer

    detokenize = TreebankWordDetokenizer().detokenize
    raw = [detokenize(t.split()) for t in texts]
    out["raw_text"] = share(sum(right_answers(predictor, raw, labels)), len(rows))
    return out


def score_sst2(predictor, folder: Path) -> dict:
    """Dev overall, with a negation word and without, and the fit on negated training phrases."""
    from seqlab.data.labelled import load_labelled
    from seqlab.sentiment.negation import has_negation

    out = {}
    if (folder / "dev.tsv").is_file():
        dev = load_labelled(folder / "dev.tsv")
        right = right_answers(predictor, dev.texts, dev.labels)
        negated = [has_negation(t) for t in dev.texts]
        out["dev"] = share(sum(right), len(right))
        for key, want in (("dev_negation", True), ("dev_no_negation", False)):
            hits = [r for r, n in zip(right, negated, strict=True) if n == want]
            out[key] = share(sum(hits), len(hits))
    if (folder / "train.tsv").is_file():
        train = load_labelled(folder / "train.tsv")
        keep = [i for i, t in enumerate(train.texts) if has_negation(t)]
        texts, labels = [train.texts[i] for i in keep], [train.labels[i] for i in keep]
        right = right_answers(predictor, texts, labels)
        out["train_negation_fit"] = share(sum(right), len(right))
    return out


def cell(figure: dict | None) -> str:
    """ "84.12% (106/126)"; "-" for a figure that was skipped or has no sentences."""
    if not figure or not figure["n"]:
        return "-"
    return f"{figure['accuracy']:.2f}% ({figure['right']}/{figure['n']})"


def table(results: list[dict], phenomena: list[str]) -> list[str]:
    """The markdown header and one row per checkpoint."""
    heads = ["checkpoint", "contrast set", *phenomena, "pairs both right", "as typed"]
    heads += ["SST-2 dev", "dev negation", "dev other", "train negation phrases (fit)"]
    keys = ["all", *phenomena, "pairs_both_right", "raw_text"]
    sst = ["dev", "dev_negation", "dev_no_negation", "train_negation_fit"]
    lines = ["| " + " | ".join(heads) + " |", "|---|" + "---:|" * (len(heads) - 1)]
    for r in results:
        cells = [r["checkpoint"]] + [cell(r["contrast"].get(k)) for k in keys]
        lines.append("| " + " | ".join(cells + [cell(r["sst2"].get(k)) for k in sst]) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--checkpoint",
        nargs="+",
        default=["sentiment-sst2"],
        help="shipped model names or checkpoint paths: one row each",
    )
    p.add_argument("--contrast", type=Path, default=CONTRAST, help="the contrast set (TSV)")
    p.add_argument(
        "--sst2", type=Path, default=DEFAULT_SST2, help="folder with GLUE SST-2 train/dev.tsv"
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument(
        "--ensemble", action="store_true", help="add a row: the checkpoints' mean probabilities"
    )
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")

    import torch

    from seqlab import hardware
    from seqlab.errors import UserError
    from seqlab.sentiment.predict import SentimentPredictor
    from seqlab.strictjson import dumps

    torch.set_num_threads(args.threads)
    rows = read_contrast(args.contrast) if args.contrast.is_file() else []
    print(f"{hardware.describe_cpu()}; torch threads: {args.threads}")
    given = sys.argv[1:] if argv is None else argv
    print("command: uv run python bench/sentiment_contrast.py " + shlex.join(given))
    for path, what in ((args.contrast, "contrast set"), (args.sst2 / "dev.tsv", "SST-2 dev")):
        if not path.is_file():
            print(f"skipped: the {what} ({path} is absent)")
    if not (args.sst2 / "train.tsv").is_file():
        print(f"skipped: the fit on SST-2's training phrases ({args.sst2 / 'train.tsv'} is absent)")
    try:
        predictors = [SentimentPredictor.from_checkpoint(n, "cpu") for n in args.checkpoint]
    except UserError as e:
        print(f"sentiment_contrast: error: {e}", file=sys.stderr)
        return 1
    named = list(zip(args.checkpoint, predictors, strict=True))
    if args.ensemble:
        named.append((f"ensemble of {len(predictors)}", Ensemble(predictors)))
    results = []
    for name, predictor in named:
        contrast = score_contrast(predictor, rows) if rows else {}
        sst2 = score_sst2(predictor, args.sst2)
        results.append({"checkpoint": name, "contrast": contrast, "sst2": sst2})
    phenomena = list(dict.fromkeys(row["phenomenon"] for row in rows))
    print("\n" + "\n".join(table(results, phenomena)) + "\n")
    for r in results:
        print(dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
