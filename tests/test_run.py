"""One training interface: the four trainers share their run flags (name, type, default, help),
every budget stops every trainer, --tensorboard writes events TensorBoard reads, and a resumed
run's clock goes on from the checkpoint's."""

from __future__ import annotations

import argparse
import json
import logging

import pytest
import torch

from seqlab.cli import build_parser, main
from seqlab.config import RunConfig
from seqlab.toy.sentiment import write_splits
from seqlab.training import read_metrics

TASKS = ("charlm", "sentiment", "translate", "caption")
SHARED = {f"--{f.replace('_', '-')}" for f in RunConfig.__dataclass_fields__} | {"--config"}
COMMON = ["--device", "cpu", "--precision", "fp32", "--seed", "3"]


def _train_parser(task: str) -> argparse.ArgumentParser:
    if task == "caption":  # caption parses its verbs itself (an image path may come first)
        from seqlab.commands.caption import _verb_parsers

        return _verb_parsers()["train"]
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    verbs = next(a for a in sub.choices[task]._actions if isinstance(a, argparse._SubParsersAction))
    return verbs.choices["train"]


def _flags(parser: argparse.ArgumentParser) -> dict[str, tuple]:
    """Every option of a parser: (type, default, help, choices, action kind)."""
    out = {}
    for a in parser._actions:
        for s in a.option_strings:
            if s.startswith("--") and s not in ("--help",) and not s.startswith("--no-"):
                assert s not in out, f"{parser.prog}: {s} defined twice"
                choices = tuple(a.choices) if a.choices else None
                out[s] = (a.type, a.default, a.help, choices, type(a).__name__, a.dest)
    return out


def test_the_four_trainers_share_their_run_flags_exactly():
    flags = {task: _flags(_train_parser(task)) for task in TASKS}
    for task, f in flags.items():
        missing = SHARED - f.keys()
        assert not missing, f"{task} train lacks {sorted(missing)}"
    for name in sorted(SHARED):
        spec = {task: flags[task][name] for task in TASKS}
        assert len(set(spec.values())) == 1, f"{name} differs between trainers: {spec}"
    # the old names are gone, with no aliases
    for task, f in flags.items():
        for old in ("--time-limit", "--time-budget", "--time-budget-min", "--minutes"):
            assert old not in f, f"{task} train still has {old}"


def test_the_run_flags_are_in_one_help_group_for_every_trainer():
    for task in TASKS:
        groups = {g.title: g for g in _train_parser(task)._action_groups}
        run = {s for a in groups["run"]._group_actions for s in a.option_strings}
        assert {s for s in run if not s.startswith("--no-")} == SHARED, task


# ---------------------------------------------------------------------------- every budget


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, list[str]]:
    root = tmp_path_factory.mktemp("data")
    text = root / "input.txt"
    text.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n" * 40)
    train, dev = write_splits(root / "sst", n_train=60, n_dev=12)
    pairs = root / "pairs.tsv"
    pairs.write_text("".join(f"{i} plus {i}\t{2 * i}\n" for i in range(120)))
    return {
        "charlm": ["charlm", "train", "--text", str(text), "--hidden-size", "16",
                   "--embedding-size", "8", "--num-layers", "1", "--bptt", "16",
                   "--batch-size", "4"],
        "sentiment": ["sentiment", "train", "--train", str(train), "--dev", str(dev),
                      "--tokenizer", "word", "--embedding-size", "8", "--hidden-size", "8",
                      "--batch-size", "8"],
        "translate": ["translate", "train", "--pairs", str(pairs), "--dev-size", "10",
                      "--vocab-size", "40", "--hidden-size", "16", "--embedding-size", "8",
                      "--batch-size", "16"],
        "caption": ["caption", "train", "--dataset", "scenes", "--scenes", "16", "--encoder",
                    "scratch", "--image-size", "32", "--grid-size", "4", "--channels", "16",
                    "--embedding-size", "8", "--hidden-size", "8", "--projection-size", "8",
                    "--attention-size", "8", "--batch-size", "4", "--val-images", "4",
                    "--min-count", "1"],
    }  # fmt: skip


