"""The shipped captioner in its app and on the command line: one photo gets one caption and one
familiarity score in both (one preprocessing, the one the model trained with), and every photo
the app shows as "like its training data" is one the model itself finds familiar.

The shipped model is in the repository, so these run offline; a checkout without it skips them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from app_fixtures import served_client
from PIL import Image
from test_caption_app import load_app

from seqlab import pretrained
from seqlab.cli import main
from seqlab.familiarity import Familiarity

EXAMPLES = Path(__file__).resolve().parents[1] / "apps" / "examples"


@pytest.fixture(scope="module")
def shipped():
    if "caption-flickr8k" not in pretrained.ENTRIES:
        pytest.skip("the captioner is not shipped in this checkout")
    return pretrained.load("caption-flickr8k", device="cpu")


def _photos(folder: Path) -> list[str]:
    """Photos of different shapes, cut and padded from the committed examples."""
    cliff = Image.open(EXAMPLES / "cliff_jump.jpg")  # 500 x 500
    trail = Image.open(EXAMPLES / "mountain_trail.jpg")  # 500 x 375
    padded = Image.new("RGB", (500, 600), (255, 255, 255))
    padded.paste(trail, (0, 112))
    shapes = {
        "wide.png": cliff.crop((0, 100, 500, 340)),  # about 2:1
        "tall.png": cliff.crop((150, 0, 350, 500)),  # 2:5
        "padded.png": padded,  # 5:6, white above and below
        "panorama.png": trail.crop((0, 100, 500, 220)),  # about 4:1
    }
    paths = []
    for name, image in shapes.items():
        image.save(folder / name)
        paths.append(str(folder / name))
    return paths + [str(EXAMPLES / "unfamiliar_dogs_at_window.jpg")]  # 2:3 as committed


def _best(record: dict) -> tuple[str, float]:
    """(best caption, its score) from a `seqlab caption --json` record."""
    if "output" in record:
        return record["output"], record["n_best"][0]["score"]
    return record["captions"][0]["text"], record["captions"][0]["score"]


def test_app_and_cli_give_one_caption_and_one_score(shipped, tmp_path, capsys):
    from gradio_client import handle_file

    paths = _photos(tmp_path)
    with served_client(load_app().build_demo(shipped)) as client:
        answers = [client.predict(handle_file(p), 3, 1, api_name="/caption") for p in paths]
    capsys.readouterr()  # gradio's own lines
    assert main(["caption", "--json", "--beam", "3", *paths]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == len(paths)
    for path, (hero, table, _), record in zip(paths, answers, records, strict=True):
        name, (text, score), fam = Path(path).name, _best(record), record["familiarity"]
        assert table["data"][0][1] == text, name
        assert table["data"][0][2] == pytest.approx(score, abs=6e-4), name  # 3 and 4 decimals
        shown = re.search(r"familiarity ([\d.]+%)", hero).group(1)
        assert shown == Familiarity(fam["score"], fam["in_domain"]).percent, name  # one rounding
        assert ("cap-unfamiliar" in hero) == (not fam["in_domain"]), name


def test_photos_like_its_training_data_are_familiar_to_it(shipped):
    """The committed examples, scored as the page and the CLI score them: those shown as like
    the training photos are familiar, the ``unfamiliar_*`` ones are not."""
    familiar, unfamiliar = load_app().example_photos()
    assert len(familiar) >= 3
    for path in familiar:
        fam = shipped.caption(path)[0].familiarity
        assert fam.in_domain, f"{Path(path).name}: familiarity {fam.score:.3f}"
    for path in (p for p in unfamiliar if Path(p).parent == EXAMPLES):
        assert not shipped.caption(path)[0].familiarity.in_domain, Path(path).name


def test_the_page_shows_only_familiar_photos_as_like_its_training_data(shipped):
    """load_predictor's gallery, with the Flickr8k test photos it adds when the dataset is on
    this machine: each one the model finds familiar."""
    _, page = load_app().load_predictor("caption-flickr8k", "unused")
    assert page["examples"]
    flagged = [p for p in page["examples"] if not shipped.caption(p)[0].familiarity.in_domain]
    assert not flagged, [Path(p).name for p in flagged]


def test_the_status_line_and_the_warning_round_familiarity_alike(shipped):
    """#32 item 8: the score beside the caption and the warning above it print one figure
    (Familiarity.percent), also below 1% where whole percents would say 0%."""
    app = load_app()
    _, unfamiliar = app.example_photos()
    caption = app.make_caption_fn(shipped)
    heroes = caption(unfamiliar, [3] * len(unfamiliar), [1] * len(unfamiliar))[0]
    for path, hero in zip(unfamiliar, heroes, strict=True):
        fam = shipped.caption(path)[0].familiarity
        assert f"familiarity {fam.percent}" in hero, Path(path).name
        assert fam.percent in app.unfamiliar_sentence(shipped, fam), Path(path).name
