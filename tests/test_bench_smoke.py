"""Every script in bench/ runs, at tiny sizes, the way `python bench/<script> ARGS` runs it: its
--help, and a tiny run through its main path on data this file makes itself (synthetic files in
tmp_path: a Multi30k, SST-2, Flickr8k or text folder of a few dozen lines) or on the script's
own --synthetic inputs, with the shipped models where the script is about them. A refactor that
breaks a bench script fails here (bench/app_latency.py --app caption broke unseen, issue 32).

A script added to bench/ without an entry in TINY fails test_every_bench_script_has_a_smoke_entry.
Scripts run in this process (runpy, with their own sys.argv), which keeps the file fast; runs
that take minutes (a full training budget, a launched app) are marked slow, and a fast tiny run
of the same script stays in the default set.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import runpy
import sys
from pathlib import Path

import pytest
from app_fixtures import tiny_captioner, tiny_sentiment_checkpoint, tiny_translator
from PIL import Image

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py"))
PAIRS = [  # German -> English, Multi30k-like: (subject, verb, place) in both languages
    (f"{s[0]} {v[0]} {p[0]}", f"{s[1]} {v[1]} {p[1]}")
    for s in [("ein Hund", "a dog"), ("eine Frau", "a woman"), ("ein Mann", "a man"),
              ("ein Kind", "a child")]
    for v in [("läuft", "runs"), ("sitzt", "sits"), ("spielt", "plays"), ("steht", "stands")]
    for p in [("im Park", "in the park"), ("am Strand", "on the beach"),
              ("auf der Straße", "on the street")]
]  # fmt: skip
REVIEWS = [  # (sentence of six words or more, label): SST-2-like
    (f"the {thing} of this film was {word} {end}", label)
    for thing in ("story", "acting", "music", "ending", "cast")
    for word, label in [("wonderful", 1), ("great", 1), ("moving", 1), ("dull", 0), ("awful", 0),
                        ("flat", 0)]
    for end in ("from start to finish", "in every way", "to me")
]  # fmt: skip


def run(name: str, *argv: str, code: int = 0) -> str:
    """Run bench/``name`` with ``argv`` in this process as its ``__main__``; its stdout and
    stderr together (it must exit with ``code``)."""
    out = io.StringIO()
    before = sys.argv
    sys.argv = [str(BENCH / name), *argv]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            runpy.run_path(str(BENCH / name), run_name="__main__")
        got = 0
    except SystemExit as e:
        got = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, int | None):
            out.write(str(e.code))
    finally:
        sys.argv = before
    assert got == code, (name, argv, out.getvalue()[-3000:])
    return out.getvalue()


def multi30k(root: Path) -> Path:
    """A Multi30k folder (raw/{train,val,test_2016_flickr}.{de,en}) of the PAIRS."""
    (root / "raw").mkdir(parents=True)
    for split, rows in (("train", PAIRS), ("val", PAIRS[::4]), ("test_2016_flickr", PAIRS[1::4])):
        for k, lang in enumerate(("de", "en")):
            (root / "raw" / f"{split}.{lang}").write_text("".join(r[k] + "\n" for r in rows))
    return root


def sst2(root: Path, dev_rows: int = 440) -> Path:
    """An SST-2 folder (train.tsv, dev.tsv with a header); dev repeats REVIEWS to ``dev_rows``
    (bench/familiarity.py splits dev at row 436)."""
    root.mkdir(parents=True)
    for name, n in (("train.tsv", len(REVIEWS)), ("dev.tsv", dev_rows)):
        rows = "".join(f"{text}\t{label}\n" for text, label in (REVIEWS * 10)[:n])
        (root / name).write_text("sentence\tlabel\n" + rows)
    return root


def flickr8k(root: Path, n: int = 8) -> Path:
    """A Flickr8k folder (images/, Flickr8k.token.txt, the three split files) of n photos."""
    (root / "images").mkdir(parents=True)
    names = [f"{1000 + i}_abc.jpg" for i in range(n)]
    for i, name in enumerate(names):
        Image.new("RGB", (48, 40), (30 * i % 256, 90, 200 - 20 * i)).save(root / "images" / name)
    lines = [f"{name}#{k}\tA dog runs on the grass number {i} ." for i, name in enumerate(names)
             for k in range(2)]  # fmt: skip
    (root / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    third = n // 4
    splits = {"train": names[: n - 2 * third], "dev": names[-2 * third : -third],
              "test": names[-third:]}  # fmt: skip
    for split, part in splits.items():
        (root / f"Flickr_8k.{split}Images.txt").write_text("\n".join(part) + "\n")
    return root


def tatoeba(path: Path) -> Path:
    path.write_text("".join(f"{en}.\tUne phrase {i}.\n" for i, (_, en) in enumerate(PAIRS)))
    return path


# One tiny run per script. Each takes tmp_path, runs the script and checks what it printed.


def tiny_app_latency(tmp_path):
    """The caption row (it broke unseen), on a tiny captioner: one client, then two."""
    tiny_captioner(tmp_path)
    args = ["--requests", "2", "--concurrency", "1", "2", "--threads", "1"]
    out = run("app_latency.py", "--app", "caption", "--checkpoint", str(tmp_path), *args)
    assert re.search(r"^caption +1 .* 0$", out, re.M) and re.search(r"^caption +2 ", out, re.M)


def tiny_app_latency_others(tmp_path):
    """The other three rows (the gradient lab measures its page's default cells)."""
    tiny_translator(tmp_path)
    checkpoint = tiny_sentiment_checkpoint(tmp_path / "sentiment")
    args = ["--requests", "1", "--concurrency", "1", "--threads", "1"]
    for app, model in (("translate", tmp_path), ("sentiment", checkpoint), ("gradients", None)):
        given = ["--checkpoint", str(model)] if model else []
        out = run("app_latency.py", "--app", app, *given, *args)
        assert re.search(rf"^{app} +1 .* 0$", out, re.M), out


def tiny_caption_flickr8k(tmp_path):
    """Extraction with the Lite0 encoder on 8 photos, then the budget check refuses a budget
    that leaves no training time, in one line (the training itself: the slow entry)."""
    root = flickr8k(tmp_path / "flickr8k")
    argv = ["--root", str(root), "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path)]
    out = run("caption_flickr8k.py", *argv, "--max-minutes", "0.5", code=1)
    assert "the budget leaves" in out and "raise --max-minutes" in out
    out = run("caption_flickr8k.py", "--root", str(tmp_path / "nowhere"), code=1)
    assert out.strip().splitlines()[-1].startswith("caption_flickr8k: error: dataset folder")


def tiny_caption_flickr8k_trained(tmp_path):
    """The whole recipe on 8 photos: about 70 s of training (the script's floor is 60 s)."""
    root = flickr8k(tmp_path / "flickr8k")
    argv = ["--root", str(root), "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path)]
    argv += ["--max-minutes", "1.3", "--eval-reserve-min", "0.02", "--batch-size", "4"]
    out = run("caption_flickr8k.py", *argv, "--beam", "2")
    assert "Flickr8k test BLEU-1/2/3/4" in out and (tmp_path / "results.json").is_file()


def tiny_charlm_shakespeare(tmp_path):
    (tmp_path / "input.txt").write_text("First Citizen:\nBefore we proceed any further.\n" * 40)
    argv = ["--text", str(tmp_path / "input.txt"), "--out", str(tmp_path / "run")]
    argv += ["--max-minutes", "0.02", "--hidden-size", "8", "--embedding-size", "8"]
    argv += ["--num-layers", "1", "--batch-size", "2", "--bptt", "16", "--warmup-steps", "1"]
    out = run("charlm_shakespeare.py", *argv, "--precision", "fp32")
    result = json.loads(out[out.index("{") :])
    assert result["best_val_loss_nats"] > 0 and result["steps"] >= 1


def tiny_charlm_sweep(tmp_path):
    """--make-python-text: the sweep's second text, from this Python's standard library."""
    out = run("charlm_sweep.py", "--make-python-text", str(tmp_path / "python.txt"))
    assert "1,100,000 characters" in out and (tmp_path / "python.txt").stat().st_size > 10**6


def test_the_sweeps_configs_give_every_setting_the_plan_would_choose():
    """A sweep row is the config it names: no setting is left to seqlab.charlm.plan (which would
    probe before each run and pick it). plan.SETTINGS grew weight_dropout after the sweep."""
    from seqlab.charlm.plan import SETTINGS

    sweep = runpy.run_path(str(BENCH / "charlm_sweep.py"))
    cfg = sweep["parse_config"]("2x192:d0.1:w0.25:lr5e-3")
    assert set(SETTINGS) <= set(cfg) and cfg["weight_dropout"] == 0.25 and cfg["dropout"] == 0.1
    flags = sweep["train_flags"](sweep["parse_config"]("1x16"))
    assert {f.split("=")[0] for f in flags} >= {f"--{k.replace('_', '-')}" for k in SETTINGS}


def tiny_charlm_sweep_run(tmp_path):
    """One config at one small budget, through the CLI's train and evaluate (two processes)."""
    (tmp_path / "text.txt").write_text("to be or not to be, that is the question.\n" * 200)
    argv = ["--text", str(tmp_path / "text.txt"), "--budgets", "0.02", "--configs", "1x16:b4:t16"]
    argv += ["--results", str(tmp_path / "rows.jsonl"), "--runs", str(tmp_path / "runs")]
    out = run("charlm_sweep.py", *argv)
    (row,) = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert row["config"] == "1x16:b4:t16" and row["val_nats"] > 0 and "1x16:b4:t16" in out


def tiny_charlm_bigtext(tmp_path):
    """A 1 MB text: three 20-step training processes with the plan's sizes."""
    (tmp_path / "text.txt").write_text("to be or not to be, that is the question.\n" * 200)
    argv = ["--text", str(tmp_path / "text.txt"), "--mb", "1", "--work", str(tmp_path / "w")]
    out = run("charlm_bigtext.py", *argv)
    for name in ("text itself", "big, no cache", "big, cached"):
        assert re.search(rf"^{name} +peak +\d+ MB .* first step [0-9.]+ s", out, re.M), out


def tiny_charlm_budget(tmp_path):
    """One small budget of the newcomer's command: the plan sizes the model (three processes:
    train, evaluate, sample)."""
    (tmp_path / "text.txt").write_text("to be or not to be, that is the question.\n" * 200)
    argv = ["--text", str(tmp_path / "text.txt"), "--budgets", "0.05", "--runs", str(tmp_path)]
    out = run("charlm_budget.py", *argv, "--sweep", "", "--results", str(tmp_path / "rows.jsonl"))
    assert re.search(r"^text 0.05 min: val [0-9.]+ nats; \d+ steps", out, re.M), out


def tiny_cold_start(tmp_path):
    """One launch of the caption demo (a subprocess) on a tiny captioner, captioning a photo."""
    tiny_captioner(tmp_path)
    out = run("cold_start.py", "--launches", "1", "--checkpoint", str(tmp_path))
    assert re.search(r"launch 1 \(bytecode cached\): page served [0-9.]+ s, photo captioned", out)


def tiny_decode_throughput(tmp_path):
    argv = ["--synthetic", "--sentences", "4", "--batch-size", "2", "--max-len", "3"]
    out = run("decode_throughput.py", *argv, "--reps", "1", "--beam", "2")
    for task in ("translate", "caption"):
        assert re.search(rf"^{task} +greedy .* sent/s +beam 2 .* sent/s", out, re.M), out


def tiny_decode_throughput_test_set(tmp_path):
    """The shipped translator on a made-up test set, in the shipped model's vocabulary."""
    root = multi30k(tmp_path / "multi30k")
    argv = ["--tasks", "translate", "--multi30k", str(root), "--batch-size", "4", "--reps", "1"]
    out = run("decode_throughput.py", *argv, "--max-len", "8")
    assert re.search(r"^translate +greedy +[0-9.]+ sent/s +beam 5 ", out, re.M), out


def tiny_extract_features(tmp_path):
    root = flickr8k(tmp_path / "flickr8k")
    argv = ["--root", str(root), "--images", "2", "--batch-size", "2", "--num-workers", "0"]
    out = run("extract_features.py", *argv)
    assert "| folded bf16 |" in out and json.loads(out.strip().splitlines()[-1])["paths"]


def tiny_familiarity(tmp_path):
    """The translator's and the classifier's tables on made-up in- and out-of-domain sets."""
    shakespeare = tmp_path / "input.txt"
    shakespeare.write_text("What light through yonder window breaks, it is the east.\n" * 20)
    argv = ["--multi30k", str(multi30k(tmp_path / "multi30k")), "--sst2", str(sst2(tmp_path / "s"))]
    argv += ["--tatoeba", str(tatoeba(tmp_path / "fra.txt")), "--shakespeare", str(shakespeare)]
    out = run(
        "familiarity.py", *argv, "--locale-dir", str(tmp_path), "--tasks", "translate,sentiment"
    )
    assert "## translate-multi30k-de-en" in out and "## sentiment-sst2" in out
    assert re.search(r"^\| French \(Tatoeba\) \| 48 \| [0-9.]+% \| [0-9.]+ \|", out, re.M), out


def tiny_familiarity_caption(tmp_path):
    """The captioner's table: Lite0 features of 8 photos, the package photos, 200 generated
    scenes and 100 charts."""
    argv = ["--flickr8k", str(flickr8k(tmp_path / "flickr8k")), "--cache", str(tmp_path / "c")]
    out = run("familiarity.py", *argv, "--tasks", "caption")
    assert "## caption-flickr8k" in out and "package photos marked familiar" in out


def tiny_fit_familiarity(tmp_path):
    argv = ["--multi30k", str(multi30k(tmp_path / "multi30k")), "--sst2", str(sst2(tmp_path / "s"))]
    out = run("fit_familiarity.py", *argv, "--out", str(tmp_path / "out"))
    assert len(re.findall(r": \d+ bytes, sha256 [0-9a-f]{64}$", out, re.M)) == 2, out


def tiny_quantize(tmp_path):
    argv = ["--multi30k", str(multi30k(tmp_path / "multi30k")), "--limit", "4", "--beam", "2"]
    out = run("quantize.py", *argv, "--sst2", str(sst2(tmp_path / "sst2", dev_rows=40)))
    assert re.search(r"^\| translate beam 2, 4 test2016 sentences \| ", out, re.M), out
    assert re.search(r"^\| sentiment, 40 SST-2 dev sentences \| .* accuracy ", out, re.M), out


def tiny_rnn_throughput(tmp_path):
    argv = ["--cells", "gru", "--sizes", "8", "--batch-size", "2", "--bptt", "4", "--steps", "1"]
    out = run("rnn_throughput.py", *argv, "--variants", "torchnn_fp32,fused_fp32", "--interleave")
    assert re.search(r"^gru +8 fused_fp32 .* torchnn_fp32 ", out, re.M), out


def tiny_sentiment_sst2(tmp_path):
    argv = [str(sst2(tmp_path / "sst2", dev_rows=20)), "--cells", "lstm", "--tokenizer", "word"]
    argv += ["--max-minutes", "0.01", "--embedding-size", "8", "--hidden-size", "8"]
    argv += ["--eval-every", "5", "--warmup-steps", "1", "--ema", "0", "--sp-alpha", "0"]
    argv += ["--out", str(tmp_path)]
    out = run("sentiment_sst2.py", *argv)
    assert re.search(r"^\| bi-LSTM \| [0-9.]+% \| ", out, re.M), out


def tiny_sentiment_contrast(tmp_path):
    """The shipped classifier on the committed contrast set and a made-up SST-2 folder."""
    out = run("sentiment_contrast.py", "--sst2", str(sst2(tmp_path / "sst2", dev_rows=40)))
    row = re.search(
        r"^\| sentiment-sst2 \| [0-9.]+% \(\d+/\d+\) \|.* [0-9.]+% \(\d+/40\) \|", out, re.M
    )
    assert row and json.loads(out.strip().splitlines()[-1])["checkpoint"] == "sentiment-sst2"


def tiny_translate_multi30k(tmp_path):
    argv = ["--data", str(multi30k(tmp_path / "multi30k")), "--out", str(tmp_path / "out")]
    argv += ["--max-minutes", "0.02", "--baseline-max-minutes", "0", "--hidden-size", "8"]
    argv += ["--embedding-size", "8", "--vocab-size", "40", "--epochs", "1", "--beam", "2"]
    out = run("translate_multi30k.py", *argv, "--length-penalties", "0.6")
    assert re.search(r"^\| attention \| 0.02 \| 1 \| [0-9.]+ \| [0-9.]+ \|", out, re.M), out


TINY = {  # script -> its tiny runs; (run, "slow") for one that takes a minute or more
    "app_latency.py": [tiny_app_latency, (tiny_app_latency_others, "slow")],
    "caption_flickr8k.py": [tiny_caption_flickr8k, (tiny_caption_flickr8k_trained, "slow")],
    "charlm_bigtext.py": [(tiny_charlm_bigtext, "slow")],  # --help is its fast smoke
    "charlm_budget.py": [(tiny_charlm_budget, "slow")],  # --help is its fast smoke
    "charlm_shakespeare.py": [tiny_charlm_shakespeare],
    "charlm_sweep.py": [tiny_charlm_sweep, (tiny_charlm_sweep_run, "slow")],
    "cold_start.py": [(tiny_cold_start, "slow")],  # --help is its fast smoke
    "decode_throughput.py": [tiny_decode_throughput, tiny_decode_throughput_test_set],
    "extract_features.py": [tiny_extract_features],
    "familiarity.py": [tiny_familiarity, (tiny_familiarity_caption, "slow")],
    "fit_familiarity.py": [tiny_fit_familiarity],
    "quantize.py": [tiny_quantize],
    "rnn_throughput.py": [tiny_rnn_throughput],
    "sentiment_contrast.py": [tiny_sentiment_contrast],
    "sentiment_sst2.py": [tiny_sentiment_sst2],
    "translate_multi30k.py": [tiny_translate_multi30k],
}


def _params() -> list:
    out = []
    for script, runs in TINY.items():
        for entry in runs if script in SCRIPTS else []:
            fn, slow = entry if isinstance(entry, tuple) else (entry, "")
            marks = [pytest.mark.slow] if slow else []
            out.append(pytest.param(fn, marks=marks, id=fn.__name__.removeprefix("tiny_")))
    return out


def test_every_bench_script_has_a_smoke_entry():
    """A new bench script needs a tiny run here (and --help comes for free)."""
    missing = sorted(set(SCRIPTS) - set(TINY))
    assert not missing, f"add a tiny run for {missing} to TINY in tests/test_bench_smoke.py"
    assert SCRIPTS, "no bench scripts found"


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    """Every script imports and answers --help: its usage, exit status 0."""
    out = run(script, "--help")
    assert out.startswith("usage: ") and "--" in out, out[:500]


@pytest.mark.parametrize("tiny", _params())
def test_tiny_run(tiny, tmp_path):
    tiny(tmp_path)
