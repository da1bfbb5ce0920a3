"""Truncated BPTT: windows, carried state, and where gradients may (not) flow."""

from __future__ import annotations

import pytest
import torch

from seqlab.data.text import iter_chunks, make_streams
from seqlab.models.charlm import CharLM, CharLMConfig
from seqlab.rnn import LSTM
from seqlab.tbptt import detach_state, tbptt_forward, tbptt_windows


def _model(seed=0):
    torch.manual_seed(seed)
    cfg = CharLMConfig(vocab_size=7, embedding_size=4, hidden_size=6, num_layers=2, dropout=0.0)
    return CharLM(cfg).double()


def _grads(model):
    return [p.grad.clone() for p in model.parameters()]


def test_windows_cover_every_target_once():
    for k1, k2 in [(3, 3), (2, 5), (1, 4), (4, 4), (5, 7)]:
        seen = []
        for s, mid, t, t_prev in tbptt_windows(23, k1, k2):
            assert s <= t_prev < t <= 23 and s <= mid <= t
            assert t - s <= k2 and t - t_prev <= k1
            seen += range(t_prev, t)
        assert seen == list(range(23))


def test_windows_reject_bad_k():
    with pytest.raises(ValueError):
        list(tbptt_windows(10, 5, 3))


def test_bptt_at_least_length_equals_full_bptt():
    x = torch.randint(0, 7, (3, 12))
    y = torch.randint(0, 7, (3, 12))
    full = _model()
    logits, _ = full(x)
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()).backward()
    chunked = _model()
    for s, mid, t, t_prev in tbptt_windows(12, 16, 16):
        out, _ = tbptt_forward(chunked, x[:, s:t], None, s, mid, t, t_prev)
        loss = torch.nn.functional.cross_entropy(out.flatten(0, 1), y[:, t_prev:t].flatten())
        loss.backward()
    for a, b in zip(_grads(full), _grads(chunked), strict=True):
        torch.testing.assert_close(b, a, atol=1e-12, rtol=0)


def test_chunked_forward_with_carried_state_equals_full_forward():
    model = _model()
    x = torch.randint(0, 7, (4, 20))
    full, _ = model(x)
    outs, carry = [], None
    for s, mid, t, t_prev in tbptt_windows(20, 6, 6):
        out, carry = tbptt_forward(model, x[:, s:t], carry, s, mid, t, t_prev)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-12, rtol=0)


def test_overlapping_windows_k1_lt_k2_forward_matches():
    model = _model()
    x = torch.randint(0, 7, (2, 17))
    full, _ = model(x)
    outs, carry = [], None
    for s, mid, t, t_prev in tbptt_windows(17, 3, 7):
        out, carry = tbptt_forward(model, x[:, s:t], carry, s, mid, t, t_prev)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-12, rtol=0)


def test_tbptt_k1_k2_gradient_reaches_exactly_k2_steps_back():
    """With TBPTT(2, 5), the update at t=8 backpropagates into inputs [3, 8) and no further."""
    rnn = LSTM(3, 4, batch_first=True).double()
    x = torch.randn(1, 10, 3, dtype=torch.float64, requires_grad=True)
    carry = None
    for s, mid, t, t_prev in tbptt_windows(10, 2, 5):
        out, next_carry = tbptt_forward(rnn, x[:, s:t], carry, s, mid, t, t_prev)
        if t == 8:
            out.sum().backward()
            reached = (x.grad[0].abs().sum(1) > 0).nonzero().flatten().tolist()
            assert reached == [3, 4, 5, 6, 7]
            break
        carry = next_carry


def test_no_gradient_crosses_a_boundary():
    rnn = LSTM(3, 4, batch_first=True).double()
    x1 = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    _, state = rnn(x1)
    out2, _ = rnn(x2, detach_state(state))
    out2.sum().backward()
    assert x1.grad is None and x2.grad is not None
    assert all(not s.requires_grad for s in detach_state(state))


def test_streams_are_contiguous_rows_and_chunks_shift_by_one():
    ids = torch.arange(103)
    streams = make_streams(ids, 4)  # (4, 25)
    assert streams.shape == (4, 25) and streams[1, 0] == 25
    chunks = list(iter_chunks(streams, 10))
    assert [c[1].size(1) for c in chunks] == [10, 10, 4]
    for _, x, y in chunks:
        assert torch.equal(y, x + 1)


def test_streams_shard_by_rank():
    ids = torch.arange(100)
    whole = make_streams(ids, 4)
    parts = [make_streams(ids, 4, rank=r, world_size=2) for r in range(2)]
    assert torch.equal(torch.cat(parts), whole)
