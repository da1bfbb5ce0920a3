"""LSTM caption decoders over image features, in two flavours (``CaptionerConfig.attention``):

- Show and Tell (Vinyals et al. 2015): the image initialises the LSTM state by being its first
  input, x_{-1} = W_e v (v the mean image feature), from a zero state, as in the paper; then the
  words run through a stacked ``seqlab.rnn.LSTM`` (the fused kernel for teacher forcing).
  The image embedding is batch-normalised (as in the common PyTorch Show and Tell tutorial).
- Show, Attend and Tell (Xu et al. 2015, soft attention): at every step the decoder looks at the
  S grid cells a_1..a_S of the image with weights alpha_t from its previous state,

      e_ti    = w^T tanh(W_a a_i + W_h h_{t-1})          attention scores (Bahdanau et al. 2015)
      alpha_t = softmax(e_t)                              where to look, sums to 1 over the grid
      beta_t  = sigmoid(f_beta(h_{t-1}))                  gating scalar (Xu et al. section 4.2.1)
      z_t     = beta_t * sum_i alpha_ti a_i               the context vector
      h_t, c_t = LSTMCell([E y_{t-1}; z_t], (h_{t-1}, c_{t-1}))

  and the doubly stochastic regularisation (the training recipe's loss) asks every cell to get
  about equal attention over the whole caption.

Both predict with Xu et al.'s deep output, p(y_t) ~ exp(L_o tanh(E y_{t-1} + L_h h_t + L_z z_t)).
The model takes encoder features (B, S, D), so it trains on cached features or behind an encoder.

    model = Captioner(CaptionerConfig(vocab_size=V, feature_size=1280, attention=True))
    logits, alphas = model(features, tokens)              # (B, T, V), (B, T, S)
    log_probs, state, attn = model.decode_step(tokens, model.init_state(features))
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.cells import LSTMCell
from seqlab.models.configs import CaptionerConfig
from seqlab.rnn import make_rnn


class Captioner(nn.Module):
    def __init__(self, cfg: CaptionerConfig):
        super().__init__()
        self.cfg = cfg
        P, H, E, A, L = (
            cfg.projection_size,
            cfg.hidden_size,
            cfg.embedding_size,
            cfg.attention_size,
            cfg.num_layers,
        )
        self.project = nn.Linear(cfg.feature_size, P)  # a_i = W_p f_i
        self.embedding = nn.Embedding(cfg.vocab_size, E)
        self.drop = nn.Dropout(cfg.dropout)
        self.out_hidden = nn.Linear(H, E)  # L_h
        if cfg.attention:
            self.init_h, self.init_c = nn.Linear(P, H), nn.Linear(P, H)  # h_0 = tanh(W mean a)
            self.att_feat, self.att_hidden = nn.Linear(P, A), nn.Linear(H, A)  # W_a, W_h
            self.att_score = nn.Linear(A, 1)  # w
            self.gate = nn.Linear(H, 1)  # f_beta
            self.cell = LSTMCell(E + P, H)
            self.out_context = nn.Linear(P, E)  # L_z
        else:
            # W_e: the image as the first input word, batch-normalised: image features share a
            # large common part, and without the normalisation the decoder learns to ignore the
            # small per-image rest and says one caption for every image
            self.image_in = nn.Sequential(nn.Linear(P, E), nn.BatchNorm1d(E))
            self.rnn = make_rnn(
                "lstm",
                E,
                H,
                L,
                dropout=cfg.dropout if L > 1 else 0.0,
                batch_first=True,
                backend=cfg.backend,
            )
        self.head = nn.Linear(E, cfg.vocab_size)  # L_o

    def init_state(self, features: Tensor) -> dict[str, Tensor]:
        """features (B, S, D) -> the decoder state; every tensor has the batch first."""
        a = self.drop(self.project(features))  # (B, S, P)
        mean = a.mean(1)  # (B, P)
        if not self.cfg.attention:
            _, (h, c) = self.rnn(self.image_in(mean).unsqueeze(1))  # the image step from zeros
            return {"h": h.transpose(0, 1), "c": c.transpose(0, 1)}  # (L, B, H) -> (B, L, H)
        return {
            "h": torch.tanh(self.init_h(mean)).unsqueeze(1),  # (B, 1, H)
            "c": torch.tanh(self.init_c(mean)).unsqueeze(1),
            "feats": a,  # (B, S, P)
            "keys": self.att_feat(a),  # (B, S, A)
        }

    def _attend(self, h: Tensor, feats: Tensor, keys: Tensor) -> tuple[Tensor, Tensor]:
        """h (B, H) -> context z (B, P), alpha (B, S)."""
        e = self.att_score(torch.tanh(keys + self.att_hidden(h).unsqueeze(1))).squeeze(2)  # (B, S)
        alpha = e.softmax(1)  # (B, S)
        beta = torch.sigmoid(self.gate(h))  # (B, 1)
        z = beta * torch.bmm(alpha.unsqueeze(1), feats).squeeze(1)  # (B, P)
        return z, alpha

    def _logits(self, emb: Tensor, h: Tensor, z: Tensor | None) -> Tensor:
        """Deep output: L_o tanh(E y_{t-1} + L_h h_t [+ L_z z_t]); any leading dims."""
        x = emb + self.out_hidden(self.drop(h))
        if z is not None:
            x = x + self.out_context(z)
        return self.head(self.drop(torch.tanh(x)))  # (..., V)

    def forward(self, features: Tensor, tokens: Tensor) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing. features (B, S, D), tokens (B, T) starting with <bos> ->
        logits (B, T, V) for the next tokens, and alphas (B, T, S) with attention (else None)."""
        state = self.init_state(features)
        emb = self.embedding(tokens)  # (B, T, E)
        if not self.cfg.attention:
            hx = (state["h"].transpose(0, 1).contiguous(), state["c"].transpose(0, 1).contiguous())
            out, _ = self.rnn(emb, hx)  # (B, T, H)
            return self._logits(emb, out, None), None
        h, c = state["h"][:, 0], state["c"][:, 0]  # (B, H)
        hs, zs, alphas = [], [], []
        for t in range(tokens.size(1)):
            z, alpha = self._attend(h, state["feats"], state["keys"])
            h, c = self.cell(torch.cat([emb[:, t], z], 1), (h, c))  # (B, H)
            hs.append(h)
            zs.append(z)
            alphas.append(alpha)
        hs, zs = torch.stack(hs, 1), torch.stack(zs, 1)  # (B, T, H), (B, T, P)
        return self._logits(emb, hs, zs), torch.stack(alphas, 1)  # (B, T, V), (B, T, S)

    def decode_step(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        """One step for seqlab.decoding: tokens (N,) -> log-probs (N, V), new state, attn (N, S)."""
        emb = self.embedding(tokens)  # (N, E)
        if not self.cfg.attention:
            hx = (state["h"].transpose(0, 1).contiguous(), state["c"].transpose(0, 1).contiguous())
            out, (h, c) = self.rnn(emb.unsqueeze(1), hx)  # (N, 1, H), (L, N, H)
            new = {"h": h.transpose(0, 1), "c": c.transpose(0, 1)}
            return self._logits(emb, out[:, 0], None).log_softmax(-1), new, None
        z, alpha = self._attend(state["h"][:, 0], state["feats"], state["keys"])
        h, c = self.cell(torch.cat([emb, z], 1), (state["h"][:, 0], state["c"][:, 0]))
        new = {**state, "h": h.unsqueeze(1), "c": c.unsqueeze(1)}
        return self._logits(emb, h, z).log_softmax(-1), new, alpha
