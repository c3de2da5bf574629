"""The activation (correlation) graph of a network (method.md §1.2)."""

from __future__ import annotations

import itertools
import numbers
import re
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn

from ..utils._validation import seed_from
from ._correlation import DEAD_RTOL, CorrelationAccumulator, rank_columns
from ._correlation_graph import (
    KNN_METHODS,
    TRANSFORMS,
    dense_adjacency,
    knn_adjacency,
    standardize_rows,
)
from ._neuron_graph import NeuronGraph
from ._recording import SPATIAL, Recorder, iter_batches, plan_recording
from ._tracing import Trace, UnsupportedModelError, trace_model

__all__ = ["activation_graph"]

_DEFAULT_MAX_MEMORY = 2 * 2**30
# Dense mode: the float64 correlation matrix (8 bytes per pair) plus a CSR graph with
# all pairs (8 bytes of weight and 4 of column index per pair).
_DENSE_BYTES_PER_PAIR = 20


def activation_graph(
    model: nn.Module,
    inputs: Any,
    *,
    method: Literal["pearson", "spearman"] = "pearson",
    transform: Literal["square", "abs"] = "square",
    activation: Literal["pre", "post"] = "pre",
    spatial: Literal["mean", "mean_abs"] = "mean",
    include_input: bool = False,
    include_output: bool = True,
    fold_batchnorm: bool = True,
    n_neighbors: int | None = None,
    threshold: float | None = None,
    knn_method: Literal["auto", "nndescent", "exact"] = "auto",
    batch_size: int = 256,
    max_memory: int | float | str = _DEFAULT_MAX_MEMORY,
    random_state: Any = None,
) -> NeuronGraph:
    """Build the graph of a network's units from the correlations of their activations.

    The model runs once over ``inputs`` (in eval mode, without gradients; the mode of
    every module is restored and the hooks removed afterwards, also on error). Each
    unit's activation is recorded for every example and two units are joined by the
    squared (or absolute) correlation of their activations across the examples. The
    units, layer names and node order are those of :func:`nngraph.weight_graph` for the
    same model and ``include_input``/``include_output`` options, so a partition of
    either graph applies to the same units.

    Parameters
    ----------
    model : torch.nn.Module
        Any network :func:`nngraph.weight_graph` supports.
    inputs : torch.Tensor, numpy.ndarray or iterable of batches
        The data set. A tensor or array is cut into batches of ``batch_size`` rows; an
        iterable (e.g. a ``DataLoader``) yields batches that are tensors or arrays, or
        tuples/lists whose first element is (``(x, y)``). It is iterated once. The first
        batch is used to trace the model.
    method : {"pearson", "spearman"}, default="pearson"
        Pearson correlation is computed in one streaming pass from float64 running
        moments (batches merged by the pairwise update of Chan et al., exact for data
        with large offsets). Spearman correlation ranks each unit's activations, which
        needs them all: it holds ``n_examples x n_units`` float64 values in memory
        (checked against ``max_memory``), ranks them (ties get their average rank) and
        takes the Pearson correlation of the ranks.
    transform : {"square", "abs"}, default="square"
        Edge weight ``r**2`` (the paper's) or ``|r|``.
    activation : {"pre", "post"}, default="pre"
        ``"pre"``: the output of the weighted module, after the batch norm that
        directly follows it when there is one (see ``fold_batchnorm``): the unit's value
        before its nonlinearity. ``"post"``: that value passed through the element-wise
        activation that directly consumes it (ReLU-like modules, functions or Tensor
        methods, applied with the model's own arguments); units that feed the model's
        output directly (logits) have the identity activation. A unit whose value is
        read by anything else (e.g. a residual ``add`` before the ReLU) raises
        :class:`~nngraph.UnsupportedModelError`.
    spatial : {"mean", "mean_abs"}, default="mean"
        How a convolution channel (and an image input channel) becomes one number per
        example: the mean over its spatial positions, or the mean absolute value. For
        ``activation="post"`` the activation is applied before the summary.
    include_input : bool, default=False
        Include the input units (layer ``"input"``: dimension 1 of the input).
    include_output : bool, default=True
        Include the units of layers whose values reach the model's output (the logits).
    fold_batchnorm : bool, default=True
        Record a unit after the batch norm that directly consumes its weighted module
        (with only dropout/identity in between and no other reader): that is the value
        the rest of the network sees. The batch norms used are listed in
        ``meta["layers"][i]["normalized_by"]``. With ``False`` the raw module output is
        recorded. A batch norm further away (e.g. after a ReLU) is never applied.
    n_neighbors : int, optional
        Keep, for each unit, only its ``n_neighbors`` units of largest ``|r|``, then
        symmetrise by union (an edge kept by either end; its weight is the transformed
        correlation). The dense matrix is never formed; instead the standardised
        activations are held in memory as float32 (``2 * n_examples * n_units * 4``
        bytes, checked against ``max_memory``) and searched (see ``knn_method``).
        Weights are accurate to about ``1e-6``.
    threshold : float, optional
        Keep only edges whose transformed weight is at least ``threshold`` (in
        ``[0, 1]``). Needs the dense correlation matrix. Not with ``n_neighbors``.
    knn_method : {"auto", "nndescent", "exact"}, default="auto"
        How the ``n_neighbors`` search runs: ``"nndescent"``, approximate, with
        ``pynndescent.NNDescent`` (reproducible for a given ``random_state``; its first
        use in a process spends some seconds compiling); ``"exact"``, blockwise float32
        matrix products (``n_units**2 * n_examples`` multiply-adds); ``"auto"``, exact
        while ``n_units**2 * n_examples <= 2e12`` (about 20 s on two cores: e.g. 20,000
        units over 5,000 examples), NN-descent above. ``meta["knn_method"]`` records the one
        used.
    batch_size : int, default=256
        Rows per forward pass when ``inputs`` is a tensor or an array.
    max_memory : int, float or str, default=2 GiB
        Memory budget in bytes (or a string such as ``"4GiB"``, ``"500MB"``) for the
        statistics and the graph. The dense graph needs about 20 bytes per pair of units
        (the float64 correlation matrix and the CSR graph): when that exceeds the budget
        an error suggests ``n_neighbors``. The model's own memory is not counted.
    random_state : None, int, numpy Generator or RandomState
        Seed of the NN-descent search.

    Returns
    -------
    NeuronGraph
        ``kind="activation"``; no ``layer_pairs``. ``meta`` records the options,
        ``n_examples``, ``dead_units`` (node indices of units with zero variance: they
        have no edges, so partitioners label them -1; a spread below twice the model
        dtype's machine epsilon times the larger of the unit's ``|mean|`` and its layer's
        median RMS value is rounding noise and counts as zero) and per-layer details
        (``recorded_at``: the module whose output was hooked, ``normalized_by``,
        ``activation``).

    Raises
    ------
    ValueError
        Empty data set, fewer than 2 examples, a batch of the wrong shape, NaN or
        infinite activations (naming the layer and the first batch), a bad option, or a
        graph that does not fit in ``max_memory``.
    UnsupportedModelError
        A model :func:`nngraph.weight_graph` cannot read, or ``activation="post"`` on a
        unit with no single element-wise activation.

    Examples
    --------
    >>> import torch, torch.nn as nn
    >>> import nngraph as ng
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> x = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    >>> g = ng.activation_graph(model, x)
    >>> g.layer_names, g.n_nodes, g.kind
    (['0', '2'], 11, 'activation')
    >>> sparse = ng.activation_graph(model, x, n_neighbors=3)
    >>> bool(sparse.n_edges < g.n_edges)
    True
    """
    options = _check_options(
        method, transform, activation, spatial, n_neighbors, threshold, knn_method, batch_size
    )
    budget = _parse_bytes(max_memory)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")

    batches = (b for b in iter_batches(inputs, int(batch_size)) if b.shape[0] > 0)
    first = next(batches, None)
    if first is None:
        raise ValueError("inputs is empty: it holds no examples")
    trace = _trace(model, first)
    keep = [
        i
        for i, layer in enumerate(trace.layers)
        if (include_input or layer.kind != "input")
        and (include_output or not layer.is_output or layer.kind == "input")
    ]
    if not keep:
        raise ValueError("no units to record: the options exclude every layer")
    points = plan_recording(
        model,
        trace.layers,
        keep,
        graph_module=trace.graph_module,
        activation=activation,
        fold_batchnorm=fold_batchnorm,
    )
    n = sum(p.n_units for p in points)
    knn = n_neighbors is not None
    if not knn:
        pair_bytes = 8 if threshold else _DENSE_BYTES_PER_PAIR
        if pair_bytes * n * n > budget:
            raise ValueError(
                f"the dense correlation graph of {n} units needs about "
                f"{human_bytes(pair_bytes * n * n)}, more than max_memory "
                f"({human_bytes(budget)}); pass n_neighbors=k (e.g. 15) for a "
                "k-nearest-neighbour graph, or raise max_memory"
            )

    dense_bytes = 0 if knn else pair_bytes * n * n
    with Recorder(model, points, spatial) as recorder:
        sink = _Sink(
            n,
            method=method,
            knn=knn,
            budget=budget,
            fixed_bytes=dense_bytes,
            layer_sizes=[p.n_units for p in points],
            dead_rtol=_dead_rtol(recorder.dtype),
        )
        for index, x in enumerate(itertools.chain([first], batches)):
            sink.update(recorder.run(x, index))
    m = sink.n_samples
    if m < 2:
        raise ValueError(f"correlations need at least 2 examples; inputs held {m}")

    seed = seed_from(random_state) if knn else 0
    if knn:
        adjacency, dead, used = sink.knn(n_neighbors, transform, knn_method, seed)
    else:
        adjacency, dead = sink.dense(transform, threshold)
        used = None

    meta = {
        "builder": "activation_graph",
        "options": {
            **options,
            "include_input": include_input,
            "include_output": include_output,
            "fold_batchnorm": fold_batchnorm,
            "random_state": random_state if isinstance(random_state, int) else None,
        },
        "n_examples": int(m),
        "dead_units": np.flatnonzero(dead).tolist(),
        "knn_method": used,
        "layers": [
            {
                "name": p.name,
                "kind": p.kind,
                "n_units": p.n_units,
                "is_output": p.is_output,
                "recorded_at": p.recorded_at,
                "normalized_by": [p.batchnorm] if p.batchnorm else [],
                "activation": p.activation_name,
            }
            for p in points
        ],
    }
    sizes = np.array([p.n_units for p in points], dtype=np.int64)
    return NeuronGraph(
        adjacency,
        [p.name for p in points],
        np.repeat(np.arange(len(points), dtype=np.int64), sizes),
        np.concatenate([np.arange(s, dtype=np.int64) for s in sizes]),
        kind="activation",
        meta=meta,
        validate=False,
    )


