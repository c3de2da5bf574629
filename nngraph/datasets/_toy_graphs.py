"""Small graphs with known structure, for examples, tests and benchmarks.

Every function builds a fresh object. Random graphs take a ``random_state`` (an int or
a ``numpy.random.Generator``); nothing uses global random state.

* Tiny hand-made cases: :func:`clique`, :func:`two_cliques`, :func:`disconnected_cliques`,
  :func:`with_isolated`, :func:`path`, :func:`star`, :func:`empty_graph`, and
  :func:`tiny_graphs` (all of them, with their expected partitions).
* Planted partitions: :func:`planted_partition` (a stochastic block model),
  :func:`layered_modules` and :func:`layered_graph` (an MLP-like weight graph with
  block-diagonal layers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..graphs import NeuronGraph

__all__ = [
    "clique",
    "disconnected_cliques",
    "empty_graph",
    "layered_graph",
    "layered_modules",
    "path",
    "planted_partition",
    "star",
    "tiny_graphs",
    "two_cliques",
    "with_isolated",
]


def clique(n: int, weight: float = 1.0) -> sp.csr_array:
    """Complete graph on ``n`` nodes (no self-loops)."""
    a = np.full((n, n), float(weight))
    np.fill_diagonal(a, 0.0)
    return sp.csr_array(a)


def two_cliques(n: int = 5, bridge: float = 0.1) -> tuple[sp.csr_array, np.ndarray]:
    """Two ``n``-cliques joined by one edge of weight ``bridge``; labels are the cliques."""
    a = sp.block_diag([clique(n), clique(n)], format="lil")
    a[n - 1, n] = a[n, n - 1] = bridge
    return sp.csr_array(a), np.repeat([0, 1], n)


def disconnected_cliques(sizes: Sequence[int] = (4, 5, 6)) -> tuple[sp.csr_array, np.ndarray]:
    """Disjoint cliques (one connected component each); labels are the cliques."""
    a = sp.block_diag([clique(s) for s in sizes], format="csr")
    return sp.csr_array(a), np.repeat(np.arange(len(sizes)), sizes)


def with_isolated(
    a: sp.csr_array, labels: np.ndarray, where: Sequence[int]
) -> tuple[sp.csr_array, np.ndarray]:
    """Insert isolated nodes (degree 0, expected label -1) before the given positions."""
    n = a.shape[0]
    where = np.sort(np.asarray(where))
    new_index = np.arange(n) + np.searchsorted(where, np.arange(n), side="right")
    m = n + where.size
    coo = a.tocoo()
    b = sp.csr_array(
        (coo.data, (new_index[coo.row], new_index[coo.col])), shape=(m, m), dtype=np.float64
    )
    out = np.full(m, -1, dtype=np.int64)
    out[new_index] = labels
    return b, out


def path(n: int) -> sp.csr_array:
    """Path graph ``0 - 1 - ... - n-1`` with unit weights (bipartite)."""
    a = sp.diags_array([np.ones(n - 1), np.ones(n - 1)], offsets=[-1, 1], shape=(n, n))
    return sp.csr_array(a)


def star(n_leaves: int) -> sp.csr_array:
    """Star graph: node 0 joined to ``n_leaves`` leaves (bipartite, rank 1)."""
    n = n_leaves + 1
    a = sp.lil_array((n, n))
    a[0, 1:] = 1.0
    a[1:, 0] = 1.0
    return sp.csr_array(a)


def empty_graph(n: int = 4) -> sp.csr_array:
    """``n`` nodes and no edges."""
    return sp.csr_array((n, n), dtype=np.float64)


def planted_partition(
    sizes: Sequence[int],
    p_in: float,
    p_out: float,
    random_state: Any = None,
    *,
    weighted: bool = True,
) -> tuple[sp.csr_array, np.ndarray]:
    """Sample a symmetric stochastic block model: ``(adjacency, planted labels)``.

    Each pair of distinct nodes is joined with probability ``p_in`` inside a block and
    ``p_out`` across; weights are ``Uniform(0.5, 1.5)`` (or 1 with ``weighted=False``).

    Parameters
    ----------
    sizes : sequence of int
        Nodes per block.
    p_in, p_out : float
        Edge probabilities inside and across blocks.
    random_state : None, int or numpy Generator
        Seed of the edges and weights.
    weighted : bool, default=True
        Random weights, or all 1.

    Returns
    -------
    adjacency : scipy.sparse.csr_array
    labels : ndarray of int64
        The planted block of every node.

    References
    ----------
    .. [1] P. W. Holland, K. B. Laskey and S. Leinhardt, "Stochastic blockmodels: first
       steps", Social Networks 5(2), 1983.

    Examples
    --------
    >>> from nngraph.datasets import planted_partition
    >>> a, labels = planted_partition([5, 5], 0.9, 0.05, random_state=0)
    >>> a.shape, labels.tolist()
    ((10, 10), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    """
    rng = np.random.default_rng(random_state)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    n = labels.size
    prob = np.where(labels[:, None] == labels[None, :], p_in, p_out)
    upper = np.triu(rng.random((n, n)) < prob, k=1)
    weights = rng.uniform(0.5, 1.5, size=(n, n)) if weighted else np.ones((n, n))
    a = np.where(upper, weights, 0.0)
    return sp.csr_array(a + a.T), labels


def layered_modules(
    layer_sizes: Sequence[int],
    n_modules: int,
    random_state: Any = None,
    *,
    noise: float = 0.05,
) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """Build an MLP-like layered graph whose weight blocks are block-diagonal plus noise.

    Consecutive layers are joined densely: within a module by ``|N(0, 1)|``, across
    modules by ``noise * |N(0, 1)|``. Units of each layer are split evenly among the
    modules.

    Returns
    -------
    adjacency : csr_array
    modules : ndarray of int
        The planted module of every unit.
    node_layer : ndarray of int
        The layer of every unit.
    """
    rng = np.random.default_rng(random_state)
    offsets = np.concatenate([[0], np.cumsum(layer_sizes)])
    module = np.concatenate([np.arange(s) * n_modules // s for s in layer_sizes])
    node_layer = np.repeat(np.arange(len(layer_sizes)), layer_sizes)
    n = int(offsets[-1])
    a = np.zeros((n, n))
    for layer in range(len(layer_sizes) - 1):
        rows = slice(offsets[layer], offsets[layer + 1])
        cols = slice(offsets[layer + 1], offsets[layer + 2])
        same = module[rows][:, None] == module[cols][None, :]
        a[rows, cols] = np.abs(rng.normal(size=same.shape)) * np.where(same, 1.0, noise)
    return sp.csr_array(a + a.T), module, node_layer


def layered_graph(
    layer_sizes: Sequence[int] = (24, 32, 32, 16),
    n_modules: int = 4,
    random_state: Any = 0,
    *,
    noise: float = 0.05,
) -> tuple[NeuronGraph, np.ndarray]:
    """Build a small MLP-like weight graph with planted modules: ``(graph, modules)``.

    :func:`layered_modules` as a :class:`~nngraph.NeuronGraph` with layers
    ``"input", "fc1", ...`` and their ``layer_pairs``, as :func:`nngraph.weight_graph`
    builds them; the bundled toy graph of the docstring examples.

    Parameters
    ----------
    layer_sizes : sequence of int, default=(24, 32, 32, 16)
        Units per layer.
    n_modules : int, default=4
        Planted modules; each layer's units are split evenly among them.
    random_state : None, int or numpy Generator, default=0
        Seed of the weights.
    noise : float, default=0.05
        Scale of the weights across modules (within a module it is 1).

    Returns
    -------
    graph : NeuronGraph
    modules : ndarray of int64
        The planted module of every unit.

    Examples
    --------
    >>> from nngraph.datasets import layered_graph
    >>> g, modules = layered_graph()
    >>> g.layer_names, g.n_nodes
    (['input', 'fc1', 'fc2', 'fc3'], 104)
    """
    a, module, node_layer = layered_modules(layer_sizes, n_modules, random_state, noise=noise)
    names = ["input"] + [f"fc{i}" for i in range(1, len(layer_sizes))]
    offsets = np.concatenate([[0], np.cumsum(layer_sizes)])
    node_unit = np.arange(a.shape[0]) - offsets[node_layer]
    pairs = [(i, i + 1) for i in range(len(layer_sizes) - 1)]
    return NeuronGraph(a, names, node_layer, node_unit, layer_pairs=pairs), module


def tiny_graphs() -> dict[str, tuple[sp.csr_array, np.ndarray | None]]:
    """Hand-made cases every estimator family should handle."""
    two, two_labels = two_cliques(5)
    disc, disc_labels = disconnected_cliques((4, 5, 6))
    iso, iso_labels = with_isolated(*two_cliques(4), where=[0, 4, 8])
    return {
        "clique": (clique(6), np.zeros(6, dtype=np.int64)),
        "two_cliques": (two, two_labels),
        "disconnected": (disc, disc_labels),
        "isolated_vertex": (iso, iso_labels),
        "path": (path(8), None),
        "star": (star(6), None),
    }
