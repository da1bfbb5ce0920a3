"""`--resume` for the sentiment and caption trainers: a run stopped at a checkpoint (a smaller
--max-steps) and resumed logs the same metrics and ends on the same weights as the run trained
straight through, on a CPU bit for bit; a missing or foreign checkpoint is one clear line."""

from __future__ import annotations

import shutil

import pytest
import torch

from seqlab.cli import main
from seqlab.toy.sentiment import write_splits
from seqlab.training import read_metrics

COMMON = ["--device", "cpu", "--precision", "fp32", "--seed", "3"]


@pytest.fixture(scope="module")
def sentiment_args(tmp_path_factory) -> list[str]:
    # 40 texts in batches of 16: 3 steps an epoch; validation every 2 steps falls mid-epoch
    train, dev = write_splits(tmp_path_factory.mktemp("sst"), n_train=40, n_dev=12)
    return ["sentiment", "train", "--train", str(train), "--dev", str(dev), "--tokenizer", "word",
            "--embedding-size", "8", "--hidden-size", "8", "--dropout", "0.3", "--batch-size",
            "16", "--eval-every", "2", "--log-every", "1", "--schedule", "plateau", "--patience",
            "9", *COMMON]  # fmt: skip


# 16 scenes in batches of 4: 4 steps an epoch, validated at each epoch's end; a scratch encoder
# trains too (random crops and dropout draw from torch's generator)
CAPTION = ["caption", "train", "--dataset", "scenes", "--scenes", "16", "--encoder", "scratch",
           "--image-size", "32", "--grid-size", "4", "--channels", "16", "--attention",
           "--embedding-size", "8", "--hidden-size", "8", "--projection-size", "8",
           "--attention-size", "8", "--batch-size", "4", "--val-images", "4", "--min-count", "1",
           "--schedule", "none", *COMMON]  # fmt: skip


def _metrics(run) -> list[dict]:
    timing = ("elapsed_s", "tokens_per_s")  # wall-clock measures, never the same twice
    return [{k: v for k, v in r.items() if k not in timing} for r in read_metrics(run)]


def _same_weights(a, b, skip: tuple = ()) -> None:
    for name in ("ckpt_last.pt", "ckpt_best.pt"):
        wa = torch.load(a / name, weights_only=True)
        wb = torch.load(b / name, weights_only=True)
        assert wa["step"] == wb["step"], name
        for part in ("model", "encoder"):
            for k, v in (wa.get(part) or {}).items():
                if not any(s in k for s in skip):
                    assert torch.equal(v, wb[part][k]), (name, part, k)


