"""Numba kernels for :mod:`nngraph.graphs._blocks`: writing dense layer blocks into CSR arrays.

Each kernel writes one dense block of edge weights (or its transpose) into the rows of
one layer of a symmetric CSR matrix, taking ``|.|`` and widening to float64 on the way,
together with the column indices, in one pass over the destination.

Serial on purpose: nngraph runs its kernels in worker processes (clusterability), and
numba's OpenMP threading layer makes a later ``fork`` abort the process.
"""

from __future__ import annotations

import numba

_TILE = 16


@numba.njit(cache=True)
def write_block(data, indices, row_start, width, col, first_column, block):
    """Rows ``i`` of the layer get ``|block[i, j]|`` at column ``first_column + j``.

    Row ``i`` starts at ``row_start + i * width`` in ``data``/``indices``; the block goes
    to positions ``col .. col + block.shape[1]`` of each row. Values and indices are
    written in separate loops over contiguous slices, so both vectorise. Returns the
    number of zero weights written.
    """
    n, m = block.shape
    zeros = 0
    for i in range(n):
        base = row_start + i * width + col
        values = data[base : base + m]
        row = block[i]
        for j in range(m):
            values[j] = abs(row[j])
            zeros += values[j] == 0.0
        columns = indices[base : base + m]
        for j in range(m):
            columns[j] = first_column + j
    return zeros


@numba.njit(cache=True)
def write_block_transposed(data, indices, row_start, width, col, first_column, block):
    """Like :func:`write_block` for ``block.T``: row ``j`` gets ``|block[i, j]|`` at
    column ``first_column + i``. Tiled so that reads and writes both stay in cache.
    Returns the number of zero weights written."""
    n, m = block.shape
    zeros = 0
    for j0 in range(0, m, _TILE):
        j1 = min(j0 + _TILE, m)
        for i0 in range(0, n, _TILE):
            i1 = min(i0 + _TILE, n)
            for j in range(j0, j1):
                base = row_start + j * width + col
                for i in range(i0, i1):
                    value = abs(block[i, j])
                    data[base + i] = value
                    zeros += value == 0.0
    for j in range(m):
        base = row_start + j * width + col
        columns = indices[base : base + n]
        for i in range(n):
            columns[i] = first_column + i
    return zeros
