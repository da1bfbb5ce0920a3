"""One file per CLI command group: ``add_parser(subparsers)`` registers ``seqlab <group> ...``
and sets ``func`` on each verb's parser to a handler ``(args) -> int``."""

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
