"""Numba kernels for :mod:`nngraph.graphs._blocks`: writing layer blocks into CSR arrays.

A block holds the edge weights between a consumer layer (rows) and a producer layer.
The edge ``(i, u)`` is ``|values[i, columns[u]]| * row_factor[i] * col_factor[u]``
(none where ``columns[u] < 0``), widened to float64. ``values`` may be a read-only
float32 or float64 view of a model's own weights: it is only read.

Writing takes two passes: :func:`count_block` counts each row's non-zero edges (so the
CSR arrays are allocated at their final size: a depthwise or pruned layer costs only
its non-zeros), then :func:`write_block` and :func:`write_block_transposed` write them,
each row's entries at its cursor, in increasing column order.

Serial on purpose: nngraph runs its kernels in worker processes (clusterability), and
numba's OpenMP threading layer makes a later ``fork`` abort the process.
"""

from __future__ import annotations

import numba

_TILE = 16


@numba.njit(cache=True)
def count_block(values, columns, row_factor, col_factor, row_counts, col_counts):
    """Add each consumer row's and each producer unit's number of non-zero edges.

    Returns the number of edges of the block that are zero (or absent).
    """
    n = values.shape[0]
    m = columns.shape[0]
    zeros = 0
    for i in range(n):
        row = values[i]
        fi = row_factor[i]
        count = 0
        for u in range(m):
            j = columns[u]
            if j >= 0 and abs(row[j]) * fi * col_factor[u] != 0.0:
                count += 1
                col_counts[u] += 1
        row_counts[i] += count
        zeros += m - count
    return zeros


@numba.njit(cache=True)
def write_dense(data, indices, cursor, first_column, values):
    """Write ``|values|`` row by row, in contiguous loops that vectorise.

    :func:`write_block` for a block with no zero, no column map and no factors.
    """
    n, m = values.shape
    for i in range(n):
        base = cursor[i]
        out = data[base : base + m]
        row = values[i]
        for u in range(m):
            out[u] = abs(row[u])
        columns = indices[base : base + m]
        for u in range(m):
            columns[u] = first_column + u
        cursor[i] = base + m


@numba.njit(cache=True)
def write_dense_transposed(data, indices, cursor, first_column, values):
    """Write the transpose of :func:`write_dense`, tiled so that reads and writes stay in cache."""
    n, m = values.shape
    for u0 in range(0, m, _TILE):
        u1 = min(u0 + _TILE, m)
        for i0 in range(0, n, _TILE):
            i1 = min(i0 + _TILE, n)
            for u in range(u0, u1):
                base = cursor[u] + i0
                for i in range(i0, i1):
                    data[base + i - i0] = abs(values[i, u])
    for u in range(m):
        base = cursor[u]
        columns = indices[base : base + n]
        for i in range(n):
            columns[i] = first_column + i
        cursor[u] = base + n


@numba.njit(cache=True)
def write_block(data, indices, cursor, first_column, values, columns, row_factor, col_factor):
    """Consumer row ``i`` gets its non-zero edges at ``cursor[i]``, column ``first_column + u``.

    ``cursor`` (one position per consumer row) is advanced past what is written.
    """
    n = values.shape[0]
    m = columns.shape[0]
    for i in range(n):
        pos = cursor[i]
        row = values[i]
        fi = row_factor[i]
        for u in range(m):
            j = columns[u]
            if j < 0:
                continue
            v = abs(row[j]) * fi * col_factor[u]
            if v != 0.0:
                data[pos] = v
                indices[pos] = first_column + u
                pos += 1
        cursor[i] = pos


@numba.njit(cache=True)
def write_block_transposed(
    data, indices, cursor, first_column, values, columns, row_factor, col_factor
):
    """Write producer row ``u``'s non-zero edges to consumer ``i`` at ``cursor[u]``.

    The transpose of :func:`write_block`, tiled so that reads and writes both stay in
    cache; within a row the consumers come in increasing order.
    """
    n = values.shape[0]
    m = columns.shape[0]
    for u0 in range(0, m, _TILE):
        u1 = min(u0 + _TILE, m)
        for i0 in range(0, n, _TILE):
            i1 = min(i0 + _TILE, n)
            for u in range(u0, u1):
                j = columns[u]
                if j < 0:
                    continue
                fu = col_factor[u]
                pos = cursor[u]
                for i in range(i0, i1):
                    v = abs(values[i, j]) * row_factor[i] * fu
                    if v != 0.0:
                        data[pos] = v
                        indices[pos] = first_column + i
                        pos += 1
                cursor[u] = pos
