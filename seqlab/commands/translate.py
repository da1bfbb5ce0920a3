"""`seqlab translate train|evaluate` and `seqlab translate "text" [--checkpoint PATH]`.

Without --checkpoint, evaluate and translate use the shipped de->en model.

Any first argument that is not a verb is text to translate ("-" reads lines from stdin).
"""

from __future__ import annotations

import argparse
import sys

from seqlab.commands import GROUPS, checkpoint_arg, predictor_device
from seqlab.config import HelpFormatter, OptimConfig, add_train_args, from_args
from seqlab.models.configs import Seq2SeqConfig
from seqlab.serving import add_int8_arg
from seqlab.strictjson import dumps

VERBS = ("train", "evaluate", "text")
OPTIM_DEFAULTS = {"lr": 1e-3, "schedule": "plateau", "clip_norm": 1.0}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "translate",
        help=GROUPS["translate"],
        usage="seqlab translate {train,evaluate} ... | seqlab translate [flags] TEXT",
        verbs=VERBS,
        implied_verb="text",  # any other first argument is text (or a flag of `text`)
    )
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{train,evaluate,TEXT}")

    t = verbs.add_parser(
        "train",
        prog="seqlab translate train",
        help="train a translator",
        formatter_class=HelpFormatter,
    )
    from seqlab.translate.config import TranslateTrainConfig

    add_train_args(t, TranslateTrainConfig, Seq2SeqConfig, OptimConfig)
    t.set_defaults(func=_train)

    e = verbs.add_parser(
        "evaluate",
        prog="seqlab translate evaluate",
        help="BLEU (sacreBLEU) and perplexity on a test set",
    )
    e.add_argument("--checkpoint", **checkpoint_arg("translate"))
    e.add_argument("--src", required=True, help="source sentences, one a line")
    e.add_argument("--ref", required=True, help="reference translations, aligned")
    _decoding_args(e)
    e.add_argument("--output", help="also write the translations to this file")
    e.set_defaults(func=_evaluate)

    x = verbs.add_parser(
        "text",
        prog="seqlab translate",
        usage="seqlab translate [flags] TEXT | seqlab translate {train,evaluate} ...",
        help="translate TEXT (the verb may be left out)",
        description="Translate TEXT with a seq2seq model (the shipped de->en one by default).",
        epilog="The other verbs: `seqlab translate train --help` (train a translator) and "
        "`seqlab translate evaluate --help` (BLEU and perplexity on a test set).",
    )
    x.add_argument("text", help='the sentence to translate; "-" reads lines from stdin')
    x.add_argument("--checkpoint", **checkpoint_arg("translate"))
    _decoding_args(x)
    x.add_argument("--n-best", type=int, default=1, help="print the N best with their scores")
    x.add_argument("--attention", action="store_true", help="print the attention matrix")
    x.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per text: translation, n-best, unknown pieces, and the source's "
        'familiarity ({"score": share of validation sources less familiar, "in_domain": ...})',
    )
    x.set_defaults(func=_translate)


def _print_translation(text: str, out: dict, args, domain: str) -> None:
    from seqlab.familiarity import familiarity_json, unfamiliar_note

    fam = out["familiarity"]
    if args.json:
        keep = ("translation", "unknown")
        line = {"source": text, **{k: out[k] for k in keep}, "familiarity": familiarity_json(fam)}
        line["n_best"] = [{"text": t, "score": round(s, 4)} for t, s, _ in out["n_best"]]
        print(dumps(line, ensure_ascii=False))
        return
    if args.n_best > 1:
        for hyp, score, log_prob in out["n_best"]:
            print(f"{score:.3f}\t{log_prob:.3f}\t{hyp}")
    else:
        print(out["translation"])
    if out["unknown"]:
        print(f"note: unknown source pieces: {' '.join(out['unknown'])}", file=sys.stderr)
    if fam is not None and not fam.in_domain:
        note = unfamiliar_note("sentence", "the translation", domain, fam)
        print(f"note: {text!r}: {note}", file=sys.stderr)


def _decoding_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beam", type=int, default=5, help="beam size (1: greedy)")
    p.add_argument(
        "--length-penalty",
        type=float,
        default=None,
        help="GNMT alpha (0: none; default: the model's own, else 0.6)",
    )
    p.add_argument("--device", default="auto")
    add_int8_arg(p)


def _check_decoding(args) -> None:
    from seqlab.errors import UserError

    if args.beam < 1:
        raise UserError(f"--beam must be >= 1, got {args.beam}")


def _train(args) -> int:
    from seqlab.distributed import print_main
    from seqlab.resume import base_config
    from seqlab.translate.config import TASK, TranslateTrainConfig
    from seqlab.translate.train import train

    base = base_config(args.config, args.resume, args.out or f"runs/{TASK}")
    cfg = from_args(TranslateTrainConfig, args, base)
    ocfg = from_args(OptimConfig, args, {**OPTIM_DEFAULTS, **base})
    summary = train(cfg, from_args(Seq2SeqConfig, args, base), ocfg)
    print_main(dumps(summary, indent=2))  # once, not per process
    return 0


def _evaluate(args) -> int:
    from pathlib import Path

    from seqlab.data.pairs import read_parallel
    from seqlab.serving import use_int8
    from seqlab.translate.predict import Translator

    _check_decoding(args)
    pairs = read_parallel(args.src, args.ref)
    tr = use_int8(Translator.from_checkpoint(args.checkpoint, predictor_device(args)), args.int8)
    sources, refs = [s for s, _ in pairs], [r for _, r in pairs]
    hyps = tr.translate_lines(sources, args.beam, args.length_penalty)  # decoded once
    scores = tr.evaluate(sources, refs, args.beam, args.length_penalty, hypotheses=hyps)
    if args.output:
        Path(args.output).write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    print(dumps(scores, indent=2))
    return 0


def _translate(args) -> int:
    from seqlab.serving import use_int8
    from seqlab.translate.predict import Translator

    _check_decoding(args)
    tr = use_int8(Translator.from_checkpoint(args.checkpoint, predictor_device(args)), args.int8)
    if args.text == "-":
        lines = [ln.strip() for ln in sys.stdin if ln.strip()]
        outs = tr.translate_many(lines, args.beam, args.length_penalty, args.n_best)
        for line, out in zip(lines, outs, strict=True):
            _print_translation(line, out, args, tr.domain)
        return 0
    out = tr.translate(args.text, args.beam, args.length_penalty, args.n_best)
    _print_translation(args.text, out, args, tr.domain)
    if args.attention and out["attention"] is not None:
        print("\t" + "\t".join(out["source_tokens"]))
        for tok, row in zip(out["target_tokens"], out["attention"], strict=False):
            print(tok + "\t" + "\t".join(f"{w:.2f}" for w in row))
    return 0
