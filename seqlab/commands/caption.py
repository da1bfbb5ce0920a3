"""`seqlab caption train|evaluate|IMAGE...`: image captioning.

    seqlab caption train --dataset flickr8k --root DIR [--encoder efficientnet_lite0] [--attention]
    seqlab caption evaluate --root DIR --split test [--beam 3] [--checkpoint runs/cap]
    seqlab caption photo.jpg other.png [--beam 3] [--n-best 3] [--checkpoint runs/cap]

Without --checkpoint, evaluate and predict use the shipped model (seqlab pretrained list).

A first argument that is not a verb is an image path (``predict`` is the verb it implies).
"""

from __future__ import annotations

import argparse
import sys

from seqlab.commands import GROUPS
from seqlab.commands.predicting import add_model_args, add_predict_args, add_search_args, count
from seqlab.config import HelpFormatter, OptimConfig, add_dataclass_args, add_train_args, from_args
from seqlab.errors import UserError
from seqlab.models.configs import ENCODERS, FEATURE_PRECISIONS, CaptionerConfig, EncoderConfig
from seqlab.strictjson import dumps

VERBS = ("train", "evaluate", "predict")
USAGE = """seqlab caption train --dataset flickr8k --root DIR [--encoder NAME] [--attention] ...
       seqlab caption evaluate [--checkpoint PATH] --root DIR [--split test] [--beam 3]
       seqlab caption IMAGE [IMAGE ...] [--checkpoint PATH] [--beam 3] [--n-best 1] [--int8]"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "caption",
        help=GROUPS["caption"],
        usage=USAGE,
        description=__doc__.split("\n\n")[0],
        verbs=VERBS,
        implied_verb="predict",  # image paths and predict's flags, in any order
    )
    p.add_argument(
        "rest",
        nargs=argparse.REMAINDER,
        metavar="VERB_OR_IMAGE ...",
        help="train, evaluate, or image paths; `seqlab caption train --help` for flags",
    )
    p.set_defaults(func=_dispatch)


def _verb_parsers() -> dict[str, argparse.ArgumentParser]:
    from seqlab.caption.config import CaptionTrainConfig

    fmt = HelpFormatter
    t = argparse.ArgumentParser(
        prog="seqlab caption train",
        formatter_class=fmt,
        description="train a captioner (teacher forcing, BLEU on val)",
    )
    add_train_args(t, CaptionTrainConfig, CaptionerConfig, OptimConfig)
    encoder = t.add_argument_group("Encoder")
    add_dataclass_args(encoder, EncoderConfig, skip=("name",))
    encoder.add_argument(
        "--encoder",
        dest="name",
        default=None,
        choices=ENCODERS,
        metavar="NAME",
        help=f"image encoder: {', '.join(ENCODERS)} (default: efficientnet_lite0, "
        "pretrained and offline; scratch trains a small CNN end to end)",
    )

    e = argparse.ArgumentParser(
        prog="seqlab caption evaluate", description="BLEU-1..4 (nltk corpus BLEU, all references)"
    )
    add_model_args(e, "caption", int8=True)  # int8: the decoder; the CNN encoder stays fp32
    e.add_argument("--root", required=True, help="dataset folder")
    e.add_argument("--dataset", default=None, help="dataset layout (default: the checkpoint's)")
    e.add_argument("--split", default="test", choices=["train", "val", "test"])
    add_search_args(e, beam=3, n_best=False)
    e.add_argument("--limit", type=count(0), default=0, help="score only the first N images")
    e.add_argument("--cache-dir", default="data/cache/features", help="feature cache")
    e.add_argument(
        "--feature-precision",
        choices=FEATURE_PRECISIONS,
        help="precision of the encoder's features (default: the one the model trained on)",
    )

    p = argparse.ArgumentParser(
        prog="seqlab caption",
        usage="seqlab caption [flags] IMAGE [IMAGE ...] | seqlab caption {train,evaluate} ...",
        description="Caption images (the shipped captioner by default): one line "
        "IMAGE<TAB>CAPTION each, or with --json one object per image.",
        epilog="The other verbs: `seqlab caption train --help` (train a captioner) and "
        "`seqlab caption evaluate --help` (BLEU-1..4 on a dataset split).",
    )
    p.add_argument("images", nargs="+", help="image files")
    add_predict_args(p, "caption", int8=True)  # int8: the decoder; the CNN encoder stays fp32
    add_search_args(p, beam=3)
    return {"train": t, "evaluate": e, "predict": p}


def _dispatch(args) -> int:
    rest = list(args.rest)
    if not rest:
        raise UserError("give a verb (train, evaluate) or image paths; see `seqlab caption -h`")
    verb = rest.pop(0) if rest[0] in VERBS else "predict"
    parser = _verb_parsers()[verb]
    try:
        sub = parser.parse_args(rest)
    except SystemExit as e:  # argparse printed help or a one-line usage error
        return int(e.code or 0)
    return {"train": _train, "evaluate": _evaluate, "predict": _predict}[verb](sub)


def _train(args) -> int:
    from seqlab.caption.config import TASK, CaptionTrainConfig
    from seqlab.caption.train import train
    from seqlab.distributed import print_main
    from seqlab.resume import base_config

    base = base_config(args.config, args.resume, args.out or f"runs/{TASK}")
    summary = train(
        from_args(CaptionTrainConfig, args, base),
        from_args(CaptionerConfig, args, base),
        from_args(EncoderConfig, args, base),
        from_args(OptimConfig, args, base),
    )
    print_main(dumps(summary, indent=2))  # once, not per process
    return 0


def _evaluate(args) -> int:
    from seqlab.caption.predict import evaluate_checkpoint
    from seqlab.commands.predicting import prepare

    scores = evaluate_checkpoint(
        args.checkpoint,
        args.root,
        args.split,
        args.beam,
        dataset=args.dataset,
        limit=args.limit,
        cache_dir=args.cache_dir,
        device=prepare(args),
        feature_precision=args.feature_precision,
        int8=args.int8,
    )
    print(dumps(scores))
    return 0


def _predict(args) -> int:
    from seqlab.caption.predict import CaptionPredictor
    from seqlab.commands import predicting as io
    from seqlab.serving import use_int8

    io.check_search(args)  # before the model loads
    pred = CaptionPredictor.from_checkpoint(args.checkpoint, io.prepare(args))
    pred = use_int8(pred, args.int8)  # the decoder; the CNN encoder stays fp32
    failed = 0
    for path in args.images:
        try:
            caps = pred.caption(path, beam_size=args.beam, n_best=args.n_best)
        except UserError as e:  # one bad image must not cost the others their captions
            print(f"seqlab: error: {e}", file=sys.stderr)
            failed += 1
            continue
        fam = caps[0].familiarity
        io.emit(io.record(path, [(c.text, c.score) for c in caps], fam, text=False), args)
        io.unfamiliar(args, path, fam, "photo", "the caption", pred.domain)
    if failed and len(args.images) > 1:
        print(
            f"seqlab: {failed} of {len(args.images)} images could not be captioned", file=sys.stderr
        )
    return 1 if failed else 0
