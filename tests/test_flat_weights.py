"""cuDNN's flat weight layout (seqlab.fused.flatten), checked on CPU.

On CUDA every layer flattens by itself (cuDNN lays the buffer out); here the tests call the same
function with ``force=True``, which lays it out as cuDNN 9 does (matrices, then biases), and check
what holds on any device: parameters become views of one buffer,
names, values and state_dicts stay torch.nn's, ``.to()`` keeps them flat, weight dropout gives the
scratch backend's results, and nothing warns. The CUDA side is in tests/test_gpu.py.
"""

from __future__ import annotations

import copy
import io
import itertools
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import seqlab.rnn as S
from seqlab import fused

MODES = ["RNN", "LSTM", "GRU"]
ROOT = Path(__file__).resolve().parents[1]


def _flat_pair(mode, **kw):
    ref = getattr(nn, mode)(3, 5, num_layers=2, **kw).double()
    ours = getattr(S, mode)(3, 5, num_layers=2, **kw).double()
    ours.load_state_dict(ref.state_dict())
    assert fused.flatten(ours, force=True)
    return ref, ours


def _assert_one_buffer(m):
    """One storage, each weight a contiguous part of it, none overlapping, nothing left over."""
    weights = [getattr(m, n) for n in m._flat_weights_names]
    base = weights[0].untyped_storage().data_ptr()
    assert all(w.untyped_storage().data_ptr() == base and w.is_contiguous() for w in weights)
    spans = sorted((w.storage_offset(), w.storage_offset() + w.numel()) for w in weights)
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert weights[0].untyped_storage().nbytes() == spans[-1][1] * weights[0].element_size()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bias,bidirectional", [(True, False), (False, True)])
def test_flatten_makes_views_of_one_buffer(mode, bias, bidirectional):
    ref, ours = _flat_pair(mode, bias=bias, bidirectional=bidirectional)
    _assert_one_buffer(ours)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-12, rtol=0)


def test_flatten_keeps_parameter_objects_and_is_idempotent():
    m = S.LSTM(3, 5, num_layers=2)
    before = list(m.parameters())
    opt = torch.optim.Adam(m.parameters())
    assert fused.flatten(m, force=True) and fused.flatten(m, force=True)
    assert all(a is b for a, b in zip(before, m.parameters(), strict=True))
    m(torch.randn(4, 2, 3))[0].sum().backward()
    opt.step()  # in-place updates: the weights stay views of the buffer
    _assert_one_buffer(m)


def test_cpu_layers_are_not_flat_by_default():
    """CPU (oneDNN) reads no flat buffer: nothing changes there, as in torch.nn."""
    m = S.GRU(3, 5, num_layers=2)
    assert not fused.flatten(m)
    m.flatten_parameters()
    m = m.to(torch.float64)
    assert not fused.is_flat(m._flat_weights())


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_round_trips_when_flat(mode):
    ref, ours = _flat_pair(mode, bidirectional=True)
    assert list(ours.state_dict()) == list(ref.state_dict())
    buf = io.BytesIO()
    torch.save(ours.state_dict(), buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    fresh = getattr(nn, mode)(3, 5, num_layers=2, bidirectional=True).double()
    fresh.load_state_dict(loaded)
    other = getattr(nn, mode)(3, 5, num_layers=2, bidirectional=True).double()
    ours.load_state_dict(other.state_dict())  # copied in place: still views of the buffer
    _assert_one_buffer(ours)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(fresh(x)[0], ref(x)[0], atol=1e-12, rtol=0)
    torch.testing.assert_close(ours(x)[0], other(x)[0], atol=1e-12, rtol=0)


def test_to_dtype_and_device_keep_weights_flat():
    ref, ours = _flat_pair("LSTM")
    ours = ours.to(torch.float32).to("cpu")
    _assert_one_buffer(ours)
    assert ours.weight_hh_l1.dtype == torch.float32
    copied = copy.deepcopy(ours)  # Parameter.__deepcopy__ clones: flat again on its first CUDA call
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(copied(x)[0], ref.float()(x)[0], atol=1e-6, rtol=1e-5)


def test_no_dropout_call_passes_the_parameters_themselves():
    """cuDNN reads the flat parameters as they are: no copy on the path without weight dropout."""
    m = S.LSTM(3, 5, num_layers=2, weight_dropout=0.5).eval()
    fused.flatten(m, force=True)
    assert all(a is b for a, b in zip(fused.call_weights(m), m.parameters(), strict=True))
    m.train()
    dropped = fused.call_weights(m)
    assert fused.is_flat(dropped)  # one new buffer of the same layout, read without a copy
    assert dropped[0].untyped_storage().data_ptr() != m.weight_ih_l0.untyped_storage().data_ptr()


@pytest.mark.parametrize("mode", MODES)
def test_weight_dropout_on_flat_weights_matches_scratch(mode):
    m = getattr(S, mode)(4, 6, num_layers=2, bidirectional=True, weight_dropout=0.5)
    fused.flatten(m, force=True)
    x, outs = torch.randn(7, 3, 4), {}
    for backend in ("fused", "scratch"):
        m.backend = backend
        m.zero_grad()
        torch.manual_seed(0)
        out = m(x)[0]
        out.sum().backward()
        outs[backend] = [out, *(p.grad.clone() for p in m.parameters())]
    torch.testing.assert_close(outs["scratch"], outs["fused"], atol=1e-5, rtol=1e-5)
    dropped = (m.weight_hh_l0.grad == 0).float().mean().item()
    assert 0.3 < dropped < 0.7
    _assert_one_buffer(m)


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_forward_and_backward_do_not_warn(mode, flat):
    m = getattr(S, mode)(3, 5, num_layers=2, batch_first=True, weight_dropout=0.3)
    if flat:
        fused.flatten(m, force=True)
    x = torch.randn(2, 6, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for train in (True, False):
            m.train(train)
            m(x)[0].sum().backward()


@pytest.mark.parametrize(
    "script",
    [
        "rnn_throughput.py",
        "decode_throughput.py",
        "sentiment_sst2.py",
        "translate_multi30k.py",
        "caption_flickr8k.py",
    ],
)
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
def test_bench_refuses_cuda_without_a_gpu(script):
    res = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--device", "cuda"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert res.returncode != 0
    assert "bench: --device cuda: no CUDA device on this machine" in res.stderr + res.stdout
    assert "Traceback" not in res.stderr
