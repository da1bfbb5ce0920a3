"""Encoder-decoder with attention for translation (Bahdanau et al. 2015; Luong et al. 2015).

Encoder: a bidirectional seqlab GRU/LSTM over packed source sequences; each direction has
hidden_size // 2 units, so the memory (the encoder outputs) has hidden_size features.
Decoder: a GRU/LSTM with input feeding (Luong 2015: the previous attentional vector is fed with
the next word), attention over the memory (additive "bahdanau", or Luong "dot" / "general"), and
an output layer on the attentional vector h~ = tanh(W_c [c; h]). With ``attention="none"`` the
context is a fixed summary of the source (Cho et al. 2014), the classic baseline.

    model = Seq2Seq(Seq2SeqConfig(src_vocab_size=8000, tgt_vocab_size=8000))
    logits = model(src, src_lengths, tgt_in)                 # (B, T, V) with teacher forcing
    state = model.init_state(src, src_lengths)               # for seqlab.decoding
    log_probs, state, attn = model.decode_step(tokens, state)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.models.configs import Seq2SeqConfig
from seqlab.rnn import make_rnn

PAD = 0


class Attention(nn.Module):
    """score(h, m_s): additive v^T tanh(W_q h + W_k m_s) (Bahdanau 2015), dot h^T m_s or general
    h^T W m_s (Luong 2015). Keys W_k m are computed once per source in ``keys``."""

    def __init__(self, kind: str, hidden_size: int):
        super().__init__()
        self.kind = kind
        if kind == "bahdanau":
            self.key = nn.Linear(hidden_size, hidden_size, bias=False)
            self.query = nn.Linear(hidden_size, hidden_size)
            self.v = nn.Linear(hidden_size, 1, bias=False)
        elif kind == "general":
            self.key = nn.Linear(hidden_size, hidden_size, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        return memory if self.kind == "dot" else self.key(memory)  # (B, S, H)

    def forward(
        self, h: Tensor, keys: Tensor, memory: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        if self.kind == "bahdanau":
            scores = self.v(torch.tanh(keys + self.query(h)[:, None])).squeeze(-1)  # (B, S)
        else:
            scores = torch.bmm(keys, h[:, :, None]).squeeze(-1)  # (B, S)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)  # (B, S)
        context = torch.bmm(weights[:, None], memory).squeeze(1)  # (B, H)
        return context, weights


class Seq2Seq(nn.Module):
    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.cfg = cfg
        E, H = cfg.embedding_size, cfg.hidden_size
        self.src_embed = nn.Embedding(cfg.src_vocab_size, E, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(cfg.tgt_vocab_size, E, padding_idx=PAD)
        self.encoder = make_rnn(
            cfg.cell,
            E,
            H // 2,
            cfg.encoder_layers,
            batch_first=True,
            bidirectional=True,
            dropout=cfg.dropout if cfg.encoder_layers > 1 else 0.0,
        )
        self.bridge = nn.Linear(H, H * cfg.decoder_layers)  # final encoder states -> decoder h0
        feed = H if cfg.input_feeding else 0
        self.decoder = make_rnn(
            cfg.cell,
            E + feed,
            H,
            cfg.decoder_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.decoder_layers > 1 else 0.0,
        )
        self.attention = Attention(cfg.attention, H) if cfg.attention != "none" else None
        self.combine = nn.Linear(2 * H, H, bias=False)  # h~ = tanh(W_c [c; h])
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.tie_embeddings:  # Press and Wolf 2017: project to E, then reuse the embedding
            self.out_proj = nn.Linear(H, E, bias=False)
            self.out = nn.Linear(E, cfg.tgt_vocab_size)
            self.out.weight = self.tgt_embed.weight
        else:
            self.out_proj = nn.Identity()
            self.out = nn.Linear(H, cfg.tgt_vocab_size)

    def encode(self, src: Tensor, src_lengths: Tensor) -> dict:
        """Run the encoder; returns the decoder's initial state (every tensor batch-first)."""
        B = src.size(0)
        x = self.drop(self.src_embed(src))  # (B, S, E)
        packed = pack_padded_sequence(x, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h_n = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))  # (B,S,H)
        if isinstance(h_n, tuple):  # LSTM: (h, c)
            h_n = h_n[0]
        last = h_n.view(self.cfg.encoder_layers, 2, B, -1)[-1]  # (2, B, H/2): top layer fwd, bwd
        summary = torch.cat([last[0], last[1]], -1)  # (B, H)
        h0 = torch.tanh(self.bridge(summary)).view(B, self.cfg.decoder_layers, -1)  # (B, L, H)
        state = {
            "h": h0,
            "feed": torch.zeros(B, self.cfg.hidden_size, device=src.device),  # h~(0)
            "memory": memory,
            "mask": src != PAD,  # (B, S)
            "summary": summary,
        }
        if self.cfg.cell == "lstm":
            state["c"] = torch.zeros_like(h0)
        if self.attention is not None:
            state["keys"] = self.attention.keys(memory)  # (B, S, H)
        return state

    def _step(self, emb: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        """One decoder step on embedded tokens (B, E); returns h~ (B, H), state, attention."""
        x = torch.cat([emb, state["feed"]], -1) if self.cfg.input_feeding else emb
        hx = state["h"].transpose(0, 1).contiguous()  # (L, B, H)
        if self.cfg.cell == "lstm":
            hx = (hx, state["c"].transpose(0, 1).contiguous())
        out, hx = self.decoder(x[:, None], hx)  # (B, 1, H)
        h = out[:, 0]
        if self.attention is not None:
            context, attn = self.attention(h, state["keys"], state["memory"], state["mask"])
        else:
            context, attn = state["summary"], None  # a fixed context (Cho et al. 2014)
        h_tilde = torch.tanh(self.combine(torch.cat([context, h], -1)))  # (B, H)
        new = dict(state, feed=h_tilde)
        if self.cfg.cell == "lstm":
            new["h"], new["c"] = hx[0].transpose(0, 1), hx[1].transpose(0, 1)  # (B, L, H)
        else:
            new["h"] = hx.transpose(0, 1)
        return h_tilde, new, attn

    def logits(self, h_tilde: Tensor) -> Tensor:
        return self.out(self.out_proj(self.drop(h_tilde)))  # (..., V)

    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Logits (B, T, V) for ``tgt_in`` (<bos> y1 .. y_{T-1}). With teacher_forcing < 1 each
        row feeds back its own previous prediction with probability 1 - teacher_forcing
        (Williams and Zipser 1989; Bengio et al. 2015 call the schedule scheduled sampling)."""
        state = self.encode(src, src_lengths)
        emb = self.drop(self.tgt_embed(tgt_in))  # (B, T, E)
        outs = []
        for t in range(tgt_in.size(1)):
            e = emb[:, t]
            if t > 0 and teacher_forcing < 1.0:
                own = self.tgt_embed(self.logits(outs[-1]).argmax(-1))  # (B, E)
                coin = torch.rand(e.size(0), 1, device=e.device, generator=generator)
                e = torch.where(coin < teacher_forcing, e, self.drop(own))
            h_tilde, state, _ = self._step(e, state)
            outs.append(h_tilde)
        return self.logits(torch.stack(outs, 1))  # (B, T, V): one big matmul after the loop

    def init_state(self, src: Tensor, src_lengths: Tensor) -> dict:
        return self.encode(src, src_lengths)

    def decode_step(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        """The seqlab.decoding step: tokens (N,) -> (log_probs (N, V), state, attn (N, S))."""
        h_tilde, state, attn = self._step(self.drop(self.tgt_embed(tokens)), state)
        return F.log_softmax(self.logits(h_tilde).float(), -1), state, attn
