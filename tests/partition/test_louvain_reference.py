"""Louvain's kernels against a slow, plain reference: the same partitions, pass for pass.

The reference is Blondel et al.'s algorithm written out in Python on dense matrices:
every pass evaluates every node, aggregation is ``P^T A P``. The kernel skips nodes whose
choice provably cannot have changed (:func:`nngraph.partition._louvain_kernels.local_moving`)
and builds the coarse graph without sorting its rows; neither may change a partition.
Graphs with random weights make exact ties improbable; graphs with integer weights
have exact arithmetic (integer sums), so their ties are met in the same order.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nngraph.datasets import layered_modules
from nngraph.datasets import planted_partition as sbm
from nngraph.partition import _louvain_kernels as K
from nngraph.utils import _kernels as shared_kernels

pytestmark = pytest.mark.usefixtures("community_kernels")


def reference_local_moving(a, gamma, tol, order, community):
    """Plain passes over every node: the modularity gain and moves, ``community`` updated."""
    a = sp.csr_array(a)
    n = a.shape[0]
    k = np.asarray(a.sum(axis=1)).ravel()
    two_m = k.sum()
    tot = np.bincount(community, k, minlength=n)
    size = np.bincount(community, minlength=n)
    empty = [c for c in range(n - 1, -1, -1) if size[c] == 0]  # top: the smallest id
    total_gain, n_moves = 0.0, 0
    while True:
        pass_gain = 0.0
        for i in order:
            if k[i] == 0.0:
                continue
            ci = community[i]
            weights = {ci: 0.0}  # in the order first met, the node's own community first
            for p in range(a.indptr[i], a.indptr[i + 1]):
                j = a.indices[p]
                if j != i:
                    c = community[j]
                    weights[c] = weights.get(c, 0.0) + a.data[p]
            tot[ci] -= k[i]
            scale = gamma * k[i] / two_m
            stay = weights[ci] - scale * tot[ci]
            best, best_score = ci, stay
            for c, w in weights.items():
                if w - scale * tot[c] > best_score:
                    best, best_score = c, w - scale * tot[c]
            if best_score < 0.0 and size[ci] > 1:
                best, best_score = empty.pop(), 0.0
            tot[best] += k[i]
            if best != ci:
                community[i] = best
                size[ci] -= 1
                size[best] += 1
                if size[ci] == 0:
                    empty.append(ci)
                pass_gain += 2.0 * (best_score - stay) / two_m
                n_moves += 1
        total_gain += pass_gain
        if pass_gain <= tol:
            return total_gain, n_moves


def reference_louvain(a, gamma, tol, seed):
    """Every level, local moving from singletons then ``P^T A P``, until nothing moves."""
    a = sp.csr_array(a)
    n = a.shape[0]
    state = shared_kernels.rng_state(seed)
    node_comm = np.arange(n)
    levels = []
    while True:
        n_cur = a.shape[0]
        order = np.arange(n_cur, dtype=np.int64)
        shuffle = shared_kernels.shuffle
        shuffle(state, order)
        community = np.arange(n_cur)
        reference_local_moving(a, gamma, tol, order, community)
        _, first = np.unique(community, return_index=True)
        new_id = np.empty(n_cur, dtype=np.int64)
        new_id[community[np.sort(first)]] = np.arange(first.size)  # by first appearance
        community = new_id[community]
        if first.size == n_cur:
            break
        node_comm = community[node_comm]
        levels.append(node_comm.copy())
        p = sp.csr_array((np.ones(n_cur), (np.arange(n_cur), community)))
        a = sp.csr_array(p.T @ a @ p)
        a.sort_indices()
    return np.array(levels) if levels else node_comm[None, :]


def csr(a):
    a = sp.csr_array(a)
    a.sort_indices()
    return a.indptr.astype(np.int64), a.indices.astype(np.int32), a.data.astype(np.float64)


def graphs(rng):
    """Random weights (with and without self-loops), integer weights, a layered graph."""
    n = 60
    dense = sp.random_array((n, n), density=0.3, rng=rng, format="csr")
    dense = sp.csr_array(dense + dense.T)
    loops = sp.csr_array(dense + sp.diags_array(rng.uniform(0, 1, n) * (rng.random(n) < 0.5)))
    integer, _ = sbm((12,) * 6, 0.5, 0.1, rng, weighted=False)
    weighted, _ = sbm((15,) * 5, 0.3, 0.08, rng)
    layered, _, _ = layered_modules((16, 24, 24, 8), 3, rng)
    return {
        "dense": dense,
        "self_loops": loops,
        "integer": integer,
        "planted": weighted,
        "layered": layered,
    }


@pytest.mark.parametrize("gamma", [0.5, 1.0, 1.05, 2.0])
def test_local_moving_equals_plain_passes(rng, gamma):
    for name, a in graphs(rng).items():
        indptr, indices, data = csr(a)
        k = K.row_sums(indptr, data)
        n = k.size
        for start in ("singletons", "random"):
            if start == "singletons":
                community = np.arange(n, dtype=np.int64)
            else:
                community = rng.integers(0, 5, n).astype(np.int64)
            order = rng.permutation(n).astype(np.int64)
            expected = community.copy()
            ref_gain, ref_moves = reference_local_moving(a, gamma, 1e-7, order, expected)
            gain, n_moves = K.local_moving(
                indptr, indices, data, k, k.sum(), gamma, 1e-7, order, community
            )
            np.testing.assert_array_equal(community, expected, err_msg=f"{name}, {start}")
            assert n_moves == ref_moves, name
            np.testing.assert_allclose(gain, ref_gain, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_louvain_equals_reference(rng, gamma):
    for name, a in graphs(rng).items():
        seed = int(rng.integers(2**31))
        expected = reference_louvain(a, gamma, 1e-7, seed)
        levels = K.louvain(*csr(a), gamma, 1e-7, 0, shared_kernels.rng_state(seed))
        np.testing.assert_array_equal(levels, expected, err_msg=name)


def test_aggregate_equals_sparse_product(rng):
    a = graphs(rng)["self_loops"]
    community = rng.integers(0, 7, a.shape[0]).astype(np.int64)
    n_comm = K.renumber(community)
    indptr, indices, data = K.aggregate(*csr(a), community, n_comm)
    for row in range(n_comm):  # each column at most once per row
        cols = indices[indptr[row] : indptr[row + 1]]
        assert np.unique(cols).size == cols.size
    b = sp.csr_array((data, indices, indptr), shape=(n_comm, n_comm))
    p = sp.csr_array((np.ones(a.shape[0]), (np.arange(a.shape[0]), community)))
    np.testing.assert_allclose(b.toarray(), (p.T @ a @ p).toarray(), rtol=1e-12)
    # Deterministic: the same rows in the same order on a second call.
    again = K.aggregate(*csr(a), community, n_comm)
    for x, y in zip((indptr, indices, data), again, strict=True):
        np.testing.assert_array_equal(x, y)
