"""The result of tracing a model (see :mod:`._tracing`).

Its layers of units, what each weighted layer reads, and its batch norms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch.fx as fx
import torch.nn as nn

from ._provenance import Plane

__all__ = ["Consumption", "Layer", "Norm", "Trace"]


@dataclass
class Layer:
    """A layer of units: the input, or a weighted module.

    ``unit_dim`` is the dimension of the layer's output that carries its units (1 for
    convolutions and plain ``Linear`` layers, the last one for a ``Linear`` applied to
    ``(batch, ..., features)``); ``node`` the ``torch.fx`` call computing it.
    """

    name: str
    kind: str  # "input", "linear" or "conv"
    n_units: int
    module: nn.Module | None = None
    normalized_by: list[str] = field(default_factory=list)  # batch norms of its units
    is_output: bool = False
    unit_dim: int = 1
    node: fx.Node | None = None


@dataclass
class Norm:
    """A batch norm of the network.

    ``layer`` is the layer whose units it normalises (``units[c]``: the unit of its
    channel ``c``), or None when it scales the inputs of the layers reading it (its
    index then appears in the planes' ``norms``).
    """

    path: str
    module: nn.Module
    layer: int | None
    units: np.ndarray | None
    node: fx.Node


@dataclass
class Consumption:
    """A weighted layer reading its input features.

    One plane per contributing layer, each a 1-D array over the features the module reads.
    """

    layer: int
    module: nn.Module
    planes: tuple[Plane, ...]
    n_features: int


@dataclass
class Trace:
    """What :func:`trace_model` found."""

    model: nn.Module  # the model traced (unwrapped from DataParallel / torch.compile)
    layers: list[Layer]
    consumptions: list[Consumption]
    norms: list[Norm]
    graph_module: fx.GraphModule
    input_features: bool = False  # input units are features (an MLP flattening images)
    input_shape: tuple[int, ...] = ()
