"""`seqlab charlm train|sample|evaluate|inspect`: character-level language models."""

from __future__ import annotations

import sys

from seqlab.commands import GROUPS, checkpoint_arg
from seqlab.commands.predicting import add_model_args, count
from seqlab.config import HelpFormatter, OptimConfig, add_train_args, from_args
from seqlab.models.configs import CharLMConfig
from seqlab.strictjson import dumps

SAMPLE_SEED = 1337  # `charlm sample` without --seed: the same command gives the same text
# The prime's last MAX_PRIME_CHARS characters set the state: an LSTM's memory reaches back a few
# hundred characters at most, and a longer prime would only cost time and memory.
MAX_PRIME_CHARS = 10_000


def add_parser(sub) -> None:
    p = sub.add_parser("charlm", help=GROUPS["charlm"])
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{train,sample,evaluate,inspect}")

    t = verbs.add_parser(
        "train",
        help="train a char-LM with truncated BPTT",
        description=_train_description(),
        formatter_class=HelpFormatter,
    )
    from seqlab.charlm.config import CharLMTrainConfig

    add_train_args(t, CharLMTrainConfig, CharLMConfig, OptimConfig)
    t.set_defaults(func=_train)

    s = verbs.add_parser("sample", help="generate text from a trained char-LM")
    add_model_args(s, "charlm")
    s.add_argument(
        "--prime",
        default="\n",
        help=f"text to start from (the model reads its last {MAX_PRIME_CHARS:,} characters; "
        "the output echoes a long one as its last 200)",
    )
    s.add_argument("--length", type=count(0), default=500, help="characters to generate")
    s.add_argument("--temperature", type=float, default=0.8, help="0 means greedy")
    s.add_argument(
        "--top-k", type=count(0), default=0, help="sample among the k most likely (0: all)"
    )
    s.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling threshold")
    s.add_argument(
        "--seed",
        type=int,
        default=SAMPLE_SEED,
        help=f"random seed for sampling: the same seed, the same text (default: {SAMPLE_SEED}; "
        "the seed used is printed to stderr)",
    )
    s.set_defaults(func=_sample)

    e = verbs.add_parser("evaluate", help="loss (nats) and bits per character on a text")
    add_model_args(e, "charlm")
    e.add_argument("--text", required=True, help="UTF-8 text file")
    e.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="score only the last fraction of the text: the validation split that "
        "`charlm train --val-fraction` held out (default: the whole text)",
    )
    e.set_defaults(func=_evaluate)

    i = verbs.add_parser(
        "inspect",
        help="what the cells track: activations, feature correlations, gate saturation, n-gram",
    )
    i.add_argument("--checkpoint", **checkpoint_arg("charlm"))
    i.add_argument(
        "--text",
        required=True,
        help="UTF-8 text to run the model over (<= 2 MB); characters the model never saw are "
        "skipped, and counted",
    )
    i.add_argument("--out", default="runs/inspect", help="folder for the CSV/HTML/PNG/npy files")
    i.add_argument("--save", type=int, default=20000, help="characters whose states are saved")
    i.add_argument("--ngram-order", type=int, default=5, help="order of the n-gram baseline")
    i.set_defaults(func=_inspect)


def _train_description() -> str:
    from seqlab.charlm.plan import DEFAULT_MINUTES, SETTINGS  # torch-free at import

    flags = ", ".join("--" + k.replace("_", "-") for k in SETTINGS)
    return (
        f"The settings among {flags} that are not given are chosen for this machine and the "
        "budget (seqlab/charlm/plan.py: a short throughput probe, then one 'plan:' line on "
        "stderr, saved in OUT/config.json); --resume and --config keep the run's own. With no "
        f"--max-minutes, --epochs or --max-steps the budget is {DEFAULT_MINUTES:g} minutes. "
        "Prints a JSON summary at the end."
    )


def _train(args) -> int:
    from seqlab.charlm.config import TASK, CharLMTrainConfig
    from seqlab.charlm.train import train
    from seqlab.distributed import print_main
    from seqlab.resume import base_config

    def configs(base: dict) -> tuple:
        classes = (CharLMTrainConfig, CharLMConfig, OptimConfig)
        return tuple(from_args(c, args, base) for c in classes)

    base = base_config(args.config, args.resume, args.out or f"runs/{TASK}")
    cfgs = configs(base)  # a bad flag is refused before the plan spends time probing
    if not (args.config or args.resume):  # a re-run or a resumed run keeps its own sizes
        from seqlab.charlm.plan import planned_base

        cfgs = configs({**base, **planned_base(args, cfgs[0])})
    summary = train(*cfgs)
    print_main(dumps(summary, indent=2))  # once, not per process
    return 0


