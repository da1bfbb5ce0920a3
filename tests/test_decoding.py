"""Tests for seqlab.decoding: greedy, sampling and batched beam search on hand-made steps."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.decoding import (
    Hypothesis,
    beam_search,
    filter_logits,
    gnmt_penalty,
    greedy,
    reorder_state,
    sample,
    sample_next,
)

A, B, BOS, EOS = 0, 1, 2, 3
EPS = 1e-9


def markov_step(table: dict[int, list[float]]):
    """A step function whose next-token distribution depends only on the last token (the state)."""
    rows = torch.full((4, 4), EPS)
    for prev, probs in table.items():
        rows[prev] = torch.tensor(probs).clamp_min(EPS)
    logp = rows.log()

    def step(tokens, state):
        return logp[tokens], tokens.clone(), None

    return step


# greedy takes "a" (0.6) then <eos> (0.35): P = 0.21; the best sequence is "b <eos>": P = 0.36
TRAP = {BOS: [0.6, 0.4, 0, 0], A: [0.33, 0.32, 0, 0.35], B: [0.05, 0.05, 0, 0.9], EOS: [0, 0, 0, 1]}


class TinyRNN:
    """A fixed random recurrent step attending over S source positions; state (N, H) + memory."""

    def __init__(self, V=7, H=6, S=4, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.E, self.W = torch.randn(V, H, generator=g), torch.randn(H, H, generator=g)
        self.U = torch.randn(H, V, generator=g) * 2

    def init_state(self, N, S=4, seed=1):
        g = torch.Generator().manual_seed(seed)
        return {"h": torch.randn(N, 6, generator=g), "memory": (torch.randn(N, S, 6, generator=g),)}

    def step(self, tokens, state):
        h = torch.tanh(self.E[tokens] + state["h"] @ self.W)  # (N, H)
        attn = torch.einsum("nsh,nh->ns", state["memory"][0], h).softmax(-1)  # (N, S)
        return (h @ self.U).log_softmax(-1), {"h": h, "memory": state["memory"]}, attn


def test_greedy_follows_argmax_and_misses_trap():
    (hyp,) = greedy(markov_step(TRAP), torch.zeros(1), 1, BOS, EOS, max_len=10)
    assert hyp.tokens == [A]
    assert hyp.log_prob == pytest.approx(math.log(0.6 * 0.35), abs=1e-5)


def test_beam_finds_sequence_greedy_misses():
    (hyps,) = beam_search(
        markov_step(TRAP), torch.zeros(1), 1, BOS, EOS, beam_size=2, max_len=10, length_penalty=0.0
    )
    assert hyps[0].tokens == [B]
    assert hyps[0].log_prob == pytest.approx(math.log(0.36), abs=1e-5)


def test_beam_size_one_equals_greedy():
    m = TinyRNN()
    g = greedy(m.step, m.init_state(5), 5, BOS, EOS, max_len=12)
    b = beam_search(
        m.step, m.init_state(5), 5, BOS, EOS, beam_size=1, max_len=12, length_penalty=0.0
    )
    for gh, (bh,) in zip(g, b, strict=True):
        assert gh.tokens == bh.tokens
        assert gh.log_prob == pytest.approx(bh.log_prob, abs=1e-5)
        assert torch.allclose(gh.attention, bh.attention) if gh.tokens else True


def test_batched_beam_equals_per_item_runs():
    m = TinyRNN()
    state = m.init_state(4)
    batched = beam_search(m.step, state, 4, BOS, EOS, beam_size=3, max_len=9, n_best=3)
    for i in range(4):
        one = reorder_state(state, torch.tensor([i]))
        (single,) = beam_search(m.step, one, 1, BOS, EOS, beam_size=3, max_len=9, n_best=3)
        assert [h.tokens for h in batched[i]] == [h.tokens for h in single]
        assert [h.score for h in batched[i]] == pytest.approx([h.score for h in single], abs=1e-5)


def test_n_best_sorted_scores_and_attention_shapes():
    m = TinyRNN()
    hyps = beam_search(
        m.step,
        m.init_state(2, S=5),
        2,
        BOS,
        EOS,
        beam_size=4,
        max_len=8,
        length_penalty=0.8,
        n_best=4,
    )
    for item in hyps:
        assert len(item) == 4
        scores = [h.score for h in item]
        assert scores == sorted(scores, reverse=True)
        for h in item:
            n = len(h.tokens) + (1 if len(h.tokens) < 8 else 0)  # |Y| counts <eos> when reached
            assert h.score == pytest.approx(h.log_prob / gnmt_penalty(n, 0.8), abs=1e-5)
            assert h.attention is None or h.attention.shape == (len(h.tokens), 5)


def test_length_penalty_prefers_longer_outputs():
    table = {BOS: [0.5, 0, 0, 0.5], A: [0.05, 0.05, 0, 0.9], B: [0, 0, 0, 1], EOS: [0, 0, 0, 1]}
    step = markov_step(table)
    (short,) = beam_search(step, torch.zeros(1), 1, BOS, EOS, beam_size=3, length_penalty=0.0)
    (long,) = beam_search(step, torch.zeros(1), 1, BOS, EOS, beam_size=3, length_penalty=2.0)
    assert short[0].tokens == [] and long[0].tokens == [A]
    assert gnmt_penalty(1, 0.0) == 1.0 and gnmt_penalty(7, 1.0) == pytest.approx(2.0)


def test_max_len_keeps_unfinished_beams():
    never_end = {BOS: [0.5, 0.5, 0, 0], A: [0.5, 0.5, 0, 0], B: [0.5, 0.5, 0, 0]}
    (hyps,) = beam_search(
        markov_step(never_end), torch.zeros(1), 1, BOS, EOS, beam_size=2, max_len=3, n_best=2
    )
    assert all(len(h.tokens) == 3 for h in hyps)
    (g,) = greedy(markov_step(never_end), torch.zeros(1), 1, BOS, EOS, max_len=3)
    assert len(g.tokens) == 3 and isinstance(g, Hypothesis)


def test_n_best_larger_than_beam_is_rejected():
    with pytest.raises(ValueError, match="n_best"):
        beam_search(markov_step(TRAP), torch.zeros(1), 1, BOS, EOS, beam_size=2, n_best=3)


def test_sampling_is_seeded_and_temperature_zero_is_greedy():
    m = TinyRNN()
    runs = [
        sample(
            m.step,
            m.init_state(3),
            3,
            BOS,
            EOS,
            max_len=10,
            temperature=1.0,
            generator=torch.Generator().manual_seed(7),
        )
        for _ in range(2)
    ]
    assert [h.tokens for h in runs[0]] == [h.tokens for h in runs[1]]
    cold = sample(m.step, m.init_state(3), 3, BOS, EOS, max_len=10, temperature=0.0)
    assert [h.tokens for h in cold] == [
        h.tokens for h in greedy(m.step, m.init_state(3), 3, BOS, EOS, max_len=10)
    ]


def test_reorder_state_nested():
    state = {"h": torch.arange(3.0), "pair": (torch.arange(3), [torch.arange(6).view(3, 2)])}
    out = reorder_state(state, torch.tensor([2, 0]))
    assert out["h"].tolist() == [2.0, 0.0]
    assert out["pair"][1][0].tolist() == [[4, 5], [0, 1]]


def test_filter_logits_and_sample_next():
    logits = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[True, True, False, False]]
    assert sample_next(logits, temperature=0).item() == 3
    assert sample_next(logits, top_k=1).item() == 3


def test_beam_search_keeps_unchanged_state_entries_without_changing_any_result():
    """The encoder memory a step hands back unchanged is not reordered every step (it is equal
    within each item's beams): the n-best equals the search that copies every entry."""
    from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig

    torch.manual_seed(0)
    model = Seq2Seq(Seq2SeqConfig(src_vocab_size=20, tgt_vocab_size=12, embedding_size=8,
                                  hidden_size=16)).eval()  # fmt: skip
    src = torch.randint(4, 20, (5, 6))
    lengths = torch.tensor([6, 3, 5, 1, 4])

    def copying_step(tokens, state):  # every entry new: the search must reorder them all
        lp, new, attn = model.decode_step(tokens, state)
        return lp, {k: v.clone() for k, v in new.items()}, attn

    with torch.no_grad():
        results = [
            beam_search(
                fn,
                model.init_state(src, lengths),
                5,
                BOS,
                EOS,
                beam_size=4,
                max_len=[7, 9, 11, 5, 8],
                n_best=3,
            )  # fmt: skip
            for fn in (model.decode_step, copying_step)
        ]
    for fast, full in zip(*results, strict=True):
        assert [h.tokens for h in fast] == [h.tokens for h in full]
        assert [h.score for h in fast] == [h.score for h in full]
        for a, b in zip(fast, full, strict=True):
            assert (a.attention is None and b.attention is None) or torch.equal(
                a.attention, b.attention
            )


def test_decode_bench_times_saved_caption_features(tmp_path):
    """bench/decode_throughput.py --caption-features: the shipped captioner decodes saved test
    features without the photos or the encoder (how it runs on a GPU machine)."""
    feats = tmp_path / "feats.npy"
    np.save(feats, np.random.default_rng(0).random((6, 49, 1280), dtype=np.float32).astype("f2"))
    root = Path(__file__).resolve().parents[1]
    argv = ["--tasks", "caption", "--caption-features", str(feats), "--batch-size", "4"]
    res = subprocess.run(
        [sys.executable, str(root / "bench" / "decode_throughput.py"), *argv, "--reps", "1"],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert res.returncode == 0, res.stderr[-500:]
    line = next(x for x in res.stdout.splitlines() if x.startswith("caption"))
    assert "sent/s" in line and "beam/greedy cost" in line


@pytest.mark.slow
def test_beam_search_keeps_token_ids_past_float32_exactness():
    """Ids at or above 2**24 do not survive float32: the host copy goes float64 for them."""
    V, tok = 2**24 + 4, 2**24 + 1  # float32 rounds 16777217 to 16777216

    def step(tokens, state):
        lp = torch.full((tokens.numel(), V), -30.0)
        lp[:, tok] = -0.1
        lp[:, EOS] = -0.2 if state.numel() and state[0] >= 2 else -40.0
        return lp, state + 1, None

    (hyps,) = beam_search(step, torch.zeros(1), 1, BOS, EOS, beam_size=2, max_len=4)
    assert hyps[0].tokens == [tok, tok]
