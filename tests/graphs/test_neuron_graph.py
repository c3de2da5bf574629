"""NeuronGraph: validation, persistence and conversions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

import nngraph as ng
from nngraph.graphs import NonSymmetricWarning, check_adjacency
from nngraph.graphs._igraph_convert import csr_to_igraph


def _random_graph(rng, n=30, density=0.2) -> ng.NeuronGraph:
    a = sp.random_array((n, n), density=density, rng=rng, format="csr")
    a = sp.csr_array(a + a.T)
    layer = np.repeat([0, 1, 2], [10, 10, n - 20])
    unit = np.concatenate([np.arange(10), np.arange(10), np.arange(n - 20)])
    return ng.NeuronGraph(
        a, ["input", "fc1", "fc2"], layer, unit, layer_pairs=[[0, 1], [1, 2]], meta={"x": 1}
    )


def _igraph_dense(g, n: int) -> np.ndarray:
    edges = np.array(g.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    w = np.asarray(g.es["weight"]) if g.ecount() else np.zeros(0)
    m = np.zeros((n, n))
    np.add.at(m, (edges[:, 0], edges[:, 1]), w)
    return m + m.T - np.diag(np.diag(m))


def test_properties(rng):
    g = _random_graph(rng)
    a = g.adjacency.toarray()
    assert g.n_nodes == 30
    assert g.n_edges == np.count_nonzero(np.triu(a))
    np.testing.assert_allclose(g.degree, a.sum(axis=1))
    assert g.layer_sizes.tolist() == [10, 10, 10]
    np.testing.assert_array_equal(g.layer_nodes("fc1"), np.arange(10, 20))
    indptr, indices, data = g.csr_arrays()
    assert (indptr.dtype, indices.dtype, data.dtype) == (np.int64, np.int32, np.float64)
    with pytest.raises(KeyError, match="no layer named 'fc9'"):
        g.layer_nodes("fc9")
    for index in (3, -1):
        with pytest.raises(IndexError, match=rf"layer {index} is not an index of layer_names"):
            g.layer_nodes(index)


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda a: a.__setitem__((0, 1), -1.0), "negative"),
        (lambda a: a.__setitem__((0, 1), np.nan), "NaN"),
        (lambda a: a.__setitem__((0, 1), 5.0), "not symmetric"),
    ],
)
def test_validation_errors(mutate, pattern):
    a = np.ones((3, 3))
    mutate(a)
    with pytest.raises(ValueError, match=pattern):
        ng.NeuronGraph(a, ["input"], [0, 0, 0], [0, 1, 2])


def test_validation_of_labels():
    a = np.zeros((2, 2))
    with pytest.raises(ValueError, match="same \\(layer, unit\\)"):
        ng.NeuronGraph(a, ["input"], [0, 0], [0, 0])
    with pytest.raises(ValueError, match="node_layer must have shape"):
        ng.NeuronGraph(a, ["input"], [0], [0, 1])
    with pytest.raises(ValueError, match="outside layer_names"):
        ng.NeuronGraph(a, ["input"], [0, 1], [0, 0])
    with pytest.raises(ValueError, match="square"):
        ng.NeuronGraph(np.zeros((2, 3)), ["input"], [0, 0], [0, 1])


def test_save_load_round_trip(rng, tmp_path):
    g = _random_graph(rng)
    path = g.save(tmp_path / "graph")
    assert path.name == "graph.npz"
    h = ng.NeuronGraph.load(path)
    assert (h.adjacency != g.adjacency).nnz == 0
    np.testing.assert_array_equal(h.adjacency.data, g.adjacency.data)
    assert h.layer_names == g.layer_names
    np.testing.assert_array_equal(h.node_layer, g.node_layer)
    np.testing.assert_array_equal(h.node_unit, g.node_unit)
    np.testing.assert_array_equal(h.layer_pairs, g.layer_pairs)
    assert h.kind == g.kind and h.meta == g.meta
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_load_errors(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is not a NeuronGraph file: .*npz archive"):
        ng.NeuronGraph.load(bad)
    good = _random_graph(np.random.default_rng(0)).save(tmp_path / "good.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="not a readable NeuronGraph file"):
        ng.NeuronGraph.load(truncated)
    header_only = tmp_path / "header_only.npz"
    header = {
        "format": "nngraph.NeuronGraph",
        "version": 1,
        "kind": "weight",
        "layer_names": ["input"],
        "meta": {},
    }
    np.savez(header_only, header=np.array(json.dumps(header)))
    with pytest.raises(ValueError, match="incomplete NeuronGraph file"):
        ng.NeuronGraph.load(header_only)
    other = tmp_path / "other.npz"
    np.savez(other, header=np.array('{"format": "something"}'))
    with pytest.raises(ValueError, match="not a NeuronGraph file"):
        ng.NeuronGraph.load(other)


def test_to_igraph_matches_adjacency(rng):
    g = _random_graph(rng)
    ig_graph = g.to_igraph()
    assert not ig_graph.is_directed()
    assert ig_graph.vcount() == g.n_nodes and ig_graph.ecount() == g.n_edges
    np.testing.assert_allclose(_igraph_dense(ig_graph, g.n_nodes), g.adjacency.toarray())
    assert ig_graph.vs["layer"][:11] == ["input"] * 10 + ["fc1"]
    assert ig_graph.vs["unit"][10] == 0


def test_to_igraph_with_isolated_and_self_loops():
    a = np.zeros((5, 5))
    a[0, 0] = 2.0
    a[1, 3] = a[3, 1] = 1.5
    g = ng.NeuronGraph(a, ["x"], np.zeros(5), np.arange(5))
    out = g.to_igraph()
    assert out.vcount() == 5 and out.ecount() == 2
    np.testing.assert_allclose(_igraph_dense(out, 5), a)


def test_csr_to_igraph_text_path_for_large_graphs(rng):
    """Above 65,535 nodes GraphDB cannot hold the ids: the text edge list is used."""
    n, m = 70_000, 20_000
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    a = sp.csr_array((rng.random(m) + 0.1, (src, dst)), shape=(n, n))
    a = sp.csr_array(a + a.T)
    out = csr_to_igraph(a)
    assert out.vcount() == n
    edges = np.array(out.get_edgelist())
    w = np.asarray(out.es["weight"])
    rebuilt = sp.coo_array((w, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    rebuilt = rebuilt + rebuilt.T - sp.diags_array(rebuilt.diagonal())
    assert abs(rebuilt - a).max() == 0


def test_to_igraph_matches_weighted_adjacency(rng):
    igraph = pytest.importorskip("igraph")
    g = _random_graph(rng)
    ref = igraph.Graph.Weighted_Adjacency(sp.csr_matrix(g.adjacency), mode="undirected")
    mine = g.to_igraph()
    assert sorted(zip(ref.get_edgelist(), ref.es["weight"], strict=True)) == sorted(
        zip(mine.get_edgelist(), mine.es["weight"], strict=True)
    )


def test_to_networkx(rng):
    nx = pytest.importorskip("networkx")
    g = _random_graph(rng)
    out = g.to_networkx()
    np.testing.assert_allclose(nx.to_numpy_array(out, weight="weight"), g.adjacency.toarray())
    assert out.nodes[12] == {"layer": "fc1", "unit": 2}


def test_graphml_export(rng, tmp_path):
    igraph = pytest.importorskip("igraph")
    g = _random_graph(rng)
    path = tmp_path / "g.graphml"
    g.write_graphml(path)
    back = igraph.Graph.Read_GraphML(str(path))
    assert back.vcount() == g.n_nodes and back.ecount() == g.n_edges
    assert back.vs["layer"][0] == "input"
    np.testing.assert_allclose(sorted(back.es["weight"]), sorted(g.to_igraph().es["weight"]))
    nx = pytest.importorskip("networkx")
    units = nx.get_node_attributes(nx.read_graphml(path), "unit")
    assert list(units.values()) == g.node_unit.tolist()
    assert all(type(u) is int for u in units.values())  # declared long, not double


@pytest.mark.parametrize(
    ("layer", "unit", "pattern"),
    [
        ([0, 0, 0], [0, -1, 1], "node_unit holds a negative index"),
        ([0, 0.5, 0], [0, 1, 2], "node_layer must hold integer indices, got non-integral"),
        ([0, 0, 0], [0, 1.7, 2], "node_unit must hold integer indices"),
        ([0, 0, 0], ["a", "b", "c"], "node_unit must hold integer indices"),
    ],
)
def test_unit_identities_are_whole_numbers_from_zero(layer, unit, pattern):
    with pytest.raises(ValueError, match=pattern):
        ng.NeuronGraph(np.ones((3, 3)), ["input"], layer, unit)
    whole = ng.NeuronGraph(np.ones((3, 3)), ["input"], [0.0, 0.0, 0.0], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="kind must be one of"):
        ng.NeuronGraph(np.ones((3, 3)), ["input"], [0, 0, 0], [0, 1, 2], kind="foo")
    with pytest.raises(ValueError, match="meta must hold JSON values only .* set is not"):
        ng.NeuronGraph(np.ones((3, 3)), ["input"], [0, 0, 0], [0, 1, 2], meta={"s": {1}})
    assert whole.node_unit.dtype == np.int64 and whole.node_unit.tolist() == [0, 1, 2]


def test_subgraph_refuses_what_would_make_a_graph_that_cannot_load(rng, tmp_path):
    g = _random_graph(rng)
    with pytest.raises(ValueError, match=r"boolean mask of nodes must have shape \(30,\)"):
        g.subgraph([True, False])
    with pytest.raises(ValueError, match="holds a node twice"):
        g.subgraph([0, 0, 1])
    with pytest.raises(IndexError, match=r"outside 0..29"):
        g.subgraph([30])
    assert g.subgraph([]).n_nodes == 0
    h = g.subgraph([-1, 0])  # negative indices count from the end, as in numpy
    assert h.node_unit.tolist() == [g.node_unit[-1], g.node_unit[0]]
    path = h.save(tmp_path / "h.npz")
    assert ng.NeuronGraph.load(path).n_nodes == 2


def test_subgraph_and_with_adjacency(rng):
    g = _random_graph(rng)
    keep = np.arange(5, 25)
    h = g.subgraph(keep)
    np.testing.assert_array_equal(h.adjacency.toarray(), g.adjacency.toarray()[np.ix_(keep, keep)])
    np.testing.assert_array_equal(h.node_layer, g.node_layer[keep])
    k = g.with_adjacency(g.adjacency * 2)
    np.testing.assert_allclose(k.adjacency.toarray(), 2 * g.adjacency.toarray())


def test_blocks_round_trip(rng):
    from nngraph.graphs._blocks import blocks_to_csr, csr_to_blocks

    sizes = np.array([3, 4, 2])
    blocks = {(0, 1): rng.random((4, 3)), (1, 2): rng.random((2, 4)), (0, 2): rng.random((2, 3))}
    blocks[(0, 1)][0, 0] = 0.0
    a = blocks_to_csr(sizes, blocks)
    dense = np.zeros((9, 9))
    dense[3:7, 0:3] = blocks[(0, 1)]
    dense[7:9, 3:7] = blocks[(1, 2)]
    dense[7:9, 0:3] = blocks[(0, 2)]
    dense += dense.T
    np.testing.assert_array_equal(a.toarray(), dense)
    assert 0.0 not in a.data and a.has_sorted_indices
    back = csr_to_blocks(a, sizes, [[0, 1], [1, 2], [0, 2]])
    for key, block in blocks.items():
        np.testing.assert_array_equal(back[key], block)
    signed = {(0, 1): -blocks[(0, 1)]}
    np.testing.assert_array_equal(blocks_to_csr(sizes, signed).toarray()[3:7, 0:3], blocks[(0, 1)])
    with pytest.raises(ValueError, match="expected"):
        blocks_to_csr(sizes, {(0, 1): np.ones((3, 3))})


def test_check_adjacency_never_modifies_the_callers_matrix():
    from nngraph.graphs._canonical import check_adjacency

    a = sp.csr_array(
        (np.array([1.0, 0.0, 1.0, 0.0]), np.array([1, 2, 0, 0]), np.array([0, 2, 4, 4])),
        shape=(3, 3),
    )
    a.data[3] = 0.0  # an explicit zero, and a duplicate-free but unsorted-free layout
    before = (a.data.copy(), a.indices.copy(), a.indptr.copy())
    out = check_adjacency(a)
    for x, y in zip(before, (a.data, a.indices, a.indptr), strict=True):
        np.testing.assert_array_equal(x, y)
    assert 0.0 not in out.data and out.has_canonical_format
    clean = sp.csr_array(np.array([[0.0, 2.0], [2.0, 0.0]]))
    out = check_adjacency(clean)
    np.testing.assert_array_equal(out.toarray(), clean.toarray())


@pytest.mark.parametrize("kind", [sp.csr_array, sp.csr_matrix])
def test_check_adjacency_sums_duplicates_and_sorts_a_callers_csr(kind):
    """Also after the caller edits its matrix in place (scipy's cached check is stale)."""
    from nngraph.graphs._canonical import check_adjacency

    data = np.array([1.0, 2.0, 1.0, 2.0, 2.0, 3.0, 1.0])
    indices = np.array([2, 1, 2, 0, 2, 1, 0])  # unsorted, column 2 twice in row 1
    a = kind((data, indices, np.array([0, 2, 5, 7])), shape=(3, 3))
    expected = np.array([[0.0, 2.0, 1.0], [2.0, 0.0, 3.0], [1.0, 3.0, 0.0]])
    for _ in range(2):  # the second time with scipy's cached answer
        out = check_adjacency(a)
        assert out.has_canonical_format and out.nnz == 6
        np.testing.assert_array_equal(out.toarray(), expected)
    np.testing.assert_array_equal(a.indices, indices)  # the caller's matrix unchanged
    a.sum_duplicates()  # now canonical, and scipy caches that on ``a``
    assert check_adjacency(a).has_canonical_format
    a.indices[:2] = a.indices[:2][::-1].copy()  # row 0 unsorted again (same matrix),
    a.data[:2] = a.data[:2][::-1].copy()  # but scipy's cached flag is not reset
    out = check_adjacency(a)
    assert np.all(np.diff(out.indices[:2]) > 0)
    np.testing.assert_array_equal(out.toarray(), expected)


def test_explicit_zeros_are_not_edges(rng):
    g = _random_graph(rng)
    a = g.adjacency.copy()
    a.data[a.data < np.median(a.data)] = 0.0  # pruning in place leaves explicit zeros
    assert not a.data.all()
    h = g.with_adjacency(a)
    assert h.adjacency.data.all()
    assert h.n_edges == np.count_nonzero(np.triu(a.toarray()))
    assert h.to_igraph().ecount() == h.n_edges
    assert not a.data.all()  # the caller's matrix is left as it was


@pytest.mark.parametrize("scale", [1e-12, 1e-3, 1.0, 1e6])
def test_one_symmetry_tolerance_for_graphs_and_user_matrices(scale):
    # NeuronGraph and check_adjacency accept and refuse the same matrices: asymmetry up
    # to SYMMETRY_RTOL times the largest weight is rounding, beyond it is refused, at
    # every scale (no absolute floor: tiny weights are no licence for asymmetry).
    from nngraph.utils._sparse import SYMMETRY_RTOL

    base = scale * np.array([[0, 2.0, 1.0], [2.0, 0, 3.0], [1.0, 3.0, 0]])
    tol = SYMMETRY_RTOL * base.max()
    for off, symmetric in ((0.1 * tol, True), (10 * tol, False)):
        a = base.copy()
        a[0, 1] += off
        if symmetric:
            ng.NeuronGraph(a, ["input"], [0, 0, 0], [0, 1, 2])
            assert check_adjacency(a, symmetrize=False).nnz == 6
            continue
        with pytest.raises(ValueError, match="not symmetric"):
            ng.NeuronGraph(a, ["input"], [0, 0, 0], [0, 1, 2])
        with pytest.raises(ValueError, match="not symmetric"):
            check_adjacency(a, symmetrize=False)
        with pytest.warns(NonSymmetricWarning):
            fixed = check_adjacency(a)
        np.testing.assert_allclose(fixed.toarray(), (a + a.T) / 2)


def test_csr_arrays_are_the_kernel_arrays(rng):
    from nngraph.utils._sparse import kernel_csr_arrays

    g = _random_graph(rng)
    for mine, pinned in zip(g.csr_arrays(), kernel_csr_arrays(g.adjacency), strict=True):
        assert mine.dtype == pinned.dtype and mine.flags.c_contiguous
        np.testing.assert_array_equal(mine, pinned)


# ---------------------------------------------------------------------- bad files and inputs
def _saved_arrays(tmp_path):
    import json

    from nngraph.datasets import layered_graph

    g, _ = layered_graph()
    path = g.save(tmp_path / "g.npz")
    with np.load(path) as f:
        arrays = dict(f)
    return arrays, json.loads(str(arrays["header"]))


def _write(tmp_path, name, arrays, header=None):
    import json

    if header is not None:
        arrays = {**arrays, "header": np.array(json.dumps(header))}
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_a_text_file_is_not_mistaken_for_pickled_data(tmp_path):
    path = tmp_path / "graph.npz"
    path.write_text("layer,unit\n")
    with pytest.raises(
        ValueError, match=r"graph.npz is not a NeuronGraph file: .*npz archive"
    ) as info:
        ng.NeuronGraph.load(path)
    assert "pickle" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "change", "pattern"),
    [
        (
            "layer_names",
            lambda a, h: (a, {**h, "layer_names": "abcd"}),
            "must be a list of strings",
        ),
        ("indices", lambda a, h: ({**a, "indices": a["indices"] + 10**6}, h), "column outside"),
        ("data", lambda a, h: ({**a, "data": a["data"] + 1j}, h), "complex numbers"),
        ("indptr", lambda a, h: ({**a, "indptr": a["indptr"][::-1]}, h), "non-decreasing"),
        ("kind", lambda a, h: (a, {**h, "kind": 3}), "must be a string"),
    ],
)
def test_bad_fields_are_named_with_the_file(tmp_path, field, change, pattern):
    arrays, header = _saved_arrays(tmp_path)
    arrays, header = change(arrays, header)
    path = _write(tmp_path, "bad.npz", arrays, header)
    with pytest.raises(ValueError, match=rf"bad.npz: field '{field}' .*{pattern}"):
        ng.NeuronGraph.load(path)


