"""Layered graphs as blocks between pairs of layers, and back to symmetric CSR.

A weight graph is a set of blocks, one per (producer, consumer) pair of layers.
:func:`blocks_to_csr` writes such blocks (and their transposes) straight into the CSR
arrays of the symmetric adjacency; :func:`csr_to_blocks` reads them back out, which is
what the shuffled null models of :func:`nngraph.clusterability` permute.

A :class:`Block` need not own its values: it may be a view of a layer's weights (or of
their reduction over a kernel) with a map from producer units to columns, so one array
serves every producer of a residual stream. Scale factors (batch norms, the ReLU
rescaling of ``normalize``) are applied while writing, never to the arrays in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._blocks_kernels import (
    count_block,
    write_block,
    write_block_transposed,
    write_dense,
    write_dense_transposed,
)

__all__ = ["Block", "blocks_to_csr", "csr_to_blocks", "layer_offsets"]


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


@dataclass(frozen=True, eq=False)
class Block:
    """Edge weights between a consumer layer (rows) and a producer layer (columns).

    The edge between consumer unit ``i`` and producer unit ``u`` is
    ``|values[i, columns[u]]| * col_scale[u]`` (times the layers' factors given to
    :func:`blocks_to_csr`); no edge where ``columns[u] < 0``.

    Attributes
    ----------
    values : ndarray, shape (n_consumer, n_columns)
        Float32 or float64, signed or not; never written to.
    columns : ndarray of int64, shape (n_producer,), optional
        The column of each producer unit; default ``arange(n_columns)``.
    col_scale : ndarray of float64, shape (n_producer,), optional
        A factor per producer unit (e.g. batch norms between the layers); default 1.
    """

    values: np.ndarray
    columns: np.ndarray | None = None
    col_scale: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_consumer, n_producer)``."""
        n_producer = self.values.shape[1] if self.columns is None else self.columns.shape[0]
        return (int(self.values.shape[0]), int(n_producer))

    def dense(self) -> np.ndarray:
        """Return the block as an owned ``(n_consumer, n_producer)`` float64 array of ``|weights|``.

        Examples
        --------
        >>> b = Block(np.array([[1.0, -2.0]]), columns=np.array([1, -1, 0]))
        >>> b.dense()
        array([[2., 0., 1.]])
        """
        cols = np.arange(self.values.shape[1]) if self.columns is None else self.columns
        out = np.zeros(self.shape)
        have = cols >= 0
        out[:, have] = np.abs(self.values[:, cols[have]], dtype=np.float64)
        if self.col_scale is not None:
            out *= self.col_scale[None, :]
        return out


def _as_block(block: Block | np.ndarray) -> Block:
    return block if isinstance(block, Block) else Block(np.asarray(block))


