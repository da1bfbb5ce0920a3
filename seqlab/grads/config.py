"""The gradient lab's settings, without torch: ``seqlab grads temporal|train --help`` builds its
flags from these dataclasses, so the help answers at once (seqlab.gradients and
seqlab.grads.train, which import torch, load only when a verb runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from seqlab.config import check

TASKS = ("adding", "copy")
CELLS = ("rnn", "rnn_relu", "rnn_linear", "lstm", "gru")
INITS = ("default", "orthogonal", "identity")


def parse_list(text: str | float | int, kind: type = str) -> list:
    """'rnn,lstm' -> ['rnn', 'lstm']; '0,1,3' with kind=float -> [0.0, 1.0, 3.0]."""
    try:
        return [kind(s.strip()) for s in str(text).split(",") if s.strip()]
    except ValueError as e:
        raise ValueError(
            f"cannot read {text!r} as a comma-separated list of {kind.__name__}"
        ) from e


@dataclass
class TemporalConfig:
    cells: str = field(
        default="rnn,lstm,gru", metadata={"help": f"comma-separated cells among {', '.join(CELLS)}"}
    )
    seq_len: int = field(default=100, metadata={"help": "sequence length T"})
    hidden_size: int = field(default=64, metadata={"help": "hidden units per layer"})
    input_size: int = field(default=64, metadata={"help": "input features (random N(0, 1))"})
    num_layers: int = field(default=1, metadata={"help": "stacked layers"})
    batch_size: int = field(default=16, metadata={"help": "sequences per seed"})
    radius: float = field(
        default=0.0,
        metadata={
            "help": "scale each recurrent block of W_hh to this spectral radius (0: keep the init)"
        },
    )
    init: str = field(
        default="default",
        metadata={
            "help": "recurrent init: default (torch.nn's uniform), orthogonal (Saxe et al. "
            "2014) or identity (Le et al. 2015)",
            "choices": list(INITS),
        },
    )
    nonlinearity: str = field(
        default="tanh",
        metadata={"help": "what the plain 'rnn' cell uses", "choices": ["tanh", "relu", "linear"]},
    )
    forget_bias: str = field(
        default="0",
        metadata={
            "help": "LSTM forget-gate bias b_f, one curve per comma-separated value (e.g. 0,1,3)"
        },
    )
    update_bias: str = field(
        default="",
        metadata={
            "help": "GRU update-gate bias b_z, one curve per comma-separated value (e.g. 0,3); "
            "empty: as torch.nn initialises it (near 0)"
        },
    )
    seeds: int = field(default=5, metadata={"help": "random seeds to average over"})
    dtype: str = field(
        default="float64",
        metadata={
            "help": "float64 keeps norms far below 1e-38 visible",
            "choices": ["float64", "float32"],
        },
    )
    out: str = field(default="runs/temporal", metadata={"help": "output directory"})

    def __post_init__(self):
        for cell in parse_list(self.cells):
            check(cell in CELLS, f"--cells: unknown cell {cell!r}; choose among {', '.join(CELLS)}")
        check(len(parse_list(self.cells)) > 0, "--cells must name at least one cell")
        check(self.seq_len >= 1, f"--seq-len must be >= 1, got {self.seq_len}")
        check(self.hidden_size >= 1 and self.input_size >= 1, "--hidden/input-size must be >= 1")
        check(self.num_layers >= 1, f"--num-layers must be >= 1, got {self.num_layers}")
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(self.radius >= 0, f"--radius must be >= 0, got {self.radius}")
        check(self.seeds >= 1, f"--seeds must be >= 1, got {self.seeds}")
        check(self.init in INITS, f"--init must be one of {INITS}, got {self.init!r}")
        parse_list(self.forget_bias, float)
        parse_list(self.update_bias, float)


@dataclass
class GradTrainConfig:
    task: str = field(
        default="adding", metadata={"help": "long-range task", "choices": list(TASKS)}
    )
    cells: str = field(default="rnn,lstm,gru", metadata={"help": "comma-separated cells"})
    seq_len: str = field(
        default="50,100,200",
        metadata={"help": "comma-separated sequence lengths T (copy task: the blank delay)"},
    )
    hidden_size: int = field(default=32, metadata={"help": "hidden units per layer"})
    num_layers: int = field(default=1, metadata={"help": "stacked recurrent layers"})
    batch_size: int = field(default=32, metadata={"help": "sequences per step"})
    steps: int = field(default=500, metadata={"help": "optimizer steps per run"})
    optimizer: str = field(
        default="adam", metadata={"help": "optimizer", "choices": ["adam", "sgd"]}
    )
    lr: float = field(default=1e-2, metadata={"help": "learning rate (constant)"})
    clip_norm: float = field(
        default=1.0,
        metadata={
            "help": "global-norm threshold of the clipped runs; every run is also done unclipped "
            "(0: unclipped runs only)"
        },
    )
    forget_bias: float = field(
        default=1.0,
        metadata={"help": "LSTM forget-gate bias at init (Jozefowicz et al. 2015 use 1)"},
    )
    copy_symbols: int = field(default=5, metadata={"help": "copy task: symbols to remember"})
    copy_alphabet: int = field(default=8, metadata={"help": "copy task: distinct symbols"})
    eval_size: int = field(default=512, metadata={"help": "held-out sequences for the final score"})
    seed: int = field(default=0, metadata={"help": "random seed (the same data for every run)"})
    device: str = field(default="cpu", metadata={"help": "cpu, cuda, mps or auto"})
    out: str = field(default="runs/grads", metadata={"help": "output directory"})

    def __post_init__(self):
        for cell in parse_list(self.cells):
            check(
                cell in ("rnn", "rnn_relu", "lstm", "gru"),
                f"--cells: unknown cell {cell!r}; choose among rnn, rnn_relu, lstm, gru",
            )
        check(
            all(t >= 2 for t in parse_list(self.seq_len, int)) and parse_list(self.seq_len, int),
            f"--seq-len needs lengths >= 2, got {self.seq_len!r}",
        )
        check(self.steps >= 1 and self.batch_size >= 1, "--steps and --batch-size must be >= 1")
        check(self.lr > 0 and self.clip_norm >= 0, "--lr must be > 0 and --clip-norm >= 0")
        check(self.copy_symbols >= 1 and self.copy_alphabet >= 2, "bad copy task sizes")
        check(self.eval_size >= 1, "--eval-size must be >= 1")

    def clip_values(self) -> list[float]:
        return [0.0, self.clip_norm] if self.clip_norm > 0 else [0.0]
