"""Character-level language model: embedding -> stacked seqlab RNN/LSTM/GRU -> linear.

The model of char-rnn (Karpathy 2015), with a learned embedding in place of one-hot inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from seqlab.config import check
from seqlab.rnn import make_rnn


@dataclass
class CharLMConfig:
    vocab_size: int = field(default=0, metadata={"cli": False})
    cell: str = field(
        default="lstm",
        metadata={"help": "recurrent cell", "choices": ["lstm", "gru", "rnn", "rnn_relu"]},
    )
    embedding_size: int = field(default=128, metadata={"help": "character embedding size"})
    hidden_size: int = field(default=512, metadata={"help": "hidden units per layer"})
    num_layers: int = field(default=2, metadata={"help": "stacked recurrent layers"})
    dropout: float = field(
        default=0.2, metadata={"help": "dropout between layers and before the output layer"}
    )
    backend: str = field(
        default="fused", metadata={"help": "seqlab.rnn backend", "choices": ["fused", "scratch"]}
    )

    def __post_init__(self):
        check(self.hidden_size > 0, f"--hidden-size must be positive, got {self.hidden_size}")
        check(
            self.embedding_size > 0, f"--embedding-size must be positive, got {self.embedding_size}"
        )
        check(self.num_layers > 0, f"--num-layers must be positive, got {self.num_layers}")
        check(0 <= self.dropout < 1, f"--dropout must be in [0, 1), got {self.dropout}")


class CharLM(nn.Module):
    def __init__(self, cfg: CharLMConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_size)
        self.rnn = make_rnn(
            cfg.cell,
            cfg.embedding_size,
            cfg.hidden_size,
            cfg.num_layers,
            dropout=cfg.dropout,
            batch_first=True,
            backend=cfg.backend,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    def forward(self, x: Tensor, state=None) -> tuple[Tensor, object]:
        """x: (B, T) character ids -> logits (B, T, V) and the final recurrent state."""
        e = self.embedding(x)  # (B, T, E)
        h, state = self.rnn(e, state)  # (B, T, H)
        return self.head(self.drop(h)), state  # (B, T, V)
