"""apps/caption_demo.py through gradio_client: captions, n-best, attention overlays, the sketch
pad, and bad uploads (not an image, truncated, 20000x20000, grayscale, RGBA, animated GIF)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from app_fixtures import frame_images, tiny_captioner
from PIL import Image

from seqlab.caption.predict import scene_examples

APP = Path(__file__).resolve().parents[1] / "apps" / "caption_demo.py"


def load_app():
    spec = importlib.util.spec_from_file_location("caption_demo", APP)
    module = importlib.util.module_from_spec(spec)
    sys.modules["caption_demo"] = module  # gradio looks up where its components are defined
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return tiny_captioner(tmp_path_factory.mktemp("scenes"))


@pytest.fixture(scope="module")
def client(predictor, tmp_path_factory):
    from gradio_client import Client

    app = load_app()
    examples = scene_examples(tmp_path_factory.mktemp("examples"), n=2)
    demo = app.build_demo(predictor, examples, notice="trained for a test")
    demo.launch(prevent_thread_lock=True, server_port=None, quiet=True)
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def test_predictor_overlays(predictor, tmp_path):
    image = Image.new("RGB", (90, 60), "white")
    image.paste((200, 30, 30), (10, 5, 40, 50))  # something off centre
    view = predictor.view(image)
    side = predictor.encoder.cfg.image_size
    assert view.size == (side, side) and predictor.view(view).tobytes() == view.tobytes()
    caps = predictor.caption(view, beam_size=3, n_best=2)
    same = predictor.caption(image, beam_size=3, n_best=2)  # a view captions as its picture
    assert [(c.text, c.score) for c in caps] == [(c.text, c.score) for c in same]
    assert 1 <= len(caps) <= 2 and caps[0].score >= caps[-1].score
    frames = predictor.overlays(view, caps[0])
    assert len(frames) == len(caps[0].words)
    assert all(
        f.size == (224, 224) and w == word
        for (f, w), word in zip(frames, caps[0].words, strict=True)
    )
    assert "scenes" in predictor.describe()


def test_the_page_opens_with_its_first_example_captioned(client):
    """No click needed: the first screen shows a picture, its caption and where the model looked
    (the values the page is served with)."""
    import httpx

    config = httpx.get(client.src.rstrip("/") + "/config").json()
    values = {
        c.get("props", {}).get("label"): c["props"].get("value") for c in config["components"]
    }
    assert "beam 3 · score" in values["caption"] and "warn" not in values["caption"]
    assert "scene_0.png" in values["Image"]["path"]
    assert values["Beam n-best (score = log-prob / GNMT length penalty)"]["data"]
    assert frame_images(values["where the model looked, word by word"])


def _caption(client, path, beam=3, n_best=2):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), beam, n_best, api_name="/caption")


def test_caption_with_nbest_and_attention(client, tmp_path):
    Image.new("RGB", (64, 64), (250, 250, 250)).save(tmp_path / "scene.png")
    hero, table, frames = _caption(client, tmp_path / "scene.png", beam=3, n_best=2)
    assert "cap-hero" in hero and "warn" not in hero
    assert 1 <= len(table["data"]) <= 2 and table["headers"][0] == "rank"
    best = table["data"][0][1]
    words = [] if best == "(empty)" else best.split()
    images = frame_images(frames)
    assert [im.size for im in images] == [(224, 224)] * len(words)  # one frame per word
    assert frames.count(" checked") == min(len(words), 1)  # the first word's frame drawn large


def _bad_files(tmp_path):
    from test_caption_data import huge_png

    (tmp_path / "notes.txt").write_text("hello")
    Image.new("RGB", (64, 64), "red").save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "empty.png").write_bytes(b"")
    return {
        "notes.txt": "not an image",
        "cut.jpg": "damaged or truncated",
        "empty.png": "is empty (0 bytes)",
        "huge.png": "over the 60 megapixel limit",
    } | ({} if huge_png(tmp_path / "huge.png") else {})


def test_bad_uploads_give_a_clear_message(client, tmp_path):
    for name, message in _bad_files(tmp_path).items():
        hero, table, frames = _caption(client, tmp_path / name)
        assert "Cannot caption this file" in hero and message in hero, name
        assert frames == ""


def test_odd_but_valid_images_get_captions(client, tmp_path):
    Image.new("L", (50, 40), 90).save(tmp_path / "gray.png")
    Image.new("RGBA", (40, 40), (0, 0, 255, 120)).save(tmp_path / "rgba.png")
    frames = [Image.new("P", (30, 30), i) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    for name in ("gray.png", "rgba.png", "anim.gif"):
        hero, table, _ = _caption(client, tmp_path / name)
        assert "warn" not in hero and len(table["data"]) >= 1, name


def test_sketch_and_empty_inputs(client):
    hero, _, _ = client.predict(None, 3, 2, api_name="/caption")
    assert "Add a picture first" in hero
    hero, _, _ = client.predict(
        {"background": None, "layers": [], "composite": None}, 3, 2, api_name="/caption_sketch"
    )
    assert "Draw something first" in hero


def test_example_photos_are_small_and_each_has_its_source_and_licence():
    folder = APP.parent / "examples"
    photos = sorted(folder.glob("*.jpg"))
    sources = (folder / "SOURCES.md").read_text()
    assert photos and sum(p.stat().st_size for p in photos) <= 2_000_000
    for photo in photos:
        assert photo.stat().st_size <= 200_000, photo.name
        row = next((ln for ln in sources.splitlines() if ln.startswith(f"| `{photo.name}`")), "")
        assert any(licence in row for licence in ("CC0", "CC BY", "public domain")), photo.name
    listed = {ln.split("`")[1] for ln in sources.splitlines() if ln.startswith("| `")}
    assert listed == {p.name for p in photos}  # no row without its photo