def test_complex_and_out_of_range_matrices_are_refused():
    import nngraph as ng

    c = sp.csr_array(np.array([[0, 1 + 1j], [1 - 1j, 0]]))
    with pytest.raises(ValueError, match="complex"):
        ng.NeuronGraph(c, ["a"], [0, 0], [0, 1])
    with pytest.raises(ValueError, match="complex"):
        ng.ncut(c, [0, 1])
    bad = sp.csr_array((np.ones(1), np.array([5]), np.array([0, 1, 1])), shape=(2, 2))
    with pytest.raises(ValueError, match="column index outside 0..1"):
        ng.NeuronGraph(bad, ["a"], [0, 0], [0, 1])


def test_the_igraph_conversion_leaves_no_file_behind(tmp_path, monkeypatch):
    import os
    import tempfile

    from nngraph.graphs import _igraph_convert as conv

    a = sp.csr_array(np.array([[0, 1.0, 0], [1.0, 0, 2.0], [0, 2.0, 0]]))
    shm = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    tmp = set(os.listdir(tempfile.gettempdir()))
    assert conv.csr_to_igraph(a).ecount() == 2
    assert (set(os.listdir("/dev/shm")) if shm else set()) <= shm
    assert set(os.listdir(tempfile.gettempdir())) <= tmp
    # Without memfd: a private directory named with the process id, removed at once,
    # and any left by a process that was killed is removed by the next call.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delattr(os, "memfd_create")
    stale = tmp_path / f"{conv._PREFIX}999999999-x"
    stale.mkdir()
    (stale / "edges").write_bytes(b"0 1\n")
    assert conv.csr_to_igraph(a).ecount() == 2
    assert list(tmp_path.iterdir()) == []