def _sample(args) -> int:
    from seqlab.charlm.predict import CharLMPredictor
    from seqlab.commands.predicting import ECHO_CHARS, prepare

    _check_sampling(args)  # before the model loads
    prime = args.prime[-MAX_PRIME_CHARS:]
    pred = CharLMPredictor.from_checkpoint(args.checkpoint, prepare(args))
    text = pred.sample(prime, args.length, args.temperature, args.top_k, args.top_p, args.seed)
    generated = text[len(prime or "\n") :]
    if len(args.prime) > ECHO_CHARS:  # echo a long prime by its end, which the text continues
        print("…" + args.prime[-ECHO_CHARS:] + generated)
        read = f"read its last {len(prime):,}" if len(prime) < len(args.prime) else "read all"
        print(
            f"seqlab: the prime has {len(args.prime):,} characters: shown as its last "
            f"{ECHO_CHARS}; the model {read}",
            file=sys.stderr,
        )
    else:
        print(text)
    if args.temperature > 0:  # greedy (0) draws nothing
        print(f"seqlab: seed {args.seed} (--seed N for another sample)", file=sys.stderr)
    return 0


def _check_sampling(args) -> None:
    from seqlab.errors import UserError

    if args.temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {args.temperature}")
    if not 0 < args.top_p <= 1:
        raise UserError(f"--top-p must be in (0, 1], got {args.top_p}")


def _evaluate(args) -> int:
    import math

    from seqlab.charlm.predict import CharLMPredictor
    from seqlab.commands.predicting import prepare
    from seqlab.data.text import read_text, split_text
    from seqlab.errors import UserError

    if args.val_fraction is not None and not 0 < args.val_fraction < 1:
        raise UserError(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
    text = read_text(args.text)
    if args.val_fraction is not None:
        _, text = split_text(text, args.val_fraction)  # the split train() holds out
    pred = CharLMPredictor.from_checkpoint(args.checkpoint, prepare(args))
    loss = pred.loss(text, show_progress=True)
    print(
        dumps(
            {
                "loss_nats": round(loss, 4),
                "bits_per_char": round(loss / math.log(2), 4),
                "chars": len(text),
            }
        )
    )
    return 0


def _inspect(args) -> int:
    import time
    from pathlib import Path

    from seqlab.charlm.inspect import trace
    from seqlab.charlm.predict import CharLMPredictor
    from seqlab.charlm.report import write_report
    from seqlab.data.text import read_text
    from seqlab.errors import UserError

    text = read_text(args.text)
    if len(text) > 2_000_000:
        raise UserError(f"{args.text} has {len(text):,} characters; inspect reads at most 2 MB")
    if args.save < 1 or args.ngram_order < 1:
        raise UserError("--save and --ngram-order must be >= 1")
    t0 = time.perf_counter()
    pred = CharLMPredictor.from_checkpoint(args.checkpoint, "cpu")
    known = "".join(ch for ch in text if ch in pred.vocab.index)  # the model has no id for others
    skipped = len(text) - len(known)
    if len(known) < 100:
        raise UserError(
            f"{args.text} has {len(known)} characters the model knows ({skipped} skipped); "
            "inspect needs at least 100"
        )
    if skipped:
        unseen = "".join(sorted({ch for ch in text if ch not in pred.vocab.index}))
        print(
            f"seqlab: skipped {skipped} of {len(text)} characters the model never saw "
            f"({unseen[:20]!r}); inspecting the other {len(known)}",
            file=sys.stderr,
        )
    tr = trace(pred.model, pred.vocab.encode(known), known, save=args.save)
    summary = write_report(tr, known, Path(args.out), args.ngram_order, skipped=skipped)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    print(dumps({k: v for k, v in summary.items() if k != "top_cells"}, indent=2))
    for row in summary["top_cells"]:
        print(
            f"{row['feature']:17} layer {row['layer'] + 1} {row['state']}[{row['unit']}]"
            f"  r = {row['r']:+.2f}"
        )
    return 0
