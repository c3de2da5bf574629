"""Numba kernel for weighted label propagation (:mod:`nngraph.partition._label_propagation`).

Flag policy as in :mod:`nngraph.partition._louvain_kernels` (serial, ``cache=True``, no
``fastmath``). The seeded SplitMix64 generator and the neighbour-weight helper come from
:mod:`nngraph.utils._kernels`.
"""

from __future__ import annotations

import numba
import numpy as np

from ..utils._kernels import add_row_by_label, rng_below, shuffle

#: The kernel files compiled into this module's kernels, with the start of their sha256:
#: numba's cache checks only this file, so a change there has to change this line
#: (tests/test_architecture.py says when; docs/architecture.md).
_COMPILED_IN = {
    "nngraph.utils._kernels": "93045aac94e251ff",
}

# Two label weights within this relative distance of each other count as a tie (sums of
# the same weights in a different order differ by rounding).
_TIE_RTOL = 1e-12


@numba.njit(cache=True)
def label_propagation(indptr, indices, data, max_iter, state):
    """Asynchronous weighted label propagation (Raghavan, Albert and Kumara, 2007).

    Every unit starts with its own label. Each sweep visits the units in a fresh
    random order; a unit whose current label is not among the labels of largest total
    edge weight over its neighbours (self-loops ignored) takes one of those, chosen
    uniformly at random. The run stops after a sweep in which no unit changed, which
    is the stopping rule of the paper: every unit then holds a label of maximal weight
    among its neighbours.

    Parameters
    ----------
    indptr, indices, data : int64, int32, float64 arrays
        Symmetric CSR adjacency.
    max_iter : int
        Most sweeps.
    state : uint64 array of one element
        RNG state (advanced).

    Returns
    -------
    labels : int64 array
        A label per unit (not renumbered).
    n_iter : int
        Sweeps done.
    converged : bool
        Whether the last sweep changed nothing.
    """
    n = indptr.shape[0] - 1
    labels = np.arange(n, dtype=np.int64)
    order = np.arange(n, dtype=np.int64)
    weight = np.zeros(n)
    stamp = np.full(n, -1, dtype=np.int64)
    touched = np.empty(n, dtype=np.int64)
    visit = 0
    for sweep in range(max_iter):
        shuffle(state, order)
        n_changed = 0
        for t in range(n):
            i = order[t]
            visit += 1
            n_touched = add_row_by_label(
                indptr, indices, data, i, i, labels, visit, stamp, weight, touched, 0
            )
            if n_touched == 0:
                continue
            best = 0.0
            for s in range(n_touched):
                w = weight[touched[s]]
                if w > best:
                    best = w
            cutoff = best - _TIE_RTOL * best
            current = labels[i]
            if stamp[current] == visit and weight[current] >= cutoff:
                continue
            n_ties = 0
            choice = current
            for s in range(n_touched):
                lab = touched[s]
                if weight[lab] >= cutoff:
                    n_ties += 1
                    if rng_below(state, n_ties) == 0:
                        choice = lab
            labels[i] = choice
            n_changed += 1
        if n_changed == 0:
            return labels, sweep + 1, True
    return labels, max_iter, False
