"""Synthetic scenes: coloured shapes with grammar-made captions, an image-caption set every
machine can make offline in a second.

    "a small red circle left of a large blue square"
    "a large green triangle above a small yellow circle"
    "a small purple square"

Each scene has one or two shapes of a random colour, size and shape on a light background; two
shapes stand side by side or one above the other, and the caption names the left (or upper) one
first, so there is one right caption and a captioner must look at the right place for each word
(which the attention maps then show).

    from seqlab.toy.scenes import make_scene, make_scenes
    image, caption = make_scene(random.Random(0))
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 20),
    "purple": (150, 60, 190),
}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 0.16, "large": 0.30}  # shape width as a fraction of the image width
RELATIONS = ("left of", "above")


@dataclass(frozen=True)
class Shape:
    shape: str
    colour: str
    size: str
    x: float  # centre, as a fraction of the image width
    y: float

    def phrase(self) -> str:
        return f"a {self.size} {self.colour} {self.shape}"


def draw_shape(draw: ImageDraw.ImageDraw, s: Shape, image_size: int) -> None:
    r = SIZES[s.size] * image_size / 2
    cx, cy = s.x * image_size, s.y * image_size
    fill = COLOURS[s.colour]
    if s.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif s.shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r * 0.85), (cx + r, cy + r * 0.85)], fill=fill)


def _place(rng: random.Random, relation: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Centres for the first and second shape so that "first <relation> second" holds clearly."""
    near, far = rng.uniform(0.22, 0.34), rng.uniform(0.66, 0.78)
    a, b = rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75)
    if relation == "left of":
        return (near, a), (far, b)
    return (a, near), (b, far)  # above


def random_shape(rng: random.Random, x: float, y: float) -> Shape:
    return Shape(rng.choice(SHAPES), rng.choice(list(COLOURS)), rng.choice(list(SIZES)), x, y)


def make_layout(rng: random.Random, two_prob: float = 0.75) -> tuple[list[Shape], str]:
    """One or two shapes and the caption that describes them."""
    if rng.random() >= two_prob:
        s = random_shape(rng, rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7))
        return [s], s.phrase()
    relation = rng.choice(RELATIONS)
    (x1, y1), (x2, y2) = _place(rng, relation)
    first, second = random_shape(rng, x1, y1), random_shape(rng, x2, y2)
    while (second.shape, second.colour) == (first.shape, first.colour):
        second = random_shape(rng, x2, y2)  # two identical shapes would make "a ... a ..." vague
    return [first, second], f"{first.phrase()} {relation} {second.phrase()}"


def render(
    shapes: list[Shape], image_size: int = 64, rng: random.Random | None = None
) -> Image.Image:
    """Draw the shapes on a light background (tinted a little per scene, for robustness), at
    twice the size and then downsampled, so edges are smooth like a resized photo's."""
    rng = rng or random.Random(0)
    tint = tuple(rng.randint(225, 255) for _ in range(3))
    image = Image.new("RGB", (2 * image_size, 2 * image_size), tint)
    draw = ImageDraw.Draw(image)
    for s in shapes:
        draw_shape(draw, s, 2 * image_size)
    return image.resize((image_size, image_size), Image.LANCZOS)


def make_scene(rng: random.Random, image_size: int = 64) -> tuple[Image.Image, str]:
    shapes, caption = make_layout(rng)
    return render(shapes, image_size, rng), caption


def make_scenes(n: int, seed: int = 0, image_size: int = 64) -> tuple[list[Image.Image], list[str]]:
    """n scenes and their captions, the same for the same seed."""
    rng = random.Random(seed)
    images, captions = [], []
    for _ in range(n):
        image, caption = make_scene(rng, image_size)
        images.append(image)
        captions.append(caption)
    return images, captions
