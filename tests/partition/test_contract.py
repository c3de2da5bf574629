"""One contract for every community detector, on the canonical tiny graphs.

Bad input, graphs without edges, and the tiny graphs of ``tests/graphs.py``
(disconnected, isolated vertex, clique, ...): every estimator must give clear errors,
label -1 only to isolated units, and report the modularity of the labels it returns.
"""

from __future__ import annotations

import numpy as np
import pytest

from nngraph.datasets import empty_graph, tiny_graphs
from nngraph.partition._label_propagation import LabelPropagation
from nngraph.partition._leiden import Leiden
from nngraph.partition._louvain import Louvain
from tests.helpers import same_partition

ESTIMATORS = {
    "louvain-numba": lambda: Louvain(random_state=0),
    "louvain-igraph": lambda: Louvain(random_state=0, backend="igraph"),
    "leiden": lambda: Leiden(random_state=0),
    "label_propagation": lambda: LabelPropagation(random_state=0),
}


@pytest.fixture(params=sorted(ESTIMATORS))
def estimator(request, community_kernels):
    return ESTIMATORS[request.param]()


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


def test_no_edges(estimator):
    with pytest.raises(ValueError, match="no edges"):
        estimator.fit(empty_graph(4))


@pytest.mark.parametrize("name", sorted(tiny_graphs()))
def test_tiny_graphs(estimator, name, reference_modularity):
    a, expected = tiny_graphs()[name]
    est = estimator.fit(a)
    if expected is not None:
        assert same_partition(est.labels_, expected)
    assert np.all(est.labels_[a.sum(axis=1) > 0] >= 0)
    np.testing.assert_allclose(est.modularity_, reference_modularity(a, est.labels_), atol=1e-12)
