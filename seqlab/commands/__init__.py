"""One file per CLI command group: ``add_parser(subparsers)`` registers ``seqlab <group> ...``
and sets ``func`` on each verb's parser to a handler ``(args) -> int``."""

import argparse

# `seqlab <group>`: one line each, for `seqlab --help` without importing any group (torch).
GROUPS = {
    "charlm": "character-level language models",
    "data": "list and download datasets",
    "grads": "gradient lab: vanishing and exploding gradients",
    "pretrained": "the models shipped with seqlab",
    "sentiment": "text classification (sentiment) with recurrent nets",
    "caption": "image captioning (CNN encoder + LSTM decoder)",
    "translate": "sentence translation with attention (seq2seq)",
}


def checkpoint_arg(task: str) -> dict:
    """--checkpoint of every predict/evaluate verb: the task's shipped model unless given."""
    from seqlab.registry import DEFAULTS  # light: no torch

    return {
        "default": DEFAULTS[task],
        "help": "checkpoint file, run directory, packed .safetensors or shipped model name "
        "(seqlab pretrained list)",
    }


def predictor_device(args) -> str:
    """--device of a predict/evaluate verb with --int8: int8 runs on the CPU, so 'auto' is 'cpu'
    there (seqlab.serving.use_int8 refuses a model on any other device)."""
    return "cpu" if getattr(args, "int8", False) and args.device == "auto" else args.device


class GroupParser(argparse.ArgumentParser):
    """A group's parser whose verb may be left out: with ``implied_verb="text"``,
    ``seqlab translate --beam 5 TEXT`` parses as ``seqlab translate text --beam 5 TEXT``, so the
    verb's flags work before its positional arguments and ``seqlab translate --help`` shows them.
    (Left to argparse, the group would take ``--beam`` for a flag of its own and refuse it.)"""

    def __init__(self, *args, verbs: tuple[str, ...] = (), implied_verb: str | None = None, **kw):
        super().__init__(*args, **kw)
        self.verbs, self.implied_verb = verbs, implied_verb

    def parse_known_args(self, args=None, namespace=None):
        if self.implied_verb and args and args[0] not in self.verbs:
            args = [self.implied_verb, *args]
        return super().parse_known_args(args, namespace)
