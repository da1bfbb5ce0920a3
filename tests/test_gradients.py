"""The gradient lab against theory, and its CSV files and CLI at tiny sizes."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from seqlab.cli import main
from seqlab.gradients import (
    CSV_COLUMNS,
    TemporalConfig,
    build_layer,
    init_recurrent,
    measure_temporal,
    spectral_radius,
    step_grad_norms,
)
from seqlab.grads.train import GradTrainConfig, adding_batch, compare, copy_batch, layer_grad_norms


def _curve(rows, cell, layer=0):
    pts = sorted(
        (r["distance"], r["grad_norm"]) for r in rows if r["cell"] == cell and r["layer"] == layer
    )
    return [n for _, n in pts]


@pytest.mark.parametrize("rho", [0.8, 1.0, 1.1])
def test_linear_rnn_matches_theory(rho):
    """W_hh = rho * Q (Q orthogonal): ||dL/dh_t|| = rho^(T - t) ||dL/dh_T||, to 1e-6 in float64."""
    cfg = TemporalConfig(
        cells="rnn_linear",
        seq_len=30,
        hidden_size=8,
        input_size=3,
        batch_size=4,
        radius=rho,
        init="orthogonal",
        seeds=2,
    )
    norms = _curve(measure_temporal(cfg), "rnn_linear")
    assert len(norms) == cfg.seq_len + 1
    for d, n in enumerate(norms):
        expected = rho**d * norms[0]
        assert abs(n - expected) / expected < 1e-6, (d, n, expected)


def test_linear_rnn_two_layers_top_layer_matches_theory():
    cfg = TemporalConfig(
        cells="rnn,rnn_linear",
        nonlinearity="linear",
        seq_len=12,
        hidden_size=6,
        input_size=3,
        batch_size=2,
        num_layers=2,
        radius=0.7,
        init="orthogonal",
        seeds=1,
    )
    rows = measure_temporal(cfg)
    assert {r["cell"] for r in rows} == {"rnn_linear"}  # "rnn" + linear is the same cell
    norms = _curve(rows, "rnn_linear", layer=1)
    for d, n in enumerate(norms):
        assert abs(n - 0.7**d * norms[0]) / n < 1e-6
    assert all(n > 0 for n in _curve(rows, "rnn_linear", layer=0))


@pytest.mark.parametrize("rho", [0.9, 1.3])
def test_tanh_rnn_respects_bound(rho):
    """dL/dh_{t-1} = W^T diag(tanh') dL/dh_t with ||W|| = rho and tanh' <= 1."""
    cfg = TemporalConfig(
        cells="rnn",
        seq_len=40,
        hidden_size=8,
        input_size=3,
        batch_size=4,
        radius=rho,
        init="orthogonal",
        seeds=3,
    )
    norms = _curve(measure_temporal(cfg), "rnn")
    for d, n in enumerate(norms):
        assert n <= rho**d * norms[0] * (1 + 1e-9)
    assert norms[-1] < 0.5 * rho**cfg.seq_len * norms[0]  # tanh' < 1 really bites


def test_radius_init_and_forget_bias_knobs():
    cfg = TemporalConfig(cells="lstm", hidden_size=5, input_size=2, radius=0.9)
    layer = build_layer("lstm", cfg, forget_bias=2.0)
    for block in layer.weight_hh_l0.detach().split(5):  # (5, 5) per gate
        assert spectral_radius(block) == pytest.approx(0.9)
    b_f = layer.bias_ih_l0[5:10] + layer.bias_hh_l0[5:10]  # gates i, f, g, o: f is [H:2H]
    assert torch.allclose(b_f, torch.full((5,), 2.0, dtype=b_f.dtype))
    rnn = make = build_layer("rnn", TemporalConfig(hidden_size=4, init="identity"))
    assert torch.equal(make.weight_hh_l0, torch.eye(4, dtype=rnn.weight_hh_l0.dtype))
    init_recurrent(rnn, "orthogonal", radius=0.5)
    w = rnn.weight_hh_l0.detach()
    assert torch.allclose(w @ w.T, 0.25 * torch.eye(4, dtype=w.dtype))


def test_forget_bias_keeps_the_signal():
    cfg = TemporalConfig(
        cells="lstm",
        seq_len=60,
        hidden_size=16,
        input_size=16,
        batch_size=4,
        radius=0.9,
        forget_bias="0,3",
        seeds=2,
    )
    rows = measure_temporal(cfg)
    b0, b3 = _curve(rows, "lstm (b_f=0)"), _curve(rows, "lstm (b_f=3)")
    assert b0[-1] / b0[0] < 1e-8 < b3[-1] / b3[0]


def test_update_bias_keeps_the_gru_signal():
    """The GRU's update gate plays the forget gate's part: at b_z = 0 (torch.nn's init is near 0)
    z is near 0.5 and the GRU vanishes as fast as the tanh RNN; at b_z = 3 the signal reaches."""
    cfg = TemporalConfig(
        cells="rnn,gru",
        seq_len=60,
        hidden_size=16,
        input_size=16,
        batch_size=4,
        radius=0.9,
        update_bias="0,3",
        seeds=2,
    )
    rows = measure_temporal(cfg)
    rnn, z0, z3 = _curve(rows, "rnn"), _curve(rows, "gru (b_z=0)"), _curve(rows, "gru (b_z=3)")
    assert rnn[-1] / rnn[0] < 1e-8 and z0[-1] / z0[0] < 1e-8 < 1e-2 < z3[-1] / z3[0]
    layer = build_layer("gru", cfg, update_bias=3.0)
    b_z = layer.bias_ih_l0[16:32] + layer.bias_hh_l0[16:32]  # gates r, z, n: z is [H:2H]
    assert torch.allclose(b_z, torch.full((16,), 3.0, dtype=b_z.dtype))


def test_step_grad_norms_reads_scratch_states():
    cfg = TemporalConfig(hidden_size=4, input_size=2, num_layers=2)
    for cell in ("rnn", "rnn_relu", "lstm", "gru"):
        layer = build_layer(cell, cfg)
        norms = step_grad_norms(layer, torch.randn(3, 7, 2, dtype=torch.float64))
        assert len(norms) == 2 and all(len(n) == 8 for n in norms)
        assert len(layer.step_states[0][0]) == 7


def test_gradient_reach_of_a_fused_layer():
    from seqlab.gradients import gradient_reach
    from seqlab.rnn import make_rnn

    fused = make_rnn("gru", 2, 4, batch_first=True)
    x = torch.randn(3, 9, 2)
    torch.manual_seed(1)
    reach = gradient_reach(fused, x)
    torch.manual_seed(1)  # the same random loss direction as inside gradient_reach
    scratch = make_rnn("gru", 2, 4, batch_first=True, backend="scratch").double()
    scratch.load_state_dict(fused.state_dict())
    norms = step_grad_norms(scratch, x.double())[0]
    assert reach == pytest.approx(norms[-1] / norms[0], rel=1e-6)


def test_config_errors():
    with pytest.raises(ValueError, match="unknown cell"):
        TemporalConfig(cells="rnn,transformer")
    with pytest.raises(ValueError, match="float"):
        TemporalConfig(forget_bias="one")
    with pytest.raises(ValueError, match="--seq-len"):
        GradTrainConfig(seq_len="1")


def test_tasks_data():
    gen = torch.Generator().manual_seed(0)
    x, y = adding_batch(10, 4, gen)
    assert x.shape == (4, 10, 2) and y.shape == (4,)
    assert torch.equal(x[..., 1].sum(1), torch.full((4,), 2.0))
    assert torch.allclose((x[..., 0] * x[..., 1]).sum(1), y)
    assert (x[:, :5, 1].sum(1) == 1).all()  # one marker in each half
    x, y = copy_batch(6, 3, gen, symbols=2, alphabet=4)
    assert x.shape == (3, 6 + 4, 6) and y.shape == (3, 2)
    ids = x.argmax(-1)
    assert torch.equal(ids[:, :2] - 1, y) and (ids[:, 2 + 6 - 1] == 5).all()


@pytest.mark.parametrize("task", ["adding", "copy"])
def test_compare_records(task):
    cfg = GradTrainConfig(
        task=task,
        cells="rnn,lstm",
        seq_len="6",
        hidden_size=4,
        num_layers=2,
        batch_size=4,
        steps=3,
        eval_size=8,
        clip_norm=0.01,
    )
    records, summaries = compare(cfg)
    assert len(records) == 2 * 2 * 3 and len(summaries) == 4
    r = records[0]
    assert {
        "loss",
        "accuracy",
        "grad_norm",
        "clipped",
        "grad_norm_l0",
        "grad_norm_l1",
        "grad_norm_head",
    } <= set(r)
    layers = math.sqrt(sum(r[k] ** 2 for k in r if k.startswith("grad_norm_")))
    assert layers == pytest.approx(r["grad_norm"], rel=1e-5)  # per-layer norms add up
    clipped = [s for s in summaries if s["clip_norm"] > 0]
    assert all(s["clip_rate"] == 1.0 for s in clipped)
    assert all(s["clip_rate"] == 0.0 for s in summaries if s["clip_norm"] == 0)
    assert all(s["reach_init"] > 0 and s["reach_trained"] > 0 for s in summaries)


def test_layer_grad_norms_names():
    from seqlab.models.longrange import LongRangeConfig, LongRangeModel

    model = LongRangeModel(LongRangeConfig(cell="gru", hidden_size=3, num_layers=2))
    model(torch.randn(2, 4, 2))[0].sum().backward()
    assert list(layer_grad_norms(model)) == ["grad_norm_head", "grad_norm_l0", "grad_norm_l1"]


def test_cli_temporal_writes_csv_and_png(tmp_path):
    out = tmp_path / "t"
    assert (
        main(
            [
                "grads",
                "temporal",
                "--cells",
                "rnn,lstm,gru",
                "--seq-len",
                "5",
                "--hidden-size",
                "4",
                "--input-size",
                "2",
                "--seeds",
                "2",
                "--forget-bias",
                "0,1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with open(out / "temporal.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == CSV_COLUMNS
        rows = list(reader)
    assert {r["cell"] for r in rows} == {"rnn", "lstm (b_f=0)", "lstm (b_f=1)", "gru"}
    assert sorted({int(r["distance"]) for r in rows}) == list(range(6))
    assert all(float(r["grad_norm"]) > 0 for r in rows)
    assert (out / "temporal.png").stat().st_size > 10_000
    assert json.loads((out / "config.json").read_text())["temporal"]["seq_len"] == 5
    (out / "temporal.png").unlink()
    assert main(["grads", "plot", str(out)]) == 0  # re-plot from the CSV
    assert (out / "temporal.png").is_file()


def test_cli_train_and_plot(tmp_path):
    out = tmp_path / "g"
    assert (
        main(
            [
                "grads",
                "train",
                "--task",
                "adding",
                "--cells",
                "rnn,gru",
                "--seq-len",
                "4,6",
                "--hidden-size",
                "4",
                "--steps",
                "3",
                "--batch-size",
                "4",
                "--eval-size",
                "8",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for name in (
        "train.csv",
        "final.csv",
        "accuracy.md",
        "loss.png",
        "grad_norm.png",
        "accuracy.png",
        "config.json",
    ):
        assert (out / name).is_file(), name
    assert "| rnn | none |" in (out / "accuracy.md").read_text()
    run = out / "runs" / "gru_T6_clip1"
    assert main(["grads", "plot", str(run)]) == 0
    assert (run / "grad_norms.png").is_file()
    (out / "loss.png").unlink()
    assert main(["grads", "plot", str(out)]) == 0
    assert (out / "loss.png").is_file()


def test_cli_plot_charlm_style_run(tmp_path):
    """A char-LM run dir: metrics.jsonl records (step, loss, grad_norm, clipped, lr) and
    config.json with optim.clip_norm; validation lines without grad_norm are skipped."""
    lines = [
        {"step": s, "loss": 3 / s, "grad_norm": 10.0 / s, "clipped": 10.0 / s > 2.5, "lr": 1e-3}
        for s in range(1, 21)
    ] + [{"step": 20, "val_loss": 0.5}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (tmp_path / "config.json").write_text(json.dumps({"optim": {"clip_norm": 2.5}}))
    assert main(["grads", "plot", str(tmp_path), "--out", str(tmp_path / "n.png")]) == 0
    assert (tmp_path / "n.png").stat().st_size > 10_000


def test_cli_errors(tmp_path, capsys):
    assert main(["grads", "plot", str(tmp_path / "nope")]) == 1
    assert main(["grads", "plot", str(tmp_path)]) == 1
    assert "no metrics.jsonl" in capsys.readouterr().err
    assert main(["grads", "temporal", "--cells", "lstm,xyz", "--out", str(tmp_path)]) == 1
    assert "unknown cell 'xyz'" in capsys.readouterr().err
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    assert main(["grads", "plot", str(tmp_path)]) == 1
    assert "no grad_norm" in capsys.readouterr().err
