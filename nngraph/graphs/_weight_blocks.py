"""The blocks of a weight graph: each consumer's weights read as edges to its producers.

For every weighted layer the trace gives, per input feature, the unit of each producer
layer found there (:class:`~._tracing.Consumption`). :func:`layer_blocks` reduces the
layer's weights to one number per (output unit, input feature) -- a convolution's kernel
slice by L1 or L2 -- and maps the features to producer units. Where the map is one
unit per feature (the common case) the block is a view of those numbers with a column
map, shared by every producer of a residual stream and never copied or scaled in place;
where several features reach one unit (a flatten, ``cat(x, x)``) their weights are
combined by the same reduction into an owned array.

Scale factors stay apart from the arrays: :class:`Scales` holds, per layer, the factor
of the edges entering its units (its own batch norm, ``normalize``'s division) and of
the edges leaving them (``normalize``'s multiplication); batch norms between a stream
and its readers are a per-feature factor of the block (``Block.col_scale``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn

from ._blocks import Block
from ._tracing import Consumption, Norm, Trace, UnsupportedModelError
from ._weight_blocks_kernels import reduce_slices

__all__ = ["Scales", "layer_blocks", "normalize_scales", "norm_factors"]


@dataclass
class Scales:
    """Per-layer factors of the edges entering and leaving each unit.

    ``entering`` and ``leaving`` hold them; they are applied when the blocks are written.
    """

    entering: dict[int, np.ndarray]
    leaving: dict[int, np.ndarray]


def norm_factors(trace: Trace, fold: bool) -> tuple[list[np.ndarray | None], Scales]:
    """Each batch norm's ``|gamma| / sqrt(running_var + eps)``, and the layers' scales.

    Returns the factor of every norm (None when not folding) and :class:`Scales` with
    the norms that belong to a layer's units folded into its entering edges (a norm on
    the input units has no entering edges: nothing to fold).
    """
    sizes = [layer.n_units for layer in trace.layers]
    scales = Scales(
        {i: np.ones(n) for i, n in enumerate(sizes)}, {i: np.ones(n) for i, n in enumerate(sizes)}
    )
    if not fold:
        return [None] * len(trace.norms), scales
    factors = [_factor(norm) for norm in trace.norms]
    for norm, factor in zip(trace.norms, factors, strict=True):
        if norm.layer is None or trace.layers[norm.layer].kind == "input":
            continue
        scales.entering[norm.layer][norm.units] *= factor
    return factors, scales


def _factor(norm: Norm) -> np.ndarray:
    mod = norm.module
    if getattr(mod, "running_var", None) is None:
        raise UnsupportedModelError(
            f"batch norm {norm.path!r} keeps no running statistics "
            "(track_running_stats=False), so it cannot be folded; pass fold_batchnorm=False"
        )
    with torch.no_grad():
        var = mod.running_var.detach().to("cpu", torch.float64)
        factor = 1.0 / torch.sqrt(var + mod.eps)
        if getattr(mod, "weight", None) is not None:
            factor = factor * mod.weight.detach().to("cpu", torch.float64).abs()
    out = factor.numpy()
    if not np.all(np.isfinite(out)):
        raise ValueError(f"batch norm {norm.path!r} has NaN or infinite parameters")
    return out


def _reduced_weights(c: Consumption, name: str, reduction: str) -> np.ndarray:
    """Reduce a layer's weights to an ``(n_out, n_features)`` array.

    ``|W|`` (a view for a ``Linear``), summed over a kernel slice for a convolution (L1);
    ``W**2`` summed likewise for L2 (owned float64).
    """
    mod = c.module
    w = mod.weight.detach()
    if isinstance(mod, nn.Linear):
        if reduction == "l1":
            w = w.to("cpu")
            if w.dtype not in (torch.float32, torch.float64):
                w = w.to(torch.float64)
            r = w.numpy()
            r.flags.writeable = False  # a view of the model's memory: never written
        else:
            r = w.to("cpu", torch.float64).square().numpy()
    else:
        r = _reduce_kernels(w, reduction)
        groups = mod.groups
        if groups > 1:  # expand (out, in/groups) to (out, in), zero across groups
            out_per, in_per = mod.out_channels // groups, mod.in_channels // groups
            full = np.zeros((mod.out_channels, mod.in_channels))
            for g in range(groups):
                rows = slice(g * out_per, (g + 1) * out_per)
                full[rows, g * in_per : (g + 1) * in_per] = r[rows]
            r = full
    if not np.isfinite(r).all():  # NaN and inf survive |.|, sums and squares
        raise ValueError(f"layer {name!r} has NaN or infinite weights")
    return r


def _reduce_kernels(w: torch.Tensor, reduction: str) -> np.ndarray:
    """Sum ``|w|`` (or ``w**2``) over each kernel slice.

    Accumulated in float64 straight from the weights' own dtype (no float64 copy of the
    whole weight).
    """
    w = w.detach().to("cpu")
    if w.dtype not in (torch.float32, torch.float64):
        w = w.to(torch.float64)
    a = w.reshape(w.shape[0], w.shape[1], -1).numpy()  # a view when contiguous
    out = np.empty(a.shape[:2])
    reduce_slices(np.ascontiguousarray(a), reduction == "l2", out)
    return out


def layer_blocks(
    trace: Trace, reduction: str, norm_factor: list[np.ndarray | None]
) -> tuple[dict[tuple[int, int], Block], set[tuple[int, int]]]:
    """Every (producer, consumer) block of the weight graph.

    Returns the blocks and the keys of those holding squared weights (L2 sums of
    squares, to be square-rooted once every contribution is added: see
    :func:`finish_l2`).
    """
    blocks: dict[tuple[int, int], Block] = {}
    squared: set[tuple[int, int]] = set()
    for c in trace.consumptions:
        name = trace.layers[c.layer].name
        r = _reduced_weights(c, name, reduction)
        for plane in c.planes:
            key = (plane.layer, c.layer)
            n_units = trace.layers[plane.layer].n_units
            feature_scale = _feature_scale(plane.norms, norm_factor, plane.units.size)
            valid = np.flatnonzero(plane.units >= 0)
            units = plane.units[valid]
            one_to_one = np.unique(units).size == units.size
            if reduction == "l1" and one_to_one and key not in blocks:
                columns = np.full(n_units, -1, dtype=np.int64)
                columns[units] = valid
                scale = None
                if feature_scale is not None:
                    scale = np.ones(n_units)
                    scale[units] = feature_scale[valid]
                blocks[key] = Block(r, columns, scale)
                continue
            # Several features reach a unit, or another path already did: combine.
            weight = r if reduction == "l2" else np.abs(r)
            f = np.ones(plane.units.size) if feature_scale is None else feature_scale
            if reduction == "l2":
                f = f * f
            scatter = sp.csr_array((f[valid], (valid, units)), shape=(plane.units.size, n_units))
            dense = np.asarray(weight @ scatter)
            if key in blocks:
                previous = blocks[key]
                dense += previous.values if key in squared else previous.dense()
            blocks[key] = Block(dense)
            if reduction == "l2":
                squared.add(key)
    return blocks, squared


def finish_l2(blocks: dict[tuple[int, int], Block], squared: set[tuple[int, int]]) -> None:
    """Square-root the blocks holding L2 sums of squares (owned arrays)."""
    for key in squared:
        np.sqrt(blocks[key].values, out=blocks[key].values)


def _feature_scale(
    norms: tuple[tuple[int, np.ndarray], ...], factor: list[np.ndarray | None], n: int
) -> np.ndarray | None:
    """Product of the batch-norm factors each feature went through (None: all 1)."""
    out = None
    for index, channel in norms:
        if factor[index] is None:
            continue
        values = factor[index][np.asarray(channel).reshape(-1)]
        out = values if out is None else out * values
    return out


def normalize_scales(trace: Trace, blocks: dict[tuple[int, int], Block], scales: Scales) -> None:
    """Remove the ReLU rescaling symmetry (method: ``normalize=True``).

    In order from input to output, each hidden unit's entering edges (as they will be
    written: batch norms folded, earlier layers already balanced) are divided by their
    Euclidean norm and its leaving edges multiplied by it. Units whose entering norm is
    zero are left unchanged.
    """
    for index, layer in enumerate(trace.layers):
        entering = [(p, b) for (p, c), b in blocks.items() if c == index]
        leaving = any(p == index for p, _ in blocks)
        if layer.kind == "input" or not entering or not leaving:
            continue
        total = np.zeros(layer.n_units)
        for producer, block in entering:
            total += (block.dense() * scales.leaving[producer][None, :]) ** 2 @ np.ones(
                block.shape[1]
            )
        norm = scales.entering[index] * np.sqrt(total)
        norm[norm == 0] = 1.0
        scales.entering[index] = scales.entering[index] / norm
        scales.leaving[index] = scales.leaving[index] * norm
