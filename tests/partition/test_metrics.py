"""Tests of partition metrics (nngraph.partition._metrics) against slow, obviously correct loops."""

from __future__ import annotations

import igraph as ig
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

import nngraph as ng
from nngraph.datasets import clique, empty_graph, two_cliques
from nngraph.datasets import layered_graph as mlp_like_graph
from nngraph.datasets import planted_partition as sbm

pytestmark = pytest.mark.usefixtures("spectral_kernels")


# ----------------------------------------------------------------------------- references
def _edges(a):
    """Dense adjacency as a list of (i, j, w) over ordered pairs with w != 0."""
    a = a.toarray() if sp.issparse(a) else np.asarray(a, dtype=float)
    n = a.shape[0]
    return n, [(i, j, a[i, j]) for i in range(n) for j in range(n) if a[i, j] != 0]


def loop_ncut(a, labels):
    n, edges = _edges(a)
    clusters = sorted({int(c) for c in labels if c >= 0})
    total = 0.0
    for c in clusters:
        vol = cut = 0.0
        for i, j, w in edges:
            if labels[i] == c and labels[j] >= 0:
                vol += w
                if labels[j] != c:
                    cut += w
        total += cut / vol if vol > 0 else 0.0
    return total


def loop_modularity(a, labels, resolution=1.0):
    n, edges = _edges(a)
    k = [0.0] * n
    two_m = 0.0
    for i, j, w in edges:
        if labels[i] >= 0 and labels[j] >= 0:
            k[i] += w
            two_m += w
    q = 0.0
    for i, j, w in edges:
        if labels[i] >= 0 and labels[i] == labels[j]:
            q += w
    for i in range(n):
        for j in range(n):
            if labels[i] >= 0 and labels[i] == labels[j]:
                q -= resolution * k[i] * k[j] / two_m
    return q / two_m


def loop_conductance(a, labels):
    n, edges = _edges(a)
    out = []
    for c in sorted({int(c) for c in labels if c >= 0}):
        vol_in = vol_out = cut = 0.0
        for i, j, w in edges:
            if labels[i] < 0 or labels[j] < 0:
                continue
            if labels[i] == c:
                vol_in += w
                if labels[j] != c:
                    cut += w
            else:
                vol_out += w
        denom = min(vol_in, vol_out)
        out.append(cut / denom if denom > 0 else 0.0)
    return np.array(out)


@pytest.fixture
def graph_and_labels(rng):
    a, _ = sbm((12, 15, 9), 0.5, 0.1, rng)
    labels = rng.integers(-1, 4, size=a.shape[0])  # includes -1 and label 3, maybe unused
    labels[labels == 2] = 7  # non-contiguous labels
    return a, labels


# ----------------------------------------------------------------------------- ng.ncut
def test_ncut_matches_loop(graph_and_labels):
    a, labels = graph_and_labels
    assert ng.ncut(a, labels) == pytest.approx(loop_ncut(a, labels), rel=1e-12)


def test_ncut_hand_computed():
    a = np.array([[0, 2, 1, 0], [2, 0, 0, 0], [1, 0, 0, 3], [0, 0, 3, 0]], float)
    assert ng.ncut(a, [0, 0, 1, 1]) == pytest.approx(1 / 5 + 1 / 7)
    assert ng.ncut(a, [0, 0, 0, 0]) == 0.0
    # Dropping unit 3 drops its edge: volumes 5 and 1, cut 1.
    assert ng.ncut(a, [0, 0, 1, -1]) == pytest.approx(1 / 5 + 1 / 1)


def test_ncut_inputs_agree(rng):
    graph, modules = mlp_like_graph(random_state=rng)
    a = graph.adjacency
    values = [ng.ncut(x, modules) for x in (graph, a, sp.csr_matrix(a), a.toarray())]
    assert np.allclose(values, values[0], rtol=1e-12)
    assert ng.ncut(graph, modules) == pytest.approx(loop_ncut(a, modules), rel=1e-12)


def test_ncut_range_and_self_loops():
    a = clique(6).toarray()
    a[0, 0] = 5.0  # a self-loop counts once in the volume and is never cut
    labels = [0, 0, 0, 1, 1, 1]
    assert ng.ncut(a, labels) == pytest.approx(loop_ncut(a, labels))
    assert 0 <= ng.ncut(a, labels) <= 2


# ----------------------------------------------------------------------------- ng.modularity
@pytest.mark.parametrize("resolution", [0.0, 0.5, 1.0, 2.0])
def test_modularity_matches_loop_and_igraph(rng, resolution):
    a, truth = sbm((10, 14, 8), 0.6, 0.1, rng)
    labels = truth.copy()
    labels[rng.random(labels.size) < 0.2] = 2  # perturb
    ours = ng.modularity(a, labels, resolution=resolution)
    assert ours == pytest.approx(loop_modularity(a, labels, resolution), abs=1e-12)
    g = ig.Graph.Weighted_Adjacency(a.toarray().tolist(), mode="undirected")
    ref = g.modularity(labels.tolist(), weights="weight", resolution=resolution)
    assert ours == pytest.approx(ref, abs=1e-12)


def test_modularity_drops_unlabelled_like_igraph_subgraph(graph_and_labels, reference_modularity):
    a, labels = graph_and_labels
    keep = labels >= 0
    sub = a.toarray()[np.ix_(keep, keep)]
    g = ig.Graph.Weighted_Adjacency(sub.tolist(), mode="undirected")
    _, membership = np.unique(labels[keep], return_inverse=True)
    ref = g.modularity(membership.tolist(), weights="weight")
    assert ng.modularity(a, labels) == pytest.approx(ref, abs=1e-12)
    assert ng.modularity(a, labels) == pytest.approx(loop_modularity(a, labels), abs=1e-12)
    assert ng.modularity(a, labels) == pytest.approx(reference_modularity(a, labels), abs=1e-12)


