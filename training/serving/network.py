"""A small ResNet for 32x32 RGB images (torch only: it ships inside `model.tar.gz`)."""

from __future__ import annotations

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
