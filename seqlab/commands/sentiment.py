"""`seqlab sentiment train|evaluate|predict`: many-to-one text classifiers (sentiment and others).

seqlab sentiment train --train sst2/train.tsv --dev sst2/dev.tsv --out runs/sst2
seqlab sentiment evaluate --checkpoint runs/sst2 --data sst2/dev.tsv    # accuracy in percent
seqlab sentiment predict "not good at all" "a wonderful ending"     # the shipped model
cat reviews.txt | seqlab sentiment predict --checkpoint runs/sst2 --json
"""

from __future__ import annotations

from seqlab.commands import GROUPS
from seqlab.commands.predicting import add_model_args, add_predict_args
from seqlab.config import HelpFormatter, OptimConfig, add_train_args, from_args
from seqlab.models.configs import ClassifierConfig
from seqlab.strictjson import dumps

# Defaults that suit sentence classification better than the shared optimiser defaults
# (Adam at 1e-3 without decay, early stopping on the dev set picks the epoch).
OPTIM_DEFAULTS = {"lr": 1e-3, "schedule": "none", "warmup_steps": 0}


def add_parser(sub) -> None:
    p = sub.add_parser("sentiment", help=GROUPS["sentiment"])
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{train,evaluate,predict}")

    t = verbs.add_parser(
        "train",
        help="train a classifier on labelled text",
        description="Prints a JSON summary at the end; best_dev_accuracy_pct is in percent, as "
        "`sentiment evaluate` and the model cards give accuracy (86.12 means 86.12%). The run's "
        "files keep fractions in [0, 1], as macro-F1: metrics.jsonl's val_accuracy and the "
        "checkpoint's metrics.accuracy.",
        formatter_class=HelpFormatter,
    )
    from seqlab.sentiment.config import SentimentTrainConfig

    add_train_args(t, SentimentTrainConfig, ClassifierConfig, OptimConfig)
    t.set_defaults(func=_train)

    e = verbs.add_parser(
        "evaluate",
        help="accuracy, macro-F1 and confusion matrix on data",
        description="Prints one JSON object, on the model cards' scales: accuracy in percent "
        "(86.12 means 86.12%), correct and n (accuracy = 100 * correct / n), macro_f1 in [0, 1], "
        "confusion (rows: true label, columns: predicted, both in the order of labels), labels "
        "and skipped_rows; then {n, accuracy} on the texts with a negation word (negation: not, "
        "n't, no, never, nothing), those without (no_negation), those with a contrast word "
        "(contrast: but, although, though, yet, however, while, despite) and those with neither "
        "(rest).",
    )
    add_model_args(e, "sentiment")
    e.add_argument("--data", required=True, help="labelled .tsv/.csv/.jsonl or aclImdb folder")
    e.add_argument("--text-column", default=None, help="column/key with the text")
    e.add_argument("--label-column", default=None, help="column/key with the label")
    e.add_argument("--skip-bad", action="store_true", help="skip malformed rows (and count them)")
    e.set_defaults(func=_evaluate)

    r = verbs.add_parser(
        "predict",
        help="label and probabilities for texts (or stdin lines)",
        description="Label each text: one line TEXT<TAB>LABEL (its probability), or with --json "
        "one object per text (output: the label, n_best: every label with its probability).",
    )
    add_predict_args(r, "sentiment")
    r.add_argument("texts", nargs="*", help="texts to classify; none: one per line from stdin")
    r.add_argument(
        "--explain",
        choices=["integrated_gradients", "occlusion", "prefix"],
        default=None,
        help="also print each token's contribution to the predicted label, or (prefix) the "
        "probability of that label after each token: the reading word by word",
    )
    r.set_defaults(func=_predict)


def _train(args) -> int:
    from seqlab.distributed import print_main
    from seqlab.resume import base_config
    from seqlab.sentiment.config import TASK, SentimentTrainConfig
    from seqlab.sentiment.train import train

    base = base_config(args.config, args.resume, args.out or f"runs/{TASK}")
    cfg = from_args(SentimentTrainConfig, args, base)
    ocfg = from_args(OptimConfig, args, {**OPTIM_DEFAULTS, **base})
    summary = train(cfg, from_args(ClassifierConfig, args, base), ocfg)
    print_main(dumps(summary, indent=2))  # once, not per process
    return 0


