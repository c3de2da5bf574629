"""Loaded once by the worker pool's fork server (or by each spawned worker): warm-up.

Importing this module imports what a shuffle needs (numpy, scipy, scikit-learn's
k-means, numba and nngraph's partitioners, null models and metrics; never torch) and
runs every step of a shuffle once on a toy graph, single-threaded, so that the numba
kernels are loaded from their cache. Workers forked from a process that imported it
start with all of that done. It is an optimisation only: a failure here is ignored.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..graphs._neuron_graph import NeuronGraph
from . import _shuffles
from ._worker_pool import restore_server_environment

restore_server_environment()  # before anything forks from here


def _toy_graph() -> NeuronGraph:
    """Return a 3-layer weight graph (16-24-16 units) with random weights.

    Built here: :mod:`nngraph.datasets` imports torch.
    """
    sizes = (16, 24, 16)
    rng = np.random.default_rng(0)
    starts = np.cumsum((0, *sizes))
    a = np.zeros((starts[-1], starts[-1]))
    for i in range(len(sizes) - 1):
        block = rng.uniform(0.1, 1.0, (sizes[i], sizes[i + 1]))
        a[starts[i] : starts[i + 1], starts[i + 1] : starts[i + 2]] = block
    node_layer = np.repeat(np.arange(len(sizes)), sizes)
    return NeuronGraph(
        sp.csr_array(a + a.T),
        ["input", "fc1", "fc2"],
        node_layer,
        np.arange(starts[-1]) - starts[node_layer],
        layer_pairs=[(0, 1), (1, 2)],
    )


def warm_up() -> None:
    """Run one shuffle of a toy graph with each bundled partitioner kind, one thread."""
    from threadpoolctl import threadpool_limits

    from ..partition import Louvain, SpectralClustering
    from . import _null_models_kernels

    graph = _toy_graph()
    seq = np.random.SeedSequence(0).spawn(1)
    _null_models_kernels.warm_up()  # the "offdiagonal" null's kernel
    with threadpool_limits(1):
        for partitioner in (SpectralClustering(4, random_state=0), Louvain(random_state=0)):
            _shuffles.run_chunk((graph, partitioner, "layer"), [(0, seq[0])])


try:
    warm_up()
except Exception:  # pragma: no cover - a speed-up only; the shuffles will say what fails
    pass
