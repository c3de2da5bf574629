"""The operations nngraph knows between weighted layers, by how they map units.

The tracer (:mod:`._tracing`) looks every traced call up in these tables: weighted
modules start a layer of units, batch norms scale channels, pass-through operations keep
each channel's units, adds merge them, ``cat`` splits them, reshapes group spatial
positions. The recorder (:mod:`._recording`) uses the activation and identity tables to
find the value of a unit after its nonlinearity. Each table comes as modules (classes),
functions (``torch``/``torch.nn.functional``/``operator`` callables) and Tensor method
names, as ``torch.fx`` records them.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "ACTIVATION_FUNCTIONS",
    "ACTIVATION_METHODS",
    "ACTIVATION_MODULES",
    "ADD_FUNCTIONS",
    "ADD_METHODS",
    "BATCHNORM_MODULES",
    "CAT_FUNCTIONS",
    "IDENTITY_FUNCTIONS",
    "IDENTITY_METHODS",
    "IDENTITY_MODULES",
    "KNOWN_MODULES",
    "PASS_FUNCTIONS",
    "PASS_METHODS",
    "PASS_MODULES",
    "PERMUTE_FUNCTIONS",
    "PERMUTE_METHODS",
    "REDUCE_FUNCTIONS",
    "REDUCE_METHODS",
    "RESHAPE_FUNCTIONS",
    "RESHAPE_METHODS",
    "RESHAPE_MODULES",
    "SCALE_FUNCTIONS",
    "SCALE_METHODS",
    "SELECT_FUNCTIONS",
    "SELECT_METHODS",
    "WEIGHTED_MODULES",
]

WEIGHTED_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Every batch norm, the subclasses of other libraries included (timm's BatchNormAct2d,
# which also applies an activation): the tracer keeps them whole (leaf modules).
BATCHNORM_MODULES = (nn.modules.batchnorm._BatchNorm,)
# Element-wise activations (shared with the activation recorder, which applies the one
# following a unit for activation="post").
ACTIVATION_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Softsign,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Tanhshrink,
)
ACTIVATION_FUNCTIONS: frozenset[Any] = frozenset(
    {
        F.relu,
        F.relu6,
        F.leaky_relu,
        F.elu,
        F.selu,
        F.celu,
        F.gelu,
        F.silu,
        F.mish,
        F.softplus,
        F.softsign,
        F.hardtanh,
        F.hardswish,
        F.hardsigmoid,
        F.sigmoid,
        F.tanh,
        F.tanhshrink,
        torch.relu,
        torch.relu_,
        torch.sigmoid,
        torch.tanh,
    }
)
ACTIVATION_METHODS = frozenset(
    {
        "relu",
        "relu_",
        "sigmoid",
        "sigmoid_",
        "tanh",
        "tanh_",
        "clamp",
        "clamp_",
        "clamp_min",
        "clamp_min_",
    }
)
# Operations that leave values unchanged in eval mode.
IDENTITY_MODULES: tuple[type[nn.Module], ...] = (
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
)
IDENTITY_FUNCTIONS: frozenset[Any] = frozenset(
    {
        F.dropout,
        F.dropout1d,
        F.dropout2d,
        F.dropout3d,
        F.alpha_dropout,
        torch.dropout,
        torch.clone,
    }
)
IDENTITY_METHODS = frozenset({"contiguous", "clone", "detach"})

# Parameter-free modules that act on each channel separately (or only on the batch /
# spatial dimensions): they pass provenance through unchanged.
PASS_MODULES = (
    ACTIVATION_MODULES
    + IDENTITY_MODULES
    + (
        nn.Softmax,
        nn.LogSoftmax,
        nn.MaxPool1d,
        nn.MaxPool2d,
        nn.MaxPool3d,
        nn.AvgPool1d,
        nn.AvgPool2d,
        nn.AvgPool3d,
        nn.AdaptiveAvgPool1d,
        nn.AdaptiveAvgPool2d,
        nn.AdaptiveAvgPool3d,
        nn.AdaptiveMaxPool1d,
        nn.AdaptiveMaxPool2d,
        nn.AdaptiveMaxPool3d,
        nn.ZeroPad1d,
        nn.ZeroPad2d,
        nn.ConstantPad1d,
        nn.ConstantPad2d,
        nn.ConstantPad3d,
        nn.ReflectionPad1d,
        nn.ReflectionPad2d,
        nn.ReplicationPad1d,
        nn.ReplicationPad2d,
        # Spatial resizing (U-Nets, FPNs, HRNet): each channel is resized on its own.
        nn.Upsample,
        nn.UpsamplingNearest2d,
        nn.UpsamplingBilinear2d,
    )
)
RESHAPE_MODULES = (nn.Flatten, nn.Unflatten)
KNOWN_MODULES = WEIGHTED_MODULES + BATCHNORM_MODULES + PASS_MODULES + RESHAPE_MODULES

PASS_FUNCTIONS: frozenset[Any] = (
    ACTIVATION_FUNCTIONS
    | IDENTITY_FUNCTIONS
    | {
        F.softmax,
        F.log_softmax,
        F.max_pool1d,
        F.max_pool2d,
        F.max_pool3d,
        F.avg_pool1d,
        F.avg_pool2d,
        F.avg_pool3d,
        F.adaptive_avg_pool1d,
        F.adaptive_avg_pool2d,
        F.adaptive_avg_pool3d,
        F.adaptive_max_pool1d,
        F.adaptive_max_pool2d,
        F.adaptive_max_pool3d,
        F.pad,
        torch.softmax,
        torch.log_softmax,
        torch.max_pool1d,
        torch.max_pool2d,
        torch.avg_pool1d,
        torch.adaptive_avg_pool1d,
        F.interpolate,
        F.upsample,
        F.upsample_nearest,
        F.upsample_bilinear,
        torch.abs,
        torch.neg,
        torch.exp,
        torch.square,
        operator.neg,
        operator.pos,
    }
)
PASS_METHODS = (
    ACTIVATION_METHODS
    | IDENTITY_METHODS
    | {
        "softmax",
        "log_softmax",
        "float",
        "double",
        "half",
        "to",
        "type_as",
        "abs",
        "neg",
        "exp",
        "square",
        "expand",
        "expand_as",
    }
)
ADD_FUNCTIONS = {operator.add, operator.iadd, operator.sub, operator.isub, torch.add, torch.sub}
ADD_METHODS = {"add", "add_", "sub", "sub_"}
SCALE_FUNCTIONS = {
    operator.mul,
    operator.imul,
    operator.truediv,
    operator.itruediv,
    torch.mul,
    torch.div,
}
SCALE_METHODS = {"mul", "mul_", "div", "div_"}
RESHAPE_FUNCTIONS = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, torch.unflatten}
RESHAPE_METHODS = {
    "flatten",
    "view",
    "reshape",
    "view_as",
    "reshape_as",
    "squeeze",
    "unsqueeze",
    "unflatten",
}
PERMUTE_FUNCTIONS = {torch.permute, torch.transpose, torch.movedim, torch.swapaxes, torch.swapdims}
PERMUTE_METHODS = {"permute", "transpose", "movedim", "swapaxes", "swapdims"}
# Selections of positions: basic indexing, narrow, chunk/split (tuples), index_select.
SELECT_FUNCTIONS = {
    operator.getitem,
    torch.narrow,
    torch.chunk,
    torch.split,
    torch.tensor_split,
    torch.unbind,
    torch.index_select,
    torch.select,
}
SELECT_METHODS = {
    "__getitem__",
    "narrow",
    "chunk",
    "split",
    "tensor_split",
    "unbind",
    "index_select",
    "select",
}
REDUCE_FUNCTIONS = {torch.mean, torch.sum, torch.amax, torch.amin}
REDUCE_METHODS = {"mean", "sum", "amax", "amin"}
CAT_FUNCTIONS = {torch.cat, torch.concat, torch.stack}
