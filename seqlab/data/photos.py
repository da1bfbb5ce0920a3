"""Real photos with a clear licence that installed packages already ship: the caption demo's
examples and the captioner's behaviour tests, with nothing downloaded and nothing copied in.

    >>> [p.name for p in licensed_photos()]   # ['grace_hopper', 'lion', 'cheetah', ...]
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Photo:
    name: str
    path: Path
    shows: str  # what is in it, in words a caption should use
    licence: str


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


# (package, path inside it, name, what it shows, licence)
_SHIPPED = [
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "grace_hopper",
     "a woman in uniform (Rear Admiral Grace Hopper)",
     "public domain (U.S. Navy photograph), shipped in matplotlib's sample data"),
    ("gradio", "media_assets/images/lion.jpg", "lion", "a lion lying on a rock",
     "Apache-2.0, shipped in gradio's media assets"),
    ("gradio", "media_assets/images/cheetah.jpg", "cheetah", "a cheetah running",
     "Apache-2.0, shipped in gradio's media assets"),
    ("gradio", "media_assets/images/cheetah1.jpg", "cheetah_face", "a cheetah's face",
     "Apache-2.0, shipped in gradio's media assets"),
    ("gradio", "media_assets/images/tower.jpg", "tower", "the Eiffel tower lit at night",
     "Apache-2.0, shipped in gradio's media assets"),
]  # fmt: skip


def licensed_photos() -> list[Photo]:
    """The photos above that this environment has (a package may be missing or trimmed)."""
    photos = []
    for package, rel, name, shows, licence in _SHIPPED:
        root = _package_dir(package)
        if root is not None and (root / rel).is_file():
            photos.append(Photo(name, root / rel, shows, licence))
    return photos