@pytest.fixture(scope="module")
def sentiment_full(sentiment_args, tmp_path_factory):
    out = tmp_path_factory.mktemp("sentiment") / "full"
    assert main([*sentiment_args, "--max-steps", "7", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("cut", [2, 6])  # mid-epoch (batch 2 of 3); an epoch's end
def test_sentiment_resume_reproduces_the_uninterrupted_run(
    sentiment_args, sentiment_full, tmp_path, cut
):
    out = tmp_path / "run"
    assert main([*sentiment_args, "--max-steps", str(cut), "--out", str(out)]) == 0
    state = torch.load(out / "ckpt_last.pt", weights_only=True)["resume"]
    assert state["position"]["done"] == (2 if cut == 2 else 0)
    # the flags come back from the run's config.json; the full argument list works as well
    flags = sentiment_args if cut == 2 else ["sentiment", "train"]
    assert main([*flags, "--out", str(out), "--resume", "--max-steps", "7"]) == 0
    assert _metrics(out / "metrics.jsonl") == _metrics(sentiment_full / "metrics.jsonl")
    _same_weights(sentiment_full, out)


def test_sentiment_resume_of_a_finished_run_trains_no_further(sentiment_full, tmp_path):
    out = tmp_path / "done"
    shutil.copytree(sentiment_full, out)
    assert main(["sentiment", "train", "--out", str(out), "--resume"]) == 0
    assert _metrics(out / "metrics.jsonl") == _metrics(sentiment_full / "metrics.jsonl")
    _same_weights(sentiment_full, out)


# the regularisers draw randomness too: sampled sentencepiece segmentations per epoch, word
# dropout from torch's generator (twice per step with adversarial training), and the weight
# average is state of its own
REGULARISED = ["--tokenizer", "sentencepiece", "--vocab-size", "60", "--sp-alpha", "0.5",
               "--word-dropout", "0.2", "--ema", "0.9", "--adversarial", "1.0",
               "--label-smoothing", "0.1"]  # fmt: skip


@pytest.mark.parametrize("cut", [2, 6])  # mid-epoch; an epoch's end (a fresh segmentation next)
def test_sentiment_resume_with_regularisers(sentiment_args, tmp_path, cut):
    args = [*sentiment_args, *REGULARISED]
    full, out = tmp_path / "full", tmp_path / "run"
    assert main([*args, "--max-steps", "7", "--out", str(full)]) == 0
    assert main([*args, "--max-steps", str(cut), "--out", str(out)]) == 0
    assert main(["sentiment", "train", "--out", str(out), "--resume", "--max-steps", "7"]) == 0
    assert _metrics(out / "metrics.jsonl") == _metrics(full / "metrics.jsonl")
    _same_weights(full, out)
    last = torch.load(out / "ckpt_last.pt", weights_only=True)
    trained = last["resume"]["train_model"]
    # the saved model is the average, not the last step's weights
    assert not torch.equal(last["model"]["head.weight"], trained["head.weight"])


@pytest.fixture(scope="module")
def caption_full(tmp_path_factory):
    out = tmp_path_factory.mktemp("caption") / "full"
    assert main([*CAPTION, "--max-steps", "10", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("cut", [4, 6])  # an epoch's end; a step limit mid-epoch (2 of 4)
def test_caption_resume_reproduces_the_uninterrupted_run(caption_full, tmp_path, cut):
    out = tmp_path / "run"
    assert main([*CAPTION, "--max-steps", str(cut), "--out", str(out)]) == 0
    flags = CAPTION if cut == 4 else ["caption", "train"]
    assert main([*flags, "--out", str(out), "--resume", "--max-steps", "10"]) == 0
    full = _metrics(caption_full / "metrics.jsonl")
    resumed = _metrics(out / "metrics.jsonl")
    if cut == 6:  # the stopped run validated at step 6, the uninterrupted one at epoch ends only
        resumed = [r for r in resumed if not ("epoch" in r and r["step"] == 6)]
    assert resumed == full
    _same_weights(caption_full, out)


def test_caption_resume_with_a_weight_average(tmp_path):
    args = [*CAPTION, "--ema", "0.9"]
    full, out = tmp_path / "full", tmp_path / "run"
    assert main([*args, "--max-steps", "10", "--out", str(full)]) == 0
    assert main([*args, "--max-steps", "6", "--out", str(out)]) == 0
    assert main(["caption", "train", "--out", str(out), "--resume", "--max-steps", "10"]) == 0
    resumed = [r for r in _metrics(out / "metrics.jsonl") if not ("epoch" in r and r["step"] == 6)]
    assert resumed == _metrics(full / "metrics.jsonl")
    _same_weights(full, out)
    last = torch.load(out / "ckpt_last.pt", weights_only=True)
    trained = last["resume"]["train_model"]
    # the saved model, the one validation scored, is the average, not the last step's weights
    assert not torch.equal(last["model"]["head.weight"], trained["head.weight"])


def test_resume_errors_are_one_line(sentiment_args, sentiment_full, caption_full, tmp_path, capsys):
    capsys.readouterr()
    assert main([*sentiment_args, "--out", str(tmp_path / "none"), "--resume"]) == 1
    assert "--resume: no checkpoint at" in capsys.readouterr().err
    assert main([*CAPTION, "--out", str(tmp_path / "none"), "--resume"]) == 1
    assert "--resume: no checkpoint at" in capsys.readouterr().err

    out = tmp_path / "sentiment"
    shutil.copytree(sentiment_full, out)
    assert main(["sentiment", "train", "--out", str(out), "--resume", "--hidden-size", "16"]) == 1
    err = capsys.readouterr().err
    assert "is another run: its model setting hidden_size is 8, not 16" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["sentiment", "train", "--out", str(out), "--resume", "--lr", "0.1"]) == 1
    assert "its optim setting lr" in capsys.readouterr().err

    shutil.copy(caption_full / "ckpt_last.pt", out / "ckpt_last.pt")
    assert main(["sentiment", "train", "--out", str(out), "--resume"]) == 1
    assert "is a 'caption' checkpoint, not a 'sentiment' one" in capsys.readouterr().err


@pytest.mark.slow  # one torchrun launch of 2 processes: about 25 s on 2 busy cores
def test_resume_under_torchrun_keeps_every_process_generators(sentiment_args, tmp_path):
    from test_distributed_tasks import _torchrun

    runs = []
    for name, argv, cut, total in (("s", sentiment_args, 2, 7), ("c", CAPTION, 4, 10)):
        full, part = ["--max-steps", str(total)], ["--max-steps", str(cut)]
        runs += [[*argv, *full, "--out", f"{name}_full"], [*argv, *part, "--out", f"{name}_cut"]]
        runs += [[*argv, *full, "--out", f"{name}_cut", "--resume"]]
    _torchrun(tmp_path, runs)
    assert list((tmp_path / "rank1").iterdir()) == []  # rank 1 resumed from rank 0's checkpoint
    for name in ("s", "c"):
        full, cut = tmp_path / "rank0" / f"{name}_full", tmp_path / "rank0" / f"{name}_cut"
        assert _metrics(cut / "metrics.jsonl") == _metrics(full / "metrics.jsonl"), name
        assert len(torch.load(cut / "ckpt_last.pt", weights_only=True)["resume"]["rng"]) == 2
        _same_weights(full, cut)


def test_caption_feature_precision_travels_with_the_model(tmp_path):
    from seqlab.caption.predict import CaptionPredictor, scene_examples

    out = tmp_path / "run"
    assert (
        main([*CAPTION, "--feature-precision", "bf16", "--max-steps", "2", "--out", str(out)]) == 0
    )
    pred = CaptionPredictor.from_checkpoint(out, "cpu")
    assert pred.info["feature_precision"] == "bf16"  # the predictor encodes as training did
    [caps] = pred.caption_batch(scene_examples(tmp_path / "scenes", n=1), beam_size=2)
    assert caps and isinstance(caps[0].text, str)
    plain = tmp_path / "plain"
    assert main([*CAPTION, "--max-steps", "2", "--out", str(plain)]) == 0
    assert CaptionPredictor.from_checkpoint(plain, "cpu").info["feature_precision"] == "fp32"
