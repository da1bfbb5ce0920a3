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

from seqlab.commands import GROUPS, checkpoint_arg, predictor_device
from seqlab.config import HelpFormatter, OptimConfig, add_dataclass_args, add_train_args, from_args
from seqlab.errors import UserError
from seqlab.models.configs import ENCODERS, FEATURE_PRECISIONS, CaptionerConfig, EncoderConfig
from seqlab.serving import add_int8_arg
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
    e.add_argument("--checkpoint", **checkpoint_arg("caption"))
    e.add_argument("--root", required=True, help="dataset folder")
    e.add_argument("--dataset", default=None, help="dataset layout (default: the checkpoint's)")
    e.add_argument("--split", default="test", choices=["train", "val", "test"])
    e.add_argument("--beam", type=int, default=3, help="beam size (1: greedy)")
    e.add_argument("--limit", type=int, default=0, help="score only the first N images")
    e.add_argument("--cache-dir", default="data/cache/features", help="feature cache")
    e.add_argument(
        "--feature-precision",
        choices=FEATURE_PRECISIONS,
        help="precision of the encoder's features (default: the one the model trained on)",
    )
    e.add_argument("--device", default="auto")
    add_int8_arg(e)  # the decoder; the CNN encoder stays fp32

    p = argparse.ArgumentParser(
        prog="seqlab caption",
        usage="seqlab caption [flags] IMAGE [IMAGE ...] | seqlab caption {train,evaluate} ...",
        description="Caption images (the shipped captioner by default).",
        epilog="The other verbs: `seqlab caption train --help` (train a captioner) and "
        "`seqlab caption evaluate --help` (BLEU-1..4 on a dataset split).",
    )
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--checkpoint", **checkpoint_arg("caption"))
    p.add_argument("--beam", type=int, default=3, help="beam size (1: greedy)")
    p.add_argument("--n-best", type=int, default=1, help="captions per image, best first")
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per image: captions with scores, and the photo's familiarity "
        '({"score": share of validation photos less familiar, "in_domain": true/false})',
    )
    p.add_argument("--device", default="auto")
    add_int8_arg(p)  # the decoder; the CNN encoder stays fp32
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

    scores = evaluate_checkpoint(
        args.checkpoint,
        args.root,
        args.split,
        args.beam,
        dataset=args.dataset,
        limit=args.limit,
        cache_dir=args.cache_dir,
        device=predictor_device(args),
        feature_precision=args.feature_precision,
        int8=args.int8,
    )
    print(dumps(scores))
    return 0


def _predict(args) -> int:
    from seqlab.caption.predict import CaptionPredictor
    from seqlab.familiarity import familiarity_json, unfamiliar_note
    from seqlab.serving import use_int8

    pred = CaptionPredictor.from_checkpoint(args.checkpoint, predictor_device(args))
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
        if args.json:
            found = [{"text": c.text, "score": round(c.score, 4)} for c in caps]
            print(dumps({"image": path, "captions": found, "familiarity": familiarity_json(fam)}))
        elif args.n_best == 1:
            print(f"{path}\t{caps[0].text}")
        else:
            for rank, cap in enumerate(caps, 1):
                print(f"{path}\t{rank}\t{cap.score:.3f}\t{cap.text}")
        if fam is not None and not fam.in_domain and not args.json:
            note = unfamiliar_note("photo", "the caption", pred.domain, fam)
            print(f"note: {path}: {note}", file=sys.stderr)
    if failed:
        print(
            f"seqlab: {failed} of {len(args.images)} images could not be captioned", file=sys.stderr
        )
    return 1 if failed else 0
