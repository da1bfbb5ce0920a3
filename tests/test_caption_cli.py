"""`seqlab caption ...` through main([...]): train (scenes and a tiny Flickr8k layout, frozen
cached features and a scratch encoder), evaluate, caption images, and the one-line errors."""

from __future__ import annotations

import json

import pytest
from test_caption_data import make_flickr8k

from seqlab.caption.predict import CaptionPredictor
from seqlab.cli import main

TINY = [
    "--embedding-size",
    "8",
    "--hidden-size",
    "8",
    "--projection-size",
    "8",
    "--attention-size",
    "8",
    "--batch-size",
    "4",
    "--max-steps",
    "3",
    "--val-images",
    "4",
    "--warmup-steps",
    "1",
    "--min-count",
    "1",
]


@pytest.fixture(scope="module")
def flickr(tmp_path_factory):
    root = tmp_path_factory.mktemp("flickr8k")
    make_flickr8k(root)
    return root


def test_train_scenes_scratch_with_attention(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "caption",
            "train",
            "--dataset",
            "scenes",
            "--scenes",
            "16",
            "--encoder",
            "scratch",
            "--image-size",
            "32",
            "--grid-size",
            "4",
            "--channels",
            "16",
            "--attention",
            "--out",
            str(out),
            *TINY,
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 3
    assert (out / "ckpt_best.pt").is_file() and (out / "config.json").is_file()
    pred = CaptionPredictor.from_checkpoint(out)
    assert pred.info["dataset"] == "scenes" and pred.info["attention"]
    assert pred.encoder.cfg.name == "scratch"  # its trained weights came from the checkpoint


def test_train_evaluate_and_caption_flickr8k_layout(flickr, tmp_path, capsys):
    out, cache = tmp_path / "run", tmp_path / "cache"
    code = main(
        [
            "caption",
            "train",
            "--dataset",
            "flickr8k",
            "--root",
            str(flickr),
            "--encoder",
            "scratch",
            "--image-size",
            "32",
            "--channels",
            "16",
            "--grid-size",
            "2",
            "--out",
            str(out),
            "--cache-dir",
            str(cache),
            *TINY,
        ]
    )
    assert code == 0
    capsys.readouterr()
    assert (
        main(
            [
                "caption",
                "evaluate",
                "--checkpoint",
                str(out),
                "--root",
                str(flickr),
                "--split",
                "test",
                "--beam",
                "2",
                "--cache-dir",
                str(cache),
            ]
        )
        == 0
    )
    scores = json.loads(capsys.readouterr().out)
    assert {"bleu1", "bleu2", "bleu3", "bleu4"} <= set(scores) and scores["images"] == 2
    assert scores["int8"] is False
    # evaluate scores an int8 copy of the decoder too, as predict serves it
    argv = ["caption", "evaluate", "--checkpoint", str(out), "--root", str(flickr), "--int8",
            "--beam", "2", "--cache-dir", str(cache)]  # fmt: skip
    assert main(argv) == 0
    int8 = json.loads(capsys.readouterr().out)
    assert int8["int8"] is True and int8["images"] == 2 and 0 <= int8["bleu4"] <= 100
    image = next((flickr / "images").iterdir())
    assert main(["caption", str(image), "--checkpoint", str(out), "--n-best", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(str(image))
    # flags before the images, and --int8 (an int8 copy of the decoder)
    assert main(["caption", "--checkpoint", str(out), "--int8", "--beam", "2", str(image)]) == 0
    assert capsys.readouterr().out.startswith(f"{image}\t")


def test_flags_may_come_before_the_images(tmp_path, capsys):
    """`seqlab caption --checkpoint NAME --beam 3 photo.jpg` parses (and then finds no
    checkpoint), and `seqlab caption --help` lists predict's flags and names the other verbs."""
    missing = str(tmp_path / "missing.pt")
    assert main(["caption", "--checkpoint", missing, "--beam", "3", "photo.jpg"]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["caption", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(flag in out for flag in ("--beam", "--n-best", "--int8", "caption train"))


def test_errors_are_one_line(flickr, tmp_path, capsys):
    assert main(["caption", "train", "--dataset", "flickr8k", "--out", str(tmp_path)]) == 1
    assert "--root DIR is needed" in capsys.readouterr().err
    assert main(["caption", "train", "--dataset", "flickr8k", "--root", str(tmp_path / "x")]) == 1
    assert "dataset folder not found" in capsys.readouterr().err
    assert (
        main(
            [
                "caption",
                "evaluate",
                "--checkpoint",
                str(tmp_path / "none.pt"),
                "--root",
                str(flickr),
            ]
        )
        == 1
    )
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["caption", "train", "--encoder", "vgg"]) == 2  # argparse: invalid choice
    assert main(["caption"]) == 1
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert main(["caption", "photo.jpg", "--checkpoint", str(tmp_path / "bad.pt")]) == 1
    assert "corrupt or not a checkpoint" in capsys.readouterr().err


@pytest.fixture(scope="module")
def scenes_run(tmp_path_factory):
    """A tiny scenes captioner (scratch encoder), trained through the CLI."""
    out = tmp_path_factory.mktemp("scenes") / "run"
    argv = ["caption", "train", "--dataset", "scenes", "--scenes", "16", "--encoder", "scratch",
            "--image-size", "32", "--grid-size", "4", "--channels", "16", "--out", str(out),
            *TINY]  # fmt: skip
    assert main(argv) == 0
    return out


def test_one_bad_image_does_not_cost_the_others_their_captions(scenes_run, tmp_path, capsys):
    from PIL import Image

    out = scenes_run
    good = tmp_path / "a.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    capsys.readouterr()
    assert main(["caption", str(good), str(bad), str(good), "--checkpoint", str(out)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(good), str(good)]
    assert "bad.jpg" in captured.err and "1 of 3 images could not be captioned" in captured.err


def test_one_image_that_cannot_be_captioned_is_one_line(scenes_run, tmp_path, capsys):
    """A single bad image gets its error, not also "1 of 1 images could not be captioned" (the
    count is for a batch, as translate's is for more than one line)."""
    (tmp_path / "empty.jpg").write_bytes(b"")
    capsys.readouterr()
    assert main(["caption", str(tmp_path / "empty.jpg"), "--checkpoint", str(scenes_run)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["seqlab: error: empty.jpg is empty (0 bytes), not an image"], err


def test_a_folder_an_empty_file_and_a_huge_one_say_what_they_are(scenes_run, tmp_path, capsys):
    from test_caption_data import huge_png

    (tmp_path / "holiday").mkdir()
    (tmp_path / "empty.jpg").write_bytes(b"")
    files = [tmp_path / "holiday", tmp_path / "empty.jpg"]
    files += [huge_png(tmp_path / "bomb.png"), huge_png(tmp_path / "big.png", side=9000)]
    capsys.readouterr()
    assert main(["caption", *map(str, files), "--checkpoint", str(scenes_run)]) == 1
    err = capsys.readouterr().err
    assert "holiday is a folder, not an image file" in err and "Errno" not in err
    assert "empty.jpg is empty (0 bytes)" in err
    for name in ("bomb.png", "big.png"):  # Pillow's limit and seqlab's: one, in one sentence
        assert f"{name} is over the 60 megapixel limit; resize it first" in err
