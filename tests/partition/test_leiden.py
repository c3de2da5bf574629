"""Leiden through igraph: objective, seeding, planted partitions, contract."""

from __future__ import annotations

import random
import warnings

import igraph
import numpy as np
import pytest
from sklearn.base import clone

import nngraph as ng
from nngraph.datasets import layered_modules
from nngraph.datasets import planted_partition as sbm
from nngraph.partition._leiden import Leiden
from nngraph.partition._louvain import Louvain
from nngraph.partition._metrics import compare_partitions


def planted(rng):
    return sbm((40, 30, 50, 40), 0.3, 0.02, rng)


def layered(rng):
    a, modules, _ = layered_modules((32, 48, 48, 32, 16), 4, rng)
    return a, modules


def test_recovers_planted(rng):
    a, truth = planted(rng)
    est = Leiden(random_state=0).fit(a)
    assert compare_partitions(truth, est.labels_, method="ari") >= 0.95


def test_recovers_layered_modules(rng):
    a, modules = layered(rng)
    labels = Leiden(random_state=0).fit_predict(a)
    assert compare_partitions(modules, labels, method="ari") >= 0.95


def test_default_objective_is_modularity_not_cpm(rng):
    a, _ = layered(rng)
    est = Leiden(random_state=0).fit(a)
    assert est.get_params()["objective"] == "modularity"
    assert 1 < est.n_clusters_ < 10
    # igraph's own default (CPM at resolution 1) shatters graphs with weights below 1.
    cpm = Leiden(objective="cpm", random_state=0).fit(a)
    assert cpm.n_clusters_ > a.shape[0] // 4
    assert Leiden(objective="cpm", random_state=0).fit(a / 10).n_clusters_ == a.shape[0]


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_modularity_matches_references(rng, reference_modularity, gamma):
    a, _ = planted(rng)
    est = Leiden(resolution=gamma, random_state=1).fit(a)
    np.testing.assert_allclose(est.modularity_, reference_modularity(a, est.labels_, gamma))
    g = ng.NeuronGraph(a, ["nodes"], np.zeros(a.shape[0]), np.arange(a.shape[0])).to_igraph()
    np.testing.assert_allclose(
        est.modularity_, g.modularity(est.labels_.tolist(), weights="weight", resolution=gamma)
    )
    # igraph's reported quality for the modularity objective is the modularity itself
    np.testing.assert_allclose(est.quality_, est.modularity_, rtol=1e-9)


def test_quality_close_to_louvain(rng):
    a, _ = layered(rng)
    leiden = np.mean([Leiden(random_state=s).fit(a).modularity_ for s in range(4)])
    louvain = np.mean([Louvain(random_state=s).fit(a).modularity_ for s in range(4)])
    assert leiden >= louvain - 0.005 * abs(louvain)


def test_reproducible_and_rng_restored(rng):
    a, _ = sbm((15,) * 6, 0.3, 0.1, rng)
    py_state = random.getstate()
    first = Leiden(random_state=3).fit(a).labels_
    np.testing.assert_array_equal(Leiden(random_state=3).fit(a).labels_, first)
    others = [Leiden(random_state=s).fit(a).labels_ for s in range(8)]
    assert any(not np.array_equal(first, o) for o in others)
    assert random.getstate() == py_state
    # igraph draws from the global `random` module again afterwards.
    g = igraph.Graph.Erdos_Renyi(60, 0.1)
    random.seed(11)
    x = g.community_multilevel().membership
    random.seed(11)
    assert g.community_multilevel().membership == x


def test_contract_and_bad_params():
    blocks = np.kron(np.eye(3), np.ones((4, 4))) + 0.01 * (1 - np.eye(12))
    est = Leiden(beta=0.02, random_state=0)
    assert est.fit(blocks) is est and not hasattr(clone(est), "labels_")
    np.testing.assert_array_equal(est.fit_predict(blocks), est.labels_)
    assert est.n_clusters_ == 3 and est.resolution_ == 1.0
    for bad, err in [
        (dict(objective="CPM!"), ValueError),
        (dict(n_iterations=0), ValueError),
        (dict(n_iterations=1.5), ValueError),
        (dict(beta=0.0), ValueError),
        (dict(resolution=-1.0), ValueError),
    ]:
        with pytest.raises(err):
            Leiden(**bad).fit(blocks)


