"""Louvain: kernels against a dense oracle, planted partitions, igraph parity, contract."""

from __future__ import annotations

import random
import warnings

import igraph
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone

import nngraph as ng
from nngraph.datasets import layered_modules
from nngraph.datasets import planted_partition as sbm
from nngraph.graphs._canonical import as_neuron_graph
from nngraph.partition import _louvain_kernels as K
from nngraph.partition._leiden import Leiden
from nngraph.partition._louvain import Louvain
from nngraph.partition._metrics import compare_partitions
from nngraph.partition._resolution import ResolutionWarning, resolution_for_k
from nngraph.utils import _kernels as shared_kernels

pytestmark = pytest.mark.usefixtures("community_kernels")


# --------------------------------------------------------------------------- graphs

SIZES = (40, 30, 50, 40)


def planted(rng):
    return sbm(SIZES, 0.3, 0.02, rng)


def layered(rng):
    a, modules, _ = layered_modules((32, 48, 48, 32, 16), 4, rng)
    return a, modules


def random_weighted(rng, n=40, density=0.2, self_loops=False):
    a = sp.random_array((n, n), density=density, rng=rng, format="csr")
    a = sp.csr_array(a + a.T)
    if self_loops:
        a = sp.csr_array(a + sp.diags_array(rng.uniform(0, 1, n) * (rng.random(n) < 0.5)))
    a.sort_indices()
    return a


def csr(a):
    a = sp.csr_array(a)
    return (
        a.indptr.astype(np.int64),
        a.indices.astype(np.int32),
        a.data.astype(np.float64),
    )


def correlated_activations(rng, n_examples=500, n_units=300, n_factors=8):
    """Squared correlations of units driven by shared random factors (dense, weak)."""
    z = rng.normal(size=(n_examples, n_factors))
    x = z @ rng.normal(size=(n_factors, n_units)) + rng.normal(size=(n_examples, n_units))
    c = np.corrcoef(x.T) ** 2
    np.fill_diagonal(c, 0.0)
    return c


def grouped_activations(rng, n_examples=400, n_units=240, n_groups=6):
    """Squared correlations of units in groups sharing a factor, plus some cross-talk."""
    z = rng.normal(size=(n_examples, n_groups))
    group = np.arange(n_units) % n_groups
    x = z[:, group] * rng.uniform(0.3, 1.0, n_units) + rng.normal(size=(n_examples, n_units))
    x += 0.3 * z[:, (group + 1) % n_groups] * rng.uniform(0, 1, n_units)
    c = np.corrcoef(x.T) ** 2
    np.fill_diagonal(c, 0.0)
    return c


@pytest.fixture(scope="module")
def trained_mlp_graph(tmp_path_factory):
    from nngraph.models import pretrained

    model = pretrained("mlp", cache_dir=tmp_path_factory.mktemp("checkpoints"))
    return ng.weight_graph(model, torch.zeros(1, 64))


@pytest.fixture(scope="module")
def trained_mlp_activation_graph(tmp_path_factory):
    from nngraph.models import pretrained, pretrained_data

    model = pretrained("mlp", cache_dir=tmp_path_factory.mktemp("checkpoints"))
    return ng.activation_graph(model, pretrained_data("mlp").x_train)


@pytest.fixture(scope="module")
def random_mlp_graph():
    from nngraph.models import mlp

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = mlp()
    return ng.weight_graph(model, torch.zeros(1, 64))


# --------------------------------------------------------------------------- kernels


def test_rng_is_seeded_and_local():
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 - global state is the point
    a, b = np.arange(50), np.arange(50)
    shared_kernels.shuffle(shared_kernels.rng_state(3), a)
    shared_kernels.shuffle(shared_kernels.rng_state(3), b)
    c = np.arange(50)
    shared_kernels.shuffle(shared_kernels.rng_state(4), c)
    np.testing.assert_array_equal(a, b)
    assert sorted(a) == list(range(50)) and not np.array_equal(a, c)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    state = shared_kernels.rng_state(0)
    draws = np.array([shared_kernels.rng_below(state, 6) for _ in range(6000)])
    assert draws.min() == 0 and draws.max() == 5
    assert np.all(np.abs(np.bincount(draws) - 1000) < 150)


