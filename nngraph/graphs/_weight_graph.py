"""The weight graph of a network: edges from the absolute weights between units."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn as nn

from ..utils._validation import check_bool, check_choice
from ._blocks import Block, blocks_to_csr
from ._fx import frozen, unwrap_model
from ._network_fingerprint import network_fingerprint
from ._neuron_graph import NeuronGraph
from ._tracing import GATING, Trace, choose_layers, trace_model
from ._weight_blocks import Scales, finish_l2, layer_blocks, norm_factors, normalize_scales

__all__ = ["weight_graph"]


def weight_graph(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    reduction: Literal["l1", "l2"] = "l1",
    include_input: bool = True,
    include_output: bool = True,
    fold_batchnorm: bool = True,
    normalize: bool = False,
    layers: Sequence[str] | Callable[[str, nn.Module | None], bool] | None = None,
    gating: str = "refuse",
) -> NeuronGraph:
    """Build the weighted graph of a network's units from its weights.

    Units are the output features of ``nn.Linear`` layers, the output channels of
    ``nn.Conv1d/2d/3d`` layers ("filters as units") and, optionally, the input features
    (dimension 1 of ``example_input``: the features of a ``(N, F)`` input, the channels of
    an image; an image read only by ``Linear`` layers through a flatten, as in an MLP on
    images, gives one input unit per pixel and channel). A unit ``i`` feeding a layer and
    a unit ``j`` of that layer are joined by ``|W[j, i]|`` (biases ignored); the graph is
    undirected. Parameter-free operations between weighted layers (activations, dropout,
    pooling, resizing, padding, flatten/view/reshape/permute, channel shuffles, channel
    selections and ``chunk``/``split``, residual ``add``, ``torch.cat``) are passed
    through: each weighted layer is joined to the units whose values reach each of its
    input features (``docs/weight-graph.md``).

    The model is traced with ``torch.fx`` in eval mode and run once on
    ``example_input`` without gradients; every module's mode and every buffer are
    restored afterwards, also when the call fails, and no weight is written.

    Parameters
    ----------
    model : torch.nn.Module
        A network built from ``nn.Linear``, ``nn.Conv1d/2d/3d`` (grouped and depthwise
        included), ``nn.BatchNorm1d/2d/3d`` and parameter-free operations. It may live on
        any device and in any floating dtype; the graph is always on the CPU in float64.
    example_input : torch.Tensor
        One batch of valid input (a single example is enough), e.g. ``torch.zeros(1, 64)``.
    reduction : {"l1", "l2"}, default="l1"
        How the weights through which unit ``i`` directly feeds unit ``j`` (a kernel
        slice ``W[j, i, ...]``, the spatial positions of a channel that a ``flatten``
        feeds into a ``Linear``, several input channels fed by the same unit) become
        one edge weight: ``"l1"``, the sum of their absolute values; ``"l2"``, their
        Frobenius norm.
    include_input : bool, default=True
        Include the input units (layer ``"input"``).
    include_output : bool, default=True
        Include the units of layers whose values reach the model's output (the logits).
    fold_batchnorm : bool, default=True
        Fold batch norms into the edges, by their factor ``|gamma| / sqrt(running_var +
        eps)`` per channel. A batch norm that directly normalises a layer's output
        (possibly after its activation, with nothing else reading the layer) belongs to
        the layer's units and scales the edges *entering* them; a batch norm on the
        input units has none. Any other batch norm (pre-activation batch norms, as in
        DenseNet; one after a residual add) scales the edges from the units it
        normalises to the layers reading its output.
    normalize : bool, default=False
        Remove the ReLU rescaling symmetry: in order from input to output, each hidden
        unit's entering edges are divided by their Euclidean norm and its leaving edges
        multiplied by the same factor (norms of the reduced edge weights, after batch-norm
        folding). Units whose entering norm is zero are left unchanged.
    layers : sequence of str or callable, optional
        Build the graph of these layers only: layer names (``"input"`` for the input),
        or a predicate ``layers(name, module)`` (``module`` is None for the input), e.g.
        ``lambda name, m: isinstance(m, nn.Conv2d)`` for conv channels only. The graph
        is the subgraph of the whole network's graph induced on those layers (same
        edge weights, ``normalize`` included). Combined with ``include_input`` and
        ``include_output``.
    gating : {"refuse", "ignore"}, default="refuse"
        A product of two tensors computed from the input (squeeze-and-excitation,
        gated units) is refused; ``"ignore"`` treats a broadcast gate as a positive
        per-channel scale outside the graph (an approximation): the product carries
        the gated tensor's units, and the gate's own layers form a branch of their own.

    Returns
    -------
    NeuronGraph
        ``layer_names`` is ``["input", <module paths in call order>]`` (without
        ``"input"`` when ``include_input=False``); ``layer_pairs`` lists the
        (producer, consumer) layer blocks; ``meta["layers"]`` records each layer's kind,
        size, the batch norms folded into it, and whether it is an output layer;
        ``meta["network_sha256"]`` identifies the network's parameters
        (:func:`~nngraph.graphs._network_fingerprint.network_fingerprint`).

    Raises
    ------
    UnsupportedModelError
        A module, parameter use or operation nngraph cannot read as units (attention,
        recurrent layers, a custom module computing with its own parameters, an unknown
        op between weighted layers): the message names the module path and the op.
    ValueError
        NaN or infinite weights (naming the layer), a bad option.

    Examples
    --------
    >>> import torch, torch.nn as nn
    >>> import nngraph as ng
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> g = ng.weight_graph(model, torch.zeros(1, 4))
    >>> g.layer_names, g.n_nodes, g.n_edges
    (['input', '0', '2'], 9, 18)
    """
    check_choice("reduction", reduction, ("l1", "l2"))
    check_choice("gating", gating, GATING)
    for name, value in (
        ("include_input", include_input),
        ("include_output", include_output),
        ("fold_batchnorm", fold_batchnorm),
        ("normalize", normalize),
    ):
        check_bool(name, value)
    trace = trace_model(model, example_input, gating=gating)
    keep = choose_layers(trace, include_input, include_output, layers)
    # The weights are read in eval mode too, with the buffers put back afterwards: a
    # parametrised weight (spectral norm in training mode) would otherwise run a power
    # iteration step and change the model's buffers.
    with frozen(unwrap_model(model)), torch.no_grad():
        norm_factor, scales = norm_factors(trace, fold_batchnorm)
        blocks, squared = layer_blocks(trace, reduction, norm_factor)
    finish_l2(blocks, squared)
    if normalize:
        normalize_scales(trace, blocks, scales)
    options = {
        "reduction": reduction,
        "include_input": include_input,
        "include_output": include_output,
        "fold_batchnorm": fold_batchnorm,
        "normalize": normalize,
        "layers": None if layers is None else [trace.layers[i].name for i in keep],
        "gating": gating,
    }
    graph = _assemble(trace, keep, blocks, scales, options)
    graph.meta["network_sha256"] = network_fingerprint(model)
    return graph


def _assemble(
    trace: Trace,
    keep: list[int],
    blocks: dict[tuple[int, int], Block],
    scales: Scales,
    options: dict,
) -> NeuronGraph:
    """Write the kept blocks and their transposes straight into symmetric CSR arrays."""
    layers = trace.layers
    new_index = {old: new for new, old in enumerate(keep)}
    sizes = np.array([layers[i].n_units for i in keep], dtype=np.int64)
    n = int(sizes.sum())
    kept = {
        (new_index[p], new_index[c]): block
        for (p, c), block in blocks.items()
        if c in new_index and p in new_index
    }
    adjacency = blocks_to_csr(
        sizes,
        kept,
        row_scale={new_index[i]: scales.entering[i] for i in keep},
        col_scale={new_index[i]: scales.leaving[i] for i in keep},
    )
    node_layer = np.repeat(np.arange(len(keep), dtype=np.int64), sizes)
    node_unit = (
        np.concatenate([np.arange(s, dtype=np.int64) for s in sizes])
        if n
        else np.zeros(0, dtype=np.int64)
    )
    # Batch norms between a stream and the layers reading it, per reading layer.
    input_norms: dict[int, list[str]] = {i: [] for i in keep}
    for c in trace.consumptions:
        if c.layer in input_norms:
            for plane in c.planes:
                for index, _ in plane.norms:
                    path = trace.norms[index].path
                    if path not in input_norms[c.layer]:
                        input_norms[c.layer].append(path)
    meta = {
        "builder": "weight_graph",
        "options": options,
        "layers": [
            {
                "name": layers[i].name,
                "kind": layers[i].kind,
                "n_units": layers[i].n_units,
                "normalized_by": list(layers[i].normalized_by),
                "input_normalized_by": input_norms[i],
                "is_output": layers[i].is_output,
            }
            for i in keep
        ],
    }
    return NeuronGraph(
        adjacency,
        [layers[i].name for i in keep],
        node_layer,
        node_unit,
        layer_pairs=np.array(sorted(kept), dtype=np.int64).reshape(-1, 2),
        kind="weight",
        meta=meta,
        validate=False,
    )
