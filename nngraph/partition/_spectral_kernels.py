"""Numba kernels for :mod:`nngraph.partition._spectral_operators`.

Flag policy: every kernel takes only arrays and scalars, CSR enters as
``(indptr int64, indices int32, data float64)``; ``cache=True`` everywhere; no
``fastmath`` (summation order and NaN propagation matter for reproducibility); the
hot loops, :func:`scaled_spmv` and :func:`scaled_spmm` (the normalised operator
``D^-1/2 A D^-1/2`` on one vector or a block of vectors), have ``parallel=True`` twins
with identical per-row arithmetic, so both give bit-identical results (each output row
is computed by one thread in a fixed order). The parallel twins are compiled (or
loaded from the cache) on first use, once per process. Which twin runs is decided by
the thread policy of the fit (:func:`nngraph.utils._threads.thread_policy`,
``n_threads``).
"""

from __future__ import annotations

import numba
import numpy as np

from ..utils._kernels import label_cut_volume, weighted_degree
from . import _prepared_kernels

#: The kernel files compiled into this module's kernels, with the start of their sha256:
#: numba's cache checks only this file, so a change there has to change this line
#: (tests/test_architecture.py says when; docs/architecture.md).
_COMPILED_IN = {
    "nngraph.partition._prepared_kernels": "e6ddad5a0013374f",
    "nngraph.utils._kernels": "93045aac94e251ff",
}


@numba.njit(cache=True)
def _spmv_row(indptr, indices, data, row, xs):
    acc = 0.0
    for p in range(indptr[row], indptr[row + 1]):
        acc += data[p] * xs[indices[p]]
    return acc


@numba.njit(cache=True)
def _spmm_row(indptr, indices, data, row, xs, acc):
    for c in range(acc.shape[0]):
        acc[c] = 0.0
    for p in range(indptr[row], indptr[row + 1]):
        w = data[p]
        j = indices[p]
        for c in range(acc.shape[0]):
            acc[c] += w * xs[j, c]


@numba.njit(cache=True)
def scaled_spmv(indptr, indices, data, rows, row_scale, xs, out):
    """``out[i] = row_scale[i] * sum_j A[rows[i], j] * xs[j]`` (one vector).

    With ``xs = S x`` (zero outside the source units) and ``row_scale = S[rows]`` this
    is one application of the normalised adjacency ``S A S`` to ``x``; the caller
    scales ``x`` once, so the inner loop is a plain sparse dot product.

    Parameters
    ----------
    indptr, indices, data : arrays (int64, int32, float64)
        CSR matrix ``A`` over all ``n`` units.
    rows : int64 array, shape (m,)
        Global indices of the rows to compute.
    row_scale : float64 array, shape (m,)
        Factor applied to each output row (``scale[rows]``).
    xs : float64 array, shape (n,)
        The scaled input vector, indexed by global unit.
    out : float64 array, shape (m,)
        Overwritten.
    """
    for i in range(rows.shape[0]):
        out[i] = row_scale[i] * _spmv_row(indptr, indices, data, rows[i], xs)


@numba.njit(cache=True, parallel=True)
def scaled_spmv_parallel(indptr, indices, data, rows, row_scale, xs, out):
    """Parallel twin of :func:`scaled_spmv` (same arithmetic per row)."""
    for i in numba.prange(rows.shape[0]):
        out[i] = row_scale[i] * _spmv_row(indptr, indices, data, rows[i], xs)


@numba.njit(cache=True)
def scaled_spmm(indptr, indices, data, rows, row_scale, xs, out):
    """Block version of :func:`scaled_spmv`: ``xs`` (n, b) and ``out`` (m, b), C order."""
    acc = np.empty(xs.shape[1], dtype=np.float64)
    for i in range(rows.shape[0]):
        _spmm_row(indptr, indices, data, rows[i], xs, acc)
        for c in range(acc.shape[0]):
            out[i, c] = row_scale[i] * acc[c]