def test_aggregate_preserves_modularity(rng, reference_modularity):
    a = random_weighted(rng, self_loops=True)
    community = rng.integers(0, 6, a.shape[0]).astype(np.int64)
    n_comm = K.renumber(community)
    indptr, indices, data = K.aggregate(*csr(a), community, n_comm)
    b = sp.csr_array((data, indices, indptr), shape=(n_comm, n_comm))
    np.testing.assert_allclose(b.sum(axis=1), np.bincount(community, a.sum(axis=1)))
    assert abs(b - b.T).max() < 1e-12
    for gamma in (0.5, 1.0, 2.0):
        np.testing.assert_allclose(
            reference_modularity(b, np.arange(n_comm), gamma),
            reference_modularity(a, community, gamma),
            rtol=1e-12,
        )


@pytest.mark.parametrize("gamma", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("self_loops", [False, True])
def test_local_moving_gain_and_local_optimum(rng, reference_modularity, gamma, self_loops):
    a = random_weighted(rng, n=30, self_loops=self_loops)
    indptr, indices, data = csr(a)
    k = K.row_sums(indptr, data)
    community = rng.integers(0, 4, 30).astype(np.int64)
    q0 = reference_modularity(a, community, gamma)
    order = rng.permutation(30).astype(np.int64)
    gain, n_moves = K.local_moving(indptr, indices, data, k, k.sum(), gamma, 0.0, order, community)
    q1 = reference_modularity(a, community, gamma)
    assert n_moves > 0
    np.testing.assert_allclose(gain, q1 - q0, rtol=1e-9, atol=1e-12)
    # No single move of one unit to another existing community (or alone) improves Q.
    dense = a.toarray()
    for i in range(30):
        for c in set(community[dense[i] > 0]) | {community.max() + 1}:
            moved = community.copy()
            moved[i] = c
            assert reference_modularity(a, moved, gamma) <= q1 + 1e-12


def test_levels_nest_and_improve(reference_modularity, rng):
    a, _ = sbm((20,) * 8, 0.4, 0.03, rng)
    est = Louvain(random_state=0, return_levels=True).fit(a)
    levels = est.levels_
    assert len(levels) == est.n_levels_ >= 2
    np.testing.assert_array_equal(levels[-1], est.labels_)
    qs = [reference_modularity(a, lab) for lab in levels]
    assert all(q1 > q0 for q0, q1 in zip(qs, qs[1:], strict=False))
    for fine, coarse in zip(levels, levels[1:], strict=False):
        # Every fine cluster lies inside one coarse cluster.
        pairs = np.unique(np.stack([fine, coarse]), axis=1)
        assert np.unique(pairs[0]).size == pairs.shape[1]
    assert Louvain(random_state=0).fit(a).levels_ is None
    one = Louvain(random_state=0, max_levels=1, return_levels=True).fit(a)
    assert one.n_levels_ == 1
    np.testing.assert_array_equal(one.labels_, levels[0])


# --------------------------------------------------------------------------- quality


@pytest.mark.parametrize("backend", ["numba", "igraph"])
def test_recovers_sbm(rng, backend):
    a, truth = planted(rng)
    est = Louvain(random_state=0, backend=backend).fit(a)
    assert compare_partitions(truth, est.labels_, method="ari") >= 0.95


@pytest.mark.parametrize("backend", ["numba", "igraph"])
def test_recovers_layered_modules(rng, backend):
    a, modules = layered(rng)
    labels = Louvain(random_state=1, backend=backend).fit_predict(a)
    assert compare_partitions(modules, labels, method="ari") >= 0.95


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_modularity_matches_references(rng, reference_modularity, gamma):
    a, _ = planted(rng)
    est = Louvain(resolution=gamma, random_state=2).fit(a)
    assert est.resolution_ == gamma
    np.testing.assert_allclose(est.modularity_, reference_modularity(a, est.labels_, gamma))
    g = ng.NeuronGraph(a, ["nodes"], np.zeros(a.shape[0]), np.arange(a.shape[0])).to_igraph()
    q_igraph = g.modularity(est.labels_.tolist(), weights="weight", resolution=gamma)
    np.testing.assert_allclose(est.modularity_, q_igraph)
    np.testing.assert_allclose(ng_modularity(a, est.labels_), reference_modularity(a, est.labels_))


def ng_modularity(a, labels):
    from nngraph.partition._metrics import modularity

    return modularity(a, labels)


def _igraph_multilevel_q(graph: igraph.Graph, seed: int) -> float:
    gen = random.Random(seed)
    igraph.set_random_number_generator(gen)
    try:
        return graph.community_multilevel(weights="weight").modularity
    finally:
        igraph.set_random_number_generator(random)


@pytest.mark.parametrize(
    "name",
    [
        "random_mlp",
        "trained_mlp",
        "trained_mlp_activation",
        "correlated_activations",
        "grouped_activations",
    ],
)
def test_modularity_close_to_igraph(name, request, rng):
    """Mean over 8 seeds at least igraph's mean minus 0.5% (seeds fixed: deterministic)."""
    if name.startswith(("random_mlp", "trained_mlp")):
        graph = request.getfixturevalue(f"{name}_graph")
    else:
        graph = as_neuron_graph(globals()[name](rng))
    g = graph.to_igraph()
    ours = np.mean([Louvain(random_state=s).fit(graph).modularity_ for s in range(8)])
    theirs = np.mean([_igraph_multilevel_q(g, s) for s in range(8)])
    assert ours >= theirs - 0.005 * abs(theirs), (ours, theirs)


# --------------------------------------------------------------------------- contract


def test_reproducible_and_leaves_global_state_alone(rng):
    a, _ = sbm((15,) * 6, 0.3, 0.1, rng)
    py_state = random.getstate()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 - global state is the point
    for backend in ("numba", "igraph"):
        first = Louvain(random_state=5, backend=backend).fit(a).labels_
        again = Louvain(random_state=5, backend=backend).fit(a).labels_
        np.testing.assert_array_equal(first, again)
        others = [Louvain(random_state=s, backend=backend).fit(a).labels_ for s in range(8)]
        assert any(not np.array_equal(first, o) for o in others)
    assert random.getstate() == py_state
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    gen_a = Louvain(random_state=np.random.default_rng(3)).fit(a).labels_
    gen_b = Louvain(random_state=np.random.default_rng(3)).fit(a).labels_
    np.testing.assert_array_equal(gen_a, gen_b)


def test_input_types_agree(rng):
    a, _ = planted(rng)
    ref = Louvain(random_state=0).fit_predict(a)
    graph = ng.NeuronGraph(a, ["nodes"], np.zeros(a.shape[0]), np.arange(a.shape[0]))
    for x in (sp.csr_matrix(a), sp.coo_array(a), a.toarray(), graph):
        np.testing.assert_array_equal(Louvain(random_state=0).fit_predict(x), ref)


def test_estimator_contract():
    est = Louvain(resolution=2.0, random_state=4, tol=1e-6)
    assert est.get_params()["resolution"] == 2.0
    assert not hasattr(est, "labels_")
    blocks = np.kron(np.eye(3), np.ones((4, 4))) + 0.01 * (1 - np.eye(12))
    assert est.fit(blocks) is est
    c = clone(est)
    assert c.get_params() == est.get_params() and not hasattr(c, "labels_")
    assert est.labels_.dtype == np.int64
    assert est.n_clusters_ == est.labels_.max() + 1
    # Invalid parameters are only noticed in fit.
    for bad, err in [
        (dict(resolution=0), ValueError),
        (dict(resolution="1"), TypeError),
        (dict(tol=-1.0), ValueError),
        (dict(max_levels=0), ValueError),
        (dict(backend="cuda"), ValueError),
        (dict(random_state="seed"), TypeError),
        (dict(n_clusters=0), ValueError),
    ]:
        unfitted = Louvain(**bad)
        with pytest.raises(err):
            unfitted.fit(blocks)


# --------------------------------------------------------------------------- resolution


def test_more_resolution_more_clusters(rng):
    a, _ = sbm((20,) * 8, 0.4, 0.03, rng)
    counts = [Louvain(resolution=g, random_state=0).fit(a).n_clusters_ for g in (0.05, 1, 20)]
    assert counts[0] < counts[1] == 8 < counts[2]


def hierarchical(rng):
    """Eight groups of 15, paired into four, paired into two: k = 2, 4 and 8 reachable."""
    truth = np.repeat(np.arange(8), 15)
    same8 = truth[:, None] == truth[None, :]
    same4 = truth[:, None] // 2 == truth[None, :] // 2
    same2 = truth[:, None] // 4 == truth[None, :] // 4
    p = np.select([same8, same4, same2], [0.6, 0.15, 0.05], 0.01)
    upper = np.triu(rng.random(p.shape) < p, 1).astype(float)
    return sp.csr_array(upper + upper.T), truth


@pytest.mark.parametrize("cls", [Louvain, Leiden])
@pytest.mark.parametrize("k", [2, 4, 8, 20])
def test_resolution_for_k(rng, cls, k):
    a, truth = hierarchical(rng)
    res = resolution_for_k(a, k, cls(random_state=0))
    assert res.n_clusters == k == res.labels.max() + 1
    if k <= 8:
        coarse = truth // (8 // k)
        assert compare_partitions(coarse, res.labels, method="ari") >= 0.95
    est = cls(resolution=res.resolution, random_state=0).fit(a)
    np.testing.assert_array_equal(est.labels_, res.labels)
    via = cls(n_clusters=k, random_state=0).fit(a)
    np.testing.assert_array_equal(via.labels_, res.labels)
    assert via.resolution_ == res.resolution
    # The search starts at the estimator's resolution and stops at the first run that
    # gives k clusters: a single run exactly when the start already gives k.
    history = via.resolution_history_
    at_start = cls(random_state=0).fit(a).n_clusters_
    assert history[0] == (1.0, at_start)
    assert history[-1] == (res.resolution, k)
    assert [c for _, c in history].count(k) == 1
    assert (len(history) == 1) == (at_start == k)


@pytest.mark.parametrize("cls", [Louvain, Leiden])
@pytest.mark.parametrize("start", [1e-3, 1e3])
def test_resolution_search_moves_from_a_far_start(rng, cls, start):
    # From a resolution that gives one cluster (or one per unit), the search must
    # bracket and bisect to reach k = 4.
    a, truth = hierarchical(rng)
    est = cls(resolution=start, random_state=0)
    res = resolution_for_k(a, 4, est)
    assert res.n_clusters == 4
    assert compare_partitions(truth // 2, res.labels, method="ari") >= 0.95
    history = cls(resolution=start, n_clusters=4, random_state=0).fit(a).resolution_history_
    assert len(history) > 2
    assert history[0][0] == start and history[0][1] != 4
    assert history[-1] == (res.resolution, 4)
    assert not hasattr(est, "labels_") and est.n_clusters is None  # cloned, not fitted


def test_resolution_for_k_random_state():
    blocks = np.kron(np.eye(3), np.ones((4, 4))) + 0.01 * (1 - np.eye(12))
    seeded = resolution_for_k(blocks, 3, Louvain(random_state=7))
    again = resolution_for_k(blocks, 3, Louvain(), random_state=7)
    np.testing.assert_array_equal(seeded.labels, again.labels)
    assert seeded.resolution == again.resolution


def test_resolution_for_k_unreachable():
    blocks = np.kron(np.eye(3), np.ones((4, 4))) + 0.01 * (1 - np.eye(12))
    with pytest.warns(ResolutionWarning, match="no resolution gave 2 clusters"):
        res = resolution_for_k(blocks, 2, Louvain(random_state=0))
    assert res.n_clusters in (1, 3)
    with pytest.warns(ResolutionWarning) as record:
        res = resolution_for_k(blocks, 13, Louvain(random_state=0))
    messages = " ".join(str(w.message) for w in record)
    assert "outside the reachable range" in messages and "closest, 12 clusters" in messages
    assert res.n_clusters == 12
    with pytest.raises(TypeError, match="Louvain or Leiden"):
        resolution_for_k(blocks, 2, ng.SpectralClustering(2))
    with pytest.raises(TypeError, match="Louvain or Leiden"):
        resolution_for_k(blocks, 2, ng.LabelPropagation())
    with pytest.raises(ValueError, match="k"):
        resolution_for_k(blocks, 0, Louvain())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolution_for_k(blocks, 3, Leiden(random_state=0)).n_clusters == 3
