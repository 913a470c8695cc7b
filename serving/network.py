"""The networks (torch only: this file ships inside `model.tar.gz`).

- `SmallResNet`: a small ResNet for 32x32 RGB images, trained from scratch.
- `PretrainedLinear`: ImageNet-pretrained EfficientNet-Lite0 and -Lite2 trunks, frozen, with a
  linear head trained on their features of the upscaled image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

# Per-channel statistics of CIFAR images; normalising inside the network keeps the serving
# input a plain [0, 1] tensor, so training and serving cannot disagree on preprocessing.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (He et al., 2016)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """Stem + one stage per width (the first at full resolution, then stride 2) + linear head."""

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128),
        blocks: Sequence[int] = (1, 1, 1),
        num_classes: int = 2,
    ) -> None:
        super().__init__()
        if len(widths) != len(blocks) or not widths:
            raise ValueError("widths and blocks must be non-empty and of equal length")
        self.register_buffer("mean", torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CIFAR_STD).view(1, 3, 1, 1))
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        in_channels = widths[0]
        for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(BasicBlock(in_channels, width, stride))
                in_channels = width
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float images in [0, 1], shape (n, 3, H, W); returns logits (n, num_classes)."""
        x = (x - self.get_buffer("mean")) / self.get_buffer("std")
        x = self.stages(self.stem(x))
        return self.head(torch.flatten(self.pool(x), 1))


def build_network(arch: dict[str, object]) -> SmallResNet:
    """The network described by an archive's `arch` entry (widths, blocks, num_classes)."""
    widths = [int(w) for w in arch["widths"]]  # type: ignore[attr-defined]
    blocks = [int(b) for b in arch["blocks"]]  # type: ignore[attr-defined]
    return SmallResNet(widths, blocks, int(arch.get("num_classes", 2)))  # type: ignore[call-overload]


# EfficientNet-Lite (Tan & Le, 2019; the Lite variants drop squeeze-and-excitation and use
# ReLU6). Lite0's stages: (repeats, kernel, stride, expansion, output channels).
LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
# Width and depth multipliers of the variants whose pretrained weights we use.
LITE_VARIANTS = {"lite0": (1.0, 1.0), "lite2": (1.1, 1.2)}
# Features are the pooled outputs of the last three stages: for 32x32 photos upscaled, these
# mid-to-high-level features transfer better than the 1280-channel ImageNet head.
FEATURE_STAGES = 3
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def lite_stages(variant: str) -> list[tuple[int, int, int, int, int]]:
    """The stages of an EfficientNet-Lite variant: channels rounded to multiples of 8 and
    repeats rounded up, except the first and last stages' repeats (fixed in the Lite family)."""
    width, depth = LITE_VARIANTS[variant]
    stages = []
    for index, (repeats, kernel, stride, expansion, channels) in enumerate(LITE0_STAGES):
        scaled = channels * width
        rounded = max(8, int(scaled + 4) // 8 * 8)
        if rounded < 0.9 * scaled:
            rounded += 8
        fixed = index in (0, len(LITE0_STAGES) - 1)
        stages.append(
            (repeats if fixed else math.ceil(depth * repeats), kernel, stride, expansion, rounded)
        )
    return stages


class SameConv2d(nn.Conv2d):
    """Convolution with TensorFlow's "SAME" padding (asymmetric when strided), the padding the
    pretrained weights were trained with."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        padding = kernel // 2 if stride == 1 else 0
        super().__init__(cin, cout, kernel, stride, padding, 1, groups, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] > 1:
            pads = []
            # int(): constants when traced or exported (the input size is fixed there), so the
            # exported graph pads by constants instead of computing them from the shape.
            for size in (int(x.shape[3]), int(x.shape[2])):  # F.pad order: last dimension first
                out = -(-size // self.stride[0])
                total = max((out - 1) * self.stride[0] + self.kernel_size[0] - size, 0)
                pads += [total // 2, total - total // 2]
            x = nn.functional.pad(x, pads)
        return super().forward(x)


def _conv_bn_relu6(
    cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    return nn.Sequential(
        SameConv2d(cin, cout, kernel, stride, groups), nn.BatchNorm2d(cout, eps=1e-3), nn.ReLU6()
    )


class InvertedResidual(nn.Module):
    """MBConv: 1x1 expansion, depthwise kxk, linear 1x1 projection, residual when shapes match."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.expand = _conv_bn_relu6(cin, hidden, 1) if expansion != 1 else nn.Identity()
        self.depthwise = _conv_bn_relu6(hidden, hidden, kernel, stride, groups=hidden)
        self.project = nn.Sequential(SameConv2d(hidden, cout, 1), nn.BatchNorm2d(cout, eps=1e-3))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return x + out if self.residual else out


class EfficientNetLite(nn.Module):
    """An EfficientNet-Lite trunk (no ImageNet head): normalised images -> the concatenated
    global-average-pooled outputs of its last `FEATURE_STAGES` stages."""

    def __init__(self, variant: str = "lite0") -> None:
        super().__init__()
        self.stem = _conv_bn_relu6(3, 32, 3, 2)
        stages: list[nn.Module] = []
        cin = 32
        for repeats, kernel, stride, expansion, cout in lite_stages(variant):
            blocks = []
            for index in range(repeats):
                step = stride if index == 0 else 1
                blocks.append(InvertedResidual(cin, cout, kernel, step, expansion))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = sum(c for *_, c in lite_stages(variant)[-FEATURE_STAGES:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        pooled = []
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index >= len(self.stages) - FEATURE_STAGES:
                pooled.append(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
        return torch.cat(pooled, dim=1)


class PretrainedLinear(nn.Module):
    """Frozen pretrained trunks on the image upscaled to `resolution`, then a linear head on
    their concatenated features. The head's input standardisation is folded into its weights at
    training time."""

    def __init__(
        self,
        backbones: Sequence[str] = ("lite0", "lite2"),
        resolution: int = 192,
        num_classes: int = 2,
    ) -> None:
        super().__init__()
        unknown = [name for name in backbones if name not in LITE_VARIANTS]
        if unknown or not backbones:
            raise ValueError(f"backbones must be some of {sorted(LITE_VARIANTS)}, not {unknown}")
        self.resolution = resolution
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.backbones = nn.ModuleDict({name: EfficientNetLite(name) for name in backbones})
        width = sum(b.num_features for b in self.backbones.values())  # type: ignore[misc]
        self.head = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: float images in [0, 1], shape (n, 3, H, W); returns (n, features)."""
        x = nn.functional.interpolate(
            x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False
        )
        x = (x - self.get_buffer("mean")) / self.get_buffer("std")
        x = x.contiguous(memory_format=torch.channels_last)
        return torch.cat([backbone(x) for backbone in self.backbones.values()], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
