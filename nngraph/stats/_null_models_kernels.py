"""Numba kernels for :mod:`nngraph.stats._null_models`: the shuffled activation graph's CSR.

Flag policy (as for every ``*_kernels.py`` of nngraph): kernels take only arrays and
scalars; ``cache=True``; no ``fastmath``.
"""

from __future__ import annotations

import numba
import numpy as np

#: The entries are put in row-major order through a map of every position of the upper
#: triangle when there are at most this many positions per value (a complete graph has
#: 1), else by sorting the positions.
_MAP_MAX_RATIO = 16


@numba.njit(cache=True)
def _counting_order(keys, items, n_keys):
    """Return ``items`` stably ordered by ``keys[items]`` (integers in ``[0, n_keys)``)."""
    count = np.zeros(n_keys + 1, dtype=np.int64)
    for t in items:
        count[keys[t] + 1] += 1
    for key in range(n_keys):
        count[key + 1] += count[key]
    out = np.empty(items.shape[0], dtype=np.int64)
    for t in items:
        out[count[keys[t]]] = t
        count[keys[t]] += 1
    return out


@numba.njit(cache=True)
def _row_major_entries(n, positions, values):
    """Return the rows, columns and values of the entries, in row-major order.

    Dense enough (``_MAP_MAX_RATIO``), the values go to a map of every position, read in
    order. Else each entry's row is found by a binary search over the rows' first
    positions (row ``i`` holds ``n - i - 1``), and two stable counting sorts, by column
    and then by row, order the entries (the positions are distinct).
    """
    m = positions.shape[0]
    n_positions = n * (n - 1) // 2
    rows = np.empty(m, dtype=np.int64)
    cols = np.empty(m, dtype=np.int64)
    vals = np.empty(m, dtype=np.float64)
    if n_positions <= _MAP_MAX_RATIO * m:
        # Values by position (NaN: none; the weights are finite), read in order.
        by_position = np.full(n_positions, np.nan)
        for t in range(m):
            by_position[positions[t]] = values[t]
        q = 0
        k = 0
        for i in range(n - 1):
            for j in range(i + 1, n):
                v = by_position[k]
                k += 1
                if v == v:
                    rows[q] = i
                    cols[q] = j
                    vals[q] = v
                    q += 1
        return rows, cols, vals
    # Else row-major order by two stable counting sorts, by column then by row (no
    # comparison sort: numba's argsort took symmetric_csr's compile from 1.35 to 2.37 s).
    starts = np.empty(n, dtype=np.int64)  # the position of (i, i + 1)
    start = 0
    for i in range(n):
        starts[i] = start
        start += n - i - 1
    row_of = np.empty(m, dtype=np.int64)
    col_of = np.empty(m, dtype=np.int64)
    for t in range(m):
        k = positions[t]
        # The last row starting at or before k: starts[lo] <= k < starts[lo + 1] (by hand:
        # np.searchsorted added 0.8 s to compiling this kernel).
        lo = 0
        hi = n - 2
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= k:
                lo = mid
            else:
                hi = mid - 1
        row_of[t] = lo
        col_of[t] = k - starts[lo] + lo + 1
    by_col = _counting_order(col_of, np.arange(m), n)
    order = _counting_order(row_of, by_col, n)
    for q in range(m):
        t = order[q]
        rows[q] = row_of[t]
        cols[q] = col_of[t]
        vals[q] = values[t]
    return rows, cols, vals


@numba.njit(cache=True)
def symmetric_csr(n, positions, values, diagonal):
    """Build the symmetric CSR arrays of an upper triangle given by its positions.

    Parameters
    ----------
    n : int
        Number of nodes.
    positions : int64 array, shape (m,)
        Distinct positions in the strict upper triangle, numbered row by row (row ``i``,
        column ``j > i`` is position ``i n - i (i + 1) / 2 + j - i - 1``).
    values : float64 array, shape (m,)
        The value at each position (finite).
    diagonal : float64 array, shape (n,)
        Self-loops (kept where non-zero).

    Returns
    -------
    indptr : int64 array, shape (n + 1,)
    indices : int64 array
        Sorted within each row: the mirrored lower entries, the self-loop, the upper
        entries.
    data : float64 array
    """
    rows, cols, vals = _row_major_entries(n, positions, values)
    m = rows.shape[0]
    n_lower = np.zeros(n, dtype=np.int64)
    n_upper = np.zeros(n, dtype=np.int64)
    for q in range(m):
        n_upper[rows[q]] += 1
        n_lower[cols[q]] += 1
    indptr = np.zeros(n + 1, dtype=np.int64)
    for r in range(n):
        indptr[r + 1] = indptr[r] + n_lower[r] + (diagonal[r] != 0.0) + n_upper[r]
    nnz = indptr[n]
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz, dtype=np.float64)
    low = indptr[:n].copy()  # next free slot of each row's lower part
    up = np.empty(n, dtype=np.int64)  # ... and of its upper part
    for r in range(n):
        p = indptr[r] + n_lower[r]
        if diagonal[r] != 0.0:
            indices[p] = r
            data[p] = diagonal[r]
            p += 1
        up[r] = p
    # Row-major order: a row's upper entries come by increasing column, and the entries
    # mirrored into row j by increasing row, so every row ends up sorted.
    for q in range(m):
        i = rows[q]
        j = cols[q]
        v = vals[q]
        indices[up[i]] = j
        data[up[i]] = v
        up[i] += 1
        indices[low[j]] = i
        data[low[j]] = v
        low[j] += 1
    return indptr, indices, data


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel on a 3-node graph."""
    symmetric_csr(3, np.array([0, 2], dtype=np.int64), np.array([1.0, 2.0]), np.zeros(3))
