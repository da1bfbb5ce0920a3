"""A recurrent layer and a linear read-out: the probe model of the long-range dependency tasks
(adding problem, copy task) that the gradient lab trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from seqlab.config import check
from seqlab.rnn import make_rnn


@dataclass
class LongRangeConfig:
    cell: str = field(
        default="lstm",
        metadata={"help": "recurrent cell", "choices": ["rnn", "rnn_relu", "lstm", "gru"]},
    )
    input_size: int = field(default=2, metadata={"cli": False})
    output_size: int = field(default=1, metadata={"cli": False})
    hidden_size: int = field(default=64, metadata={"help": "hidden units per layer"})
    num_layers: int = field(default=1, metadata={"help": "stacked recurrent layers"})
    backend: str = field(
        default="fused", metadata={"help": "seqlab.rnn backend", "choices": ["fused", "scratch"]}
    )

    def __post_init__(self):
        check(self.hidden_size > 0, f"--hidden-size must be positive, got {self.hidden_size}")
        check(self.num_layers > 0, f"--num-layers must be positive, got {self.num_layers}")


class LongRangeModel(nn.Module):
    """x (B, T, I) -> outputs (B, T, O) and the final recurrent state."""

    def __init__(self, cfg: LongRangeConfig):
        super().__init__()
        self.cfg = cfg
        self.rnn = make_rnn(
            cfg.cell,
            cfg.input_size,
            cfg.hidden_size,
            cfg.num_layers,
            batch_first=True,
            backend=cfg.backend,
        )
        self.head = nn.Linear(cfg.hidden_size, cfg.output_size)

    def forward(self, x: Tensor, state=None) -> tuple[Tensor, object]:
        h, state = self.rnn(x, state)  # (B, T, H)
        return self.head(h), state  # (B, T, O)
