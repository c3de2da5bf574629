"""One contract for every partitioner, on the canonical tiny graphs.

Bad input, graphs without edges, isolated units, and the tiny graphs of
:func:`nngraph.datasets.tiny_graphs` (disconnected, isolated vertex, clique, ...): every
estimator -- the community detectors and spectral clustering -- must give clear errors,
label -1 exactly the isolated units, number its clusters canonically, follow
scikit-learn's estimator rules, and (community detectors) report the modularity of the
labels it returns.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from nngraph.datasets import empty_graph, tiny_graphs, with_isolated
from nngraph.datasets import planted_partition as sbm
from nngraph.graphs._canonical import as_neuron_graph
from nngraph.partition._label_propagation import LabelPropagation
from nngraph.partition._leiden import Leiden
from nngraph.partition._louvain import Louvain
from nngraph.partition._spectral_clustering import SpectralClustering
from nngraph.partition._spectral_embedding import DisconnectedGraphWarning
from tests.helpers import same_partition

#: Spectral clustering is asked for this many clusters (the others find their number).
SPECTRAL_K = 2

ESTIMATORS = {
    "louvain-numba": lambda: Louvain(random_state=0),
    "louvain-igraph": lambda: Louvain(random_state=0, backend="igraph"),
    "leiden": lambda: Leiden(random_state=0),
    "label_propagation": lambda: LabelPropagation(random_state=0),
    "spectral": lambda: SpectralClustering(SPECTRAL_K, random_state=0),
}


@pytest.fixture(params=sorted(ESTIMATORS))
def estimator(request, community_kernels, spectral_kernels):
    return ESTIMATORS[request.param]()


def fixed_k(est) -> int | None:
    """Return the number of clusters an estimator is told to find (None: it chooses)."""
    return est.n_clusters if isinstance(est, SpectralClustering) else None


def fit_quietly(est, graph):
    """Fit; a disconnected graph is expected here, so its warning is not an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisconnectedGraphWarning)
        return est.fit(graph)


def assert_canonical(labels: np.ndarray) -> None:
    """int64, -1 or ``0..k-1``, cluster ``c`` first appearing before cluster ``c + 1``."""
    assert labels.dtype == np.int64
    kept = labels[labels >= 0]
    assert np.all(labels >= -1)
    _, first = np.unique(kept, return_index=True)
    np.testing.assert_array_equal(np.unique(kept), np.arange(first.size))
    assert np.all(np.diff(first) > 0)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("graph", "pattern"),
    [
        (np.array([[0.0, -1.0], [-1.0, 0.0]]), "negative"),
        (np.zeros((0, 0)), "empty"),
        (np.array([[0.0, np.nan], [np.nan, 0.0]]), "NaN"),
        (np.ones((2, 3)), "square"),
    ],
)
def test_bad_input(estimator, graph, pattern):
    with pytest.raises(ValueError, match=pattern):
        estimator.fit(graph)


def test_not_a_graph(estimator):
    with pytest.raises(TypeError):
        estimator.fit(object())


def test_no_edges(estimator):
    with pytest.raises(ValueError, match="no edges"):
        estimator.fit(empty_graph(4))


# --------------------------------------------------------------------------- structure
@pytest.mark.parametrize("name", sorted(tiny_graphs()))
def test_tiny_graphs(estimator, name, reference_modularity):
    a, expected = tiny_graphs()[name]
    est = fit_quietly(estimator, a)
    labels = est.labels_
    assert labels.shape == (a.shape[0],)
    assert_canonical(labels)
    assert est.n_clusters_ == labels.max() + 1  # every partitioner reports it
    np.testing.assert_array_equal(labels < 0, a.sum(axis=1) == 0)
    k = fixed_k(est)
    if k is not None:
        assert labels.max() + 1 == k
    # The expected partition, wherever the estimator can give it (a fixed k must match).
    if expected is not None and (k is None or expected.max() + 1 == k):
        assert same_partition(labels, expected)
    if hasattr(est, "modularity_"):
        np.testing.assert_allclose(est.modularity_, reference_modularity(a, labels), atol=1e-12)


def test_isolated_units_are_minus_one(estimator, rng, reference_modularity):
    # Isolated units are left out: label -1 for them, and the same clusters for the
    # others as on the graph without them.
    base, truth = sbm((20, 20, 20), 0.5, 0.01, rng)
    a, expected = with_isolated(base, truth, where=[0, 25, 57])
    if isinstance(estimator, SpectralClustering):
        estimator.set_params(n_clusters=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # isolated units alone are no disconnection
        labels = clone(estimator).fit(a).labels_
    np.testing.assert_array_equal(np.flatnonzero(labels < 0), [0, 26, 59])
    assert same_partition(labels, expected)
    without = clone(estimator).fit(base).labels_
    np.testing.assert_array_equal(labels[labels >= 0], without)
    est = clone(estimator).fit(a)
    if hasattr(est, "modularity_"):
        np.testing.assert_allclose(est.modularity_, reference_modularity(a, labels), atol=1e-12)


# --------------------------------------------------------------------------- estimator
def test_estimator_rules(estimator):
    # __init__ only stores its arguments; fit returns self and sets the results.
    gen = np.random.default_rng(0)
    est = clone(estimator).set_params(random_state=gen)
    assert est.get_params()["random_state"] is gen  # stored raw, used in fit
    assert not any(name.endswith("_") for name in vars(est))
    a, _ = tiny_graphs()["two_cliques"]
    assert est.fit(a) is est
    assert hasattr(est, "labels_")
    twin = clone(est)
    assert not hasattr(twin, "labels_")
    assert twin.get_params().keys() == est.get_params().keys()


def test_reproducible_and_input_types_agree(estimator, rng):
    a, _ = sbm((15, 15, 15), 0.4, 0.05, rng)
    ref = clone(estimator).fit_predict(a)
    np.testing.assert_array_equal(clone(estimator).fit(a).labels_, ref)
    for x in (sp.csr_matrix(a), sp.coo_array(a), a.toarray(), as_neuron_graph(a)):
        np.testing.assert_array_equal(clone(estimator).fit_predict(x), ref)


def test_invalid_parameters_are_noticed_in_fit(estimator):
    est = clone(estimator).set_params(random_state="seed")  # no error yet
    with pytest.raises(TypeError, match="random_state"):
        est.fit(tiny_graphs()["two_cliques"][0])
