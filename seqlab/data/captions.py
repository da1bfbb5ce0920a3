"""Image-caption data: Flickr8k / Flickr30k / COCO loaders, caption vocabulary, image loading.

    train = load_caption_set("flickr8k", "/data/flickr8k", "train")   # CaptionSet
    vocab = build_vocab(train.captions, min_count=5)                 # plain data in checkpoints

Layouts understood (``root`` is the dataset folder):
  - Karpathy's split JSON: ``dataset_flickr8k.json`` / ``dataset_flickr30k.json`` /
    ``dataset_coco.json`` with images under ``images/`` (or the official folder names; for COCO,
    under each entry's ``filepath``). Preferred when present.
  - Flickr8k native: ``Flickr8k.token.txt``, ``Flickr_8k.{train,dev,test}Images.txt`` and the
    images folder (``images/``, ``Flicker8k_Dataset/`` or ``Flickr8k_Dataset/``).
  - COCO captions JSON: ``annotations/captions_{train,val}2017.json`` with ``{train,val}2017/``.

Images without captions or captions without images are skipped and counted (with a warning);
a split left empty, or a malformed line, is a UserError naming the file. Nothing is ever paired
by position, so a missing file can never shift captions onto the wrong image.
"""

from __future__ import annotations

import json
import logging
import string
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from seqlab.data.tokenizers import BOS, EOS, PAD, Vocab
from seqlab.errors import UserError

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
FLICKR8K_SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "val": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}
IMAGE_DIRS = ("images", "Flicker8k_Dataset", "Flickr8k_Dataset", "flickr30k-images", "Images")
MAX_PIXELS = 60_000_000  # larger images are refused, whatever their format


@dataclass
class CaptionSet:
    """Images and their reference captions (raw strings), one list per image."""

    name: str
    split: str
    images: list[Path]
    captions: list[list[str]]
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)


def tokenize(text: str) -> list[str]:
    """Lower-case, drop punctuation, split on spaces: Karpathy's caption preprocessing."""
    return text.lower().translate(str.maketrans("", "", string.punctuation)).split()


def build_vocab(captions: list[list[str]], min_count: int = 5) -> Vocab:
    """Words seen at least ``min_count`` times in the training captions, after the specials."""
    counts = Counter(w for caps in captions for c in caps for w in tokenize(c))
    return Vocab.build(counts, min_freq=min_count)


def encode_caption(vocab: Vocab, text: str, max_len: int = 40) -> list[int]:
    """<bos> w1 .. wn <eos>, cut to at most ``max_len`` words."""
    return [BOS, *vocab.lookup(tokenize(text)[:max_len]), EOS]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise UserError(f"caption file not found: {path}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}") from e


def _image_dir(root: Path) -> Path:
    for name in IMAGE_DIRS:
        if (root / name).is_dir():
            return root / name
    raise UserError(f"no images folder in {root} (looked for {', '.join(IMAGE_DIRS)})")


def _assemble(
    name: str, split: str, pairs: list[tuple[Path, list[str]]], missing_caps: int, where: Path
) -> CaptionSet:
    """Keep the images that exist; count and report what is skipped."""
    kept = [(p, caps) for p, caps in pairs if p.is_file()]
    missing = [p for p, _ in pairs if not p.is_file()]
    skipped = {"missing_images": len(missing), "images_without_captions": missing_caps}
    if missing:
        warnings.warn(
            f"{name} {split}: {len(missing)} of {len(pairs)} images are missing "
            f"(first: {missing[0]}); skipped with their captions",
            stacklevel=3,
        )
    if missing_caps:
        warnings.warn(
            f"{name} {split}: {missing_caps} images have no captions; skipped", stacklevel=3
        )
    if not kept:
        raise UserError(f"{name} {split}: no usable image-caption pairs under {where}")
    return CaptionSet(name, split, [p for p, _ in kept], [c for _, c in kept], skipped)


def load_flickr8k(root: str | Path, split: str) -> CaptionSet:
    """The Flickr8k release layout: token file, split files, images folder."""
    root = Path(root)
    text_dir = root / "Flickr8k_text" if (root / "Flickr8k_text").is_dir() else root
    token_file = text_dir / "Flickr8k.token.txt"
    by_image: dict[str, list[str]] = {}
    # Split at newlines only: str.splitlines() also breaks at U+0085, U+2028, \x1c.. in a caption.
    for n, line in enumerate(_read(token_file).split("\n"), 1):
        if not line.strip():
            continue
        key, sep, caption = line.partition("\t")
        if not sep or "#" not in key:
            raise UserError(f"{token_file}:{n}: expected '<image>.jpg#<k><TAB><caption>'")
        by_image.setdefault(key.rsplit("#", 1)[0], []).append(caption.strip())
    split_file = text_dir / FLICKR8K_SPLIT_FILES[split]
    names = [ln.strip() for ln in _read(split_file).split("\n") if ln.strip()]
    images = _image_dir(root)
    pairs = [(images / n, by_image[n]) for n in names if n in by_image]
    return _assemble("flickr8k", split, pairs, len(names) - len(pairs), root)


