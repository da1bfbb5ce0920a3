"""The command line: ``seqlab <task> <verb> [flags]``. ``main(argv)`` returns the exit code.

User mistakes (``UserError``, bad flag values) print one line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from seqlab.errors import UserError

# Each group lives in seqlab/commands/<name>.py and is imported only when used.
GROUPS = ["charlm", "data", "translate", "sentiment", "caption", "grads", "pretrained"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqlab", description="Recurrent networks lab.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="group", required=True, metavar="{" + ",".join(GROUPS) + "}")
    for name in GROUPS:
        importlib.import_module(f"seqlab.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed a one-line usage error
        return int(e.code or 0)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        return args.func(args)
    except UserError as e:
        print(f"seqlab: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("seqlab: interrupted; the last checkpoint is intact (use --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
