"""Standard architectures built in code (no weight download): ResNet-18 and VGG.

They follow torchvision's definitions (module names included, e.g. ``layer1.0.conv1``),
so graphs and partitions of these models name units the way users of torchvision
expect. :mod:`nngraph.models` re-exports them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

__all__ = ["BasicBlock", "ResNet", "resnet18", "vgg", "VGG_CONFIGS"]


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convolutions with batch norm and a residual add."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """A ResNet of basic blocks, laid out as torchvision's ``ResNet``."""

    def __init__(
        self,
        layers: Sequence[int] = (2, 2, 2, 2),
        num_classes: int = 1000,
        in_channels: int = 3,
        width: int = 64,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        planes, blocks = width, []
        in_planes = width
        for i, n in enumerate(layers):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(in_planes, planes, stride)]
            stage += [BasicBlock(planes, planes) for _ in range(n - 1)]
            blocks.append(nn.Sequential(*stage))
            in_planes, planes = planes, planes * 2
        self.layer1, self.layer2, self.layer3, self.layer4 = blocks
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet18(num_classes: int = 1000, in_channels: int = 3, width: int = 64) -> ResNet:
    """ResNet-18 as defined by torchvision (randomly initialised; no download).

    Examples
    --------
    >>> import torch
    >>> from nngraph.models import resnet18
    >>> resnet18(num_classes=10).eval()(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 10])
    """
    return ResNet((2, 2, 2, 2), num_classes=num_classes, in_channels=in_channels, width=width)


VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        "M",
    ],
}


def vgg(
    config: str | Sequence[int | str] = "vgg11",
    num_classes: int = 10,
    in_channels: int = 3,
    batch_norm: bool = True,
    hidden: int = 512,
) -> nn.Module:
    """Build a VGG-style CNN (CIFAR-size classifier head), laid out as torchvision's ``VGG``.

    ``config`` lists output channels of 3x3 convolutions and ``"M"`` for 2x2 max pooling.

    Examples
    --------
    >>> import torch
    >>> from nngraph.models import vgg
    >>> vgg("vgg11", num_classes=10)(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 10])
    """
    cfg = VGG_CONFIGS[config] if isinstance(config, str) else list(config)
    layers: list[nn.Module] = []
    channels = in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers.append(nn.Conv2d(channels, int(v), 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(v)))
        layers.append(nn.ReLU(inplace=True))
        channels = int(v)
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(*layers))
    model.add_module("avgpool", nn.AdaptiveAvgPool2d((1, 1)))
    model.add_module("flatten", nn.Flatten())
    model.add_module(
        "classifier",
        nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(hidden, num_classes),
        ),
    )
    return model
