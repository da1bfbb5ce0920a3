"""BatchNorm folded into the convolutions before it (seqlab.models.encoders.fold_batchnorm): the
same outputs, no BatchNorm left where a convolution precedes one, the others untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlab.models.encoders import EncoderConfig, ImageEncoder, fold_batchnorm


def _trained_bn(module: nn.Module) -> nn.Module:
    """Give every BatchNorm statistics and an affine map far from the identity."""
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))
    return module.eval()


def _bns(module: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in module.modules())


def test_folding_keeps_outputs_and_skips_a_batchnorm_after_no_conv():
    net = _trained_bn(
        nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU6(),
            nn.Conv2d(8, 8, 3, groups=8, bias=False),  # depthwise, no bias
            nn.BatchNorm2d(8),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(8),  # after a pooling: stays
        )
    )
    folded = fold_batchnorm(net)
    assert _bns(net) == 3 and _bns(folded) == 1
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), rtol=1e-4, atol=1e-5)


def test_lite0_folds_every_batchnorm_and_gives_the_same_features():
    enc = ImageEncoder(EncoderConfig(name="efficientnet_lite0")).eval()
    folded = enc.folded()
    assert _bns(enc) == 49 and _bns(folded) == 0
    assert folded.grid == enc.grid and folded.feature_size == enc.feature_size
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        a, b = enc(x), folded(x.contiguous(memory_format=torch.channels_last))
    assert ((a - b).norm() / a.norm()).item() < 1e-5


def test_a_torchvision_resnet_folds_too():
    tv = pytest.importorskip("torchvision")
    net = _trained_bn(tv.models.resnet18(weights=None))
    folded = fold_batchnorm(net)
    assert _bns(folded) == 0  # downsample branches included
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), rtol=1e-3, atol=1e-4)
