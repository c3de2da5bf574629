"""The weight graph of a network: edges from the absolute weights between units."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn as nn

from ._blocks import blocks_to_csr
from ._neuron_graph import NeuronGraph
from ._tracing import Layer, Trace, UnsupportedModelError, trace_model

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
) -> NeuronGraph:
    """Build the weighted graph of a network's units from its weights.

    Units are the output features of ``nn.Linear`` layers, the output channels of
    ``nn.Conv1d/2d/3d`` layers ("filters as units") and, optionally, the input features
    (dimension 1 of ``example_input``: the features of a ``(N, F)`` input, the channels of
    an image; an image read only by ``Linear`` layers through a flatten, as in an MLP on
    images, gives one input unit per pixel and channel). A unit ``i`` feeding a layer and
    a unit ``j`` of that layer are joined by ``|W[j, i]|`` (biases ignored); the graph is
    undirected. Parameter-free operations
    between weighted layers (activations, dropout, pooling, padding, flatten/view/
    reshape, residual ``add``, ``torch.cat``) are passed through: each weighted layer is
    joined to the weighted layers (or the input) whose units reach its input channels.

    The model is traced with ``torch.fx`` and run once on ``example_input`` in eval mode
    without gradients; the modes of its modules are restored afterwards and nothing in it
    is changed.

    Parameters
    ----------
    model : torch.nn.Module
        A network built from ``nn.Linear``, ``nn.Conv1d/2d/3d`` (grouped and depthwise
        included), ``nn.BatchNorm1d/2d/3d`` and parameter-free operations. It may live on
        any device and in any floating dtype; the graph is always on the CPU in float64.
    example_input : torch.Tensor
        One batch of valid input (a single example is enough), e.g. ``torch.zeros(1, 64)``.
    reduction : {"l1", "l2"}, default="l1"
        How a kernel slice ``W[j, i, ...]`` (or the spatial positions of a channel that a
        ``flatten`` feeds into a ``Linear``) becomes one edge weight: ``"l1"``, the
        entry-wise sum of absolute values; ``"l2"``, the Frobenius norm.
    include_input : bool, default=True
        Include the input units (layer ``"input"``).
    include_output : bool, default=True
        Include the units of layers whose values reach the model's output (the logits).
    fold_batchnorm : bool, default=True
        Fold each batch norm into the units it normalises: the edges entering unit ``j``
        are scaled by ``|gamma_j| / sqrt(running_var_j + eps)``. A batch norm on the input
        units has no entering edges and is skipped; one whose channel is fed by several
        layers (after a residual add) cannot be folded and raises an error (pass
        ``fold_batchnorm=False``).
    normalize : bool, default=False
        Remove the ReLU rescaling symmetry: in order from input to output, each hidden
        unit's entering edges are divided by their Euclidean norm and its leaving edges
        multiplied by the same factor (norms of the reduced edge weights, after batch-norm
        folding). Units whose entering norm is zero are left unchanged.

    Returns
    -------
    NeuronGraph
        ``layer_names`` is ``["input", <module paths in call order>]`` (without
        ``"input"`` when ``include_input=False``); ``layer_pairs`` lists the
        (producer, consumer) layer blocks; ``meta["layers"]`` records each layer's kind,
        size, the batch norms folded into it, and whether it is an output layer.

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
    if reduction not in ("l1", "l2"):
        raise ValueError(f"reduction must be 'l1' or 'l2', got {reduction!r}")
    trace = trace_model(model, example_input)
    blocks = _blocks(trace, reduction)
    scale = _batchnorm_scales(trace) if fold_batchnorm else {}
    for key in blocks:
        if key[1] in scale:
            _writable(blocks, key)[...] *= scale[key[1]][:, None]
    if normalize:
        _normalize(trace, blocks)

    keep = [
        i
        for i, layer in enumerate(trace.layers)
        if (include_input or layer.kind != "input")
        and (include_output or not layer.is_output or layer.kind == "input")
    ]
    options = {
        "reduction": reduction,
        "include_input": include_input,
        "include_output": include_output,
        "fold_batchnorm": fold_batchnorm,
        "normalize": normalize,
    }
    return _assemble(trace.layers, keep, blocks, options)


