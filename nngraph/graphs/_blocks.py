"""Layered graphs as dense blocks between pairs of layers, and back to symmetric CSR.

A weight graph is a set of dense blocks, one per (producer, consumer) pair of layers.
:func:`blocks_to_csr` writes such blocks (and their transposes) straight into the CSR
arrays of the symmetric adjacency; :func:`csr_to_blocks` reads them back out, which is
what the shuffled null models of :func:`nngraph.clusterability` permute.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from ._blocks_kernels import write_block, write_block_transposed

__all__ = ["blocks_to_csr", "csr_to_blocks", "layer_offsets"]


def layer_offsets(sizes: np.ndarray) -> np.ndarray:
    """First node of each layer, plus the total: ``[0, s0, s0 + s1, ...]``.

    Parameters
    ----------
    sizes : array of int
        Units per layer.

    Returns
    -------
    ndarray of int64, shape (n_layers + 1,)

    Examples
    --------
    >>> layer_offsets([4, 5, 3])
    array([ 0,  4,  9, 12])
    """
    return np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=np.int64))])


def blocks_to_csr(sizes: np.ndarray, blocks: Mapping[tuple[int, int], np.ndarray]) -> sp.csr_array:
    """Symmetric CSR adjacency from dense blocks between layers.

    Parameters
    ----------
    sizes : array of int
        Units per layer; nodes are numbered layer by layer.
    blocks : mapping (producer, consumer) -> array of shape (sizes[consumer], sizes[producer])
        Edge weights between the two layers; ``|.|`` is taken while writing (so a block
        may be a read-only view of signed weights). ``producer != consumer``, and each
        unordered pair appears once.

    Returns
    -------
    scipy.sparse.csr_array
        Float64, sorted indices, explicit zeros removed.

    Examples
    --------
    >>> import numpy as np
    >>> a = blocks_to_csr([2, 1], {(0, 1): np.array([[3.0, -4.0]])})
    >>> a.toarray()
    array([[0., 0., 3.],
           [0., 0., 4.],
           [3., 4., 0.]])
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    offsets = layer_offsets(sizes)
    n = int(offsets[-1])
    # For each row layer: its neighbour layers and the block to write (transposed when
    # the row layer is the producer).
    neighbours: list[list[tuple[int, np.ndarray, bool]]] = [[] for _ in sizes]
    for (p, c), block in blocks.items():
        if p == c:
            raise ValueError(f"a block joins layer {p} to itself; blocks join two layers")
        if block.shape != (sizes[c], sizes[p]):
            raise ValueError(
                f"block ({p}, {c}) has shape {block.shape}, expected {(sizes[c], sizes[p])}"
            )
        neighbours[c].append((p, block, False))
        neighbours[p].append((c, block, True))
    widths = np.array([sum(int(sizes[o]) for o, _, _ in nb) for nb in neighbours], dtype=np.int64)
    row_nnz = np.repeat(widths, sizes)
    nnz = int(row_nnz.sum())
    # One index dtype for indptr and indices, or scipy copies both to a common one.
    index_dtype = np.int32 if max(n, nnz) < 2**31 else np.int64
    indptr = np.zeros(n + 1, dtype=index_dtype)
    np.cumsum(row_nnz, out=indptr[1:])
    data = np.empty(nnz, dtype=np.float64)
    indices = np.empty(nnz, dtype=index_dtype)
    zeros = 0
    for layer, nb in enumerate(neighbours):
        nb.sort(key=lambda item: item[0])
        start, width, col = int(indptr[offsets[layer]]), int(widths[layer]), 0
        for o, block, transposed in nb:
            write = write_block_transposed if transposed else write_block
            zeros += write(
                data, indices, start, width, col, int(offsets[o]), np.ascontiguousarray(block)
            )
            col += int(sizes[o])
    adjacency = sp.csr_array((data, indices, indptr), shape=(n, n))
    adjacency.has_canonical_format = True  # sorted by construction, no duplicates
    if zeros:
        adjacency.eliminate_zeros()
    return adjacency


def csr_to_blocks(
    adjacency: sp.csr_array, sizes: np.ndarray, pairs: np.ndarray
) -> dict[tuple[int, int], np.ndarray]:
    """Dense blocks of a layered adjacency (nodes numbered layer by layer).

    The inverse of :func:`blocks_to_csr` on the given pairs.

    Parameters
    ----------
    adjacency : scipy.sparse.csr_array, shape (n, n)
        The layered graph.
    sizes : array of int
        Units per layer.
    pairs : array of int, shape (n_pairs, 2)
        ``(producer, consumer)`` layer pairs, as ``NeuronGraph.layer_pairs``.

    Returns
    -------
    dict of (int, int) to ndarray
        ``(producer, consumer) -> (sizes[consumer], sizes[producer])`` dense block.

    Examples
    --------
    >>> from nngraph.datasets import layered_graph
    >>> g, _ = layered_graph((4, 5, 3), 2, random_state=0)
    >>> blocks = csr_to_blocks(g.adjacency, g.layer_sizes, g.layer_pairs)
    >>> {key: block.shape for key, block in blocks.items()}
    {(0, 1): (5, 4), (1, 2): (3, 5)}
    >>> (blocks_to_csr(g.layer_sizes, blocks) != g.adjacency).nnz
    0
    """
    offsets = layer_offsets(sizes)
    blocks = {}
    for p, c in np.asarray(pairs, dtype=np.int64).reshape(-1, 2):
        rows = adjacency[offsets[c] : offsets[c + 1]]
        blocks[(int(p), int(c))] = rows[:, offsets[p] : offsets[p + 1]].toarray()
    return blocks
