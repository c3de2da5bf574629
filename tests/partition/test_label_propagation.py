"""Weighted label propagation: the update rule, planted partitions, seeding, contract."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from nngraph.datasets import layered_modules
from nngraph.datasets import planted_partition as sbm
from nngraph.partition._label_propagation import LabelPropagation
from nngraph.partition._label_propagation_kernels import label_propagation
from nngraph.partition._metrics import compare_partitions
from nngraph.utils._kernels import rng_state

pytestmark = pytest.mark.usefixtures("community_kernels")


def csr(a):
    a = sp.csr_array(a)
    return a.indptr.astype(np.int64), a.indices.astype(np.int32), a.data.astype(np.float64)


def test_recovers_sbm(rng):
    # Label propagation needs clearer structure than Louvain (like igraph's, it sometimes
    # lets one label flood two planted blocks at p_out = 0.02).
    a, truth = sbm((40, 30, 50, 40), 0.3, 0.01, rng)
    for seed in range(3):
        labels = LabelPropagation(random_state=seed).fit_predict(a)
        assert compare_partitions(truth, labels, method="ari") >= 0.95


def test_recovers_layered_modules(rng):
    a, modules, _ = layered_modules((32, 48, 48, 32, 16), 4, rng)
    labels = LabelPropagation(random_state=0).fit_predict(a)
    assert compare_partitions(modules, labels, method="ari") >= 0.95


def test_result_is_a_fixed_point(rng):
    """At convergence every unit holds a label of maximal weight among its neighbours."""
    a, _ = sbm((25,) * 4, 0.2, 0.05, rng)
    labels, n_iter, converged = label_propagation(*csr(a), 100, rng_state(0))
    assert converged and n_iter >= 2
    dense = a.toarray()
    for i in range(a.shape[0]):
        weight = np.bincount(labels, weights=dense[i], minlength=labels.max() + 1)
        assert weight[labels[i]] >= weight.max() * (1 - 1e-12)


def test_weighted_majority_beats_count():
    # Unit 0 hangs from a heavy edge to clique A and two light edges to clique B.
    a = np.zeros((9, 9))
    a[1:5, 1:5] = a[5:9, 5:9] = 1.0
    np.fill_diagonal(a, 0.0)
    a[0, 1] = a[1, 0] = 5.0
    a[0, [5, 6]] = a[[5, 6], 0] = 1.0
    for seed in range(5):
        labels = LabelPropagation(random_state=seed).fit_predict(a)
        assert labels[0] == labels[1] != labels[5]


def test_ties_broken_at_random_from_the_seed():
    ring = np.roll(np.eye(12), 1, axis=1)
    ring = ring + ring.T
    outcomes = {tuple(LabelPropagation(random_state=s).fit_predict(ring)) for s in range(12)}
    assert len(outcomes) > 1
    first = LabelPropagation(random_state=3).fit_predict(ring)
    np.testing.assert_array_equal(LabelPropagation(random_state=3).fit_predict(ring), first)


def test_modularity_and_attributes(rng, reference_modularity):
    a, _ = sbm((40, 30, 50, 40), 0.3, 0.02, rng)
    est = LabelPropagation(random_state=0).fit(a)
    np.testing.assert_allclose(est.modularity_, reference_modularity(a, est.labels_))
    assert est.converged_ and 1 <= est.n_iter_ <= 100
    assert est.n_clusters_ == len(set(est.labels_))
    assert not hasattr(clone(est), "labels_")


def test_max_iter_warns(rng):
    a, _ = sbm((40, 30, 50, 40), 0.3, 0.02, rng)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        est = LabelPropagation(random_state=0, max_iter=1).fit(a)
    assert not est.converged_ and est.n_iter_ == 1
    with pytest.raises(ValueError, match="max_iter"):
        LabelPropagation(max_iter=0).fit(a)
