"""seqlab.quantize: swapping seqlab's layers for torch.nn's is exact in fp32, for every model and
backend; the int8 copy stores int8 weights, leaves the fp32 model alone, and stays close to it."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from seqlab import quantize
from seqlab.models.captioner import Captioner, CaptionerConfig
from seqlab.models.classifier import ClassifierConfig, TextClassifier
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.rnn import RNNBase


def _seq2seq(backend: str = "fused") -> Seq2Seq:
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(src_vocab_size=30, tgt_vocab_size=25, embedding_size=8, hidden_size=16)
    model = Seq2Seq(cfg).eval()
    for m in model.modules():
        if isinstance(m, RNNBase):
            m.backend = backend  # the same parameters either way
    return model


def _batch():
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, 30, (3, 7), generator=g)
    lengths = torch.tensor([7, 5, 2])
    for i, n in enumerate(lengths):
        src[i, n:] = 0
    tgt = torch.randint(4, 25, (3, 6), generator=g)
    return src, lengths, tgt


@pytest.mark.parametrize("backend", ["fused", "scratch"])
def test_torch_nn_swap_is_exact_for_the_translator(backend):
    model = _seq2seq(backend)
    src, lengths, tgt = _batch()
    with torch.no_grad():
        want = model(src, lengths, tgt)
        swapped = quantize.to_torch_nn(copy.deepcopy(model))
        got = swapped(src, lengths, tgt)
    assert not any(type(m).__module__.startswith("seqlab.rnn") for m in swapped.modules())
    assert any(isinstance(m, nn.GRU) for m in swapped.modules())
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attention", [True, False])
def test_torch_nn_swap_is_exact_for_the_captioner(attention):
    torch.manual_seed(0)
    cfg = CaptionerConfig(
        vocab_size=20, feature_size=12, embedding_size=8, hidden_size=16, projection_size=8,
        attention_size=8, attention=attention,
    )  # fmt: skip
    model = Captioner(cfg).eval()
    feats, tokens = torch.randn(2, 5, 12), torch.randint(4, 20, (2, 6))
    with torch.no_grad():
        want, _ = model(feats, tokens)
        got, _ = quantize.to_torch_nn(copy.deepcopy(model))(feats, tokens)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_torch_nn_swap_is_exact_for_the_classifier():
    torch.manual_seed(0)
    model = TextClassifier(ClassifierConfig(vocab_size=30, embedding_size=8, hidden_size=8)).eval()
    x, lengths = torch.randint(1, 30, (3, 6)), torch.tensor([6, 4, 1])
    with torch.no_grad():
        torch.testing.assert_close(
            quantize.to_torch_nn(copy.deepcopy(model))(x, lengths), model(x, lengths)
        )


def test_int8_copy_quantizes_the_weights_and_stays_close():
    model = _seq2seq()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize.int8(model)
    dynamic = [m for m in q.modules() if type(m).__module__.startswith("torch.ao.nn.quantized")]
    assert any(isinstance(m, nn.Module) and "GRU" in type(m).__name__ for m in dynamic)
    assert any("Linear" in type(m).__name__ for m in dynamic)
    for k, v in model.state_dict().items():  # the fp32 model is untouched
        assert torch.equal(v, before[k]), k
    src, lengths, tgt = _batch()
    with torch.no_grad():
        want = model(src, lengths, tgt).log_softmax(-1)
        got = q(src, lengths, tgt).log_softmax(-1)
    assert (got - want).abs().max() < 0.1  # int8 rounding, not a different model
    assert (got.argmax(-1) == want.argmax(-1)).float().mean() > 0.9


def test_int8_serving_flag_swaps_the_model_and_refuses_other_devices():
    from types import SimpleNamespace

    from seqlab.errors import UserError
    from seqlab.serving import use_int8

    pred = SimpleNamespace(model=_seq2seq(), device=torch.device("cpu"))
    fp32 = pred.model
    assert use_int8(pred, False).model is fp32
    assert use_int8(pred, True).model is not fp32
    assert any("quantized" in type(m).__module__ for m in pred.model.modules())
    with pytest.raises(UserError, match="for CPU inference"):
        use_int8(SimpleNamespace(model=fp32, device=torch.device("meta")), True)