def blocks_to_csr(
    sizes: np.ndarray,
    blocks: Mapping[tuple[int, int], Block | np.ndarray],
    *,
    row_scale: Mapping[int, np.ndarray] | None = None,
    col_scale: Mapping[int, np.ndarray] | None = None,
) -> sp.csr_array:
    """Symmetric CSR adjacency from blocks between layers.

    Parameters
    ----------
    sizes : array of int
        Units per layer; nodes are numbered layer by layer.
    blocks : mapping (producer, consumer) -> Block or array
        Edge weights between the two layers, shape ``(sizes[consumer], sizes[producer])``;
        ``|.|`` is taken while writing (a block may view signed weights). ``producer !=
        consumer``, and each unordered pair appears once.
    row_scale : mapping of layer -> ndarray, optional
        A factor for every edge entering each unit of a layer, in the blocks where the
        layer is the consumer (its batch norm, its ``normalize`` factor).
    col_scale : mapping of layer -> ndarray, optional
        A factor for every edge leaving each unit of a layer, in the blocks where it is
        the producer.

    Returns
    -------
    scipy.sparse.csr_array
        Float64, sorted indices, explicit zeros removed.

    Examples
    --------
    >>> a = blocks_to_csr([2, 1], {(0, 1): np.array([[3.0, -4.0]])}, row_scale={1: np.array([2.0])})
    >>> a.toarray()
    array([[0., 0., 6.],
           [0., 0., 8.],
           [6., 8., 0.]])
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    offsets = layer_offsets(sizes)
    n = int(offsets[-1])
    row_scale = row_scale or {}
    col_scale = col_scale or {}
    # For each row layer: its neighbour layers and what to write (transposed when the
    # row layer is the producer).
    neighbours: list[list[tuple[int, tuple, bool]]] = [[] for _ in sizes]
    for (p, c), raw in blocks.items():
        if p == c:
            raise ValueError(f"a block joins layer {p} to itself; blocks join two layers")
        block = _as_block(raw)
        if block.shape != (sizes[c], sizes[p]):
            raise ValueError(
                f"block ({p}, {c}) has shape {block.shape}, expected {(sizes[c], sizes[p])}"
            )
        args = _kernel_args(block, row_scale.get(c), col_scale.get(p))
        neighbours[c].append((p, args, False))
        neighbours[p].append((c, args, True))
    # Pass 1: each row's number of non-zero edges, so the arrays have their final size.
    row_nnz = np.zeros(n, dtype=np.int64)
    dense: set[int] = set()  # blocks with no zero, no column map and no factor
    for layer, nb in enumerate(neighbours):
        for o, args, transposed in nb:
            if not transposed:  # each block once, counting both of its sides
                rows = row_nnz[offsets[layer] : offsets[layer + 1]]
                cols = row_nnz[offsets[o] : offsets[o + 1]]
                if count_block(*args, rows, cols) == 0 and _plain(args):
                    dense.add(id(args))
    nnz = int(row_nnz.sum())
    # One index dtype for indptr and indices, or scipy copies both to a common one.
    index_dtype = np.int32 if max(n, nnz) < 2**31 else np.int64
    indptr = np.zeros(n + 1, dtype=index_dtype)
    np.cumsum(row_nnz, out=indptr[1:])
    data = np.empty(nnz, dtype=np.float64)
    indices = np.empty(nnz, dtype=index_dtype)
    # Pass 2: write, each row's blocks in increasing column order.
    cursor = indptr[:-1].astype(np.int64)
    for layer, nb in enumerate(neighbours):
        nb.sort(key=lambda item: item[0])
        rows = cursor[offsets[layer] : offsets[layer + 1]]
        for o, args, transposed in nb:
            if id(args) in dense:
                write = write_dense_transposed if transposed else write_dense
                write(data, indices, rows, int(offsets[o]), args[0])
            else:
                write = write_block_transposed if transposed else write_block
                write(data, indices, rows, int(offsets[o]), *args)
    adjacency = sp.csr_array((data, indices, indptr), shape=(n, n))
    adjacency.has_canonical_format = True  # sorted, no duplicates, no zeros by construction
    return adjacency


def _plain(args: tuple) -> bool:
    """Whether kernel arguments map columns one to one and scale nothing."""
    values, columns, row_factor, col_factor = args
    return (
        columns.shape[0] == values.shape[1]
        and bool(np.all(columns == np.arange(columns.shape[0])))
        and bool(np.all(row_factor == 1.0))
        and bool(np.all(col_factor == 1.0))
    )


def _kernel_args(
    block: Block, row: np.ndarray | None, col: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(values, columns, row_factor, col_factor)`` in the kernels' dtypes."""
    values = block.values
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    if values.strides[-1] != values.itemsize and values.shape[1] > 1:
        values = np.ascontiguousarray(values)  # rows must be contiguous for the kernels
    n_rows, n_cols = block.shape
    columns = (
        np.arange(values.shape[1], dtype=np.int64)
        if block.columns is None
        else np.ascontiguousarray(block.columns, dtype=np.int64)
    )
    row_factor = np.ones(n_rows) if row is None else np.ascontiguousarray(row, dtype=np.float64)
    col_factor = np.ones(n_cols)
    if block.col_scale is not None:
        col_factor = col_factor * block.col_scale
    if col is not None:
        col_factor = col_factor * col
    return values, columns, row_factor, col_factor


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
