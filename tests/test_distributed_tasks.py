"""torchrun with 2 CPU processes (gloo) trains the sentiment classifier, the translator and the
captioner like one process with the same global batch: the same logged losses, and rank 0 alone
writes the run directory. Tiny models and data; --precision and --compile flag checks."""

from __future__ import annotations

import json
import math
import socket
import sys

import pytest
import torch
from test_distributed import _run

from seqlab.cli import main
from seqlab.toy.dates import make_date_pairs
from seqlab.toy.sentiment import write_splits
from seqlab.training import read_metrics

COMMON = ["--device", "cpu", "--precision", "fp32", "--dropout", "0"]


def sentiment_args(tmp_path) -> list[str]:
    train, dev = write_splits(tmp_path / "sst", n_train=49, n_dev=12)  # the last batch: 1 text
    return ["sentiment", "train", "--train", str(train), "--dev", str(dev), "--tokenizer", "word",
            "--embedding-size", "8", "--hidden-size", "8", "--batch-size", "16", "--max-steps",
            "4", "--eval-every", "2", "--log-every", "1", "--seed", "3"]  # fmt: skip


def translate_args(tmp_path) -> list[str]:
    pairs = tmp_path / "dates.tsv"
    pairs.write_text("".join(f"{s}\t{t}\n" for s, t in make_date_pairs(140, seed=0)))
    return ["translate", "train", "--pairs", str(pairs), "--dev-size", "12", "--vocab-size", "60",
            "--hidden-size", "16", "--embedding-size", "8", "--batch-size", "64", "--epochs",
            "2", "--seed", "3"]  # fmt: skip


def caption_args(tmp_path) -> list[str]:
    return ["caption", "train", "--dataset", "scenes", "--scenes", "20", "--image-size", "64",
            "--attention", "--embedding-size", "8", "--hidden-size", "8", "--projection-size", "8",
            "--attention-size", "8", "--batch-size", "8", "--max-steps", "4", "--val-images", "4",
            "--warmup-steps", "1", "--min-count", "1", "--seed", "3"]  # fmt: skip


TASKS = {"sentiment": sentiment_args, "translate": translate_args, "caption": caption_args}


# Each process trains every run in turn, in its own folder (rank0/, rank1/: relative --out paths
# show who wrote what). A fresh rendezvous store per run: a process group joined again after
# destroy_process_group must not read the last group's addresses from torchrun's own store.
RUNNER = """
import json, os, sys
from seqlab.cli import main
os.mkdir(f"rank{os.environ['RANK']}")
os.chdir(f"rank{os.environ['RANK']}")
os.environ["TORCHELASTIC_USE_AGENT_STORE"] = "False"
for argv, port in zip(*json.loads(sys.argv[1]), strict=True):
    os.environ["MASTER_PORT"] = str(port)
    assert main(argv) == 0, argv
"""


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _torchrun(tmp_path, runs: list[list[str]]) -> str:
    """One launch for all runs: a start-up of 3 Pythons importing torch is most of the time."""
    script = tmp_path / "runs.py"
    script.write_text(RUNNER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    return _run([*cmd, str(script), json.dumps([runs, _free_ports(len(runs))])], tmp_path).stdout


def _losses(run) -> list[dict]:
    keep = ("step", "loss", "ce")
    return [{k: r[k] for k in keep if k in r} for r in read_metrics(run / "metrics.jsonl")]


def test_two_gloo_processes_match_one_process(tmp_path):
    args = {name: make(tmp_path) for name, make in TASKS.items()}
    for name, argv in args.items():
        assert main([*argv, *COMMON, "--out", str(tmp_path / "one" / name)]) == 0
    out = _torchrun(
        tmp_path, [[*argv, *COMMON, "--out", f"two/{name}"] for name, argv in args.items()]
    )
    assert list((tmp_path / "rank1").iterdir()) == []  # rank 1 wrote nothing
    assert out.count('"processes": 2') == len(TASKS)  # one summary per run, from rank 0
    for name in TASKS:
        one, two = tmp_path / "one" / name, tmp_path / "rank0" / "two" / name
        a, b = _losses(one), _losses(two)
        assert len(a) == len(b) and sum("loss" in r for r in a) >= 3, name
        for ra, rb in zip(a, b, strict=True):
            assert ra.keys() == rb.keys(), name
            for key in ra:
                assert rb[key] == pytest.approx(ra[key], rel=1e-5, abs=1e-6), (name, ra, rb)
        assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
        wa = torch.load(one / "ckpt_last.pt", weights_only=True)["model"]
        wb = torch.load(two / "ckpt_last.pt", weights_only=True)["model"]
        for k in wa.keys() - {"att_score.bias"}:  # softmax ignores it: its gradient is noise
            torch.testing.assert_close(wb[k], wa[k], rtol=1e-4, atol=1e-5, msg=f"{name} {k}")


@pytest.mark.parametrize("kernels", ["probed", "no_fused_bf16"])
@pytest.mark.parametrize("name", TASKS)
def test_bf16_trains_and_saves_fp32_weights(tmp_path, name, kernels, request):
    """bf16 trains on every CPU: in bf16 where the fused kernels have it, with the recurrent layers
    in fp32 where they do not (forced here, as on an AVX2-only CPU, whatever this CPU is)."""
    if kernels == "no_fused_bf16":
        request.getfixturevalue("no_fused_bf16")
    out = tmp_path / "run"
    argv = [*TASKS[name](tmp_path), "--device", "cpu", "--precision", "bf16", "--out", str(out)]
    assert main(argv) == 0
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert losses and all(math.isfinite(v) for v in losses)
    weights = torch.load(out / "ckpt_last.pt", weights_only=True)["model"]
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float32}
    assert json.loads((out / "config.json").read_text())["train"]["precision"] == "bf16"


@pytest.mark.parametrize("name", TASKS)
def test_fp16_on_cpu_is_a_one_line_error(tmp_path, name, capsys):
    argv = [*TASKS[name](tmp_path), "--device", "cpu", "--precision", "fp16"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 1
    assert "--precision fp16 needs a CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # torch.compile takes a minute per model on a CPU
@pytest.mark.parametrize("name", TASKS)
def test_compile_trains_and_saves_the_uncompiled_state_dict(tmp_path, name):
    out = tmp_path / "run"
    assert main([*TASKS[name](tmp_path), *COMMON, "--compile", "--out", str(out)]) == 0
    weights = torch.load(out / "ckpt_last.pt", weights_only=True)["model"]
    assert not any(k.startswith("_orig_mod") or k.startswith("module.") for k in weights)
