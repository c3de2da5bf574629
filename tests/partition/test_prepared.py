"""The one prepared graph every partitioner uses: its facts against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

import nngraph as ng
from nngraph.datasets import disconnected_cliques, layered_graph, path, star, with_isolated
from nngraph.datasets import planted_partition as sbm
from nngraph.partition._prepared import PreparedGraph

pytestmark = pytest.mark.usefixtures("spectral_kernels")


def test_arrays_degree_isolated(rng):
    base, truth = sbm((10, 12), 0.5, 0.1, rng)
    a, expected = with_isolated(base, truth, where=[0, 5, 22])
    prep = PreparedGraph.from_graph(a)
    assert prep.n_nodes == 25 and prep.layer is None
    indptr, indices, data = prep.csr
    assert (indptr.dtype, indices.dtype, data.dtype) == (np.int64, np.int32, np.float64)
    rebuilt = sp.csr_array((data, indices, indptr), shape=a.shape)
    np.testing.assert_array_equal(rebuilt.toarray(), a.toarray())
    np.testing.assert_allclose(prep.degree, a.sum(axis=1), rtol=1e-14)
    np.testing.assert_array_equal(prep.isolated, expected < 0)
    np.testing.assert_array_equal(prep.kept, np.flatnonzero(expected >= 0))
    scale = np.zeros(25)
    scale[prep.kept] = 1 / np.sqrt(prep.degree[prep.kept])
    np.testing.assert_allclose(prep.scale, scale, rtol=1e-15)


def test_computed_once():
    prep = PreparedGraph.from_graph(path(5))
    assert prep.csr is prep.csr
    assert prep.degree is prep.degree
    assert prep.component is prep.component
    assert prep.graph is prep.graph


def test_read_only_input_gives_writeable_arrays():
    a = sp.csr_array(path(6))
    for x in (a.indptr, a.indices, a.data):
        x.flags.writeable = False
    prep = PreparedGraph.from_graph(a)
    assert all(x.flags.writeable for x in prep.csr)


def test_components_ordered_by_volume():
    # Cliques of 3, 6, 4 units (volumes 6, 30, 12) and an isolated unit at 0.
    a, truth = with_isolated(*disconnected_cliques((3, 6, 4)), where=[0])
    prep = PreparedGraph.from_graph(a)
    assert prep.n_components == 3
    expected = np.select([truth == 1, truth == 2, truth == 0], [0, 1, 2], -1)
    np.testing.assert_array_equal(prep.component, expected)
    n_scipy, _ = connected_components(a, directed=False)
    assert prep.n_components == n_scipy - 1  # the isolated unit is not a component
    assert not prep.bipartite  # cliques have triangles


@pytest.mark.parametrize("n", [2, 5, 8])
def test_path_sides(n):
    prep = PreparedGraph.from_graph(path(n))
    assert prep.bipartite and prep.n_components == 1
    colour = prep.colour
    a = path(n).tocoo()
    assert np.all(colour[a.row] != colour[a.col])  # a proper 2-colouring
    assert np.count_nonzero(colour == 0) <= np.count_nonzero(colour == 1)  # 0: smaller side


def test_star_sides_and_self_loop():
    prep = PreparedGraph.from_graph(star(4))
    np.testing.assert_array_equal(prep.colour, [0, 1, 1, 1, 1])  # the centre alone
    loop = sp.csr_array(star(4) + sp.diags_array(np.r_[0.0, 1.0, 0.0, 0.0, 0.0]))
    assert not PreparedGraph.from_graph(loop).bipartite


def test_neuron_graph_layer_and_wrappers():
    graph, _ = layered_graph()
    prep = PreparedGraph.from_graph(graph)
    np.testing.assert_array_equal(prep.layer, graph.node_layer)
    assert prep.bipartite  # edges only between consecutive layers
    wrapper = prep.graph
    assert isinstance(wrapper, ng.NeuronGraph) and wrapper.layer_names == ["nodes"]
    assert (wrapper.adjacency != graph.adjacency).nnz == 0
    ig = prep.igraph
    assert ig is prep.igraph
    assert ig.vcount() == graph.n_nodes and ig.ecount() == graph.n_edges
    np.testing.assert_allclose(sum(ig.es["weight"]), graph.adjacency.sum() / 2)


def test_no_edges():
    prep = PreparedGraph(sp.csr_array((3, 3)))
    assert prep.isolated.all() and prep.kept.size == 0
    assert prep.n_components == 0 and not prep.bipartite
