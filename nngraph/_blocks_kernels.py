"""Numba kernels for :mod:`nngraph._blocks`: writing dense layer blocks into CSR arrays.

Each kernel writes one dense block of edge weights (or its transpose) into the rows of
one layer of a symmetric CSR matrix, taking ``|.|`` and widening to float64 on the way,
together with the column indices, in one pass over the destination.

Serial on purpose: nngraph runs its kernels in worker processes (clusterability), and
numba's OpenMP threading layer makes a later ``fork`` abort the process.
"""

from __future__ import annotations

import numba

_TILE = 64


@numba.njit(cache=True)
def write_block(data, indices, row_start, width, col, first_column, block):
    """Rows ``i`` of the layer get ``|block[i, j]|`` at column ``first_column + j``.

    Row ``i`` starts at ``row_start + i * width`` in ``data``/``indices``; the block goes
    to positions ``col .. col + block.shape[1]`` of each row.
    """
    n, m = block.shape
    for i in range(n):
        base = row_start + i * width + col
        for j in range(m):
            data[base + j] = abs(block[i, j])
            indices[base + j] = first_column + j


@numba.njit(cache=True)
def write_block_transposed(data, indices, row_start, width, col, first_column, block):
    """Like :func:`write_block` for ``block.T``: row ``j`` gets ``|block[i, j]|`` at
    column ``first_column + i``. Tiled so reads and writes both stay in cache."""
    n, m = block.shape
    n_tiles = (m + _TILE - 1) // _TILE
    for t in range(n_tiles):
        j0 = t * _TILE
        j1 = min(j0 + _TILE, m)
        for i0 in range(0, n, _TILE):
            i1 = min(i0 + _TILE, n)
            for j in range(j0, j1):
                base = row_start + j * width + col
                for i in range(i0, i1):
                    data[base + i] = abs(block[i, j])
                    indices[base + i] = first_column + i
