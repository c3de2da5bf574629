"""The activation (correlation) graph of a network.

:func:`activation_graph` reads top to bottom as its steps: check the options, trace the
model on the first batch, choose the layers, plan where each layer is recorded, check
the dense graph fits the memory budget, stream every batch's activations into a sink,
build the adjacency from the sink, and assemble the :class:`NeuronGraph`. The recording
itself lives in :mod:`._recording`, the statistics in :mod:`._activation_sink`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn

from ..utils._validation import (
    InvalidParameterError,
    check_bool,
    check_choice,
    check_int,
    check_real,
    seed_from,
)
from ._activation_sink import ActivationSink
from ._byte_sizes import human_bytes, parse_bytes
from ._correlation_graph import KNN_METHODS, TRANSFORMS
from ._network_fingerprint import network_fingerprint
from ._neuron_graph import NeuronGraph
from ._recording import SPATIAL, Recorder, RecordPoint, iter_batches, plan_recording
from ._tracing import Trace, UnsupportedModelError, trace_model

__all__ = ["activation_graph", "unit_correlations"]

METHODS = ("pearson", "spearman")
ACTIVATIONS = ("pre", "post")
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
        with large offsets); for a model on a CUDA GPU the moments are accumulated
        there, in float64, and only they reach the host (the result equals the CPU's
        to float64 rounding). Spearman correlation ranks each unit's activations, which
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
        Weights are float32 dot products: accurate to about ``1e-5`` (measured: at most
        7e-6 on a trained MLP's ReLU outputs over 6,000-60,000 examples, median 1.5e-7).
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
        ``activation``); ``network_sha256`` identifies the network's parameters.

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
    opts = _check_options(
        method=method,
        transform=transform,
        activation=activation,
        spatial=spatial,
        n_neighbors=n_neighbors,
        threshold=threshold,
        knn_method=knn_method,
        batch_size=batch_size,
        include_input=include_input,
        include_output=include_output,
        fold_batchnorm=fold_batchnorm,
        random_state=random_state,
    )
    budget = parse_bytes("max_memory", max_memory)
    points, sink = _record(model, inputs, opts, budget)
    adjacency, dead, knn_used = _build_adjacency(sink, opts, random_state)
    graph = _assemble(points, adjacency, opts, sink.n_samples, dead, knn_used)
    graph.meta["network_sha256"] = network_fingerprint(model)
    return graph


def unit_correlations(
    model: nn.Module,
    inputs: Any,
    *,
    method: Literal["pearson", "spearman"] = "pearson",
    activation: Literal["pre", "post"] = "pre",
    spatial: Literal["mean", "mean_abs"] = "mean",
    include_input: bool = False,
    include_output: bool = True,
    fold_batchnorm: bool = True,
    batch_size: int = 256,
    max_memory: int | float | str = _DEFAULT_MAX_MEMORY,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the dense correlation matrix behind :func:`activation_graph`, signed.

    The same pass over the data as ``activation_graph`` with the same options (on the
    model's GPU when it is on one), stopped before the graph: for tests and
    benchmarks that compare the statistics themselves.

    Returns
    -------
    correlation : ndarray of float64, shape (n_units, n_units)
        Rows and columns of dead units are 0.
    dead : ndarray of bool, shape (n_units,)

    Examples
    --------
    >>> import torch, torch.nn as nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> x = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    >>> corr, dead = unit_correlations(model, x)
    >>> corr.shape, bool(dead.any())
    ((11, 11), False)
    """
    opts = _check_options(
        method=method,
        transform="square",
        activation=activation,
        spatial=spatial,
        n_neighbors=None,
        threshold=None,
        knn_method="auto",
        batch_size=batch_size,
        include_input=include_input,
        include_output=include_output,
        fold_batchnorm=fold_batchnorm,
        random_state=None,
    )
    _, sink = _record(model, inputs, opts, parse_bytes("max_memory", max_memory))
    return sink.correlation()


