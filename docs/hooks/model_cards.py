"""mkdocs hook: the Models pages are generated from ``seqlab.registry`` at build time.

Each shipped model gets ``models/<name>.md``, its card as ``seqlab pretrained show NAME`` prints it
(``seqlab.pretrained.card``), and the nav's "Models" entry grows one line per card; the marker
``<!-- seqlab:models-table -->`` in a page becomes the README's table
(``seqlab.pretrained.markdown_table``). Nothing here is written by hand twice, and no torch is
imported (the registry holds plain data).
"""

from __future__ import annotations

from mkdocs.structure.files import File

from seqlab import pretrained

TABLE_MARKER = "<!-- seqlab:models-table -->"


def _card_page(name: str) -> str:
    head = (
        f"Generated from `seqlab/registry.py` at build time (`seqlab pretrained show {name}`).\n\n"
    )
    body = pretrained.card(name)
    title, _, rest = body.partition("\n")
    return f"{title}\n\n{head}{rest.lstrip()}\n"


def on_config(config, **kwargs):
    """Expand the nav's ``Models: models/index.md`` into the overview and one card per model."""
    nav = config.get("nav") or []
    for i, item in enumerate(nav):
        if isinstance(item, dict) and item.get("Models") == "models/index.md":
            cards = [{name: f"models/{name}.md"} for name in pretrained.names()]
            nav[i] = {"Models": [{"Overview": "models/index.md"}, *cards]}
    return config


def on_files(files, config, **kwargs):
    """Add a generated page per shipped model."""
    for name in pretrained.names():
        files.append(File.generated(config, f"models/{name}.md", content=_card_page(name)))
    return files


def on_page_markdown(markdown, page, config, files, **kwargs):
    """Put the registry's table where a page asks for it."""
    return markdown.replace(TABLE_MARKER, pretrained.markdown_table())
