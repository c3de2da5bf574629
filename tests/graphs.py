"""Canonical graphs for estimator tests: tiny hand-made cases and planted partitions.

Every function builds a fresh object, so tests may modify what they get. Random
generators take an explicit ``numpy.random.Generator`` (use the ``rng`` fixture); there
is no global seeding anywhere.

Tiny graphs (``tiny_graphs()``): name -> (adjacency as ``csr_array``, expected labels or
None). Expected labels are "up to renaming": compare with ``same_partition``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from nngraph import NeuronGraph

__all__ = [
    "clique",
    "two_cliques",
    "disconnected_cliques",
    "with_isolated",
    "path",
    "star",
    "empty_graph",
    "sbm",
    "layered_modules",
    "mlp_like_graph",
    "same_partition",
    "tiny_graphs",
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


def sbm(
    sizes: Sequence[int],
    p_in: float,
    p_out: float,
    rng: np.random.Generator,
    *,
    weighted: bool = True,
) -> tuple[sp.csr_array, np.ndarray]:
    """Symmetric stochastic block model; returns ``(adjacency, planted labels)``.

    Each pair of distinct nodes is joined with probability ``p_in`` inside a block and
    ``p_out`` across; weights are ``Uniform(0.5, 1.5)`` (or 1 with ``weighted=False``).
    """
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
    rng: np.random.Generator,
    *,
    noise: float = 0.05,
) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """An MLP-like layered graph whose weight blocks are block-diagonal plus noise.

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


def mlp_like_graph(
    layer_sizes: Sequence[int] = (24, 32, 32, 16),
    n_modules: int = 4,
    rng: np.random.Generator | None = None,
    *,
    noise: float = 0.05,
) -> tuple[NeuronGraph, np.ndarray]:
    """:func:`layered_modules` as a :class:`NeuronGraph` (layers ``input, fc1, ...``)."""
    rng = np.random.default_rng(0) if rng is None else rng
    a, module, node_layer = layered_modules(layer_sizes, n_modules, rng, noise=noise)
    names = ["input"] + [f"fc{i}" for i in range(1, len(layer_sizes))]
    offsets = np.concatenate([[0], np.cumsum(layer_sizes)])
    node_unit = np.arange(a.shape[0]) - offsets[node_layer]
    pairs = [(i, i + 1) for i in range(len(layer_sizes) - 1)]
    return NeuronGraph(a, names, node_layer, node_unit, layer_pairs=pairs), module


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labelings are equal up to renaming (-1 must match exactly)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or not np.array_equal(a < 0, b < 0):
        return False
    keep = a >= 0
    pairs = np.unique(np.stack([a[keep], b[keep]]), axis=1)
    return np.unique(pairs[0]).size == pairs.shape[1] == np.unique(pairs[1]).size


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
