"""One file per CLI command group: ``add_parser(subparsers)`` registers ``seqlab <group> ...``
and sets ``func`` on each verb's parser to a handler ``(args) -> int``."""


def checkpoint_arg(task: str) -> dict:
    """--checkpoint of every predict/evaluate verb: the task's shipped model unless given."""
    from seqlab.pretrained import DEFAULTS  # light: no torch

    return {
        "default": DEFAULTS[task],
        "help": "checkpoint file, run directory, packed .safetensors or shipped model name "
        "(seqlab pretrained list)",
    }
