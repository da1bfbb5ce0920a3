"""`seqlab translate train|evaluate` and `seqlab translate "text" [--checkpoint PATH]`.

Without --checkpoint, evaluate and translate use the shipped de->en model.

Any first argument that is not a verb is text to translate ("-" reads lines from stdin).
"""

from __future__ import annotations

import argparse
import sys

from seqlab.commands import GROUPS
from seqlab.commands.predicting import add_model_args, add_predict_args, add_search_args
from seqlab.config import HelpFormatter, OptimConfig, add_train_args, from_args
from seqlab.models.configs import Seq2SeqConfig
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
    add_model_args(e, "translate", int8=True)
    e.add_argument("--src", required=True, help="source sentences, one a line")
    e.add_argument("--ref", required=True, help="reference translations, aligned")
    _decoding_args(e, n_best=False)
    e.add_argument("--output", help="also write the translations to this file")
    e.set_defaults(func=_evaluate)

    x = verbs.add_parser(
        "text",
        prog="seqlab translate",
        usage="seqlab translate [flags] TEXT | seqlab translate {train,evaluate} ...",
        help="translate TEXT (the verb may be left out)",
        description="Translate TEXT with a seq2seq model (the shipped de->en one by default): "
        "one line SOURCE<TAB>TRANSLATION, or with --json one object per text.",
        epilog="The other verbs: `seqlab translate train --help` (train a translator) and "
        "`seqlab translate evaluate --help` (BLEU and perplexity on a test set).",
    )
    x.add_argument("text", help='the sentence to translate; "-" reads lines from stdin')
    add_predict_args(x, "translate", int8=True)
    _decoding_args(x)
    x.add_argument("--attention", action="store_true", help="print the attention matrix")
    x.set_defaults(func=_translate)


def _decoding_args(p: argparse.ArgumentParser, n_best: bool = True) -> None:
    add_search_args(p, beam=5, n_best=n_best)
    p.add_argument(
        "--length-penalty",
        type=float,
        default=None,
        help="GNMT alpha (0: none; default: the model's own, else 0.6)",
    )


def _check_decoding(args) -> None:
    """The decoding flags, before the model loads."""
    from seqlab.commands.predicting import check_search
    from seqlab.errors import UserError

    check_search(args)
    if args.length_penalty is not None and args.length_penalty < 0:
        raise UserError(f"--length-penalty must be >= 0, got {args.length_penalty}")


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

    from seqlab.commands.predicting import prepare
    from seqlab.data.pairs import read_parallel
    from seqlab.serving import use_int8
    from seqlab.translate.predict import Translator

    _check_decoding(args)
    pairs = read_parallel(args.src, args.ref)
    tr = use_int8(Translator.from_checkpoint(args.checkpoint, prepare(args)), args.int8)
    sources, refs = [s for s, _ in pairs], [r for _, r in pairs]
    hyps = tr.translate_lines(sources, args.beam, args.length_penalty)  # decoded once
    scores = tr.evaluate(sources, refs, args.beam, args.length_penalty, hypotheses=hyps)
    if args.output:
        Path(args.output).write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    print(dumps(scores, indent=2))
    return 0


def _translate(args) -> int:
    from seqlab.commands import predicting as io
    from seqlab.errors import UserError
    from seqlab.serving import use_int8
    from seqlab.translate.predict import Translator

    _check_decoding(args)
    texts = io.stdin_lines() if args.text == "-" else [args.text]
    if not texts:
        raise UserError("nothing to translate: stdin had no text")
    tr = use_int8(Translator.from_checkpoint(args.checkpoint, io.prepare(args)), args.int8)
    good, failed = [], 0
    for n, text in enumerate(texts, 1):
        try:
            tr.check_text(text)
            good.append(text)
        except UserError as e:  # one bad line must not cost the others their translations
            where = f"line {n}: " if args.text == "-" else ""
            print(f"seqlab: error: {where}{e}", file=sys.stderr)
            failed += 1
    outs = tr.translate_many(good, args.beam, args.length_penalty, args.n_best) if good else []
    for text, out in zip(good, outs, strict=True):
        _print_translation(text, out, args, tr.domain)
    if failed and len(texts) > 1:
        print(f"seqlab: {failed} of {len(texts)} lines could not be translated", file=sys.stderr)
    return 1 if failed else 0


def _print_translation(text: str, out: dict, args, domain: str) -> None:
    """One source's record, its notes, and with --attention (plain mode) the matrix."""
    from seqlab.commands import predicting as io

    n_best = [(t, s) for t, s, _ in out["n_best"]]
    io.emit(io.record(text, n_best, out["familiarity"], unknown=out["unknown"]), args)
    if out["unknown"]:
        io.note(args, text, f"unknown source pieces: {' '.join(out['unknown'][:20])}")
    io.unfamiliar(args, text, out["familiarity"], "sentence", "the translation", domain)
    if args.attention and not args.json and out["attention"] is not None:
        print("\t" + "\t".join(out["source_tokens"]))
        for tok, row in zip(out["target_tokens"], out["attention"], strict=False):
            print(tok + "\t" + "\t".join(f"{w:.2f}" for w in row))
