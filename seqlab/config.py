"""CLI flags derived from config dataclasses: one source of truth for names, defaults and help.

A field's help text lives in ``field(metadata={"help": ...})``; ``choices`` may be given there too.
``RunConfig`` holds what every trainer shares (run directory, seed, device, precision, the budget,
the evaluation cadence); each task's train config subclasses it and adds only its own fields, so
``seqlab <task> train --help`` shows the same run flags, in a "run" group, for every task.
This module imports no torch: ``--help`` and usage errors answer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, TypeVar

from seqlab.errors import UserError

T = TypeVar("T")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclasses.dataclass
class RunConfig:
    """The run settings shared by every trainer: where, how, and for how long.

    The budget stops a run at whichever of ``epochs``, ``max_steps`` and ``max_minutes`` ends
    first (0 turns a limit off; at least one must be set). A cosine schedule anneals over the
    same budget, so a run stopped by the clock still ends on a low learning rate.
    """

    out: str | None = field(default=None, metadata={"help": "run directory (default: runs/TASK)"})
    seed: int = field(default=1337, metadata={"help": "random seed"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or mps"})
    precision: str = field(
        default="auto",
        metadata={
            "help": "auto (bf16 on AMX CPUs and bf16 GPUs, else fp32), fp32, bf16, fp16 (GPU)",
            "choices": list(PRECISIONS),
        },
    )
    compile: bool = field(default=False, metadata={"help": "torch.compile the model to train"})
    threads: int = field(
        default=0,
        metadata={"help": "CPU threads for torch (0: torch's default; 1 is fastest on a busy CPU)"},
    )
    resume: bool = field(
        default=False,
        metadata={"help": "continue OUT's run from OUT/ckpt_last.pt, exactly where it stopped"},
    )
    epochs: int = field(
        default=10, metadata={"help": "passes over the training data (0: no limit)"}
    )
    max_steps: int = field(
        default=0, metadata={"help": "stop after N optimizer steps (0: no limit)"}
    )
    max_minutes: float = field(
        default=0.0,
        metadata={
            "help": "stop after N minutes of training in all: a --resume'd run counts the "
            "interrupted run's minutes too, so raise N to train on (0: no limit)"
        },
    )
    eval_every: int = field(
        default=0,
        metadata={
            "help": "validate and checkpoint every N steps (0: after each epoch, and at least "
            "every fifth of --max-minutes)"
        },
    )
    log_every: int = field(
        default=1, metadata={"help": "write a training record to metrics.jsonl every N steps"}
    )
    patience: int = field(
        default=0,
        metadata={"help": "stop after N validations without a better score (0: never)"},
    )
    tensorboard: bool = field(
        default=False,
        metadata={
            "help": "also write TensorBoard scalars to OUT/tensorboard (needs the tensorboard "
            "extra: uv sync --extra tensorboard)"
        },
    )

    def __post_init__(self):
        check(self.epochs >= 0 and self.max_steps >= 0, "--epochs/--max-steps must be >= 0")
        check(self.max_minutes >= 0, f"--max-minutes must be >= 0, got {self.max_minutes}")
        check(
            self.epochs > 0 or self.max_steps > 0 or self.max_minutes > 0,
            "set a budget: --epochs, --max-steps or --max-minutes",
        )
        check(self.eval_every >= 0 and self.patience >= 0, "--eval-every/--patience must be >= 0")
        check(self.log_every >= 1, f"--log-every must be >= 1, got {self.log_every}")
        check(self.threads >= 0, f"--threads must be >= 0, got {self.threads}")

    def run_dir(self, task: str) -> str:
        return self.out or f"runs/{task}"


@dataclasses.dataclass
class OptimConfig:
    optimizer: str = field(
        default="adam", metadata={"help": "optimizer", "choices": ["adam", "sgd"]}
    )
    lr: float = field(default=2e-3, metadata={"help": "learning rate"})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum"})
    weight_decay: float = field(default=0.0, metadata={"help": "weight decay"})
    schedule: str = field(
        default="cosine",
        metadata={
            "help": "LR schedule: cosine with warmup over the budget, divide by 10 when "
            "validation stalls (plateau), or none",
            "choices": ["cosine", "plateau", "none"],
        },
    )
    warmup_steps: int = field(default=100, metadata={"help": "linear warmup steps (cosine)"})
    clip_norm: float = field(default=5.0, metadata={"help": "clip the global grad norm (0: off)"})
    clip_value: float = field(
        default=0.0, metadata={"help": "clip each gradient element to +-value instead (0: off)"}
    )
    max_bad_steps: int = field(
        default=5, metadata={"help": "stop after this many non-finite gradients in a row"}
    )

    def __post_init__(self):
        check(self.lr > 0, f"--lr must be positive, got {self.lr}")
        check(self.clip_norm >= 0 and self.clip_value >= 0, "--clip-norm/--clip-value must be >= 0")
        check(self.warmup_steps >= 0, "--warmup-steps must be >= 0")
        check(self.max_bad_steps >= 1, "--max-bad-steps must be >= 1")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except a None one: dataclass flags default to None (so an
    override is visible) and name their real default in their help already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_args(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, skip: tuple = ()
) -> None:
    """Add one ``--flag`` per dataclass field; defaults stay None so overrides are visible."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or f.metadata.get("cli") is False:
            continue
        typ = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = f.metadata.get("help", "")
        help_text += f" (default: {default})" if default not in (None, "") else ""
        kwargs: dict[str, Any] = {"default": None, "help": help_text, "dest": f.name}
        if typ is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            base = typing.get_args(typ)[0] if typing.get_origin(typ) in (typing.Union,) else typ
            if base is type(None):
                base = str
            kwargs["type"] = base if base in (int, float, str) else str
            kwargs["metavar"] = f.metadata.get("metavar", f.name.upper())
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(_flag(f.name), **kwargs)


def add_train_args(parser: argparse.ArgumentParser, task_cls: type, *model_classes: type) -> None:
    """A trainer's flags: the task's own (``task_cls`` minus RunConfig's), each model/optimizer
    config's, then the shared run flags in a "run" group with ``--config``, identical for every
    task (tests/test_run.py checks that)."""
    shared = tuple(f.name for f in dataclasses.fields(RunConfig))
    add_dataclass_args(parser.add_argument_group("task"), task_cls, skip=shared)
    for cls in model_classes:
        add_dataclass_args(parser.add_argument_group(cls.__name__.removesuffix("Config")), cls)
    run = parser.add_argument_group("run", "the same flags for every trainer")
    add_dataclass_args(run, RunConfig)
    run.add_argument("--config", help="re-run a previous run: its config.json (flags override)")


def from_args(cls: type[T], args: argparse.Namespace, base: dict | None = None) -> T:
    """Build ``cls`` from defaults, then ``base`` (e.g. a --config file), then explicit flags."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in (base or {}).items() if k in names}
    values.update({k: v for k, v in vars(args).items() if k in names and v is not None})
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise UserError(str(e)) from e


def load_config_file(path: str | None) -> dict:
    """Read a run's ``config.json`` (for ``--config``); nested sections are flattened."""
    if not path:
        return {}
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError as e:
        raise UserError(f"config file not found: {p}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{p} is not valid JSON: {e}") from e
    flat: dict = {}
    for k, v in data.items():
        if isinstance(v, dict):
            flat.update(v)
        else:
            flat[k] = v
    return flat


def check(cond: bool, message: str) -> None:
    """Validate a config value in ``__post_init__``; raises ValueError shown as one line."""
    if not cond:
        raise ValueError(message)
