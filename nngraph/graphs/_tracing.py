"""Tracing a PyTorch model into the units of its weighted layers and what feeds them.

The model is traced with ``torch.fx`` in eval mode and run once on the example input
(:mod:`._fx`: its modes and buffers are restored afterwards, even on error). Every
traced tensor then gets a :class:`~._provenance.Provenance`: which unit of which layer
sits at each position of the dimensions that carry units. A weighted layer (``Linear``,
``Conv1d/2d/3d``) consumes a provenance along the dimension it reads and starts its own.

Batch norms come in two roles (:class:`Norm`): one that directly normalises a layer's
output (``conv -> bn``, possibly with an element-wise activation or dropout between,
and nothing else reading the layer) belongs to that layer's units; any other (a
pre-activation batch norm of DenseNet, one after a residual add) scales the inputs of
the layers that read it, and is recorded on the planes it scaled.

Shared by :func:`nngraph.weight_graph` (which reads each consumer's weights),
:func:`nngraph.activation_graph` (which records the same units) and the proxies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from ._fx import (
    TensorMeta,
    UnsupportedModelError,
    frozen,
    run_shapes,
    symbolic_trace,
    unwrap_model,
)
from ._propagation import Propagator
from ._trace import Consumption, Layer, Norm, Trace

__all__ = [
    "GATING",
    "Consumption",
    "Layer",
    "Norm",
    "Trace",
    "UnsupportedModelError",
    "choose_layers",
    "trace_model",
]

GATING = ("refuse", "ignore")


def _check_initialized(model: nn.Module) -> None:
    """Refuse a model with lazy (not yet initialised) parameters or buffers, by name.

    Their shapes are not known until a forward pass initialises them, which would
    change the user's model.
    """
    lazy = (nn.parameter.UninitializedParameter, nn.parameter.UninitializedBuffer)
    named = [*model.named_parameters(), *model.named_buffers()]
    names = [name for name, t in named if isinstance(t, lazy)]
    if names:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise UnsupportedModelError(
            f"the model has uninitialised (lazy) parameters or buffers: {shown}; run one "
            "forward pass on a batch of valid input to initialise them, then build its graph"
        )


def trace_model(model: nn.Module, example_input: torch.Tensor, *, gating: str = "refuse") -> Trace:
    """Trace ``model`` into layers of units and the features each weighted layer reads.

    The model is traced in eval mode and run once on ``example_input`` without
    gradients; every module's mode and every buffer are restored afterwards, also when
    tracing fails.

    Parameters
    ----------
    model : torch.nn.Module
        The network (``DataParallel``, ``DistributedDataParallel`` and ``torch.compile``
        wrappers are unwrapped). ``forward``'s arguments after the input must have
        defaults.
    example_input : torch.Tensor
        One batch of valid input.
    gating : {"refuse", "ignore"}, default="refuse"
        A product of two tensors computed from the input (squeeze-and-excitation,
        gating) is refused; with ``"ignore"`` the smaller (broadcast) factor is treated
        as a positive per-channel scale outside the graph: the product carries the
        larger factor's units, and the gate's own layers end in a branch of their own.

    Returns
    -------
    Trace

    Raises
    ------
    UnsupportedModelError
        A module, parameter use or operation that cannot be read as units, named by
        its module path and op.

    Examples
    --------
    >>> import torch, torch.nn as nn
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> trace = trace_model(model, torch.zeros(1, 4))
    >>> [(layer.name, layer.kind, layer.n_units) for layer in trace.layers]
    [('input', 'input', 4), ('0', 'linear', 3), ('2', 'linear', 2)]
    >>> [plane.units.tolist() for plane in trace.consumptions[1].planes]  # "2" reads "0"
    [[0, 1, 2]]
    """
    if gating not in GATING:
        raise ValueError(f"gating must be one of {GATING}, got {gating!r}")
    model = unwrap_model(model)
    if not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input must be a torch.Tensor, got {type(example_input).__name__}")
    _check_initialized(model)
    if (
        example_input.dim()
        and example_input.shape[0] == 1
        and any(isinstance(m, nn.BatchNorm1d) for _, m in _batch_statistics_norms(model))
    ):
        # A BatchNorm1d without running statistics normalises over the batch, which on
        # (n, channels) needs two examples: the shapes come from the example twice.
        example_input = torch.cat([example_input, example_input])
    with frozen(model):
        gm = symbolic_trace(model)
        shapes = run_shapes(model, gm, example_input)
    try:
        trace = Propagator(model, gm, shapes, input_features=False, gating=gating).run()
    except UnsupportedModelError:
        # Tokens (batch, ..., features) read by Linear layers: the input's units are its
        # last dimension, not dimension 1.
        if len(_input_shape(gm, shapes)) < 3:
            raise
        try:
            trace = Propagator(
                model, gm, shapes, input_features=False, gating=gating, input_dim=-1
            ).run()
        except UnsupportedModelError:
            pass
        else:
            return trace
        raise
    if _reads_input_as_features(trace):
        # An MLP that flattens images itself: its input units are the input's features
        # (pixels), as for an MLP fed flat vectors, not whole channels. Where the pixels
        # cannot be followed (pooled before the flatten), the units stay the channels.
        try:
            trace = Propagator(model, gm, shapes, input_features=True, gating=gating).run()
        except UnsupportedModelError:
            pass
    return trace


def unfoldable_batch_norms(model: nn.Module) -> list[str]:
    """Name the batch norms of ``model`` without running statistics (batch statistics).

    They normalise by their batch's statistics in eval mode too, so no weight graph can
    fold them.
    """
    return [name for name, _ in _batch_statistics_norms(model)]


def _batch_statistics_norms(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    return (
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is None
    )


def choose_layers(
    trace: Trace,
    include_input: bool = True,
    include_output: bool = True,
    layers: Sequence[str] | Callable[[str, nn.Module | None], bool] | None = None,
) -> list[int]:
    """Return the indices of the traced layers a graph keeps.

    Parameters
    ----------
    trace : Trace
        From :func:`trace_model`.
    include_input, include_output : bool
        Keep the input units; keep the layers whose values reach the output.
    layers : sequence of str or callable, optional
        Keep only these layer names (``"input"`` for the input), or the layers for which
        ``layers(name, module)`` is true (``module`` is None for the input).

    Returns
    -------
    list of int
        In trace order.

    Raises
    ------
    ValueError
        A name that is not a layer of the model, or nothing left to keep.
    """
    if layers is None:
        wanted = None
    elif callable(layers):
        wanted = {i for i, layer in enumerate(trace.layers) if layers(layer.name, layer.module)}
    else:
        if isinstance(layers, str):
            layers = [layers]
        names = [layer.name for layer in trace.layers]
        unknown = [name for name in layers if name not in names]
        if unknown:
            raise ValueError(
                f"layers {unknown} are not layers of the model; its layers are {names}"
            )
        wanted = {names.index(name) for name in layers}
    keep = [
        i
        for i, layer in enumerate(trace.layers)
        if (include_input or layer.kind != "input")
        and (include_output or not layer.is_output or layer.kind == "input")
        and (wanted is None or i in wanted)
    ]
    if not keep:
        raise ValueError("no units to keep: the options exclude every layer")
    return keep


def _input_shape(gm: fx.GraphModule, shapes: dict[fx.Node, Any]) -> tuple[int, ...]:
    node = next(n for n in gm.graph.nodes if n.op == "placeholder")
    meta = shapes.get(node)
    return meta.shape if isinstance(meta, TensorMeta) else ()


def _reads_input_as_features(trace: Trace) -> bool:
    """Whether the input is read only by ``Linear`` layers through a flatten."""
    if len(trace.input_shape) <= 2:
        return False
    reads = [(c, plane) for c in trace.consumptions for plane in c.planes if plane.layer == 0]
    if not reads or any(n.layer == 0 for n in trace.norms):
        return False
    for c, plane in reads:
        units = plane.units[plane.units >= 0]
        if not isinstance(c.module, nn.Linear) or np.unique(units).size == units.size:
            return False
    return True