def _summary(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


@pytest.mark.parametrize("task", TASKS)
def test_max_steps_stops_every_trainer(task, data, tmp_path, capsys):
    out = tmp_path / "run"
    argv = [*data[task], *COMMON, "--epochs", "0", "--max-steps", "3", "--out", str(out)]
    assert main(argv) == 0
    summary = _summary(capsys)
    assert summary["steps"] == 3 and "step limit" in summary["stopped"]
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3]
    assert any(k.startswith("val_") for k in records[-1])  # the last step validated
    assert (out / "ckpt_last.pt").is_file() and (out / "ckpt_best.pt").is_file()


@pytest.mark.parametrize("task", TASKS)
def test_max_minutes_stops_every_trainer(task, data, tmp_path, capsys):
    out = tmp_path / "run"
    argv = [*data[task], *COMMON, "--epochs", "0", "--max-minutes", "0.05", "--out", str(out)]
    assert main(argv) == 0
    summary = _summary(capsys)
    assert "time budget" in summary["stopped"]
    assert 3.0 <= summary["elapsed_s"] < 30.0  # it trained on the clock, and stopped on it
    assert summary["steps"] >= 1 and (out / "ckpt_last.pt").is_file()


def test_a_run_needs_some_budget(data, tmp_path, capsys):
    argv = [*data["charlm"], "--epochs", "0", "--out", str(tmp_path / "run")]
    assert main(argv) == 1
    assert "set a budget" in capsys.readouterr().err


# ---------------------------------------------------------------------------- tensorboard


@pytest.mark.parametrize("task", TASKS)
def test_tensorboard_writes_the_expected_scalars(task, data, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    argv = [*data[task], *COMMON, "--max-steps", "4", "--eval-every", "2", "--tensorboard"]
    assert main([*argv, "--out", str(out)]) == 0
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events, "no events file"
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    want = {"train/loss", "train/lr", "train/grad_norm", "train/clip_rate", "train/tokens_per_s"}
    assert want <= tags, sorted(tags)
    val = {t for t in tags if t.startswith("val/")}
    assert val, sorted(tags)
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4]
    assert [e.step for e in acc.Scalars(sorted(val)[0])] == [2, 4]
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert [e.value for e in acc.Scalars("train/loss")] == pytest.approx(losses)


# ---------------------------------------------------------------------------- resume's clock


@pytest.mark.parametrize("task", TASKS)
def test_the_clock_goes_on_across_resume(task, data, tmp_path, capsys):
    """The checkpoint's training time is where a resumed run's clock starts: set it to 1000 s
    and the resumed run's validation records and summary count on from there."""
    out = tmp_path / "run"
    argv = [*data[task], *COMMON, "--epochs", "0", "--eval-every", "2", "--out", str(out)]
    assert main([*argv, "--max-steps", "2"]) == 0
    first = _summary(capsys)["elapsed_s"]
    path = out / "ckpt_last.pt"
    saved = torch.load(path, weights_only=True)
    holder = saved["resume"] if "resume" in saved else saved  # epoch trainers keep it there
    assert 0 < holder["elapsed_s"] <= first + 0.01  # the summary rounds to 10 ms
    holder["elapsed_s"] += 1000.0
    torch.save(saved, path)
    assert main([*argv, "--max-steps", "4", "--resume"]) == 0
    second = _summary(capsys)
    assert second["steps"] == 4 and 1000 < second["elapsed_s"] < 1000 + 60
    vals = [r for r in read_metrics(out / "metrics.jsonl") if "elapsed_s" in r]
    assert [r["step"] for r in vals] == [2, 4]
    assert vals[0]["elapsed_s"] < 60 and 1000 < vals[1]["elapsed_s"] < 1060


