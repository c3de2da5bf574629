"""Shuffled null models of a graph (``docs/method.md``, section 3).

- ``"layer"``: within each block of weights between two layers, permute all entries,
  zeros included (the Clusterability paper's default).
- ``"layer_nonzero"``: within each block, permute only the non-zero entries, keeping the
  sparsity pattern.
- ``"offdiagonal"``: for graphs without layer blocks (activation graphs): permute all
  off-diagonal entries of the upper triangle, zeros included; the lower triangle mirrors
  it. Done without forming the dense matrix: the non-zero values are placed at uniformly
  random distinct positions of the upper triangle, which is the same distribution.
  Self-loops (the diagonal) stay where they are.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..graphs._blocks import blocks_to_csr, csr_to_blocks
from ..graphs._neuron_graph import NeuronGraph
from . import _null_models_kernels as _k

__all__ = ["NULL_METHODS", "NullModel"]

NULL_METHODS = ("layer", "layer_nonzero", "offdiagonal")


def _check_pairs(pairs: np.ndarray, method: str) -> None:
    """Refuse layer pairs the blocks cannot stand for: a layer with itself, a pair twice."""
    seen: dict[tuple[int, int], tuple[int, int]] = {}
    for p, c in pairs.tolist():
        if p == c:
            raise ValueError(
                f"method={method!r}: layer_pairs pairs layer {p} with itself; the blocks it "
                "shuffles lie between two layers"
            )
        key = (min(p, c), max(p, c))
        if key in seen:
            raise ValueError(
                f"method={method!r}: layer_pairs lists the layers {key} twice, as "
                f"{seen[key]} and {(p, c)}"
            )
        seen[key] = (p, c)


class NullModel:
    """Draws shuffled copies of one graph; the blocks are extracted once.

    Parameters
    ----------
    graph : NeuronGraph
        The graph to shuffle. For the ``"layer"`` methods its nodes must be numbered
        layer by layer and ``graph.layer_pairs`` must list its blocks.
    method : {"layer", "layer_nonzero", "offdiagonal"}

    References
    ----------
    .. [1] D. Filan, S. Casper, S. Hod, C. Wild, A. Critch and S. Russell, "Clusterability
       in neural networks", arXiv:2103.03386, 2021.
    """

    def __init__(self, graph: NeuronGraph, method: str) -> None:
        if method not in NULL_METHODS:
            raise ValueError(f"method must be one of {NULL_METHODS}, got {method!r}")
        self.graph = graph
        self.method = method
        a = graph.adjacency
        if method == "offdiagonal":
            upper = sp.triu(a, k=1, format="coo")
            self._values = np.asarray(upper.data, dtype=np.float64)
            self._n = a.shape[0]
            self._diagonal = np.asarray(a.diagonal(), dtype=np.float64)
            return
        if graph.layer_pairs.size == 0:
            raise ValueError(
                f"method={method!r} permutes the blocks between layers, but this graph "
                f"(kind={graph.kind!r}) has no layer blocks (NeuronGraph.layer_pairs is "
                "empty); use method='offdiagonal' for activation or custom graphs"
            )
        if np.any(np.diff(graph.node_layer) < 0):
            raise ValueError(
                "method='layer' needs the nodes numbered layer by layer (node_layer non-decreasing)"
            )
        self._sizes = graph.layer_sizes
        pairs = graph.layer_pairs
        _check_pairs(pairs, method)
        self._blocks = csr_to_blocks(a, self._sizes, pairs)
        covered = sum(int(np.count_nonzero(b)) for b in self._blocks.values())
        if 2 * covered != a.nnz:
            raise ValueError(
                "the graph has edges outside its layer blocks (layer_pairs); the 'layer' "
                "null models would drop them"
            )
        if method == "layer_nonzero":
            self._nonzero = {k: np.flatnonzero(b) for k, b in self._blocks.items()}

    def sample(self, rng: np.random.Generator) -> sp.csr_array:
        """One shuffled adjacency."""
        if self.method == "offdiagonal":
            return self._sample_offdiagonal(rng)
        shuffled = {}
        for key, block in self._blocks.items():
            flat = block.ravel()
            if self.method == "layer":
                new = flat[rng.permutation(flat.size)]
            else:
                nz = self._nonzero[key]
                new = np.zeros_like(flat)
                new[nz] = flat[nz[rng.permutation(nz.size)]]
            shuffled[key] = new.reshape(block.shape)
        return blocks_to_csr(self._sizes, shuffled)

    def _sample_offdiagonal(self, rng: np.random.Generator) -> sp.csr_array:
        n, values = self._n, self._values
        n_positions = n * (n - 1) // 2
        positions = rng.choice(n_positions, size=values.size, replace=False)
        vals = values[rng.permutation(values.size)]
        # The CSR arrays straight from the positions, self-loops where they were: the
        # arrays scipy's upper + upper.T gives (on the digits MLP's activation graph,
        # 534,061 values: 74 -> 21 ms a sample).
        indptr, indices, data = _k.symmetric_csr(n, positions, vals, self._diagonal)
        shuffled = sp.csr_array((data, indices, indptr), shape=(n, n))
        shuffled.has_canonical_format = True
        return shuffled