def _dead_rtol(dtype: torch.dtype) -> float:
    """Relative spread below which a unit is constant: the rounding noise of ``dtype``.

    A float32 matrix product may round the same input differently in different rows of
    a batch (about one unit in the last place); such a unit must count as dead, not as
    a unit whose correlations are those of rounding noise.
    """
    eps = torch.finfo(dtype).eps if dtype.is_floating_point else 0.0
    return max(DEAD_RTOL, 2.0 * eps)


def _trace(model: nn.Module, first: torch.Tensor) -> Trace:
    try:
        return trace_model(model, first)
    except UnsupportedModelError:
        raise
    except Exception as exc:
        raise ValueError(
            f"the first batch of inputs (shape {tuple(first.shape)}) could not be run "
            f"through the model: {exc}"
        ) from exc


class _Sink:
    """Takes each batch's ``(n_examples, n_units)`` activations; builds the adjacency.

    Dense Pearson streams into a :class:`CorrelationAccumulator`. Spearman and k-NN
    keep the activations (float64 for Spearman's ranks; float32 shifted by the first
    batch's mean for Pearson k-NN, beside an O(n_units) accumulator that finds the dead
    units exactly).
    """

    def __init__(
        self,
        n: int,
        *,
        method: str,
        knn: bool,
        budget: float,
        fixed_bytes: float,
        layer_sizes: list[int],
        dead_rtol: float,
    ) -> None:
        self.layer_sizes, self.dead_rtol = layer_sizes, dead_rtol
        self.n, self.method, self.budget = n, method, budget
        self.fixed_bytes = fixed_bytes  # the dense graph's share of the budget
        self.n_samples = 0
        self.hold = knn or method == "spearman"
        # Dense Pearson: the full statistics. Otherwise per-unit moments of the values,
        # which decide which units are dead (Spearman and k-NN alike).
        dense_pearson = method == "pearson" and not knn
        self.acc = CorrelationAccumulator(n, cross=dense_pearson)
        self.chunks: list[np.ndarray] = []
        self.shift: np.ndarray | None = None
        self.dtype = np.float64 if method == "spearman" else np.float32
        # Bytes per held value at the peak: the held values, then (k-NN) the standardised
        # points and their negations in float32.
        itemsize = np.dtype(self.dtype).itemsize
        self.peak_per_value = itemsize + (8 if knn and method == "spearman" else 0)
        if knn and method == "pearson":
            self.peak_per_value = 8

    def update(self, values: np.ndarray) -> None:
        self.n_samples += values.shape[0]
        self.acc.update(values)
        if not self.hold:
            return
        needed = self.n_samples * self.n * self.peak_per_value + self.fixed_bytes
        if needed > self.budget:
            what = "Spearman correlation" if self.method == "spearman" else "n_neighbors"
            raise ValueError(
                f"{what} holds the activations in memory: {self.n_samples} examples x "
                f"{self.n} units need about {human_bytes(needed)} so far (with the graph), "
                f"more than max_memory ({human_bytes(self.budget)}); use fewer examples, "
                + ("method='pearson', " if self.method == "spearman" else "")
                + "or raise max_memory"
            )
        if self.dtype == np.float32:
            if self.shift is None:
                self.shift = values.mean(axis=0)
            values = values - self.shift
        self.chunks.append(values.astype(self.dtype, copy=False))

    def dead_units(self) -> np.ndarray:
        """Units whose spread is zero or below the rounding noise of their layer.

        The noise of a unit's value is relative to the magnitude of the terms summed
        into it, not to its mean (a mean near 0 may come from cancelling terms), so the
        reference magnitude is the larger of the unit's ``|mean|`` and the median RMS
        value of its layer's units.
        """
        mean, var = self.acc.mean, self.acc.variance()
        std = np.sqrt(var)
        rms = np.sqrt(mean * mean + var)
        sizes = np.asarray(self.layer_sizes)
        starts = np.cumsum(sizes) - sizes
        layer_scale = [np.median(rms[a : a + n]) for a, n in zip(starts, sizes, strict=True)]
        scale = np.repeat(layer_scale, sizes)
        return (std == 0) | (std <= self.dead_rtol * np.maximum(np.abs(mean), scale))

    def _held_columns(self) -> np.ndarray:
        """The held activations as one ``(n_examples, n)`` array, freeing the chunks."""
        out = np.empty((self.n_samples, self.n), dtype=self.dtype)
        row = 0
        while self.chunks:
            c = self.chunks.pop(0)
            out[row : row + c.shape[0]] = c
            row += c.shape[0]
        return out

    def dense(self, how: str, threshold: float | None) -> tuple[sp.csr_array, np.ndarray]:
        dead = self.dead_units()
        if self.method == "spearman":
            ranks = rank_columns(self._held_columns())
            ranks[:, dead] = 0.0  # dead by their values (ranks of rounding noise vary)
            self.acc = CorrelationAccumulator(self.n)
            step = max(1, 2**25 // (8 * self.n))
            for r0 in range(0, ranks.shape[0], step):
                self.acc.update(ranks[r0 : r0 + step])
            del ranks
        corr = self.acc.correlation(overwrite=True, dead=dead)
        self.acc = None
        return dense_adjacency(corr, how, threshold, self.budget), dead

    def knn(self, k: int, how: str, method: str, seed: int) -> tuple[sp.csr_array, np.ndarray, str]:
        dead = self.dead_units()
        held = rank_columns(self._held_columns()) if self.method == "spearman" else None
        live = np.flatnonzero(~dead)
        n_live = live.size
        z = np.empty((2 * n_live, self.n_samples), dtype=np.float32)
        if held is not None:
            z[:n_live] = held[:, live].T
            del held
        else:
            row = 0
            while self.chunks:
                c = self.chunks.pop(0)
                z[:n_live, row : row + c.shape[0]] = c[:, live].T
                row += c.shape[0]
        zero = standardize_rows(z[:n_live])
        if zero.any():  # constant after float32 storage: treat as dead
            dead[live[zero]] = True
            keep = ~zero
            live = live[keep]
            z = np.ascontiguousarray(np.concatenate([z[:n_live][keep]] * 2))
            n_live = live.size
        sub, used = knn_adjacency(z, n_live, k, how, method, seed)
        del z
        sub = sub.tocoo()
        adjacency = sp.csr_array((sub.data, (live[sub.row], live[sub.col])), shape=(self.n, self.n))
        adjacency.sort_indices()
        return adjacency, dead, used


def _check_options(
    method: str,
    transform: str,
    activation: str,
    spatial: str,
    n_neighbors: Any,
    threshold: Any,
    knn_method: str,
    batch_size: Any,
) -> dict:
    for name, value, allowed in (
        ("method", method, ("pearson", "spearman")),
        ("transform", transform, TRANSFORMS),
        ("activation", activation, ("pre", "post")),
        ("spatial", spatial, SPATIAL),
        ("knn_method", knn_method, KNN_METHODS),
    ):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    if n_neighbors is not None and (
        not isinstance(n_neighbors, numbers.Integral)
        or isinstance(n_neighbors, bool)
        or n_neighbors < 1
    ):
        raise ValueError(f"n_neighbors must be a positive int or None, got {n_neighbors!r}")
    if threshold is not None:
        if n_neighbors is not None:
            raise ValueError("pass n_neighbors or threshold, not both")
        if not isinstance(threshold, numbers.Real) or not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return {
        "method": method,
        "transform": transform,
        "activation": activation,
        "spatial": spatial,
        "n_neighbors": None if n_neighbors is None else int(n_neighbors),
        "threshold": None if threshold is None else float(threshold),
        "knn_method": knn_method,
        "batch_size": int(batch_size),
    }


_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def human_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} TiB"  # pragma: no cover


def _parse_bytes(value: Any) -> float:
    """Bytes from a number or a string such as ``"2GiB"`` or ``"500 MB"``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"max_memory must be positive, got {value!r}")
        return float(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", value)
        if match and match.group(2).lower() in _UNITS:
            result = float(match.group(1)) * _UNITS[match.group(2).lower()]
            if result > 0:
                return result
    raise ValueError(
        f"max_memory must be a positive number of bytes or a string like '2GiB', got {value!r}"
    )