def test_modularity_bad_resolution():
    with pytest.raises(ValueError, match="resolution"):
        ng.modularity(clique(4), [0, 0, 1, 1], resolution=-1.0)
    with pytest.raises(ValueError, match="resolution"):
        ng.modularity(clique(4), [0, 0, 1, 1], resolution=float("nan"))


# ----------------------------------------------------------------------------- ng.conductance
def test_conductance_matches_loop(graph_and_labels):
    a, labels = graph_and_labels
    np.testing.assert_allclose(ng.conductance(a, labels), loop_conductance(a, labels), rtol=1e-12)


def test_conductance_single_cluster_is_zero():
    np.testing.assert_array_equal(ng.conductance(clique(4), [0, 0, 0, 0]), [0.0])


def test_cluster_sizes():
    np.testing.assert_array_equal(ng.cluster_sizes([3, 3, -1, 0, 3, 7]), [1, 3, 1])
    np.testing.assert_array_equal(ng.cluster_sizes([-1, -1]), [])
    assert ng.cluster_sizes(np.array([1.0, 1.0, 2.0])).dtype == np.int64


# ----------------------------------------------------------------------------- compare
def test_compare_matches_sklearn_and_igraph(rng):
    a = rng.integers(0, 4, size=200)
    b = np.where(rng.random(200) < 0.7, a, rng.integers(0, 5, size=200))
    assert ng.compare_partitions(a, b, "nmi") == pytest.approx(normalized_mutual_info_score(a, b))
    assert ng.compare_partitions(a, b, "ari") == pytest.approx(adjusted_rand_score(a, b))
    ref_vi = ig.compare_communities(a.tolist(), b.tolist(), method="vi")
    assert ng.compare_partitions(a, b, "vi") == pytest.approx(ref_vi, abs=1e-12)


def test_compare_identical_and_renamed():
    a = np.array([0, 0, 1, 1, 2, 2])
    b = np.array([5, 5, 3, 3, 9, 9])
    assert ng.compare_partitions(a, b, "nmi") == pytest.approx(1.0)
    assert ng.compare_partitions(a, b, "ari") == pytest.approx(1.0)
    assert ng.compare_partitions(a, b, "vi") == pytest.approx(0.0, abs=1e-12)


def test_compare_ignores_units_unlabelled_in_either(rng):
    a = rng.integers(0, 3, size=100)
    b = a.copy()
    a[:10] = -1
    b[5:20] = -1
    b[20:] = np.where(rng.random(80) < 0.5, b[20:], 4)
    both = (a >= 0) & (b >= 0)
    for method, fn in (("nmi", normalized_mutual_info_score), ("ari", adjusted_rand_score)):
        assert ng.compare_partitions(a, b, method) == pytest.approx(fn(a[both], b[both]))
    ref = ig.compare_communities(a[both].tolist(), b[both].tolist(), method="vi")
    assert ng.compare_partitions(a, b, "vi") == pytest.approx(ref)


# ----------------------------------------------------------------------------- bad input
def test_length_mismatch():
    a, _ = two_cliques(3)
    with pytest.raises(ValueError, match="5 entries but the graph has 6"):
        ng.ncut(a, [0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="labels_a has 3 entries but labels_b has 2"):
        ng.compare_partitions([0, 1, 1], [0, 1])


@pytest.mark.parametrize(
    "labels, error, match",
    [
        ([0, 0, 1, 1.5, 1, 1], ValueError, "integers"),
        ([0, 0, 1, np.nan, 1, 1], ValueError, "integers"),
        (["a", "b", "a", "b", "a", "b"], TypeError, "integers"),
        ([0, 0, 1, -2, 1, 1], ValueError, ">= -1"),
        ([[0, 0, 1], [1, 1, 1]], ValueError, "1-D"),
    ],
)
def test_bad_labels(labels, error, match):
    a, _ = two_cliques(3)
    with pytest.raises(error, match=match):
        ng.ncut(a, labels)


def test_no_edges_between_labelled_units():
    with pytest.raises(ValueError, match="no edges"):
        ng.ncut(empty_graph(4), [0, 0, 1, 1])
    with pytest.raises(ValueError, match="no edges"):
        ng.modularity(clique(4), [-1, -1, -1, 0])


def test_compare_bad_method_and_disjoint():
    with pytest.raises(ValueError, match="method"):
        ng.compare_partitions([0, 1], [0, 1], method="jaccard")
    with pytest.raises(ValueError, match="labelled"):
        ng.compare_partitions([0, -1], [-1, 0])


def test_large_graph_metrics_are_vectorised(rng):
    # 2,000 units, ~200k edges: a Python loop over edges would be seconds; this is not timed,
    # only checked against the dense formula.
    a, truth = sbm((500, 500, 500, 500), 0.1, 0.01, rng, weighted=True)
    d = np.asarray(a.sum(axis=1)).ravel()
    dense = a.toarray()
    vol = np.bincount(truth, weights=d)
    internal = np.array([dense[np.ix_(truth == c, truth == c)].sum() for c in range(4)])
    assert ng.ncut(a, truth) == pytest.approx(np.sum((vol - internal) / vol), rel=1e-10)
    q = np.sum(internal / d.sum() - (vol / d.sum()) ** 2)
    assert ng.modularity(a, truth) == pytest.approx(q, rel=1e-10)