@pytest.mark.parametrize("power", [-1000, -600, -120, 120, 600, 900])
def test_igraph_partitioners_do_not_depend_on_the_weight_scale(power):
    # igraph alone gave one cluster (or one per unit) from about 1e±160 on; the weights
    # it gets are brought back by an exact power of two.
    g, truth = ng.datasets.layered_graph((30, 40, 30), 3, random_state=0)
    scaled = g.with_adjacency(g.adjacency * 2.0**power)
    cases = [
        (ng.Louvain(backend="igraph", random_state=0), {}),
        (ng.Leiden(random_state=0), {}),
        (
            ng.Leiden(random_state=0, objective="cpm", resolution=0.05),
            {"resolution": 0.05 * 2.0**power},
        ),
    ]
    for est, scaled_params in cases:
        expected = clone(est).fit(g)
        got = clone(est).set_params(**scaled_params).fit(scaled)
        assert ng.compare_partitions(expected.labels_, truth, method="ari") > 0.9
        np.testing.assert_array_equal(got.labels_, expected.labels_)


@pytest.mark.parametrize("power", [-1040, -1000, -600, -30, -3, 0, 3, 30, 600, 1000])
def test_cpm_search_for_n_clusters_runs_on_the_graphs_weight_scale(power):
    # CPM's resolution is in units of weight: an absolute search range [1e-6, 1e6]
    # could not reach 2**-600-sized resolutions (60 clusters or 1, with a warning), nor
    # the 1e-9 ones of weights of 1e-9 (2**-30); at 2**-1040 (subnormal weights) the
    # scale itself overflowed.
    g, truth = ng.datasets.layered_graph((30, 40, 30), 3, random_state=0)
    scaled = g.with_adjacency(g.adjacency * 2.0**power)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = ng.Leiden(objective="cpm", n_clusters=3, random_state=0).fit(scaled)
    assert ng.compare_partitions(est.labels_, truth, method="ari") > 0.9
    assert 1e-3 < est.resolution_ / 2.0**power < 1.0  # in the graph's units of weight
    assert all(1e-3 < r / 2.0**power < 1e3 for r, _ in est.resolution_history_[-3:])
    # Scale-invariant: with the start and beta scaled with the weights, the same
    # partition at the same resolution (over 2**power) as on the graph itself.
    base = ng.Leiden(objective="cpm", n_clusters=3, random_state=0).fit(g)
    same = ng.Leiden(
        objective="cpm", n_clusters=3, resolution=2.0**power, beta=0.01 * 2.0**power, random_state=0
    ).fit(scaled)
    np.testing.assert_array_equal(same.labels_, base.labels_)
    assert same.resolution_ / 2.0**power == base.resolution_


@pytest.mark.parametrize("power", [-10, -3, 3, 10])
@pytest.mark.parametrize("k", [3, 6, 10])
def test_cpm_search_is_scale_invariant_with_beta_scaled_too(power, k):
    """Leiden's beta is in units of weight: scaled with the weights and the start, no change."""
    a, _ = ng.datasets.planted_partition([60] * 4, 0.15, 0.05, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ng.ResolutionWarning)
        base = ng.Leiden(objective="cpm", n_clusters=k, random_state=0).fit(a)
        scale = 2.0**power
        params = dict(resolution=scale, beta=0.01 * scale, random_state=0)
        got = ng.Leiden(objective="cpm", n_clusters=k, **params).fit(a * scale)
    np.testing.assert_array_equal(got.labels_, base.labels_)
    assert got.resolution_ / scale == base.resolution_


def _cliques(sizes, weight, bridge):
    """Cliques of ``weight`` edges, consecutive ones joined by one edge of ``bridge``."""
    import scipy.sparse as sp

    a = sp.block_diag([np.full((m, m), weight) for m in sizes], format="lil")
    a.setdiag(0.0)
    start = np.cumsum([0, *sizes])
    for i in range(len(sizes) - 1):
        a[start[i], start[i + 1]] = a[start[i + 1], start[i]] = bridge
    return sp.csr_array(a)


@pytest.mark.parametrize(("weight", "bridge"), [(10.0, 0.01), (1.0, 0.003), (0.1, 1e-4)])
@pytest.mark.parametrize("k", [1, 2])
def test_cpm_search_reaches_the_connected_components(weight, bridge, k):
    # Joining cliques of 50 across one weak edge needs a resolution below
    # bridge / 2500, under the search's old floor of 1e-6 times the weight scale.
    a = _cliques([50] * (k + 1), weight, bridge)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = ng.Leiden(objective="cpm", n_clusters=k, random_state=0).fit(a)
    assert est.n_clusters_ == k