def load_karpathy(json_path: str | Path, split: str) -> CaptionSet:
    """Karpathy's ``dataset_*.json``; its 'restval' images count as training images."""
    json_path = Path(json_path)
    try:
        data = json.loads(_read(json_path))
        entries = list(data["images"])
    except (ValueError, RecursionError, KeyError, TypeError) as e:  # ValueError: bad JSON
        raise UserError(
            f"{json_path} is not a Karpathy split file (want {{'images': [...]}})"
        ) from e
    wanted = {"train": ("train", "restval")}.get(split, (split,))
    root, pairs, no_caps = json_path.parent, [], 0
    name = str(data.get("dataset", json_path.stem.removeprefix("dataset_")))
    base = None if name == "coco" else _image_dir(root)
    for i, e in enumerate(entries):
        try:
            if e.get("split") not in wanted:
                continue
            caps = [s.get("raw") or " ".join(s["tokens"]) for s in e.get("sentences", [])]
            if not all(isinstance(c, str) for c in caps):
                raise TypeError("a caption is not a string")
            path = (
                root / e.get("filepath", "") / e["filename"]
                if base is None
                else base / e["filename"]
            )
        except (AttributeError, KeyError, TypeError) as err:
            raise UserError(
                f"{json_path}: image entry {i} is malformed ({type(err).__name__}: {err}); "
                "want 'filename', 'split' and 'sentences' with 'raw' or 'tokens'"
            ) from err
        if caps:
            pairs.append((path, caps))
        else:
            no_caps += 1
    return _assemble(name, split, pairs, no_caps, root)


def load_coco(json_path: str | Path, images_dir: str | Path, split: str) -> CaptionSet:
    """A COCO captions file (``captions_train2017.json`` style) and its images folder."""
    json_path = Path(json_path)
    by_image: dict[int, list[str]] = {}
    try:
        data = json.loads(_read(json_path))
        files = {im["id"]: im["file_name"] for im in data["images"]}
        anns = [(a["image_id"], a["caption"]) for a in data["annotations"]]
        for image_id, caption in anns:
            if image_id not in files:
                raise UserError(
                    f"{json_path}: a caption refers to image id {image_id!r}, not listed"
                )
            by_image.setdefault(image_id, []).append(caption.strip())
        pairs = [(Path(images_dir) / files[i], by_image[i]) for i in sorted(files) if i in by_image]
    except (ValueError, RecursionError, KeyError, TypeError, AttributeError) as e:
        raise UserError(
            f"{json_path} is not a COCO captions file (want 'images' with integer 'id' and "
            f"string 'file_name', 'annotations' with 'image_id' and string 'caption'): {e!r}"
        ) from e
    return _assemble("coco", split, pairs, len(files) - len(pairs), json_path.parent)


