"""Numba kernels for :mod:`nngraph.partition._prepared`: normalisation and components.

Flag policy (as for every ``*_kernels.py`` of nngraph): kernels take only arrays and
scalars; CSR enters as ``(indptr int64, indices int32, data float64)``; ``cache=True``;
no ``fastmath``.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def inverse_sqrt(deg):
    """``1 / sqrt(deg)`` with 0 where ``deg == 0`` (the pseudo-inverse; never a division by 0)."""
    out = np.zeros(deg.shape[0], dtype=np.float64)
    for i in range(deg.shape[0]):
        if deg[i] > 0.0:
            out[i] = 1.0 / np.sqrt(deg[i])
    return out


@numba.njit(cache=True)
def components_and_colouring(indptr, indices, active):
    """Find the connected components and try a 2-colouring, by breadth-first search.

    Parameters
    ----------
    indptr, indices : int64, int32 arrays
        CSR structure of a symmetric matrix.
    active : bool array, shape (n,)
        Nodes to consider (inactive nodes get component -1 and colour -1).

    Returns
    -------
    component : int64 array, shape (n,)
        Component of each node, numbered in order of their smallest node.
    colour : int8 array, shape (n,)
        0 or 1; a proper 2-colouring of every bipartite component.
    bipartite : bool array, shape (n_components,)
        Whether each component is bipartite. Self-loops make a component
        non-bipartite.
    """
    n = indptr.shape[0] - 1
    component = np.full(n, -1, dtype=np.int64)
    colour = np.full(n, -1, dtype=np.int8)
    queue = np.empty(n, dtype=np.int64)
    bip = np.ones(n, dtype=np.bool_)
    n_comp = 0
    for start in range(n):
        if not active[start] or component[start] >= 0:
            continue
        component[start] = n_comp
        colour[start] = 0
        head = 0
        tail = 1
        queue[0] = start
        ok = True
        while head < tail:
            u = queue[head]
            head += 1
            cu = colour[u]
            for p in range(indptr[u], indptr[u + 1]):
                v = indices[p]
                if component[v] < 0:
                    component[v] = n_comp
                    colour[v] = 1 - cu
                    queue[tail] = v
                    tail += 1
                elif colour[v] == cu:
                    ok = False
        bip[n_comp] = ok
        n_comp += 1
    return component, colour, bip[:n_comp].copy()


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel here on a 2-node graph."""
    indptr = np.array([0, 1, 2], dtype=np.int64)
    indices = np.array([1, 0], dtype=np.int32)
    inverse_sqrt(np.ones(2))
    components_and_colouring(indptr, indices, np.ones(2, dtype=np.bool_))
