"""The char-LM plan: sizes chosen from measured throughput, the budget and the text; explicit
flags override it; the run's config records it; validations print a sample."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from seqlab.charlm import plan as P
from seqlab.cli import main
from seqlab.training import read_metrics

V = 65  # Tiny Shakespeare's alphabet


def speeds(scale: float) -> dict[tuple[int, int], float]:
    """Made-up chars/s for the ladder: cost grows with the parameters, times ``scale``."""
    return {s: scale * 1e10 / P.param_count(*s, P.EMBEDDING_SIZE, V) for s in P.LADDER}


def test_choose_is_the_largest_size_the_budget_feeds():
    probed = speeds(1.0)
    plan = P.choose(probed, 60, 1_000_000, V)
    size = (plan.num_layers, plan.hidden_size)
    fed = [s for s in probed if probed[s] * 60 * P.TRAIN_SHARE >= P.MIN_TRAIN_CHARS]
    assert size == max(fed, key=lambda s: P.param_count(*s, 64, V))
    assert plan == P.choose(probed, 60, 1_000_000, V)  # deterministic given the speeds


def test_more_time_or_a_faster_device_buys_a_bigger_model():
    sizes = [P.choose(speeds(1.0), 60 * m, 1_000_000, V).params for m in (1, 3, 10, 100)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    slow, fast = P.choose(speeds(1.0), 180, 10**6, V), P.choose(speeds(50.0), 180, 10**6, V)
    assert fast.params > slow.params


def test_a_budget_too_small_for_any_size_takes_the_smallest():
    plan = P.choose(speeds(1e-6), 60, 1_000_000, V)
    assert (plan.num_layers, plan.hidden_size) == P.LADDER[0]
    assert "smallest" in plan.reason


def test_a_model_large_for_its_text_gets_a_little_dropout():
    assert P.dropout_for(4.0, 244_000, 1_000_000) == (0.0, 0.0)  # 2x128 on Tiny Shakespeare
    assert P.dropout_for(4.0, 500_000, 1_000_000) == (P.SMALL_DROPOUT, 0.0)  # 2x192
    assert P.dropout_for(15.0, 244_000, 1_000_000) == (0.2, 0.0)  # many passes decide


def test_dropout_follows_the_epochs_the_budget_buys():
    probed = {(2, 128): 100_000.0}
    small_text = P.choose(probed, 600, 100_000, V)  # hundreds of epochs: regularise
    big_text = P.choose(probed, 600, 100_000_000, V)  # under one epoch: no dropout
    assert small_text.dropout > 0 and big_text.dropout == 0
    assert big_text.epochs < 1 < small_text.epochs


def test_a_fast_device_on_a_small_text_is_capped_by_the_data_and_regularised():
    """A GPU-like speed buys hundreds of epochs of a 1 MB text: the size stops at
    MAX_PARAMS_PER_CHAR parameters per character, and the shipped GPU recipe's dropout and weight
    dropout regularise it."""
    plan = P.choose(speeds(1e4), 300, 1_000_000, V)
    assert plan.params <= P.MAX_PARAMS_PER_CHAR * 1_000_000
    bigger = [s for s in P.LADDER if P.param_count(*s, 64, V) > plan.params]
    assert bigger and all(P.param_count(*s, 64, V) > 4_000_000 for s in bigger)
    assert plan.epochs > 20 and (plan.dropout, plan.weight_dropout) == (0.5, 0.25)
    assert "weight dropout 0.25" in plan.line()


def test_explicit_settings_win_and_fix_the_ladder():
    assert P.fixed_sizes({"hidden_size": 100}) == [(1, 100), (2, 100), (3, 100)]
    assert P.fixed_sizes({}) == list(P.LADDER)  # the ladder is smallest first
    assert P.fixed_sizes({"num_layers": 1, "hidden_size": 100}) == [(1, 100)]
    plan = P.choose(speeds(1.0), 60, 10**6, V, {"lr": 0.01, "dropout": 0.5, "bptt": None})
    assert plan.lr == 0.01 and plan.dropout == 0.5 and plan.bptt == P.BPTT


def test_the_line_names_size_speed_characters_and_epochs():
    line = P.choose({(2, 96): 110_000.0}, 60, 1_000_000, V).line()
    assert "2x96" in line and "110,000 chars/s" in line and "epochs" in line and "1 min" in line


def train_args(**given) -> SimpleNamespace:
    names = ("max_minutes", "epochs", "max_steps", "text", "val_fraction", "device", "precision")
    args = {k: None for k in (*names, *P.SETTINGS)}
    return SimpleNamespace(**{**args, "threads": 1, **given})


def test_all_sizes_given_means_no_probe_and_a_time_budget_means_no_epoch_cap():
    given = {k: 1 for k in P.SETTINGS}
    assert P.planned_base(train_args(**given), None) == {
        "max_minutes": P.DEFAULT_MINUTES,
        "epochs": 0,
    }
    assert P.planned_base(train_args(**given, max_minutes=3.0), None) == {"epochs": 0}
    assert P.planned_base(train_args(**given, max_steps=10), None) == {}


@pytest.fixture
def text_file(tmp_path):
    p = tmp_path / "input.txt"
    p.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n\n" * 400)
    return p


def test_cli_prints_the_plan_and_records_it_with_the_overrides(tmp_path, text_file, capsys):
    out = tmp_path / "run"
    argv = ["charlm", "train", "--text", str(text_file), "--out", str(out), "--max-minutes",
            "0.02", "--threads", "1", "--precision", "fp32", "--hidden-size", "24",
            "--num-layers", "1", "--lr", "0.005"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "plan: 1x24 LSTM" in err and "chars/s here" in err
    config = json.loads((out / "config.json").read_text())
    plan = config["train"]["plan"]
    assert plan["hidden_size"] == 24 and list(plan["probed"]) == ["1x24"] and plan["reason"]
    assert config["model"]["hidden_size"] == 24 and config["model"]["num_layers"] == 1
    assert config["optim"]["lr"] == 0.005  # the flag, not the plan's
    assert config["model"]["embedding_size"] == P.EMBEDDING_SIZE  # the plan's
    assert config["train"]["epochs"] == 0 and config["train"]["max_minutes"] == 0.02


def test_each_validation_prints_and_logs_a_fixed_seed_sample(tmp_path, text_file, capsys, caplog):
    out = tmp_path / "run"
    argv = ["charlm", "train", "--text", str(text_file), "--out", str(out), "--max-steps", "6",
            "--eval-every", "3", "--precision", "fp32", "--hidden-size", "16",
            "--num-layers", "1", "--embedding-size", "8", "--batch-size", "4", "--bptt", "16",
            "--lr", "0.01", "--dropout", "0", "--weight-dropout", "0"]  # fmt: skip
    with caplog.at_level("INFO", logger="seqlab.charlm.train"):
        assert main(argv) == 0
    assert "plan:" not in capsys.readouterr().err  # every setting given: nothing to plan
    err = caplog.text
    vals = [r for r in read_metrics(out / "metrics.jsonl") if "val_loss" in r]
    assert [r["step"] for r in vals] == [3, 6]
    for r in vals:
        assert len(r["val_sample"]) == 200 and r["val_sample"] in err
        assert set(r["val_sample"]) <= set(text_file.read_text())


def test_the_shipped_models_recipe_pins_every_size_the_plan_would_choose():
    """A recorded command must still mean the run it recorded: no setting left to the plan."""
    from seqlab.registry import ENTRIES

    command = ENTRIES["charlm-shakespeare"].train_command
    for key in P.SETTINGS:
        assert f"--{key.replace('_', '-')} " in command, key
