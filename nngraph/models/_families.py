"""Small networks of the common architecture families, built in code (no download).

Each builder returns a randomly initialised network with the structure that matters to
a graph of units -- residual adds, bottlenecks, depthwise convolutions, dense
concatenation, channel shuffles, squeeze-and-excitation gates, U-Net upsampling -- at a
size that traces in a blink. They are used to test and benchmark
:func:`nngraph.weight_graph` on the networks people train (``docs/weight-graph.md``
has the support table).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "Bottleneck",
    "channel_shuffle_net",
    "densenet",
    "fire_net",
    "inverted_residual_net",
    "resnet50",
    "se_net",
    "unet",
]


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]


class Bottleneck(nn.Module):
    """ResNet bottleneck block (1x1 -> 3x3 -> 1x1, expansion 4), torchvision's layout."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute the block's output: ``relu(main(x) + shortcut(x))``."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class _ResNetBottleneck(nn.Module):
    def __init__(self, layers: Sequence[int], num_classes: int, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_planes, planes, stages = width, width, []
        for i, n in enumerate(layers):
            blocks = [Bottleneck(in_planes, planes, 1 if i == 0 else 2)]
            in_planes = planes * Bottleneck.expansion
            blocks += [Bottleneck(in_planes, planes) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            planes *= 2
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet50(
    num_classes: int = 1000, width: int = 64, layers: Sequence[int] = (3, 4, 6, 3)
) -> nn.Module:
    """ResNet-50 (bottleneck blocks) in torchvision's layout; ``width=64`` is the real one.

    Examples
    --------
    >>> import torch
    >>> model = resnet50(num_classes=10, width=8, layers=(1, 1, 1, 1)).eval()
    >>> model(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 10])
    """
    return _ResNetBottleneck(layers, num_classes, width)


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            *_conv_bn(cin, hidden, 1),
            nn.ReLU6(inplace=True),
            *_conv_bn(hidden, hidden, 3, stride, groups=hidden),  # depthwise
            nn.ReLU6(inplace=True),
            *_conv_bn(hidden, cout, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


def inverted_residual_net(num_classes: int = 10, width: int = 8) -> nn.Module:
    """Build a MobileNetV2-style network: inverted residuals with depthwise convolutions.

    Examples
    --------
    >>> import torch
    >>> inverted_residual_net()(torch.zeros(1, 3, 16, 16)).shape
    torch.Size([1, 10])
    """
    return nn.Sequential(
        *_conv_bn(3, width, 3, 2),
        nn.ReLU6(inplace=True),
        _InvertedResidual(width, width, 1, 4),
        _InvertedResidual(width, 2 * width, 2, 4),
        _InvertedResidual(2 * width, 2 * width, 1, 4),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, num_classes),
    )


class _DenseLayer(nn.Module):
    """DenseNet layer: pre-activation BN -> ReLU -> 1x1 -> BN -> ReLU -> 3x3, concatenated."""

    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return torch.cat([x, out], 1)


def densenet(num_classes: int = 10, growth: int = 4, n_layers: int = 3) -> nn.Module:
    """Build a DenseNet block: every layer reads the concatenation of all earlier outputs.

    Each layer reads it through its own pre-activation batch norm.

    Examples
    --------
    >>> import torch
    >>> densenet()(torch.zeros(1, 3, 8, 8)).shape
    torch.Size([1, 10])
    """
    layers: list[nn.Module] = [nn.Conv2d(3, 2 * growth, 3, padding=1, bias=False)]
    channels = 2 * growth
    for _ in range(n_layers):
        layers.append(_DenseLayer(channels, growth))
        channels += growth
    layers += [nn.BatchNorm2d(channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    layers.append(nn.Linear(channels, num_classes))
    return nn.Sequential(*layers)


class _Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, expand, 1)
        self.expand3x3 = nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1x1(s)), F.relu(self.expand3x3(s))], 1)


def fire_net(num_classes: int = 10) -> nn.Module:
    """Build a SqueezeNet-style network of Fire modules (squeeze, then two expands concatenated).

    Examples
    --------
    >>> import torch
    >>> fire_net()(torch.zeros(1, 3, 16, 16)).shape
    torch.Size([1, 10])
    """
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2),
        nn.ReLU(),
        _Fire(16, 4, 8),
        _Fire(16, 4, 8),
        nn.Conv2d(16, num_classes, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def _shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


class _ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit: split the channels, transform one half, concatenate, shuffle."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.branch = nn.Sequential(
            *_conv_bn(half, half, 1),
            nn.ReLU(),
            *_conv_bn(half, half, 3, groups=half),
            *_conv_bn(half, half, 1),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return _shuffle(torch.cat([a, self.branch(b)], 1), 2)


def channel_shuffle_net(num_classes: int = 10, channels: int = 8) -> nn.Module:
    """Build a ShuffleNetV2-style network: a channel split and a channel shuffle.

    The split is a ``chunk``, the shuffle a ``view -> transpose -> view``.

    Examples
    --------
    >>> import torch
    >>> channel_shuffle_net()(torch.zeros(1, 3, 8, 8)).shape
    torch.Size([1, 10])
    """
    return nn.Sequential(
        *_conv_bn(3, channels, 3),
        nn.ReLU(),
        _ShuffleUnit(channels),
        _ShuffleUnit(channels),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, num_classes),
    )


class _SE(nn.Module):
    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


def se_net(num_classes: int = 10, channels: int = 8) -> nn.Module:
    """Build a small CNN with a squeeze-and-excitation gate (as in SE-ResNets, MobileNetV3).

    Examples
    --------
    >>> import torch
    >>> se_net()(torch.zeros(1, 3, 8, 8)).shape
    torch.Size([1, 10])
    """
    return nn.Sequential(
        *_conv_bn(3, channels),
        nn.ReLU(),
        _SE(channels),
        *_conv_bn(channels, channels),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, num_classes),
    )


class _UNet(nn.Module):
    def __init__(self, channels: int, n_out: int) -> None:
        super().__init__()
        self.down1 = nn.Sequential(*_conv_bn(3, channels), nn.ReLU())
        self.down2 = nn.Sequential(*_conv_bn(channels, 2 * channels), nn.ReLU())
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = nn.Sequential(*_conv_bn(3 * channels, channels), nn.ReLU())
        self.head = nn.Conv2d(channels, n_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.down1(x)
        b = self.down2(F.max_pool2d(a, 2))
        b = F.interpolate(self.up(b), size=a.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.fuse(torch.cat([a, b], 1)))


def unet(n_out: int = 2, channels: int = 8) -> nn.Module:
    """Build a two-level U-Net: downsampling, upsampling and a skip concatenation.

    The upsampling uses ``nn.Upsample`` and ``F.interpolate``; the head is per pixel.

    Examples
    --------
    >>> import torch
    >>> unet()(torch.zeros(1, 3, 8, 8)).shape
    torch.Size([1, 2, 8, 8])
    """
    return _UNet(channels, n_out)
