"""seqlab.rnn against torch.nn: outputs, final states and gradients, for both backends."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqlab.rnn as S

MODES = ["RNN", "LSTM", "GRU"]
CASES = list(itertools.product(MODES, [1, 2], [False, True], [False, True], [False, True]))


def _pair(mode, backend, dtype, **kw):
    ref = getattr(nn, mode)(3, 5, **kw).to(dtype)
    ours = getattr(S, mode)(3, 5, backend=backend, **kw).to(dtype)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _flat(out, state):
    data = out.data if isinstance(out, torch.nn.utils.rnn.PackedSequence) else out
    states = state if isinstance(state, tuple) else (state,)
    return [data, *states]


def _grads(module, tensors):
    loss = sum(
        (t * torch.linspace(-1, 1, t.numel(), dtype=t.dtype).view_as(t)).sum() for t in tensors
    )
    return torch.autograd.grad(loss, list(module.parameters()))


@pytest.mark.parametrize("backend", ["scratch", "fused"])
@pytest.mark.parametrize("mode,num_layers,bidirectional,batch_first,packed", CASES)
def test_parity_float64(mode, num_layers, bidirectional, batch_first, packed, backend):
    ref, ours = _pair(
        mode,
        backend,
        torch.float64,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
    )
    x = torch.randn(4, 7, 3, dtype=torch.float64)  # (B, T, I)
    x = x if batch_first else x.transpose(0, 1)
    D = 2 if bidirectional else 1
    h0 = torch.randn(num_layers * D, 4, 5, dtype=torch.float64)
    hx = (h0, torch.randn_like(h0)) if mode == "LSTM" else h0
    if packed:
        x = pack_padded_sequence(
            x, torch.tensor([7, 2, 5, 1]), batch_first=batch_first, enforce_sorted=False
        )
    a, b = _flat(*ref(x, hx)), _flat(*ours(x, hx))
    for ta, tb in zip(a, b, strict=True):
        torch.testing.assert_close(tb, ta, atol=1e-10, rtol=0)
    for ga, gb in zip(_grads(ref, a), _grads(ours, b), strict=True):
        torch.testing.assert_close(gb, ga, atol=1e-10, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_backends_agree_float32(mode):
    m = getattr(S, mode)(8, 16, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(3, 20, 8)
    outs = {}
    for backend in ("fused", "scratch"):
        m.backend = backend
        out, state = m(x)
        outs[backend] = [out, *_flat(out, state)[1:], *_grads(m, _flat(out, state))]
    for a, b in zip(outs["fused"], outs["scratch"], strict=True):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_round_trip_and_names(mode):
    ref = getattr(nn, mode)(4, 6, num_layers=2, bidirectional=True)
    ours = getattr(S, mode)(4, 6, num_layers=2, bidirectional=True)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for k, v in ours.state_dict().items():
        assert v.shape == ref.state_dict()[k].shape, k
    ref.load_state_dict(ours.state_dict())  # ours -> torch.nn
    x = torch.randn(5, 2, 4)
    torch.testing.assert_close(ours(x)[0], ref(x)[0])


def test_no_bias_relu_and_unbatched():
    ref = nn.RNN(3, 4, nonlinearity="relu", bias=False)
    for backend in ("scratch", "fused"):
        ours = S.RNN(3, 4, nonlinearity="relu", bias=False, backend=backend)
        ours.load_state_dict(ref.state_dict())
        x = torch.randn(6, 3)  # unbatched (T, I)
        out, h = ours(x)
        assert out.shape == (6, 4) and h.shape == (1, 4)
        torch.testing.assert_close(out, ref(x)[0])


def test_packed_output_round_trips():
    m = S.GRU(3, 4, batch_first=True, backend="scratch")
    x = torch.randn(3, 5, 3)
    lengths = torch.tensor([2, 5, 3])
    out, _ = m(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    padded, lens = pad_packed_sequence(out, batch_first=True)
    assert lens.tolist() == lengths.tolist()
    assert padded[0, 2:].abs().sum() == 0  # padding stays zero


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch_nn(cls):
    ref = getattr(nn, cls)(3, 5).double()
    ours = getattr(S, cls)(3, 5).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(4, 3, dtype=torch.float64)
    h = torch.randn(4, 5, dtype=torch.float64)
    hx = (h, torch.randn_like(h)) if cls == "LSTMCell" else h
    a, b = ref(x, hx), ours(x, hx)
    for ta, tb in zip(
        a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,), strict=True
    ):
        torch.testing.assert_close(tb, ta, atol=1e-12, rtol=0)
    assert ours(x[0]).shape[-1] == 5 if cls != "LSTMCell" else ours(x[0])[0].shape == (5,)


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_gradcheck(cls):
    cell = getattr(S, cls)(3, 4).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    if cls == "LSTMCell":
        c = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x, h, c: cell(x, (h, c)), (x, h, c))
    else:
        assert torch.autograd.gradcheck(lambda x, h: cell(x, h), (x, h))


def test_scratch_layer_gradcheck():
    m = S.LSTM(2, 3, num_layers=2, bidirectional=True, backend="scratch").double()
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: m(x)[0], (x,))


@pytest.mark.parametrize("mode", MODES)
def test_weight_dropout(mode):
    """DropConnect on the recurrent weights: the same masks on both backends (one per forward
    call, drawn in the same order), no gradient through a dropped weight, and none of it in
    eval mode."""
    m = getattr(S, mode)(4, 6, num_layers=2, bidirectional=True, weight_dropout=0.5)
    x, outs = torch.randn(7, 3, 4), {}
    for backend in ("fused", "scratch"):
        m.backend = backend
        m.zero_grad()
        torch.manual_seed(0)
        out = m(x)[0]
        out.sum().backward()
        outs[backend] = [out, m.weight_hh_l0.grad.clone()]
    torch.testing.assert_close(outs["scratch"], outs["fused"], atol=1e-5, rtol=1e-5)
    dropped = (outs["fused"][1] == 0).float().mean().item()
    assert 0.3 < dropped < 0.7  # about half the recurrent weights got no gradient
    torch.manual_seed(1)
    assert not torch.allclose(m(x)[0], outs["scratch"][0])  # a new mask per call
    plain = getattr(S, mode)(4, 6, num_layers=2, bidirectional=True)
    plain.load_state_dict(m.state_dict())
    torch.testing.assert_close(m.eval()(x)[0], plain.eval()(x)[0])
    assert "weight_dropout=0.5" in repr(m)


def test_bad_arguments():
    with pytest.raises(ValueError):
        S.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError):
        S.LSTM(3, 4, backend="cuda-magic")
    with pytest.raises(NotImplementedError):
        S.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="weight_dropout"):
        S.GRU(3, 4, weight_dropout=1.0)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_compiled_scratch_step_matches_eager(mode):
    m = getattr(S, mode)(4, 6, backend="scratch", batch_first=True)
    x = torch.randn(2, 5, 4)
    eager = m(x)[0]
    torch.testing.assert_close(m.compile_step()(x)[0], eager, atol=1e-6, rtol=1e-5)
