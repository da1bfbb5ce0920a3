"""Many-to-one text classifier: embedding -> seqlab RNN/LSTM/GRU over packed sequences -> pooling
-> linear.

The recipe of the classic recurrent sentence classifiers (Tai, Socher and Manning 2015, the
sequential LSTM baselines; Graves and Schmidhuber 2005 for reading in both directions): the
sentence is read by a (bi)directional recurrent stack, the per-step states are pooled into one
vector, and a linear layer gives class logits. Packing (``pack_padded_sequence``) makes each
sentence stop at its own length, so padding never enters a state or a pool.

    model = TextClassifier(ClassifierConfig(vocab_size=8000, num_classes=2))
    logits = model(ids, lengths)   # ids (B, T), lengths (B,) -> (B, C)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.models.configs import ClassifierConfig
from seqlab.rnn import make_rnn


class TextClassifier(nn.Module):
    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_size, padding_idx=0)
        self.rnn = make_rnn(
            cfg.cell,
            cfg.embedding_size,
            cfg.hidden_size,
            cfg.num_layers,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            batch_first=True,
            bidirectional=cfg.bidirectional,
            backend=cfg.backend,
        )
        self.drop = nn.Dropout(cfg.dropout)
        D = 2 if cfg.bidirectional else 1
        if cfg.pooling == "attention":  # additive attention over the states (Yang et al. 2016)
            self.attention = nn.Sequential(
                nn.Linear(D * cfg.hidden_size, cfg.hidden_size),
                nn.Tanh(),
                nn.Linear(cfg.hidden_size, 1, bias=False),
            )
        width = 2 * D * cfg.hidden_size if cfg.pooling == "max_final" else D * cfg.hidden_size
        self.head = nn.Linear(width, cfg.num_classes)

    def forward(self, x: Tensor, lengths: Tensor, noise: Tensor | None = None) -> Tensor:
        """x: (B, T) token ids (0 = padding), lengths: (B,) -> class logits (B, C).

        noise (B, T, E), if given, is added to the embeddings: adversarial training passes zeros
        that require grad to get the loss's gradient w.r.t. the embeddings, then the perturbation.
        """
        e = self.embedding(x)  # (B, T, E)
        return self.forward_embedded(e if noise is None else e + noise, lengths)

    def forward_embedded(self, e: Tensor, lengths: Tensor) -> Tensor:
        """The same from embeddings (B, T, E): attribution methods differentiate through this."""
        return self.head(self.drop(self.sentence(e, lengths)))  # (B, C)

    def sentence(self, e: Tensor, lengths: Tensor) -> Tensor:
        """The sentence vector the head reads, from embeddings (B, T, E) -> (B, D*H), or
        (B, 2*D*H) for ``max_final``."""
        e = self.drop(e)  # (B, T, E)
        packed = pack_padded_sequence(e, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
        return self.pool(out, h_n, lengths)  # (B, D*H)

    def pool(self, out, h_n: Tensor, lengths: Tensor) -> Tensor:
        pooling = self.cfg.pooling
        if pooling == "final":
            return self._final(h_n)  # (B, D*H)
        if pooling in ("max", "max_final"):
            # Pad with -inf so padding never wins the max (Collobert et al. 2011, Conneau et
            # al. 2017 use max-over-time pooling for sentence vectors).
            h, _ = pad_packed_sequence(out, batch_first=True, padding_value=float("-inf"))
            top = h.max(dim=1).values  # (B, D*H)
            # max_final: the max keeps which features fired anywhere, the final states what
            # the reading in order came to ("not ... bad" turns the state, not the max of "bad")
            return top if pooling == "max" else torch.cat([top, self._final(h_n)], dim=1)
        h, _ = pad_packed_sequence(out, batch_first=True)  # (B, T, D*H), zeros past the end
        if pooling == "attention":
            T = h.shape[1]
            pad = torch.arange(T, device=h.device) >= lengths.to(h.device).unsqueeze(1)  # (B, T)
            scores = self.attention(h).squeeze(-1).masked_fill(pad, float("-inf"))  # (B, T)
            weights = torch.softmax(scores.float(), dim=1).to(h.dtype)  # (B, T)
            return torch.einsum("bt,bth->bh", weights, h)  # (B, D*H)
        return h.sum(dim=1) / lengths.to(h.device, h.dtype).unsqueeze(1)  # (B, D*H)

    def _final(self, h_n: Tensor) -> Tensor:
        """The last layer's final states (B, D*H): forward after the last token, backward after
        the first (with packing both are taken at each sentence's own length)."""
        D = 2 if self.cfg.bidirectional else 1
        return torch.cat(list(h_n[-D:]), dim=1)