def _reduce(w: torch.Tensor, dims: tuple[int, ...], reduction: str) -> np.ndarray:
    """``|w|`` reduced over ``dims`` (entry-wise sum or Frobenius norm), as float64."""
    w = w.detach().to(device="cpu", dtype=torch.float64, copy=True)  # never the model's own
    if reduction == "l1":
        return w.abs_().sum(dim=dims).numpy()
    return w.square_().sum(dim=dims).sqrt_().numpy()


def _raw_weight(w: torch.Tensor) -> np.ndarray:
    """The weight matrix itself (a read-only view when possible), for ``|W|`` edges."""
    w = w.detach().to("cpu")
    if w.dtype not in (torch.float32, torch.float64):
        w = w.to(torch.float64)
    r = w.numpy()
    r.flags.writeable = False  # a view of the model's memory: never written
    return r


def _blocks(trace: Trace, reduction: str) -> dict[tuple[int, int], np.ndarray]:
    """Edge-weight blocks ``(n_consumer, n_producer)`` keyed by (producer, consumer).

    A block may hold signed weights (a read-only view of a ``Linear`` weight): every
    consumer of the blocks takes ``|.|``, which leaves the other blocks unchanged.
    """
    layers = trace.layers
    blocks: dict[tuple[int, int], np.ndarray] = {}
    for c in trace.consumptions:
        layer = layers[c.layer]
        mod, p = c.module, c.provenance
        if isinstance(mod, nn.Linear) and p.group == 1:
            r = _raw_weight(mod.weight)
        elif isinstance(mod, nn.Linear):  # after flatten: sum over each channel's positions
            w = mod.weight.reshape(mod.out_features, p.n_channels, p.group)
            r = _reduce(w, (2,), reduction)
        else:
            r = _reduce(mod.weight, tuple(range(2, mod.weight.dim())), reduction)
            groups = mod.groups
            if groups > 1:  # expand (out, in/groups) to (out, in), zero across groups
                out_per, in_per = mod.out_channels // groups, mod.in_channels // groups
                full = np.zeros((mod.out_channels, mod.in_channels))
                for g in range(groups):
                    rows = slice(g * out_per, (g + 1) * out_per)
                    full[rows, g * in_per : (g + 1) * in_per] = r[rows]
                r = full
        if not np.isfinite(r).all():  # NaN and inf survive |.|, sums and norms
            raise ValueError(f"layer {layer.name!r} has NaN or infinite weights")
        for s in p.segments:
            key = (s.layer, c.layer)
            part = r[:, s.start : s.stop]
            n_producer = layers[s.layer].n_units
            if key not in blocks and s.unit_start == 0 and part.shape[1] == n_producer:
                # A signed view stays a (read-only) view; a copy is made non-negative here,
                # so "writeable" always means "owned and already |.|".
                blocks[key] = part if part.flags.c_contiguous else np.abs(part, dtype=np.float64)
                continue
            if key not in blocks:
                blocks[key] = np.zeros((layer.n_units, n_producer))
            elif not blocks[key].flags.writeable:
                blocks[key] = np.abs(blocks[key], dtype=np.float64)
            blocks[key][:, s.unit_start : s.unit_start + part.shape[1]] += np.abs(part)
    return blocks


def _writable(blocks: dict[tuple[int, int], np.ndarray], key: tuple[int, int]) -> np.ndarray:
    """The block as an owned, non-negative float64 array (copied from the model if needed)."""
    if not blocks[key].flags.writeable:
        blocks[key] = np.abs(blocks[key], dtype=np.float64)
    return blocks[key]


