"""Character-level language model: embedding -> stacked seqlab RNN/LSTM/GRU -> linear.

The model of char-rnn (Karpathy 2015), with a learned embedding in place of one-hot inputs.
"""

from __future__ import annotations

from torch import Tensor, nn

from seqlab.models.configs import CharLMConfig
from seqlab.rnn import make_rnn


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
            weight_dropout=cfg.weight_dropout,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    def forward(self, x: Tensor, state=None) -> tuple[Tensor, object]:
        """x: (B, T) character ids -> logits (B, T, V) and the final recurrent state."""
        e = self.embedding(x)  # (B, T, E)
        h, state = self.rnn(e, state)  # (B, T, H)
        return self.head(self.drop(h)), state  # (B, T, V)
