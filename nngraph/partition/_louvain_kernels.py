"""Numba kernels for Louvain (:mod:`nngraph.partition._louvain`).

The seeded RNG and the neighbour-weight helper (:func:`add_row_by_label`) it shares
with label propagation live in :mod:`nngraph.utils._kernels`.

Flag policy: every kernel is serial and compiled with ``cache=True``; none uses
``fastmath``, because the local-moving step compares modularity gains and must see the
same IEEE arithmetic on every machine. Graphs enter as CSR arrays in pinned dtypes
(``indptr`` int64, ``indices`` int32, ``data`` float64), symmetric, self-loops stored
once on the diagonal. Randomness comes from a one-element ``uint64`` state array
(SplitMix64) derived from the caller's seed, never from a global generator.

Conventions (the adjacency-matrix ones): the degree of node ``i`` is the row sum
``k_i = sum_j A_ij`` (a self-loop ``A_ii`` counts once), ``2m = sum_ij A_ij``, and the
modularity of a partition is ``Q = sum_c [ in_c / 2m - gamma * (tot_c / 2m)^2 ]`` with
``in_c`` the sum of ``A_ij`` over ordered pairs inside ``c`` and ``tot_c`` the sum of the
degrees in ``c``. Aggregation builds ``B = P^T A P`` (``P`` the membership matrix), so a
community's internal weight becomes the diagonal ``B_cc`` and its degree the row sum of
``B``: the modularity of a partition of the coarse graph equals that of the partition it
induces on the fine graph.
"""

from __future__ import annotations

import numba
import numpy as np

from ..utils._kernels import add_row_by_label, shuffle
from ..utils._kernels import weighted_degree as row_sums  # the weighted degrees


@numba.njit(cache=True)
def local_moving(indptr, indices, data, k, two_m, resolution, tol, order, community):
    """Greedy local moving, in the given node order, until a pass gains at most ``tol``.

    ``community`` (int64, values in ``0..n-1``, one entry per node) is the starting
    partition and is updated in place. A node leaves its community and joins, among
    its neighbours' communities, its own and an empty one, the community ``C`` that
    maximises ``k_i,in(C) - gamma * k_i * tot(C) / 2m``, where ``k_i,in(C)`` is the
    weight from the node to ``C`` (its self-loop excluded: it goes wherever the node
    goes) and ``tot(C)`` excludes the node; ties keep the node where it is. The
    modularity change of the move is twice the difference of the two scores divided by
    ``2m``. (Starting from singletons, as Louvain does, the empty community is only
    chosen by a node that joined a community which later outgrew it.)

    Returns
    -------
    gain : float
        Total modularity gained.
    n_moves : int
        Number of moves made.
    """
    n = k.shape[0]
    tot = np.zeros(n)
    size = np.zeros(n, dtype=np.int64)
    for i in range(n):
        tot[community[i]] += k[i]
        size[community[i]] += 1
    empty = np.empty(n, dtype=np.int64)
    n_empty = 0
    for c in range(n - 1, -1, -1):
        if size[c] == 0:
            empty[n_empty] = c
            n_empty += 1
    weight_to = np.zeros(n)
    stamp = np.full(n, -1, dtype=np.int64)
    touched = np.empty(n, dtype=np.int64)
    visit = 0
    total_gain = 0.0
    n_moves = 0
    while True:
        pass_gain = 0.0
        for t in range(n):
            i = order[t]
            ki = k[i]
            if ki == 0.0:
                continue
            ci = community[i]
            visit += 1
            stamp[ci] = visit
            weight_to[ci] = 0.0
            touched[0] = ci
            n_touched = add_row_by_label(
                indptr, indices, data, i, i, community, visit, stamp, weight_to, touched, 1
            )
            tot[ci] -= ki
            scale = resolution * ki / two_m
            stay = weight_to[ci] - scale * tot[ci]
            best = ci
            best_score = stay
            for s in range(1, n_touched):
                c = touched[s]
                score = weight_to[c] - scale * tot[c]
                if score > best_score:
                    best_score = score
                    best = c
            if best_score < 0.0 and size[ci] > 1:
                # Alone (score 0) beats every community on offer.
                best_score = 0.0
                n_empty -= 1
                best = empty[n_empty]
            tot[best] += ki
            if best != ci:
                community[i] = best
                size[ci] -= 1
                size[best] += 1
                if size[ci] == 0:
                    empty[n_empty] = ci
                    n_empty += 1
                pass_gain += 2.0 * (best_score - stay) / two_m
                n_moves += 1
        total_gain += pass_gain
        if pass_gain <= tol:
            break
    return total_gain, n_moves