def load_caption_set(dataset: str, root: str | Path, split: str) -> CaptionSet:
    """Dispatch on the dataset name and what ``root`` holds (Karpathy JSON first)."""
    if split not in SPLITS:
        raise UserError(f"--split must be one of {SPLITS}, got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"dataset folder not found: {root}")
    karpathy = root / f"dataset_{dataset}.json"
    if karpathy.is_file():
        return load_karpathy(karpathy, split)
    if dataset == "flickr8k":
        return load_flickr8k(root, split)
    if dataset == "coco":
        year_split = "train2017" if split == "train" else "val2017"
        if split == "test":
            log.info("coco: no Karpathy split file, so the test split is val2017")
        for ann in (
            root / "annotations" / f"captions_{year_split}.json",
            root / f"captions_{year_split}.json",
        ):
            if ann.is_file():
                return load_coco(ann, root / year_split, split)
    raise UserError(
        f"{root}: no {dataset} captions found (want dataset_{dataset}.json"
        + (", Flickr8k.token.txt" if dataset == "flickr8k" else "")
        + (", annotations/captions_train2017.json" if dataset == "coco" else "")
        + ")"
    )


# --------------------------------------------------------------------------- images


def load_image(source, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image file (or take a PIL image) as RGB, with one clear UserError for anything
    that is not a usable picture. Animated images give their first frame, transparency is put
    on white, EXIF rotation is applied, and grayscale of more than 8 bits is scaled to 8 bits
    (``to_8bit``). Images over ``max_pixels`` are refused, whatever their format."""
    where = getattr(source, "name", None) or str(source)[:200]
    name = Path(where).name
    _check_file(source, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = source if isinstance(source, Image.Image) else Image.open(source)
            if image.width * image.height > max_pixels:
                raise UserError(_too_large(name, max_pixels))
            image.seek(0)  # first frame of an animated GIF/PNG/WebP
            image = ImageOps.exif_transpose(image)
            if image.mode.startswith(("I", "F")):  # I, I;16, I;16B, ..., F: one channel
                image = to_8bit(image)
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba = image.convert("RGBA")
                image = Image.new("RGB", rgba.size, (255, 255, 255))
                image.paste(rgba, mask=rgba.getchannel("A"))
            image = image.convert("RGB")
            image.load()
    except UserError:
        raise
    except FileNotFoundError as e:
        raise UserError(f"image not found: {where}") from e
    except Image.DecompressionBombError as e:  # Pillow's own check, past 2 x MAX_IMAGE_PIXELS
        raise UserError(_too_large(name, max_pixels)) from e
    except UnidentifiedImageError as e:
        raise UserError(f"{name} is not an image PIL can read") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise UserError(f"{name} is damaged or truncated ({e})") from e
    if min(image.size) < 1:
        raise UserError(f"{name} has no pixels")
    return image


def _too_large(name: str, max_pixels: int) -> str:
    """The one sentence for an image over the limit, whether seqlab or Pillow finds it (Pillow
    refuses a file past twice its MAX_IMAGE_PIXELS before its size can be read)."""
    return f"{name} is over the {max_pixels // 1_000_000} megapixel limit; resize it first"


def _check_file(source, name: str) -> None:
    """A folder or an empty file named as an image: say so, before PIL guesses at it."""
    if not isinstance(source, str | Path):
        return
    path = Path(source)
    if path.is_dir():
        raise UserError(f"{name} is a folder, not an image file; give the images in it")
    if path.is_file() and path.stat().st_size == 0:
        raise UserError(f"{name} is empty (0 bytes), not an image")


def to_8bit(image: Image.Image) -> Image.Image:
    """A grayscale image of more than 8 bits (Pillow's I;16*, I and F modes) as an 8-bit "L"
    image. Pillow's own conversion clips every value above 255, so a 16-bit photo turns white;
    here values are read on the scale their mode or their range implies:

      - I;16 modes (16-bit PNG and TIFF): 0..65535;
      - F (float) with every value in [0, 1]: 0..1;
      - otherwise, 0..255 when every value fits it, 0..65535 when every value fits that,
        else from the darkest value to the brightest (negative values, 32-bit integers,
        floats of any range).

    A NaN counts as the darkest value and an infinity as the darkest or brightest finite one."""
    a = np.asarray(image).astype(np.float32)  # (H, W)
    finite = np.isfinite(a)
    lo, hi = (float(a[finite].min()), float(a[finite].max())) if finite.any() else (0.0, 0.0)
    a = np.nan_to_num(a, nan=lo, posinf=hi, neginf=lo)
    if image.mode.startswith("I;16"):
        lo, hi = 0.0, 65535.0
    elif image.mode == "F" and lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0
    elif lo >= 0 and hi <= 65535:
        lo, hi = 0.0, 255.0 if hi <= 255 else 65535.0
    scale = 255 / (hi - lo) if hi > lo else 0.0
    a = np.clip(np.rint((a - lo) * scale), 0, 255)
    return Image.fromarray(a.astype(np.uint8), mode="L")


def encoder_view(image_size: int):
    """The picture an encoder sees, as a PIL image: the short side resized to ``image_size``,
    then the centre cropped square. Training features, ``caption evaluate``, the CLI, the demo
    and the familiarity score all use this one preprocessing, so that one photo gets one
    caption and one score everywhere (an ``image_size`` square passes through unchanged)."""
    from torchvision import transforms as T

    return T.Compose([T.Resize(image_size), T.CenterCrop(image_size)])


def image_transform(image_size: int, train: bool = False):
    """``encoder_view`` then a (3, S, S) tensor in [0, 1] (when training, a random 80-100% crop
    instead; no flips, since captions say "left of")."""
    from torchvision import transforms as T

    if train:
        crop = T.RandomResizedCrop(image_size, scale=(0.8, 1.0), ratio=(0.9, 1.1))
        return T.Compose([crop, T.ToTensor()])
    return T.Compose([encoder_view(image_size), T.ToTensor()])


def pad_captions(seqs: list[list[int]]) -> Tensor:
    """Right-pad id lists with <pad> into a (B, T) tensor."""
    out = torch.full((len(seqs), max(len(s) for s in seqs)), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s)
    return out


class ImageCaptionDataset(torch.utils.data.Dataset):
    """One item per (image, caption) pair: (image (3, S, S) in [0, 1], caption ids)."""

    def __init__(self, images: list, captions: list[list[list[int]]], transform):
        self.images, self.transform = images, transform
        self.pairs = [(i, j) for i, caps in enumerate(captions) for j in range(len(caps))]
        self.captions = captions

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k: int) -> tuple[Tensor, list[int]]:
        i, j = self.pairs[k]
        return self.transform(load_image(self.images[i])), self.captions[i][j]


def collate(batch: list[tuple[Tensor, list[int]]]) -> tuple[Tensor, Tensor]:
    images, caps = zip(*batch, strict=True)
    return torch.stack(images), pad_captions(list(caps))  # (B, 3, S, S), (B, T)
