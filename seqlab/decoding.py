"""Decoding shared by every generator: greedy, sampling (temperature, top-k, top-p) and batched
beam search with the GNMT length penalty, for any model that exposes a step function.

    step(tokens (N,) long, state) -> (log_probs (N, V), new_state, attn (N, S) or None)

The state is a tensor or a nested tuple/list/dict of tensors, each with the batch dim N first, so
beam search can expand and reorder it without knowing the model. Models expose the step as e.g.
``model.decode_step``; the task recipe builds the initial state (encoder outputs, masks, h0).

    hyps = beam_search(model.decode_step, state, batch_size=B, bos=2, eos=3, beam_size=5)
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from seqlab.training import map_state

State = Tensor | tuple | list | dict
StepFn = Callable[[Tensor, State], tuple[Tensor, State, Tensor | None]]


@dataclass
class Hypothesis:
    tokens: list[int]  # generated ids, without <bos>, without the final <eos>
    score: float  # the ranking score (length-penalised for beam search)
    log_prob: float  # sum of token log-probabilities (including <eos> if reached)
    attention: Tensor | None = None  # (len(tokens), S) attention rows, or None


def filter_logits(logits: Tensor, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Keep the top-k logits and/or the smallest set whose probability reaches top_p
    (nucleus sampling, Holtzman et al. 2020); the rest become -inf. logits: (N, V)."""
    if top_k > 0 and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (N, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = sorted_logits.softmax(-1).cumsum(-1)  # (N, V)
        drop = cum - sorted_logits.softmax(-1) >= top_p  # keep the token that crosses top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw one token per row from softmax(logits / temperature). temperature 0 means argmax."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = filter_logits(logits.float() / temperature, top_k, top_p)
    probs = logits.softmax(-1)  # (N, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (N,)


def reorder_state(state: State, index: Tensor) -> State:
    """``index_select(0, index)`` on every tensor of a nested state (None passes through)."""
    try:
        return map_state(state, lambda t: t.index_select(0, index.to(t.device)))
    except TypeError as e:
        raise TypeError(f"cannot reorder a decoder state: {e}") from e


def gnmt_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al. 2016); alpha 0 is none."""
    return ((5.0 + length) / 6.0) ** alpha


def _device_of(state: State) -> torch.device:
    if isinstance(state, Tensor):
        return state.device
    items = state.values() if isinstance(state, dict) else state if state is not None else []
    for s in items:
        if s is not None and not isinstance(s, (int, float, str)):
            return _device_of(s)
    return torch.device("cpu")


def _step(step: StepFn, tokens: Tensor, state: State):
    log_probs, state, attn = step(tokens, state)
    # log_softmax is idempotent on log-probabilities and normalises raw logits
    return log_probs.float().log_softmax(-1), state, attn


def _max_lens(max_len: int | list[int], batch_size: int) -> list[int]:
    """One length limit per item: a batch decodes each item as it would decode alone."""
    lens = [max_len] * batch_size if isinstance(max_len, int) else [int(n) for n in max_len]
    if len(lens) != batch_size:
        raise ValueError(f"{len(lens)} max lengths for a batch of {batch_size}")
    return lens


def _left_to_right(
    step: StepFn,
    state: State,
    batch_size: int,
    bos: int,
    eos: int,
    max_len: int | list[int],
    choose: Callable[[Tensor], Tensor],
) -> list[Hypothesis]:
    """Decode one token per step with ``choose(log_probs) -> tokens``; stop at <eos> or max_len
    (one limit for all, or one per item)."""
    lens = _max_lens(max_len, batch_size)
    tokens = torch.full((batch_size,), bos, dtype=torch.long, device=_device_of(state))
    limit = torch.tensor(lens, device=tokens.device)  # (N,)
    done = limit <= 0
    log_prob = torch.zeros(batch_size, device=tokens.device)
    out, attns = [], []
    for t in range(1, max(lens, default=0) + 1):
        log_probs, state, attn = _step(step, tokens, state)  # (N, V)
        tokens = choose(log_probs).to(tokens.device)  # (N,)
        log_prob += log_probs.gather(1, tokens[:, None]).squeeze(1) * (~done)
        out.append(tokens)
        attns.append(attn)
        done |= (tokens == eos) | (limit <= t)
        if done.all():
            break
    ids = torch.stack(out, 1).tolist() if out else [[] for _ in range(batch_size)]  # (N, T)
    scores = log_prob.tolist()  # one copy to the host, not one per item
    att_all = torch.stack(attns, 1) if out and attns[0] is not None else None  # (N, T, S)
    hyps = []
    for i, row in enumerate(ids):
        row = row[: lens[i]]
        n = row.index(eos) if eos in row else len(row)
        att = att_all[i, :n] if att_all is not None and n else None  # (n, S), a view
        hyps.append(Hypothesis(row[:n], scores[i], scores[i], att))
    return hyps


def greedy(
    step: StepFn, state: State, batch_size: int, bos: int, eos: int, max_len: int | list[int] = 50
) -> list[Hypothesis]:
    """The most likely next token at every step; one hypothesis per batch item."""
    return _left_to_right(step, state, batch_size, bos, eos, max_len, lambda lp: lp.argmax(-1))


def sample(
    step: StepFn,
    state: State,
    batch_size: int,
    bos: int,
    eos: int,
    max_len: int = 50,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[Hypothesis]:
    """Ancestral sampling with temperature, top-k and nucleus filtering (see ``sample_next``).
    ``generator`` must live on the state's device; temperature 0 is greedy."""

    def choose(lp: Tensor) -> Tensor:
        return sample_next(lp, temperature, top_k, top_p, generator)

    return _left_to_right(step, state, batch_size, bos, eos, max_len, choose)


