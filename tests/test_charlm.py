"""The char-LM recipe and CLI: train, sample, evaluate, resume, and bad input."""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch

from seqlab.charlm.config import CharLMTrainConfig
from seqlab.charlm.predict import CharLMPredictor
from seqlab.charlm.train import train
from seqlab.cli import main
from seqlab.models.charlm import CharLMConfig
from seqlab.training import OptimConfig, read_metrics

TINY = [
    "--hidden-size",
    "16",
    "--embedding-size",
    "8",
    "--num-layers",
    "1",
    "--batch-size",
    "4",
    "--bptt",
    "16",
    "--eval-every",
    "5",
    "--precision",
    "fp32",
]


@pytest.fixture
def text_file(tmp_path):
    p = tmp_path / "input.txt"
    p.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n\n" * 40)
    return p


def test_train_sample_evaluate_cli(tmp_path, text_file, capsys):
    out = tmp_path / "run"
    rc = main(
        ["charlm", "train", "--text", str(text_file), "--out", str(out), "--max-steps", "10", *TINY]
    )
    assert rc == 0
    for name in ("ckpt_last.pt", "ckpt_best.pt", "config.json", "metrics.jsonl"):
        assert (out / name).is_file()
    records = read_metrics(out / "metrics.jsonl")
    steps = [r for r in records if "loss" in r]
    assert len(steps) == 10 and all("grad_norm" in r and "clip_rate" in r for r in steps)
    assert [r["step"] for r in records if "val_loss" in r] == [5, 10]
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["hidden_size"] == 16 and config["optim"]["clip_norm"] == 5.0
    capsys.readouterr()

    assert (
        main(
            [
                "charlm",
                "sample",
                "--checkpoint",
                str(out),
                "--prime",
                "First",
                "--length",
                "30",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    sample = capsys.readouterr().out
    assert sample.startswith("First") and len(sample.rstrip("\n")) >= 30

    assert main(["charlm", "evaluate", "--checkpoint", str(out), "--text", str(text_file)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert math.isclose(result["bits_per_char"], result["loss_nats"] / math.log(2), rel_tol=1e-3)
    n = len(text_file.read_text())
    assert result["chars"] == n
    argv = ["charlm", "evaluate", "--checkpoint", str(out), "--text", str(text_file)]
    assert main([*argv, "--val-fraction", "0.1"]) == 0
    assert json.loads(capsys.readouterr().out)["chars"] == n - int(n * 0.9)  # train's split
    assert main([*argv, "--val-fraction", "1.5"]) == 1


def test_evaluate_shows_progress_on_a_terminal_only(tmp_path, text_file, capsys, monkeypatch):
    """`seqlab charlm evaluate` once ran 66 s without a word: on a terminal it shows a bar on
    stderr; into a file or a pipe it stays quiet."""
    out = tmp_path / "run"
    argv = ["charlm", "train", "--text", str(text_file), "--out", str(out), "--max-steps", "2"]
    assert main([*argv, *TINY]) == 0
    capsys.readouterr()
    argv = ["charlm", "evaluate", "--checkpoint", str(out), "--text", str(text_file)]
    assert main(argv) == 0
    assert "chunk" not in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "evaluate" in captured.err and "chunk" in captured.err
    assert json.loads(captured.out)["chars"] == len(text_file.read_text())


def test_sampling_is_reproducible_with_a_seed(tmp_path, text_file):
    out = tmp_path / "run"
    main(
        ["charlm", "train", "--text", str(text_file), "--out", str(out), "--max-steps", "3", *TINY]
    )
    pred = CharLMPredictor.from_checkpoint(out)
    a = pred.sample("Be", 40, temperature=1.0, top_k=5, seed=7)
    assert a == pred.sample("Be", 40, temperature=1.0, top_k=5, seed=7)
    assert pred.sample("Be", 0) == "Be"


def test_sample_has_a_default_seed_and_says_which(tmp_path, text_file, capsys):
    """`seqlab charlm sample` twice without --seed: the same text; the seed is said on stderr."""
    out = tmp_path / "run"
    argv = ["charlm", "train", "--text", str(text_file), "--out", str(out), "--max-steps", "3"]
    assert main([*argv, *TINY]) == 0
    capsys.readouterr()
    argv = ["charlm", "sample", "--checkpoint", str(out), "--length", "200", "--temperature", "1"]
    samples = []
    for _ in range(2):
        torch.manual_seed(len(samples))  # the global generator must not matter
        assert main(argv) == 0
        captured = capsys.readouterr()
        samples.append(captured.out)
        assert "seed 1337" in captured.err
    assert samples[0] == samples[1]
    assert main([*argv, "--seed", "5"]) == 0
    captured = capsys.readouterr()
    assert captured.out != samples[0] and "seed 5" in captured.err


def _cfgs(text_file, out, **kw):
    cfg = CharLMTrainConfig(
        text=str(text_file),
        out=str(out),
        bptt=8,
        batch_size=4,
        max_steps=12,
        eval_every=4,
        precision="fp32",
        **kw,
    )
    mcfg = CharLMConfig(embedding_size=8, hidden_size=16, num_layers=2, dropout=0.3)
    return cfg, mcfg, OptimConfig(warmup_steps=3)


@pytest.mark.parametrize("k1", [0, 3])
def test_interrupted_run_resumes_exactly(tmp_path, text_file, k1):
    full = tmp_path / "full"
    train(*_cfgs(text_file, full, k1=k1))

    cut = tmp_path / "cut"

    def interrupt(step, total, loss):
        if step == 9:  # one step past the checkpoint at step 8
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(*_cfgs(text_file, cut, k1=k1), callback=interrupt)
    train(*_cfgs(text_file, cut, k1=k1, resume=True))

    def losses(run):
        return [
            (r["step"], r.get("loss"), r.get("val_loss"))
            for r in read_metrics(run / "metrics.jsonl")
        ]

    assert losses(cut) == losses(full)  # exact on CPU, dropout and carried state included
    a = torch.load(full / "ckpt_last.pt", weights_only=True)["model"]
    b = torch.load(cut / "ckpt_last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--text", "/no/such/file.txt"], "not found"),
        (["--bptt", "0"], "--bptt"),
        (["--batch-size", "-3"], "--batch-size"),
        (["--dropout", "1.5"], "--dropout"),
        (["--lr", "0"], "--lr"),
        (["--precision", "fp16", "--device", "cpu"], "fp16"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, args, message, capsys):
    rc = main(["charlm", "train", "--out", str(tmp_path / "r"), "--max-steps", "1", *args])
    err = capsys.readouterr().err
    assert rc != 0 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_empty_short_and_binary_text(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    short = tmp_path / "short.txt"
    short.write_text("abc")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"ok\n\xff\xfe\x00")
    for path, message in [
        (empty, "empty"),
        (short, "shorter than one batch"),
        (binary, "not valid UTF-8"),
    ]:
        rc = main(["charlm", "train", "--text", str(path), "--out", str(tmp_path / "r")])
        err = capsys.readouterr().err
        assert rc == 1 and message in err, err


def test_checkpoint_from_another_task_is_refused(tmp_path, capsys):
    from seqlab.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "other.pt", {"task": "sentiment", "model": {}})
    rc = main(["charlm", "sample", "--checkpoint", str(tmp_path / "other.pt")])
    assert rc == 1 and "not a 'charlm'" in capsys.readouterr().err


def test_prime_with_unknown_characters(tmp_path, text_file, capsys):
    out = tmp_path / "run"
    main(
        ["charlm", "train", "--text", str(text_file), "--out", str(out), "--max-steps", "2", *TINY]
    )
    capsys.readouterr()
    rc = main(["charlm", "sample", "--checkpoint", str(out), "--prime", "日本"])
    assert rc == 1 and "never saw" in capsys.readouterr().err


def test_default_corpus_is_offline_and_real():
    from seqlab.data.text import default_corpus

    text, source = default_corpus()
    assert len(text) > 100_000 and "Python" in source


@pytest.mark.slow
def test_compiled_training_saves_the_uncompiled_state_dict(tmp_path, text_file):
    out = tmp_path / "run"
    assert (
        main(
            [
                "charlm",
                "train",
                "--text",
                str(text_file),
                "--out",
                str(out),
                "--max-steps",
                "2",
                "--compile",
                *TINY,
            ]
        )
        == 0
    )
    keys = torch.load(out / "ckpt_last.pt", weights_only=True)["model"].keys()
    assert keys and not any(k.startswith("_orig_mod") for k in keys)


def test_a_time_limit_stops_the_run_and_anneals_the_rate_over_it(tmp_path, text_file):
    """--max-minutes with a step budget far out of reach: the run stops on the clock, and the
    cosine schedule follows the clock, so it ends near its floor (5% of --lr) all the same."""
    out = tmp_path / "run"
    argv = ["charlm", "train", "--text", str(text_file), "--out", str(out), "--max-steps",
            "100000", "--epochs", "0", "--max-minutes", "0.05", "--warmup-steps", "2",
            "--lr", "0.01", *TINY]  # fmt: skip
    assert main(argv) == 0
    steps = [r for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert 3 <= len(steps) < 100000
    assert steps[-1]["lr"] <= 0.01 * 0.1


def test_train_help_says_which_settings_the_plan_chooses(capsys, monkeypatch):
    """`charlm train --help` describes the plan from plan.py's own names, not a copy of them."""
    from seqlab.charlm import plan

    monkeypatch.setenv("COLUMNS", "1000")  # no line breaks inside a flag's name
    assert main(["charlm", "train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    listed = text.partition("The settings among ")[2].partition(" that are not given")[0]
    assert listed.split(", ") == [f"--{key.replace('_', '-')}" for key in plan.SETTINGS]
    assert "'plan:' line" in text and f"budget is {plan.DEFAULT_MINUTES:g} minutes" in text