@pytest.mark.parametrize("task", TASKS)
def test_resume_says_its_step_and_the_clocks_agree(task, data, tmp_path, capsys, caplog):
    """--resume says which step it resumed from, and the progress line's clock is the run's
    (the resumed minutes included) and ends on the summary's elapsed_s: one run once printed
    1.5 min of progress and a summary of 62.9 s."""
    out = tmp_path / "run"
    argv = [*data[task], *COMMON, "--epochs", "0", "--eval-every", "2", "--out", str(out)]
    assert main([*argv, "--max-steps", "2"]) == 0
    capsys.readouterr()
    path = out / "ckpt_last.pt"
    saved = torch.load(path, weights_only=True)
    holder = saved["resume"] if "resume" in saved else saved  # epoch trainers keep it there
    holder["elapsed_s"] += 600.0
    torch.save(saved, path)
    with caplog.at_level(logging.INFO):
        assert main([*argv, "--max-steps", "4", "--resume"]) == 0
    summary = _summary(capsys)
    said = [r.getMessage() for r in caplog.records]
    assert any(f"{task}: resumed at step 2, after 10.0 minutes" in m for m in said), said
    last = [m for r, m in zip(caplog.records, said, strict=True) if r.name == "seqlab.progress"][-1]
    minutes = float(last.split("| ")[1].split(" min")[0])
    assert minutes == pytest.approx(summary["elapsed_s"] / 60, abs=0.051) and minutes >= 10.0


def _strict_json(text: str):
    """json.loads that refuses NaN, Infinity and -Infinity (Python writes them; JSON has none)."""

    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("task", TASKS)
def test_a_resume_past_its_time_budget_says_why_in_strict_json(task, data, tmp_path, capsys):
    """`--resume --max-minutes 1` after 23.4 minutes of training stops at once and says that the
    budget counts those minutes; its summary and every JSON file of the run parse as strict JSON
    (a run with no validation in this session once printed "last_val_loss": NaN)."""
    out = tmp_path / "run"
    argv = [*data[task], *COMMON, "--epochs", "0", "--eval-every", "2", "--out", str(out)]
    assert main([*argv, "--max-steps", "2"]) == 0
    _strict_json(capsys.readouterr().out)
    path = out / "ckpt_last.pt"
    saved = torch.load(path, weights_only=True)
    holder = saved["resume"] if "resume" in saved else saved  # epoch trainers keep it there
    holder["elapsed_s"] = 23.4 * 60
    torch.save(saved, path)
    assert main([*argv, "--max-steps", "0", "--max-minutes", "1", "--resume"]) == 0
    summary = _strict_json(capsys.readouterr().out)
    assert summary["steps"] == 2
    assert summary["stopped"] == (
        "time budget of 1 minutes reached (23.4 minutes already spent before --resume; "
        "raise --max-minutes to continue)"
    )
    files = [*out.glob("*.json"), *out.glob("*.jsonl")]
    assert {"config.json", "metrics.jsonl"} <= {f.name for f in files}
    for f in files:
        for line in f.read_text().splitlines() if f.suffix == ".jsonl" else [f.read_text()]:
            _strict_json(line)


def test_json_writers_write_non_finite_numbers_as_null(tmp_path):
    """config.json-style files and metrics.jsonl hold null for NaN/Infinity; read_metrics gives
    NaN back, so plots show a gap."""
    import math

    from seqlab.checkpoint import write_json
    from seqlab.training import MetricsLog

    write_json(tmp_path / "a.json", {"loss": math.nan, "best": [math.inf, -math.inf, 1.5]})
    assert _strict_json((tmp_path / "a.json").read_text()) == {
        "best": [None, None, 1.5],
        "loss": None,
    }
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.write(step=1, loss=2.0, grad_norm=math.inf)
    log.close()
    assert _strict_json((tmp_path / "metrics.jsonl").read_text()) == {
        "step": 1, "loss": 2.0, "grad_norm": None,
    }  # fmt: skip
    [record] = read_metrics(tmp_path / "metrics.jsonl")
    assert record["loss"] == 2.0 and math.isnan(record["grad_norm"])


def test_tensorboard_without_the_package_is_one_line(data, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    argv = [*data["charlm"], *COMMON, "--max-steps", "2", "--tensorboard"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "uv sync --extra tensorboard" in err
    assert not (tmp_path / "run").exists()  # refused before the run directory is made


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--max-minutes", "-1"], "--max-minutes must be >= 0"),
        (["--log-every", "0"], "--log-every must be >= 1"),
        (["--eval-every", "-2"], "--eval-every/--patience must be >= 0"),
        (["--threads", "-1"], "--threads must be >= 0"),
    ],
)
def test_bad_run_flags_are_one_line_for_every_trainer(flags, message, data, tmp_path, capsys):
    for task in TASKS:
        assert main([*data[task], *flags, "--out", str(tmp_path / task)]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err, (task, err)
        assert not (tmp_path / task).exists()  # refused before anything is written
