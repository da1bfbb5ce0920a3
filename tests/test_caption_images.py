"""seqlab.data.captions.load_image on every mode Pillow opens (each must look like the photo it
was made from, not white or black) and on files that are not pictures (a folder, an empty file,
one over the pixel limit: one sentence each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_caption_data import huge_png

from seqlab.data.captions import MAX_PIXELS, load_image
from seqlab.errors import UserError

PHOTO = Path(__file__).resolve().parents[1] / "apps" / "examples" / "cliff_jump.jpg"


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(PHOTO).convert("RGB")


def _opaque(image: Image.Image, mode: str) -> Image.Image:
    """``image`` with a fully opaque alpha channel, in ``mode`` (LA, PA or RGBA)."""
    base = image.convert(mode[:-1] if mode != "PA" else "P")
    out = base.convert(mode)
    out.putalpha(255)
    return out


def _wide(gray: np.ndarray, mode: str, scale: float, offset: float = 0.0) -> Image.Image:
    """A one-channel image of more than 8 bits: the photo's gray levels times scale plus offset."""
    dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
    return Image.fromarray((gray.astype(np.float64) * scale + offset).astype(dtype))


# (mode, how the file is made from the RGB photo, format that keeps the mode, compare in colour)
MODES = {
    "L": (lambda p, g: p.convert("L"), "PNG", False),
    "LA": (lambda p, g: _opaque(p, "LA"), "PNG", False),
    "P": (lambda p, g: p.convert("P", palette=Image.Palette.ADAPTIVE), "PNG", True),
    "PA": (lambda p, g: _opaque(p, "PA"), "TIFF", True),
    "RGBA": (lambda p, g: _opaque(p, "RGBA"), "PNG", True),
    "CMYK": (lambda p, g: p.convert("CMYK"), "JPEG", True),
    "CMYK-tiff": (lambda p, g: p.convert("CMYK"), "TIFF", True),
    "1": (lambda p, g: p.convert("1"), "PNG", False),
    "I;16": (lambda p, g: _wide(g, "I;16", 257), "PNG", False),  # the 16-bit PNG
    "I;16-tiff": (lambda p, g: _wide(g, "I;16", 257), "TIFF", False),
    "I-8bit": (lambda p, g: _wide(g, "I", 1), "TIFF", False),
    "I-16bit": (lambda p, g: _wide(g, "I", 257), "TIFF", False),
    "I-32bit": (lambda p, g: _wide(g, "I", 2**23, -(2**30)), "TIFF", False),
    "F-unit": (lambda p, g: _wide(g, "F", 1 / 255), "TIFF", False),
    "F-8bit": (lambda p, g: _wide(g, "F", 1), "TIFF", False),
    "F-signed": (lambda p, g: _wide(g, "F", 0.01, -1.28), "TIFF", False),
}


def _small(image: Image.Image) -> np.ndarray:
    """Averaged over 10x10 blocks: a dithered or palette picture compares with its source."""
    return np.asarray(image.resize((50, 50), Image.Resampling.BOX), dtype=np.float64)


@pytest.mark.parametrize("name", MODES)
def test_every_mode_looks_like_its_photo(photo, tmp_path, name):
    make, fmt, colour = MODES[name]
    gray = np.asarray(photo.convert("L"))
    made = make(photo, gray)
    path = tmp_path / f"photo.{fmt.lower()}"
    made.save(path, fmt)
    assert Image.open(path).mode == made.mode  # the file really has the mode under test
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == photo.size
    want = _small(photo if colour else photo.convert("L"))
    got = _small(loaded if colour else loaded.convert("L"))
    assert 40 < got.mean() < 215, f"{name}: mean {got.mean():.0f} (white or black?)"
    tolerance = 12 if name in ("1", "P", "PA") else 4  # dithering, a 256-colour palette
    assert np.abs(got - want).mean() < tolerance, name


def test_wide_modes_are_read_on_their_scale():
    from seqlab.data.captions import to_8bit

    ramp = np.arange(0, 256, dtype=np.float64).reshape(16, 16)
    as_16bit = to_8bit(Image.fromarray((ramp * 257).astype(np.uint16)))
    assert np.array_equal(np.asarray(as_16bit), ramp)  # I;16: 0..65535
    dark_16bit = to_8bit(Image.fromarray((ramp).astype(np.uint16)))
    assert np.asarray(dark_16bit).max() == 1  # still 16 bits: a dark picture stays dark
    unit = to_8bit(Image.fromarray((ramp / 255).astype(np.float32)))
    assert np.array_equal(np.asarray(unit), ramp)  # F in [0, 1]
    nan = np.full((4, 4), np.nan, np.float32)
    nan[0, :2] = -2.0, 4.0  # a range to stretch; NaN reads as its darkest value
    assert np.asarray(to_8bit(Image.fromarray(nan))).tolist()[0][:3] == [0, 255, 0]
    flat = to_8bit(Image.fromarray(np.full((3, 3), -5, np.int32)))
    assert np.asarray(flat).max() == 0  # one value, no range: black, no division by zero


def test_a_folder_or_an_empty_file_says_what_it_is(tmp_path):
    (tmp_path / "holiday").mkdir()
    with pytest.raises(UserError, match=r"^holiday is a folder, not an image file"):
        load_image(tmp_path / "holiday")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(UserError, match=r"^empty.jpg is empty \(0 bytes\)"):
        load_image(tmp_path / "empty.jpg")


def test_one_pixel_limit_one_sentence(tmp_path):
    """20000x20000 trips Pillow's decompression-bomb check, 9000x9000 only seqlab's limit:
    the same limit and the same sentence."""
    messages = []
    for side in (20000, 9000):
        with pytest.raises(UserError) as e:
            load_image(huge_png(tmp_path / f"big{side}.png", side=side))
        messages.append(str(e.value).replace(f"big{side}", "big"))
    limit = MAX_PIXELS // 1_000_000
    assert messages == [f"big.png is over the {limit} megapixel limit; resize it first"] * 2