@numba.njit(cache=True)
def renumber(community):
    """Relabel ``community`` in place to ``0..n_communities-1`` by first appearance."""
    n = community.shape[0]
    new_id = np.full(n, -1, dtype=np.int64)
    count = 0
    for i in range(n):
        c = community[i]
        if new_id[c] < 0:
            new_id[c] = count
            count += 1
        community[i] = new_id[c]
    return count


@numba.njit(cache=True)
def aggregate(indptr, indices, data, community, n_communities):
    """Aggregate the graph into ``B = P^T A P``: one node per community, as CSR arrays.

    ``community`` must hold ``0..n_communities-1``. Internal weight (both directions of
    every internal edge, plus the members' self-loops) lands on the diagonal, so the
    coarse degrees equal the summed fine degrees.
    """
    n = community.shape[0]
    start = np.zeros(n_communities + 1, dtype=np.int64)
    for i in range(n):
        start[community[i] + 1] += 1
    for c in range(n_communities):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    members = np.empty(n, dtype=np.int64)
    for i in range(n):
        c = community[i]
        members[fill[c]] = i
        fill[c] += 1

    # At most one coarse entry per fine entry; pages never written are never touched.
    new_indptr = np.zeros(n_communities + 1, dtype=np.int64)
    new_indices = np.empty(indptr[n], dtype=np.int32)
    new_data = np.empty(indptr[n], dtype=np.float64)
    acc = np.zeros(n_communities)
    stamp = np.full(n_communities, -1, dtype=np.int64)
    touched = np.empty(n_communities, dtype=np.int64)
    pos = 0
    for c in range(n_communities):
        n_touched = 0
        for m in range(start[c], start[c + 1]):
            n_touched = add_row_by_label(
                indptr, indices, data, members[m], -1, community, c, stamp, acc, touched, n_touched
            )
        sorted_touched = np.sort(touched[:n_touched])
        for s in range(n_touched):
            d = sorted_touched[s]
            new_indices[pos] = d
            new_data[pos] = acc[d]
            pos += 1
        new_indptr[c + 1] = pos
    return new_indptr, new_indices[:pos].copy(), new_data[:pos].copy()


@numba.njit(cache=True)
def louvain(indptr, indices, data, resolution, tol, max_levels, state):
    """Louvain: local moving then aggregation, level after level, until nothing moves.

    Parameters
    ----------
    indptr, indices, data : int64, int32, float64 arrays
        Symmetric CSR adjacency with at least one non-zero weight.
    resolution : float
        ``gamma`` in the modularity.
    tol : float
        A level's local moving stops after a pass that gains at most ``tol``.
    max_levels : int
        Stop after this many levels (``<= 0``: no limit).
    state : uint64 array of one element
        RNG state (advanced): each level visits its nodes in a fresh random order.

    Returns
    -------
    levels : int64 array, shape (n_levels, n)
        Row ``l`` is the community of every original node after level ``l``, numbered
        ``0..`` by first appearance. At least one row: if no node moves at the first
        level, the single row is the singleton partition.
    """
    n = indptr.shape[0] - 1
    k = row_sums(indptr, data)
    two_m = 0.0
    for i in range(n):
        two_m += k[i]
    node_comm = np.arange(n, dtype=np.int64)
    levels = []
    cur_indptr, cur_indices, cur_data = indptr, indices, data
    n_cur = n
    while max_levels <= 0 or len(levels) < max_levels:
        order = np.arange(n_cur, dtype=np.int64)
        shuffle(state, order)
        community = np.arange(n_cur, dtype=np.int64)
        local_moving(cur_indptr, cur_indices, cur_data, k, two_m, resolution, tol, order, community)
        n_next = renumber(community)
        if n_next == n_cur:
            break
        for i in range(n):
            node_comm[i] = community[node_comm[i]]
        levels.append(node_comm.copy())
        cur_indptr, cur_indices, cur_data = aggregate(
            cur_indptr, cur_indices, cur_data, community, n_next
        )
        k = row_sums(cur_indptr, cur_data)
        n_cur = n_next
    if len(levels) == 0:
        levels.append(node_comm.copy())
    out = np.empty((len(levels), n), dtype=np.int64)
    for lev in range(len(levels)):
        out[lev] = levels[lev]
    return out
