"""One file per CLI command group: ``add_parser(subparsers)`` registers ``seqlab <group> ...``
and sets ``func`` on each verb's parser to a handler ``(args) -> int``."""
