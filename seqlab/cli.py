"""The command line: ``seqlab <task> <verb> [flags]``. ``main(argv)`` returns the exit code.

User mistakes (``UserError``, bad flag values) print one line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from seqlab.commands import GROUPS, GroupParser
from seqlab.errors import UserError


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; of the groups (seqlab/commands/<name>.py) only the one that `argv` names is
    imported, so `seqlab --help` and light groups (`seqlab pretrained list`) never load torch.
    With ``argv=None`` every group is built (for tools that walk the whole CLI)."""
    parser = argparse.ArgumentParser(prog="seqlab", description="Recurrent networks lab.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(
        dest="group",
        required=True,
        metavar="{" + ",".join(GROUPS) + "}",
        parser_class=GroupParser,  # lets translate and caption leave their verb out
    )
    chosen = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    for name, help in GROUPS.items():
        if argv is None or name == chosen:
            importlib.import_module(f"seqlab.commands.{name}").add_parser(sub)
        else:  # listed in the usage and help, built only when named
            sub.add_parser(name, help=help, add_help=False)
    return parser


def _verb_parser(parser: argparse.ArgumentParser, args) -> argparse.ArgumentParser:
    """The parser of the group and verb that ``args`` names (``seqlab sentiment predict``)."""
    for dest in ("group", "verb"):
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or getattr(args, dest, None) not in sub.choices:
            break
        parser = sub.choices[getattr(args, dest)]
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # refused with the usage of the verb they were given to, not seqlab's
            _verb_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
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
