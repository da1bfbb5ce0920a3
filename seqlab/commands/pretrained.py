"""`seqlab pretrained list|show|export`: the shipped models, their cards, and packing your own."""

from __future__ import annotations

from seqlab.commands import GROUPS


def add_parser(sub) -> None:
    p = sub.add_parser("pretrained", help=GROUPS["pretrained"])
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{list,show,export}")

    verbs.add_parser(
        "list", help="the shipped models: name, task, size, test metrics"
    ).set_defaults(func=_list)
    s = verbs.add_parser("show", help="a shipped model's card (after checking its sha256)")
    s.add_argument("name")
    s.set_defaults(func=_show)

    e = verbs.add_parser(
        "export", help="pack a checkpoint compactly (fp16 or int8) into a .safetensors file"
    )
    e.add_argument("checkpoint", help="checkpoint file or run directory")
    e.add_argument("out", help="the .safetensors file to write")
    e.add_argument("--storage", choices=["fp16", "int8"], default="fp16")
    e.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="store a setting with the model, e.g. length_penalty=1.0 (the translator's alpha)",
    )
    e.set_defaults(func=_export)


def _list(args) -> int:
    from seqlab import pretrained

    print(pretrained.table())
    return 0


def _show(args) -> int:
    from seqlab import pretrained

    pretrained.verify(args.name)
    print(pretrained.card(args.name))
    return 0


def _export(args) -> int:
    import hashlib
    import json
    from pathlib import Path

    from seqlab.errors import UserError
    from seqlab.packing import pack
    from seqlab.sources import load_checkpoint

    if not args.out.endswith(".safetensors"):
        raise UserError(f"the output file must end in .safetensors, got {args.out!r}")
    ckpt = load_checkpoint(args.checkpoint)
    for item in args.meta:
        key, sep, value = item.partition("=")
        try:
            ckpt[key] = json.loads(value)
        except json.JSONDecodeError:
            sep = ""
        if not sep or not key:
            raise UserError(f"--meta takes KEY=JSON, e.g. length_penalty=1.0; got {item!r}")
    counts = pack(ckpt, args.out, args.storage)
    data = Path(args.out).read_bytes()
    stored = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print(f"{args.out}: {len(data) / 1e6:.2f} MB ({stored} tensors)")
    print(f"sha256 {hashlib.sha256(data).hexdigest()}")
    return 0