@numba.njit(cache=True, parallel=True)
def scaled_spmm_parallel(indptr, indices, data, rows, row_scale, xs, out):
    """Parallel twin of :func:`scaled_spmm` (same arithmetic per row)."""
    for i in numba.prange(rows.shape[0]):
        acc = np.empty(xs.shape[1], dtype=np.float64)
        _spmm_row(indptr, indices, data, rows[i], xs, acc)
        for c in range(acc.shape[0]):
            out[i, c] = row_scale[i] * acc[c]


@numba.njit(cache=True, nogil=True)
def block_nnz(indptr, indices, group, n_groups, start, stop):
    """Count the stored entries of rows ``start..stop-1`` in each ``(group[i], group[j])`` block.

    A row's neighbours in one group mostly come in runs (the units of a layer are
    numbered together): each run is counted in a register and added once, instead of
    one increment of the same counter per entry, each waiting for the last (on the
    digits MLP's 430,000 entries: 0.8 -> 0.3 ms).

    Releases the GIL: the row ranges of one matrix can be counted on several threads
    and the counts added.
    """
    counts = np.zeros((n_groups, n_groups), dtype=np.int64)
    for i in range(start, stop):
        gi = group[i]
        lo, hi = indptr[i], indptr[i + 1]
        if lo == hi:
            continue
        cur = group[indices[lo]]
        run = 0
        for p in range(lo, hi):
            h = group[indices[p]]
            if h != cur:
                counts[gi, cur] += run
                cur = h
                run = 0
            run += 1
        counts[gi, cur] += run
    return counts


@numba.njit(cache=True, nogil=True)
def fill_normalized_block(indptr, indices, data, scale, rows, col_pos, out):
    """Write ``scale[i] * A[i, j] * scale[j]`` into a dense block.

    ``out[r, col_pos[j]]`` receives entry ``(rows[r], j)`` for every ``j`` with
    ``col_pos[j] >= 0``; other entries of ``out`` are left unchanged. Releases the GIL:
    slices of the rows (and of ``out``) can be filled on several threads.
    """
    for r in range(rows.shape[0]):
        i = rows[r]
        si = scale[i]
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            c = col_pos[j]
            if c >= 0:
                out[r, c] = si * data[p] * scale[j]


def warm_up(*, parallel: bool = False) -> None:
    """Compile (or load from numba's cache) every kernel spectral clustering runs.

    The kernels here, those of :mod:`._prepared_kernels` (components, ``D^-1/2``) and
    the metrics' :func:`~nngraph.utils._kernels.label_cut_volume`, on a 2-node graph.
    Tests and benchmarks call it so compile time is not mistaken for run time. The
    ``parallel=True`` twins are included only on request: running them makes a later
    fork-based process pool unsafe (see :func:`nngraph.SpectralClustering`).
    """
    indptr = np.array([0, 1, 2], dtype=np.int64)
    indices = np.array([1, 0], dtype=np.int32)
    data = np.ones(2)
    rows = np.arange(2, dtype=np.int64)
    scale = _prepared_kernels.inverse_sqrt(weighted_degree(indptr, data))
    spmvs = (scaled_spmv, scaled_spmv_parallel) if parallel else (scaled_spmv,)
    spmms = (scaled_spmm, scaled_spmm_parallel) if parallel else (scaled_spmm,)
    for spmv in spmvs:
        spmv(indptr, indices, data, rows, scale, np.ones(2), np.empty(2))
    for spmm in spmms:
        spmm(indptr, indices, data, rows, scale, np.ones((2, 2)), np.empty((2, 2)))
    _prepared_kernels.warm_up()
    block_nnz(indptr, indices, np.zeros(2, dtype=np.int64), 1, 0, 2)
    fill_normalized_block(indptr, indices, data, scale, rows, rows, np.zeros((2, 2)))
    label_cut_volume(indptr, indices, data, np.zeros(2, dtype=np.int64), 1)