# ---------------------------------------------------------------------- the steps
def _record(
    model: nn.Module, inputs: Any, opts: _Options, budget: float
) -> tuple[list[RecordPoint], ActivationSink]:
    """Trace the model, plan the recording, check the budget, and stream the data once."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")

    # The first batch fixes the layers, their units and where each is recorded.
    batches = _nonempty_batches(inputs, opts.batch_size)
    first = next(batches, None)
    if first is None:
        raise ValueError("inputs is empty: it holds no examples")
    trace = _trace_first_batch(model, first)
    points = plan_recording(
        model,
        trace.layers,
        _chosen_layers(trace, opts),
        graph_module=trace.graph_module,
        activation=opts.activation,
        fold_batchnorm=opts.fold_batchnorm,
    )
    # A dense graph over budget is refused before the pass over the data, not after it.
    graph_bytes = 0 if opts.knn else _dense_graph_bytes(points, opts.threshold, budget)
    sink = _stream_statistics(
        model, points, itertools.chain([first], batches), opts, budget, graph_bytes
    )
    return points, sink


@dataclass(frozen=True)
class _Options:
    """The checked options, in the order ``meta["options"]`` records them."""

    method: str
    transform: str
    activation: str
    spatial: str
    n_neighbors: int | None
    threshold: float | None
    knn_method: str
    batch_size: int
    include_input: bool
    include_output: bool
    fold_batchnorm: bool
    random_state: int | None  # recorded only when it replays the run (an int)

    @property
    def knn(self) -> bool:
        """Whether the graph is a k-nearest-neighbour graph (else dense)."""
        return self.n_neighbors is not None


def _check_options(
    *,
    method: Any,
    transform: Any,
    activation: Any,
    spatial: Any,
    n_neighbors: Any,
    threshold: Any,
    knn_method: Any,
    batch_size: Any,
    include_input: Any,
    include_output: Any,
    fold_batchnorm: Any,
    random_state: Any,
) -> _Options:
    """Every option checked by the validators of :mod:`nngraph.utils._validation`."""
    method = check_choice("method", method, METHODS)
    transform = check_choice("transform", transform, TRANSFORMS)
    activation = check_choice("activation", activation, ACTIVATIONS)
    spatial = check_choice("spatial", spatial, SPATIAL)
    knn_method = check_choice("knn_method", knn_method, KNN_METHODS)
    n_neighbors = check_int("n_neighbors", n_neighbors, 1, allow_none=True)
    if threshold is not None:
        if n_neighbors is not None:
            raise InvalidParameterError(
                "pass n_neighbors or threshold, not both: threshold keeps the strong "
                "edges of the dense graph, n_neighbors builds a sparse one"
            )
        threshold = check_real("threshold", threshold, maximum=1.0)
    return _Options(
        method=method,
        transform=transform,
        activation=activation,
        spatial=spatial,
        n_neighbors=n_neighbors,
        threshold=threshold,
        knn_method=knn_method,
        batch_size=check_int("batch_size", batch_size, 1),
        include_input=check_bool("include_input", include_input),
        include_output=check_bool("include_output", include_output),
        fold_batchnorm=check_bool("fold_batchnorm", fold_batchnorm),
        random_state=random_state if isinstance(random_state, int) else None,
    )


def _nonempty_batches(inputs: Any, batch_size: int) -> Iterator[torch.Tensor]:
    """Yield the batches of ``inputs`` as tensors, skipping empty ones."""
    return (b for b in iter_batches(inputs, batch_size) if b.shape[0] > 0)


def _trace_first_batch(model: nn.Module, first: torch.Tensor) -> Trace:
    """Trace the model on the first batch; a batch the model cannot run is a ValueError.

    The shapes are worked out on the batch's first two examples (the layers and their
    units do not depend on the batch size; two, so that a model squeezing away its
    size-1 dimensions keeps the batch dimension): for a small model that is a real pass
    instead of one on fake tensors, whose first use imports ``torch._dynamo`` (about
    1 s per process; the digits MLP's activation graph over 2,000 examples in a fresh
    process took 1.0 s, 0.1 s now). A model that cannot be traced on two examples (one
    written for its batch size) is traced on the whole batch, as before; the whole
    batch then runs in the recording pass.
    """
    few = first[:2]
    if few.shape[0] < first.shape[0]:
        try:
            return trace_model(model, few)
        except Exception:
            pass  # traced on the whole batch below, which gives the error if any
    try:
        return trace_model(model, first)
    except UnsupportedModelError:
        raise
    except Exception as exc:
        raise ValueError(
            f"the first batch of inputs (shape {tuple(first.shape)}) could not be run "
            f"through the model: {exc}"
        ) from exc


def _chosen_layers(trace: Trace, opts: _Options) -> list[int]:
    """List the traced layers to record (those :func:`nngraph.weight_graph` keeps), by index."""
    keep = [
        i
        for i, layer in enumerate(trace.layers)
        if (opts.include_input or layer.kind != "input")
        and (opts.include_output or not layer.is_output or layer.kind == "input")
    ]
    if not keep:
        raise ValueError("no units to record: the options exclude every layer")
    return keep


def _dense_graph_bytes(points: list[RecordPoint], threshold: float | None, budget: float) -> int:
    """Bytes the dense graph needs; a ValueError suggesting k-NN when over ``budget``."""
    n = sum(p.n_units for p in points)
    # With a threshold most pairs are dropped: only the correlation matrix is certain.
    pair_bytes = 8 if threshold else _DENSE_BYTES_PER_PAIR
    needed = pair_bytes * n * n
    if needed > budget:
        raise ValueError(
            f"the dense correlation graph of {n} units needs about "
            f"{human_bytes(needed)}, more than max_memory "
            f"({human_bytes(budget)}); pass n_neighbors=k (e.g. 15) for a "
            "k-nearest-neighbour graph, or raise max_memory"
        )
    return needed


def _stream_statistics(
    model: nn.Module,
    points: list[RecordPoint],
    batches: Iterator[torch.Tensor],
    opts: _Options,
    budget: float,
    graph_bytes: float,
) -> ActivationSink:
    """One pass over the data, every batch's activations into the sink.

    The recorder removes its hooks and restores the modules' modes however the pass
    ends.
    """
    with Recorder(model, points, opts.spatial) as recorder:
        sink = ActivationSink(
            [p.n_units for p in points],
            method=opts.method,
            knn=opts.knn,
            budget=budget,
            graph_bytes=graph_bytes,
            model_dtype=recorder.dtype,
            exact=[p.module is None for p in points],  # the input: the data themselves
        )
        for index, x in enumerate(batches):
            sink.update(recorder.run(x, index))
    if sink.n_samples < 2:
        raise ValueError(f"correlations need at least 2 examples; inputs held {sink.n_samples}")
    return sink


def _build_adjacency(
    sink: ActivationSink, opts: _Options, random_state: Any
) -> tuple[sp.csr_array, np.ndarray, str | None]:
    """Return the adjacency, the dead-unit mask and the k-NN search used (None when dense)."""
    if opts.knn:
        seed = seed_from(random_state)
        return sink.knn(opts.n_neighbors, opts.transform, opts.knn_method, seed)
    adjacency, dead = sink.dense(opts.transform, opts.threshold)
    return adjacency, dead, None


def _assemble(
    points: list[RecordPoint],
    adjacency: sp.csr_array,
    opts: _Options,
    n_examples: int,
    dead: np.ndarray,
    knn_used: str | None,
) -> NeuronGraph:
    """Assemble the NeuronGraph: nodes layer by layer, and ``meta`` recording how it was built."""
    meta = {
        "builder": "activation_graph",
        "options": asdict(opts),
        "n_examples": int(n_examples),
        "dead_units": np.flatnonzero(dead).tolist(),
        "knn_method": knn_used,
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
