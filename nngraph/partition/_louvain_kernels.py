"""Numba kernels for Louvain (:mod:`nngraph.partition._louvain`).

The seeded RNG it shares with label propagation lives in :mod:`nngraph.utils._kernels`.

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

from ..utils._kernels import shuffle
from ..utils._kernels import weighted_degree as row_sums  # the weighted degrees

#: The kernel files compiled into this module's kernels, with the start of their sha256:
#: numba's cache checks only this file, so a change there has to change this line
#: (tests/test_architecture.py says when; docs/architecture.md).
_COMPILED_IN = {
    "nngraph.utils._kernels": "93045aac94e251ff",
}


@numba.njit(cache=True)
def community_weights(indptr, indices, data, i, community, weight_to, touched, n_touched):
    """Add node ``i``'s edge weights into ``weight_to[community[j]]`` (self-loop left out).

    ``weight_to`` is zero wherever no weight has been added this round (weights are
    positive, so a zero marks a community met for the first time); such a community is
    appended to ``touched``. Returns the new number of touched communities. The caller
    resets ``weight_to`` to zero over ``touched`` afterwards.
    """
    for p in range(indptr[i], indptr[i + 1]):
        j = indices[p]
        if j == i:
            continue
        c = community[j]
        w = weight_to[c]
        if w == 0.0:
            touched[n_touched] = c
            n_touched += 1
        weight_to[c] = w + data[p]
    return n_touched


@numba.njit(cache=True)
def best_community(weight_to, touched, n_touched, tot, scale, ci):
    """Score the touched communities for a node of community ``ci`` and pick the best.

    The score of community ``c`` is ``weight_to[c] - scale * tot[c]`` (``tot[ci]``
    already without the node); ``touched[0]`` is ``ci`` (it may recur later in
    ``touched``: skipped). Ties keep the node where it is, then favour the community
    met first.

    Returns
    -------
    best : int
        The best community (``ci`` if none scores higher).
    best_score, stay : float
        Its score, and the score of staying in ``ci``.
    second : float
        The best score among the other communities (``-inf`` if none).
    max_w : float
        The largest ``weight_to`` among the other communities (``-inf`` if none).
    """
    stay = weight_to[ci] - scale * tot[ci]
    best = ci
    best_score = stay
    second = -np.inf
    max_w = -np.inf
    for s in range(1, n_touched):
        c = touched[s]
        if c == ci:
            continue
        score = weight_to[c] - scale * tot[c]
        if score > best_score:
            second = best_score
            max_w = max(max_w, weight_to[best])
            best_score = score
            best = c
        else:
            second = max(second, score)
            max_w = max(max_w, weight_to[c])
    return best, best_score, stay, second, max_w


@numba.njit(cache=True)
def loosen_neighbours(indptr, indices, data, i, old, new, community, margin, slack):
    """Lower the neighbours' bounds after node ``i`` moved from ``old`` to ``new``.

    A neighbour ``j`` in ``old`` loses ``A_ij`` towards its own community while ``new``
    gains it: its lead shrinks by ``2 A_ij``. One in a third community sees only ``new``
    gain ``A_ij``. One in ``new`` only gains towards its own community: unchanged.
    """
    for p in range(indptr[i], indptr[i + 1]):
        j = indices[p]
        cj = community[j]
        if cj == new:
            continue
        drop = 2.0 * data[p] if cj == old else data[p]
        margin[j] -= drop
        slack[j] -= drop


@numba.njit(cache=True)
def local_moving(indptr, indices, data, k, two_m, resolution, tol, order, community):
    """Greedy local moving in passes over ``order``, until a pass gains at most ``tol``.

    ``community`` (int64, values in ``0..n-1``, one entry per node) is the starting
    partition and is updated in place. A node leaves its community and joins, among
    its neighbours' communities, its own and an empty one, the community ``C`` that
    maximises ``k_i,in(C) - gamma * k_i * tot(C) / 2m``, where ``k_i,in(C)`` is the
    weight from the node to ``C`` (its self-loop excluded: it goes wherever the node
    goes) and ``tot(C)`` excludes the node; ties keep the node where it is, then favour
    the community met first. The modularity change of the move is twice the
    difference of the two scores divided by ``2m``. (Starting from singletons, as
    Louvain does, the empty community is only chosen by a node that joined a community
    which later outgrew it.)

    Every pass visits every node in ``order``, as Blondel et al.'s, but skips a node
    whose choice provably cannot have changed since it was last evaluated, so the
    partitions are those of the plain passes (up to the rounding of near-ties) at a
    fraction of the cost: late passes, which move few nodes, evaluate few. At its
    evaluation the node records two leads of its chosen community ``b`` (score
    ``s_b``): ``margin = s_b - s_2`` over the runner-up ``s_2`` (every other community
    on offer and, where it may leave, an empty one, score 0), and
    ``slack = s_b - w_2``, where ``w_2 >= s_2`` is the runner-up's weight alone, the
    largest ``k_i,in(C)`` of another community (or 0 for the empty one). Since then:

    - a neighbour's move changes ``k_i,in`` and lowers both leads by at most what it
      took from ``b`` and gave to another community (:func:`loosen_neighbours`);
    - other moves change only ``tot``: ``s_b`` falls by ``scale * (inflow into b)``
      and a rival's score rises by at most ``scale * (outflow from it)``, bounded by
      the outflow from every community; a rival's score never exceeds its weight.

    The node is skipped while ``scale * inflow(b) < slack`` or
    ``scale * (inflow(b) + outflow) < margin`` (inflows and outflows since its
    evaluation, ``scale = gamma * k_i / 2m``): then ``b`` still beats every other
    choice. Both leads are reduced by a rounding allowance and are 0 for a node alone
    in its community (it always gets evaluated).

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
    touched = np.empty(n + 1, dtype=np.int64)  # the node's own community may recur once
    # The skipping bounds (see above): 0 forces an evaluation.
    margin = np.zeros(n)
    slack = np.zeros(n)
    inflow = np.zeros(n)  # per community: total degree that joined it so far
    outflow = 0.0  # total degree that left any community so far
    inflow_at = np.zeros(n)  # per node: inflow into its community at its evaluation
    outflow_at = np.zeros(n)  # per node: outflow at its evaluation
    total_gain = 0.0
    n_moves = 0
    while True:
        pass_gain = 0.0
        for t in range(n):
            i = order[t]
            ki = k[i]
            if ki == 0.0:
                continue
            scale = resolution * ki / two_m
            ci = community[i]
            grown = scale * (inflow[ci] - inflow_at[i])
            if grown < slack[i] or grown + scale * (outflow - outflow_at[i]) < margin[i]:
                continue
            touched[0] = ci
            n_touched = community_weights(
                indptr, indices, data, i, community, weight_to, touched, 1
            )
            tot[ci] -= ki
            best, best_score, stay, second, max_w = best_community(
                weight_to, touched, n_touched, tot, scale, ci
            )
            for s in range(n_touched):
                weight_to[touched[s]] = 0.0
            if size[ci] > 1:
                if best_score < 0.0:
                    # Alone (score 0) beats every community on offer.
                    best_score = 0.0
                    n_empty -= 1
                    best = empty[n_empty]
                else:
                    second = max(second, 0.0)
                    max_w = max(max_w, 0.0)
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
                inflow[best] += ki
                outflow += ki
                loosen_neighbours(indptr, indices, data, i, ci, best, community, margin, slack)
            inflow_at[i] = inflow[best]
            outflow_at[i] = outflow
            if size[best] > 1:
                allowance = 1e-12 * (1.0 + resolution) * ki
                margin[i] = best_score - second - allowance
                slack[i] = best_score - max_w - allowance
            else:
                margin[i] = 0.0
                slack[i] = 0.0
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
    coarse degrees equal the summed fine degrees. Within a row, the columns come in
    the order the row's members first reach them (not sorted: the kernels do not need
    it), the same order for the same input.
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
    acc = np.zeros(n_communities)  # zero outside the row being built (weights are > 0)
    pos = 0
    for c in range(n_communities):
        row_start = pos
        for m in range(start[c], start[c + 1]):
            i = members[m]
            for p in range(indptr[i], indptr[i + 1]):
                d = community[indices[p]]
                w = acc[d]
                if w == 0.0:
                    new_indices[pos] = d
                    pos += 1
                acc[d] = w + data[p]
        for q in range(row_start, pos):
            d = new_indices[q]
            new_data[q] = acc[d]
            acc[d] = 0.0
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
        level = levels[lev]
        for i in range(n):  # a loop: a row assignment compiled numba's shape error too
            out[lev, i] = level[i]
    return out
