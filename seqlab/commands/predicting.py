"""What the predict verbs share: ``seqlab caption IMAGE...``, ``seqlab translate TEXT`` and
``seqlab sentiment predict TEXT...`` take the same flags, check them before any model loads, and
print the same records.

Flags: ``add_predict_args`` gives --checkpoint, --device, --threads and --json (and --int8 where
the task serves an int8 copy); ``add_model_args`` gives evaluate and sample verbs the first three.

One record per input, plain by default:

    INPUT<TAB>OUTPUT                       the best output
    INPUT<TAB>RANK<TAB>SCORE<TAB>TEXT      with --n-best N: one line per candidate, best first

and with --json one object a line, with the same fields for every task::

    {"input": ..., "output": ..., "n_best": [{"text": ..., "score": ...}], "familiarity": ...}

Text inputs add ``chars`` (the input's length) and ``truncated`` (true when the model read only
part of the input); each task may add its own fields after those (``unknown``, ``probs``, ...).
An input longer than ECHO_CHARS characters is echoed as its first ECHO_CHARS and "…", in the
output and in the notes on stderr alike: a 1 MB line is not printed back.

Notes (an unfamiliar input, unknown pieces, a cut input) go to stderr in plain mode; with --json
the record carries them. This module imports no torch until a verb runs.
"""

from __future__ import annotations

import argparse
import sys

from seqlab.commands import checkpoint_arg, predictor_device
from seqlab.errors import UserError
from seqlab.strictjson import dumps

ECHO_CHARS = 200  # how much of a long input the CLI prints back


def count(minimum: int):
    """An argparse type: a whole number >= ``minimum``, refused in one line at parse time."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def add_model_args(p: argparse.ArgumentParser, task: str, int8: bool = False) -> None:
    """--checkpoint, --device and --threads: which model, where, on how many CPU threads."""
    p.add_argument("--checkpoint", **checkpoint_arg(task))
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda or mps")
    p.add_argument(
        "--threads",
        type=count(0),
        default=0,
        help="CPU threads for torch (0: torch's default; 1 is fastest on a busy CPU)",
    )
    if int8:
        from seqlab.serving import add_int8_arg

        add_int8_arg(p)


def add_predict_args(p: argparse.ArgumentParser, task: str, int8: bool = False) -> None:
    """The predict verbs' flags: add_model_args' and --json."""
    add_model_args(p, task, int8)
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per input: input, output, n_best [{text, score}], familiarity "
        '({"score": share of validation inputs less familiar, "in_domain": true/false}), and '
        "for texts chars and truncated (the default is one plain line: INPUT<TAB>OUTPUT)",
    )


def add_search_args(p: argparse.ArgumentParser, beam: int, n_best: bool = True) -> None:
    """--beam (and --n-best) of the decoders, refused at parse time when < 1."""
    p.add_argument("--beam", type=count(1), default=beam, help="beam size (1: greedy)")
    if n_best:
        p.add_argument(
            "--n-best", type=count(1), default=1, help="outputs per input, best first (<= --beam)"
        )


def check_search(args) -> None:
    """What argparse cannot check alone: --n-best at most --beam. Before any model loads."""
    n_best = getattr(args, "n_best", 1)
    if n_best > args.beam:
        raise UserError(f"--n-best ({n_best}) must be at most --beam ({args.beam})")


def prepare(args) -> str:
    """Set torch's CPU threads (--threads) and return the device to load the model on."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return predictor_device(args)


def shorten(text: str, limit: int = ECHO_CHARS) -> str:
    """``text`` as the CLI echoes it: whole up to ``limit`` characters, else its first ``limit``
    and "…"."""
    return text if len(text) <= limit else text[:limit] + "…"


def record(
    given: str, n_best: list[tuple[str, float]], familiarity, text: bool = True, **extra
) -> dict:
    """The JSON record of one input: ``given`` (a text or an image path) echoed cut short, its
    candidates (text, score) best first, its familiarity (seqlab.familiarity.Familiarity or
    None), and for a text its length; ``extra`` adds the task's own fields (``truncated``
    among them)."""
    from seqlab.familiarity import familiarity_json

    rec = {
        "input": shorten(given),
        "output": n_best[0][0],
        "n_best": [{"text": t, "score": round(s, 4)} for t, s in n_best],
        "familiarity": familiarity_json(familiarity),
    }
    if text:
        rec.update(chars=len(given), truncated=False)
    rec.update(extra)
    return rec


def emit(rec: dict, args) -> None:
    """Print one record: a JSON line with --json, else the plain lines (one per candidate with
    --n-best above 1)."""
    if args.json:
        print(dumps(rec, ensure_ascii=False))
    elif getattr(args, "n_best", 1) > 1:
        for rank, cand in enumerate(rec["n_best"], 1):
            print(f"{rec['input']}\t{rank}\t{cand['score']:.3f}\t{cand['text']}")
    else:
        print(f"{rec['input']}\t{rec['output']}")


def note(args, given: str, message: str) -> None:
    """A note about one input on stderr (plain mode only: a --json record says it itself)."""
    if not args.json:
        print(f"note: {shorten(given)!r}: {message}", file=sys.stderr)


def unfamiliar(args, given: str, fam, what: str, output: str, domain: str) -> None:
    """The note beside an output the model is guessing (its input is unlike its training data)."""
    if fam is not None and not fam.in_domain:
        from seqlab.familiarity import unfamiliar_note

        note(args, given, unfamiliar_note(what, output, domain, fam))


def stdin_lines() -> list[str]:
    """The non-blank lines of stdin, without their line ends."""
    return [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
