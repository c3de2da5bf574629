"""Builders of the bundled networks: MLPs and a small CNN for the digits.

They are made only of standard ``torch.nn`` modules, with readable module paths.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from ..utils._validation import check_int, check_int_sequence, check_real

__all__ = ["SmallCNN", "mlp", "small_cnn", "two_digit_mlp"]


def mlp(
    in_features: int = 64,
    hidden: Sequence[int] = (256, 256, 256, 256),
    n_classes: int = 10,
    *,
    dropout: float = 0.0,
) -> nn.Sequential:
    """Build a multilayer perceptron of ``Linear``, ``ReLU`` and optional ``Dropout`` modules.

    Each hidden layer is ``Linear -> ReLU [-> Dropout]``; a ``Linear`` head follows.

    Parameters
    ----------
    in_features : int, default=64
        Number of input features (64 for flattened :func:`~nngraph.datasets.load_digits`).
    hidden : sequence of int, default=(256, 256, 256, 256)
        Width of each hidden layer; empty for a linear model.
    n_classes : int, default=10
        Number of output logits.
    dropout : float, default=0.0
        If positive, an ``nn.Dropout(dropout)`` follows each hidden ``ReLU``.

    Returns
    -------
    torch.nn.Sequential
        Module paths are the Sequential indices: without dropout, ``"0"``, ``"2"``, ...
        are the ``Linear`` layers and ``"1"``, ``"3"``, ... the ``ReLU`` s.

    Examples
    --------
    >>> import torch
    >>> from nngraph.models import mlp
    >>> model = mlp()
    >>> tuple(model(torch.zeros(3, 64)).shape)
    (3, 10)
    >>> [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    ['0', '2', '4', '6', '8']
    """
    in_features = check_int("in_features", in_features, 1)
    hidden = check_int_sequence("hidden", hidden)
    n_classes = check_int("n_classes", n_classes, 1)
    dropout = check_real("dropout", dropout, maximum=1.0, below_maximum=True)

    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """A small CNN for 8x8 images; build it with :func:`small_cnn`.

    ``features`` (``nn.Sequential``) holds ``Conv2d(3x3, padding=1) -> BatchNorm2d ->
    ReLU`` blocks with one ``MaxPool2d(2)``; then ``pool`` (global average pooling),
    ``flatten``, ``dropout`` (``nn.Identity`` when the rate is 0) and the ``Linear``
    head ``classifier``.

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    channels : sequence of int
        Output channels of each convolution block (at least one).
    n_classes : int
        Number of output logits.
    dropout : float
        Dropout rate before the head.
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        n_classes: int,
        dropout: float,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_channels
        pool_after = (len(channels) - 1) // 2
        for i, c in enumerate(channels):
            blocks += [
                nn.Conv2d(width, c, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(),
            ]
            if i == pool_after:
                blocks.append(nn.MaxPool2d(2))
            width = c
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(n, n_classes)`` for images of shape ``(n, C, H, W)``."""
        x = self.features(x)
        x = self.flatten(self.pool(x))
        return self.classifier(self.dropout(x))


def small_cnn(
    in_channels: int = 1,
    channels: Sequence[int] = (16, 32, 32),
    n_classes: int = 10,
    *,
    dropout: float = 0.0,
) -> SmallCNN:
    """Build a small CNN for the 8x8 digits (``load_digits(flatten=False)``).

    One block per entry of ``channels``: ``Conv2d(kernel_size=3, padding=1, bias=False)
    -> BatchNorm2d -> ReLU``; a ``MaxPool2d(2)`` follows the middle block (the second of
    three), halving 8x8 to 4x4. Then global average pooling, ``Flatten`` and a
    ``Linear`` head.

    Parameters
    ----------
    in_channels : int, default=1
        Channels of the input images.
    channels : sequence of int, default=(16, 32, 32)
        Output channels of each convolution block (at least one).
    n_classes : int, default=10
        Number of output logits.
    dropout : float, default=0.0
        If positive, ``nn.Dropout(dropout)`` before the head (module ``"dropout"``).

    Returns
    -------
    SmallCNN
        Module paths: ``"features.0"`` (first conv), ``"features.1"`` (its batch norm),
        ..., ``"pool"``, ``"flatten"``, ``"dropout"``, ``"classifier"``.

    Examples
    --------
    >>> import torch
    >>> from nngraph.models import small_cnn
    >>> model = small_cnn().eval()
    >>> tuple(model(torch.zeros(2, 1, 8, 8)).shape)
    (2, 10)
    >>> [name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    ['features.0', 'features.3', 'features.7']
    """
    in_channels = check_int("in_channels", in_channels, 1)
    channels = check_int_sequence("channels", channels)
    if not channels:
        raise ValueError("channels must hold at least one entry")
    n_classes = check_int("n_classes", n_classes, 1)
    dropout = check_real("dropout", dropout, maximum=1.0, below_maximum=True)
    return SmallCNN(in_channels, channels, n_classes, dropout)


def two_digit_mlp(hidden: Sequence[int] = (64, 64), *, dropout: float = 0.0) -> nn.Sequential:
    """Build a fully connected MLP for :func:`~nngraph.datasets.load_two_digits`.

    128 inputs (the flattened 8x16 image) and 20 logits: ``[:, :10]`` for the left digit,
    ``[:, 10:]`` for the right one. Every layer is dense, so nothing forces a modular
    solution, but one (half of each hidden layer for each digit) is possible.

    Parameters
    ----------
    hidden : sequence of int, default=(64, 64)
        Width of each hidden layer.
    dropout : float, default=0.0
        If positive, an ``nn.Dropout(dropout)`` follows each hidden ``ReLU``.

    Returns
    -------
    torch.nn.Sequential
        Same structure as :func:`mlp` with ``in_features=128, n_classes=20``.

    Examples
    --------
    >>> import torch
    >>> from nngraph.models import two_digit_mlp
    >>> tuple(two_digit_mlp()(torch.zeros(4, 128)).shape)
    (4, 20)
    """
    return mlp(128, hidden, 20, dropout=dropout)
