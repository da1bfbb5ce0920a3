"""`seqlab data list|fetch`: the datasets the tasks use, for users with internet."""

from __future__ import annotations

from seqlab.commands import GROUPS


def add_parser(sub) -> None:
    p = sub.add_parser("data", help=GROUPS["data"])
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{list,fetch}")
    verbs.add_parser("list", help="datasets seqlab can download").set_defaults(func=_list)
    f = verbs.add_parser("fetch", help="download (and unpack) a dataset, checksum verified")
    f.add_argument("name", help="dataset name (see `seqlab data list`)")
    f.add_argument("--dir", default=None, help="where to put it (default: data/cache)")
    f.set_defaults(func=_fetch)


def _list(args) -> int:
    from seqlab.data.fetch import REGISTRY

    for ds in sorted(REGISTRY.values(), key=lambda d: d.name):
        print(f"{ds.name:18s} {ds.description}")
    return 0


def _fetch(args) -> int:
    from seqlab.data.fetch import DEFAULT_DIR, fetch

    folder = fetch(args.name, args.dir or DEFAULT_DIR)
    print(f"{args.name}: ready in {folder}")
    return 0