def _batchnorm_scales(trace: Trace) -> dict[int, np.ndarray]:
    """Per-layer factors for the edges entering each unit, from folded batch norms."""
    scales: dict[int, np.ndarray] = {}
    for bn in trace.batchnorms:
        mod = bn.module
        if mod.running_var is None:
            raise UnsupportedModelError(
                f"batch norm {bn.module_path!r} keeps no running statistics "
                "(track_running_stats=False), so it cannot be folded; pass "
                "fold_batchnorm=False"
            )
        var = mod.running_var.detach().to("cpu", torch.float64)
        factor = 1.0 / torch.sqrt(var + mod.eps)
        if mod.weight is not None:
            factor = factor * mod.weight.detach().to("cpu", torch.float64).abs()
        factor = factor.numpy()
        if not np.all(np.isfinite(factor)):
            raise ValueError(f"batch norm {bn.module_path!r} has NaN or infinite parameters")
        covered = np.zeros(bn.provenance.n_channels, dtype=np.int64)
        for s in bn.provenance.segments:
            covered[s.start : s.stop] += 1
        if covered.max(initial=0) > 1:
            raise UnsupportedModelError(
                f"batch norm {bn.module_path!r} normalises channels fed by several layers "
                "(it follows a residual add), so it belongs to no single unit; pass "
                "fold_batchnorm=False to build the graph without folding batch norms"
            )
        layers = {s.layer: trace.layers[s.layer] for s in bn.provenance.segments}
        for layer in layers.values():
            if layer.normalized_by:
                raise UnsupportedModelError(
                    f"layer {layer.name!r} is normalised by two batch norms "
                    f"({layer.normalized_by[0]!r} and {bn.module_path!r}); nngraph cannot "
                    "fold both into its units: pass fold_batchnorm=False"
                )
        for s in bn.provenance.segments:
            if layers[s.layer].kind == "input":
                continue  # input units have no entering edges
            layer_scale = scales.setdefault(s.layer, np.ones(layers[s.layer].n_units))
            layer_scale[s.unit_start : s.unit_start + s.stop - s.start] *= factor[s.start : s.stop]
        for index, layer in layers.items():
            if index in scales:
                layer.normalized_by.append(bn.module_path)
    return scales


def _normalize(trace: Trace, blocks: dict[tuple[int, int], np.ndarray]) -> None:
    """Balance each hidden unit's entering and leaving edges (ReLU rescaling symmetry)."""
    for idx, layer in enumerate(trace.layers):
        entering = [k for k in blocks if k[1] == idx]
        leaving = [k for k in blocks if k[0] == idx]
        if layer.kind == "input" or not entering or not leaving:
            continue  # not a hidden unit: its blocks stay as they are (views, uncopied)
        entering = [_writable(blocks, k) for k in entering]
        leaving = [_writable(blocks, k) for k in leaving]
        norm = np.sqrt(sum(np.einsum("ij,ij->i", b, b) for b in entering))
        norm[norm == 0] = 1.0
        for b in entering:
            b /= norm[:, None]
        for b in leaving:
            b *= norm[None, :]


def _assemble(
    layers: list[Layer],
    keep: list[int],
    blocks: dict[tuple[int, int], np.ndarray],
    options: dict,
) -> NeuronGraph:
    """Write the blocks and their transposes straight into symmetric CSR arrays."""
    new_index = {old: new for new, old in enumerate(keep)}
    sizes = np.array([layers[i].n_units for i in keep], dtype=np.int64)
    n = int(sizes.sum())
    kept = {
        (new_index[p], new_index[c]): block
        for (p, c), block in blocks.items()
        if c in new_index and p in new_index
    }
    pairs = sorted(kept)
    adjacency = blocks_to_csr(sizes, kept)
    node_layer = np.repeat(np.arange(len(keep), dtype=np.int64), sizes)
    node_unit = (
        np.concatenate([np.arange(s, dtype=np.int64) for s in sizes])
        if n
        else np.zeros(0, dtype=np.int64)
    )
    meta = {
        "builder": "weight_graph",
        "options": options,
        "layers": [
            {
                "name": layers[i].name,
                "kind": layers[i].kind,
                "n_units": layers[i].n_units,
                "normalized_by": list(layers[i].normalized_by),
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
        layer_pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
        kind="weight",
        meta=meta,
        validate=False,
    )
