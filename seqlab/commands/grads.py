"""`seqlab grads temporal|train|plot`: the gradient lab (vanishing and exploding gradients).

seqlab grads temporal --cells rnn,lstm,gru --seq-len 100 --radius 0.9 --out runs/temporal
seqlab grads train --task adding --cells rnn,lstm,gru --seq-len 50,100,200 --out runs/grads
seqlab grads plot runs/shakespeare        # grad-norm curve of any run's metrics.jsonl
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from seqlab.commands import GROUPS
from seqlab.config import HelpFormatter, add_dataclass_args, from_args
from seqlab.errors import UserError


def add_parser(sub) -> None:
    from seqlab.grads.config import GradTrainConfig, TemporalConfig  # no torch: --help at once

    p = sub.add_parser("grads", help=GROUPS["grads"])
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{temporal,train,plot}")
    fmt = HelpFormatter

    t = verbs.add_parser(
        "temporal", formatter_class=fmt, help="||dL/dh_t|| against the distance T - t (CSV and PNG)"
    )
    add_dataclass_args(t, TemporalConfig)
    t.set_defaults(func=_temporal)

    r = verbs.add_parser(
        "train",
        formatter_class=fmt,
        help="train cells on a long-range task, with and without clipping",
    )
    add_dataclass_args(r, GradTrainConfig)
    r.set_defaults(func=_train)

    g = verbs.add_parser(
        "plot",
        help="figures from a run directory: metrics.jsonl (any run), "
        "temporal.csv or train.csv (the gradient lab's own outputs)",
    )
    g.add_argument("run_dir", metavar="RUN_DIR", help="a run directory")
    g.add_argument("--out", default=None, help="output PNG (default: RUN_DIR/grad_norms.png)")
    g.set_defaults(func=_plot)


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    print(f"wrote {path}")


def _temporal(args) -> int:
    from seqlab.checkpoint import write_json
    from seqlab.gradient_plots import plot_temporal
    from seqlab.gradients import measure_temporal, temporal_title, write_csv
    from seqlab.grads.config import TemporalConfig
    from seqlab.training import progress

    cfg = from_args(TemporalConfig, args)
    out = Path(cfg.out)
    write_json(out / "config.json", {"temporal": dataclasses.asdict(cfg)})
    bar = progress(total=100, desc="temporal", unit="%")
    rows = measure_temporal(cfg, lambda frac, _: bar.update(round(100 * frac) - bar.n))
    bar.close()
    write_csv(out / "temporal.csv", rows)
    print(f"wrote {out / 'temporal.csv'}")
    _save(plot_temporal(rows, temporal_title(cfg)), out / "temporal.png")
    far = max(r["distance"] for r in rows)
    for r in rows:
        if r["distance"] == far:
            print(
                f"{r['cell']:>14} layer {r['layer']}: |dL/dh| at distance {far} = "
                f"{r['grad_norm']:.3g}"
            )
    return 0


def _train(args) -> int:
    from seqlab.grads.config import GradTrainConfig
    from seqlab.grads.files import save_comparison
    from seqlab.grads.train import compare
    from seqlab.training import progress

    cfg = from_args(GradTrainConfig, args)
    bar = progress(total=1000, desc="grads train", unit="‰")
    records, summaries = compare(cfg, lambda frac, _: bar.update(round(1000 * frac) - bar.n))
    bar.close()
    out = Path(cfg.out)
    save_comparison(out, cfg, records, summaries)
    _plot_training(out, records, summaries)
    print((out / "accuracy.md").read_text())
    return 0


def _plot_training(out: Path, records: list[dict], summaries: list[dict]) -> None:
    from seqlab.gradient_plots import plot_accuracy, plot_training

    _save(plot_training(records, summaries, "loss"), out / "loss.png")
    _save(plot_training(records, summaries, "grad_norm"), out / "grad_norm.png")
    _save(plot_accuracy(summaries), out / "accuracy.png")


def _plot(args) -> int:
    from seqlab.gradient_plots import plot_run_metrics, plot_temporal
    from seqlab.gradients import read_temporal_csv
    from seqlab.grads.files import read_comparison
    from seqlab.training import read_metrics

    run, dest = Path(args.run_dir), Path(args.out) if args.out else None
    if not run.is_dir():
        raise UserError(f"run directory not found: {run}")
    if (run / "metrics.jsonl").is_file():
        records = read_metrics(run / "metrics.jsonl")
        if not any("grad_norm" in r for r in records):
            raise UserError(f"{run / 'metrics.jsonl'} has no grad_norm records to plot")
        clip = _clip_norm(run / "config.json")
        _save(
            plot_run_metrics(records, clip, f"{run.name}: gradient norm per step"),
            dest or run / "grad_norms.png",
        )
    elif (run / "temporal.csv").is_file():
        rows = read_temporal_csv(run / "temporal.csv")
        _save(plot_temporal(rows, _temporal_title(run)), dest or run / "temporal.png")
    elif (run / "train.csv").is_file():
        _plot_training(run, *read_comparison(run))
    else:
        raise UserError(f"{run} has no metrics.jsonl, temporal.csv or train.csv to plot")
    return 0


def _temporal_title(run: Path) -> str:
    """The title `grads temporal` drew, rebuilt from the run's config.json ('' if there is none)."""
    from seqlab.gradients import temporal_title
    from seqlab.grads.config import TemporalConfig

    try:
        return temporal_title(
            TemporalConfig(**json.loads((run / "config.json").read_text())["temporal"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _clip_norm(config_path: Path) -> float:
    """The run's clip threshold: config.json's optim.clip_norm (or a top-level clip_norm)."""
    if not config_path.is_file():
        return 0.0
    try:
        cfg = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{config_path} is not valid JSON: {e}") from e
    for section in [cfg.get("optim", {}), cfg]:
        if isinstance(section, dict) and isinstance(section.get("clip_norm"), int | float):
            return float(section["clip_norm"])
    return 0.0