def _evaluate(args) -> int:
    from seqlab.commands.predicting import prepare
    from seqlab.data.labelled import load_labelled
    from seqlab.sentiment.predict import SentimentPredictor

    pred = SentimentPredictor.from_checkpoint(args.checkpoint, prepare(args))
    data = load_labelled(args.data, args.text_column, args.label_column, args.skip_bad)
    result = pred.evaluate(data)  # accuracy as a fraction
    correct = sum(result["confusion"][k][k] for k in range(len(result["labels"])))
    print(
        dumps(
            {
                "accuracy": round(100 * result["accuracy"], 2),  # percent, as the model cards
                "correct": correct,
                "n": result["n"],
                "macro_f1": round(result["macro_f1"], 4),
                "confusion": result["confusion"],
                "labels": result["labels"],
                "negation": result["negation"],  # texts with not, n't, no, never, nothing
                "no_negation": result["no_negation"],
                "contrast": result["contrast"],  # texts with but, although, though, yet, ...
                "rest": result["rest"],  # texts with neither
                "skipped_rows": data.skipped,
            }
        )
    )
    return 0


def _predict(args) -> int:
    from seqlab.commands import predicting as io
    from seqlab.errors import UserError
    from seqlab.sentiment.predict import SentimentPredictor

    texts = args.texts or io.stdin_lines()
    if not texts:
        raise UserError("no text to classify: pass texts as arguments or lines on stdin")
    pred = SentimentPredictor.from_checkpoint(args.checkpoint, io.prepare(args))
    for text, result in zip(texts, pred.predict(texts), strict=True):
        ranked = sorted(result["probs"].items(), key=lambda kv: -kv[1])
        unknown = pred.unknown(text)
        rec = io.record(
            text,
            ranked,
            result["familiarity"],
            truncated=result["read_tokens"] < result["tokens"],
            read_tokens=result["read_tokens"],
            tokens=result["tokens"],
            probs=result["probs"],
            unknown=unknown,
        )
        if args.explain == "prefix":  # P(label) after each prefix, as the app shows it
            tokens, rows = pred.prefix_probs(text)
            label = result["label"]
            rec["prefix"] = [[t, round(r[label], 4)] for t, r in zip(tokens, rows, strict=True)]
        elif args.explain:
            tokens, scores, _ = pred.attribute(text, args.explain)
            rec["attribution"] = [[t, round(s, 4)] for t, s in zip(tokens, scores, strict=True)]
        _print_label(rec, args, pred.domain, text, result["familiarity"])
    return 0


def _print_label(rec: dict, args, domain: str, text: str, fam) -> None:
    """One text's record (the label with its probability in plain mode) and its notes."""
    from seqlab.commands import predicting as io

    if args.json:
        io.emit(rec, args)
        return
    io.emit({**rec, "output": f"{rec['output']} ({rec['n_best'][0]['score']:.2f})"}, args)
    if "attribution" in rec:
        print("\t" + " ".join(f"{t}:{s:+.3f}" for t, s in rec["attribution"]))
    if "prefix" in rec:  # P(the label) once the text is read up to each token
        print(f"\tP({rec['output']}) " + " ".join(f"{t}:{p:.2f}" for t, p in rec["prefix"]))
    if rec["truncated"]:
        io.note(args, text, f"the model read the first {rec['read_tokens']} of its "
                f"{rec['tokens']:,} tokens ({rec['chars']:,} characters)")  # fmt: skip
    if rec["unknown"]:
        shown = " ".join(dict.fromkeys(rec["unknown"][:20]))
        io.note(args, text, f"tokens the model does not know (read as <unk>): {shown}")
    io.unfamiliar(args, text, fam, "text", "the label", domain)