def beam_search(
    step: StepFn,
    state: State,
    batch_size: int,
    bos: int,
    eos: int,
    beam_size: int = 5,
    max_len: int | list[int] = 50,
    length_penalty: float = 0.6,
    n_best: int = 1,
) -> list[list[Hypothesis]]:
    """Batched beam search: one ``step`` call per time step for all live beams of all items.

    Scores are log P(Y) / lp(|Y|) with the GNMT penalty, |Y| counting the <eos>. Finished
    hypotheses are kept aside; an item stops once its n_best-th finished score cannot be beaten
    by any live beam (log-probs only fall, so the best a beam can reach is its log-prob over the
    largest penalty ahead), or at its max_len (one for all, or one per item, so a batch decodes
    each item as it would alone), where live beams count as finished. Returns, per item, the
    n_best hypotheses best first.

    On a GPU each step makes one copy to the host (what the bookkeeping reads), and one to the
    device on the steps where items leave the batch: no per-item synchronisation; the token
    history and the bookkeeping live on the host (numpy), the attention history on the device.
    """
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be in [1, beam_size={beam_size}], got {n_best}")
    K, alpha = beam_size, length_penalty
    lp = gnmt_penalty
    lens = _max_lens(max_len, batch_size)
    device = _device_of(state)
    state = reorder_state(state, torch.arange(batch_size, device=device).repeat_interleave(K))
    scores = torch.full((batch_size, K), float("-inf"), device=device)  # (A, K) log P
    scores[:, 0] = 0.0  # all beams start identical: expand only the first one at t = 1
    tokens = torch.full((batch_size * K,), bos, dtype=torch.long, device=device)
    block = torch.arange(batch_size, device=device)[:, None] * K  # (A, 1): each item's first row
    attn_hist: Tensor | None = None  # (A*K, t, S) on the device
    # the bookkeeping lives on the host, in numpy (a small-array op costs ~1 us there)
    alive = np.arange(batch_size)  # (A,) the items still decoding, in row-block order
    limit = np.array(lens)  # (B,)
    final_lp = np.array([lp(n, alpha) for n in lens])  # (B,)
    bar = np.full(batch_size, np.nan)  # (B,) n_best-th best finished score; NaN until n_best
    history = np.empty((batch_size * K, 0), dtype=np.int64)  # (A*K, t)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch_size)]

    def finish(a: np.ndarray, rows: np.ndarray, log_probs: np.ndarray, t: int) -> None:
        """Set aside the hypotheses ending at ``rows`` of the batch items ``alive[a]``."""
        items, toks = alive[a].tolist(), history[rows].tolist()
        for item, row, tok, s in zip(items, rows.tolist(), toks, log_probs.tolist(), strict=True):
            att = attn_hist[row] if attn_hist is not None else None
            finished[item].append(Hypothesis(tok, s / lp(t, alpha), s, att))
            if len(finished[item]) >= n_best:
                bar[item] = heapq.nlargest(n_best, (h.score for h in finished[item]))[-1]

    for t in range(1, max(lens, default=0) + 1):
        before = state
        log_probs, state, attn = _step(step, tokens, state)  # (A*K, V)
        A, V = len(alive), log_probs.size(1)
        cand = (scores.view(-1, 1) + log_probs).view(A, K * V)  # (A, K*V)
        top_scores, top_idx = cand.topk(min(2 * K, K * V), dim=1)  # (A, 2K): >= K without <eos>
        top_beam, top_tok = top_idx // V, top_idx % V
        is_eos = top_tok == eos
        scores, pick = top_scores.masked_fill(is_eos, float("-inf")).topk(K, dim=1)  # (A, K)
        rows = (block + top_beam.gather(1, pick)).view(-1)  # (A*K,) the beams each row extends
        tokens = top_tok.gather(1, pick).view(-1)  # (A*K,)
        # the step's one copy to the host: <eos> candidates (their beam, or -1), scores, moves;
        # cat promotes the ids to float32, which holds them exactly below 2**24 (else float64)
        eos_beam = torch.where(is_eos[:, :K], top_beam[:, :K], -1)  # (A, K)
        first = top_scores[:, :K] if max(A * K, V) < 2**24 else top_scores[:, :K].double()
        parts = [first, eos_beam, scores, rows.view(A, K), tokens.view(A, K)]
        host = torch.cat(parts, 1).cpu().numpy()  # (A, 5K)
        eos_score, eos_beam_h, scores_h, rows_h, tokens_h = np.split(host, 5, axis=1)

        # as in fairseq, an <eos> finishes a hypothesis only if it ranks in the top K: with K = 1
        # this is exactly greedy search
        a, j = np.nonzero(eos_beam_h >= 0)
        ok = eos_score[a, j] > -np.inf
        a, j = a[ok], j[ok]
        finish(a, a * K + eos_beam_h[a, j].astype(np.int64), eos_score[a, j], t)

        moves = rows_h.reshape(-1).astype(np.int64)
        history = np.concatenate([history[moves], tokens_h.reshape(-1, 1).astype(np.int64)], 1)
        if attn is not None:
            row_attn = attn[rows].float()[:, None]  # (A*K, 1, S)
            attn_hist = row_attn if attn_hist is None else torch.cat([attn_hist[rows], row_attn], 1)
        state = _reorder_changed(state, before, rows)

        at_max = limit[alive] <= t  # (A,): the live beams count as finished
        a, k = np.nonzero(at_max[:, None] & (scores_h > -np.inf))
        finish(a, a * K + k, scores_h[a, k], t)
        reach = scores_h[:, 0] / np.maximum(final_lp[alive], lp(t + 1, alpha))  # (A,) float64
        settled = bar[alive] >= reach  # no live beam can beat the n_best-th finished one
        keep = np.nonzero(~at_max & ~settled)[0]  # (A',)
        if keep.size == 0:
            break
        if keep.size < A:  # drop settled items from the batch
            alive = alive[keep]
            sel = (keep[:, None] * K + np.arange(K)).reshape(-1)  # (A'*K,)
            history = history[sel]
            sel_dev, block = torch.from_numpy(sel).to(device), block[: keep.size]
            scores, tokens = scores.view(-1)[sel_dev].view(-1, K), tokens[sel_dev]
            attn_hist = attn_hist[sel_dev] if attn_hist is not None else None
            state = reorder_state(state, sel_dev)

    return [sorted(f, key=lambda h: -h.score)[:n_best] for f in finished]


def _reorder_changed(state: State, before: State, rows: Tensor) -> State:
    """Reorder the beams' state after a step. ``rows`` only permutes beams within each item's
    block of K rows, and an entry the step handed back unchanged (the encoder memory, its keys
    and mask, the image features) is the same in all K rows of a block: it is kept as it is
    instead of being copied every step."""
    if isinstance(state, dict) and isinstance(before, dict):
        return {k: v if before.get(k) is v else reorder_state(v, rows) for k, v in state.items()}
    return reorder_state(state, rows)
