"""Tests of Partition (nngraph.partition._partition) and what it binds.

Its JSON file format (``_partition_file``) and its sub-clusters (``_subclusters``).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import nngraph as ng
from nngraph.datasets import layered_graph as mlp_like_graph
from nngraph.datasets import planted_partition as sbm
from nngraph.partition._partition_file import adjacency_fingerprint, structure_fingerprint
from nngraph.partition._subclusters import subclusters

pytestmark = pytest.mark.usefixtures("spectral_kernels")


@pytest.fixture
def graph(rng):
    g, _ = mlp_like_graph((12, 16, 16, 6), 3, rng)
    return g


@pytest.fixture
def labels(graph):
    return ng.SpectralClustering(3, random_state=0).fit_predict(graph)


def test_binds_labels_by_layer_and_unit(graph, labels):
    p = ng.Partition(labels, graph, method="SpectralClustering", params={"k": 3}, random_state=0)
    assert p.layer_names == graph.layer_names
    assert p.layer_sizes == {"input": 12, "fc1": 16, "fc2": 16, "fc3": 6}
    for index, name in enumerate(graph.layer_names):
        nodes = graph.layer_nodes(index)
        np.testing.assert_array_equal(p.layer_labels[name][graph.node_unit[nodes]], labels[nodes])
    np.testing.assert_array_equal(p.labels, labels)
    assert p.metrics["ncut"] == pytest.approx(ng.ncut(graph, labels))
    assert p.metrics["modularity"] == pytest.approx(ng.modularity(graph, labels))
    assert p.metrics["n_clusters"] == 3 and p.n_clusters == 3
    assert p.graph_info["fingerprint"].startswith("sha256:")
    assert "Partition(" in repr(p)


def test_labels_for_a_permuted_graph(graph, labels):
    perm = np.random.default_rng(1).permutation(graph.n_nodes)
    permuted = graph.subgraph(perm)
    p = ng.Partition(labels, graph)
    np.testing.assert_array_equal(p.labels_for(permuted), labels[perm])


def test_round_trip(tmp_path, graph, labels):
    p = ng.Partition(
        labels, graph, method="SpectralClustering", params={"n_clusters": 3}, random_state=7
    )
    path = p.save(tmp_path / "part.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == "nngraph.partition" and doc["version"] == 1
    assert [layer["name"] for layer in doc["layers"]] == graph.layer_names
    assert doc["graph"]["layer_sizes"] == p.layer_sizes
    assert doc["graph"]["adjacency_sha256"].startswith("sha256:")
    assert doc["random_state"] == 7
    q = ng.Partition.load(path)
    np.testing.assert_array_equal(q.labels, p.labels)  # unbound: layer by layer
    assert q.metrics == p.metrics
    assert q.method == "SpectralClustering" and q.params == {"n_clusters": 3}
    assert q.random_state == 7
    r = ng.Partition.load(path, graph=graph)
    np.testing.assert_array_equal(r.labels, labels)
    assert r.metrics["ncut"] == pytest.approx(p.metrics["ncut"])
    s = ng.Partition.from_dict(p.to_dict(), graph=graph)
    np.testing.assert_array_equal(s.labels, labels)


def test_plain_matrix_graph(tmp_path, rng):
    a, truth = sbm((10, 12), 0.6, 0.05, rng)
    p = ng.Partition(truth, a)
    assert p.layer_names == ["nodes"]
    q = ng.Partition.load(p.save(tmp_path / "p.json"), graph=a)
    np.testing.assert_array_equal(q.labels, truth)


def test_written_by_another_tool(tmp_path, graph):
    doc = {
        "format": "nngraph.partition",
        "version": 1,
        "layers": [
            {"name": name, "labels": [u % 2 for u in range(size)]}
            for name, size in zip(graph.layer_names, graph.layer_sizes, strict=True)
        ],
    }
    path = tmp_path / "other.json"
    path.write_text(json.dumps(doc))
    p = ng.Partition.load(path, graph=graph)
    np.testing.assert_array_equal(p.labels, graph.node_unit % 2)
    assert p.method is None and p.params == {}
    # No metrics in the file: they are computed on the graph it is bound to.
    assert p.metrics["ncut"] == pytest.approx(ng.ncut(graph, graph.node_unit % 2))
    assert p.metrics["modularity"] == pytest.approx(ng.modularity(graph, graph.node_unit % 2))


def test_unbound_mapping_labels():
    p = ng.Partition({"a": [0, 0, 1], "b": [-1, 1]})
    assert p.layer_sizes == {"a": 3, "b": 2}
    assert p.metrics == {"n_clusters": 2, "n_unlabelled": 1}
    with pytest.raises(ValueError, match="a graph is needed"):
        ng.Partition([0, 1, 0])


def test_truncated_file(tmp_path, graph, labels):
    path = ng.Partition(labels, graph).save(tmp_path / "p.json")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        ng.Partition.load(path)


def test_other_version_and_format(tmp_path, graph, labels):
    doc = ng.Partition(labels, graph).to_dict()
    for key, value, match in [
        ("version", 2, "version 2 is not supported"),
        ("version", "1", "version '1' is not supported"),
        ("format", "something.else", "not an nngraph partition"),
    ]:
        bad = dict(doc, **{key: value})
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=match):
            ng.Partition.load(path)


@pytest.mark.parametrize(
    "layers, match",
    [
        ("nope", "'layers' must be a list"),
        ([{"name": "a"}], "must be an object with 'name' and 'labels'"),
        ([{"name": 3, "labels": []}], "name must be a string"),
        ([{"name": "a", "labels": [0, 1.5]}], "list of integers"),
        ([{"name": "a", "labels": [0, -4]}], ">= -1"),
        ([{"name": "a", "labels": [0]}, {"name": "a", "labels": [1]}], "appears twice"),
    ],
)
def test_malformed_layers(layers, match):
    with pytest.raises(ValueError, match=match):
        ng.Partition.from_dict({"format": "nngraph.partition", "version": 1, "layers": layers})


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("metrics", [1], "'metrics' must be an object"),
        ("params", [1, 2], "'params' must be an object"),
        ("graph", "g", "'graph' must be an object"),
        ("method", 3, "'method' must be a string"),
        ("random_state", 1.5, "'random_state' must be an integer or a string"),
        ("random_state", True, "'random_state' must be an integer or a string"),
        ("metrics", {"ncut": "low"}, "'metrics.ncut' must be a number"),
        ("metrics", {"modularity": [0.1]}, "'metrics.modularity' must be a number"),
        ("graph", {"adjacency_sha256": 5}, "'graph.adjacency_sha256' must be a string"),
    ],
)
def test_wrong_field_types(tmp_path, field, value, match):
    # A document written by another tool with optional fields of the wrong JSON type.
    doc = {"format": "nngraph.partition", "version": 1, "layers": [{"name": "a", "labels": [0]}]}
    doc[field] = value
    with pytest.raises(ValueError, match=match):
        ng.Partition.from_dict(doc)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=match):
        ng.Partition.load(path)


def test_optional_fields_may_be_null():
    doc = {"format": "nngraph.partition", "version": 1, "layers": [{"name": "a", "labels": [0]}]}
    doc.update(method=None, params=None, random_state=None, metrics=None, graph=None)
    p = ng.Partition.from_dict(doc)
    assert p.params == {} and p.method is None and p.random_state is None
    doc.update(metrics={"ncut": None, "modularity": 0.5}, graph={"adjacency_sha256": None})
    assert ng.Partition.from_dict(doc).metrics["modularity"] == 0.5


def test_mismatched_graph(graph, labels, rng):
    p = ng.Partition(labels, graph)
    other, _ = mlp_like_graph((12, 16, 20, 6), 3, rng)  # fc2 has 20 units
    with pytest.raises(ValueError, match="layer 'fc2' has 16 units in the partition but 20"):
        p.labels_for(other)
    fewer, _ = mlp_like_graph((12, 16, 16), 3, rng)
    with pytest.raises(ValueError, match="partition has a layer 'fc3' that the graph does not"):
        ng.Partition.from_dict(p.to_dict(), graph=fewer)
    renamed = ng.NeuronGraph(
        graph.adjacency, ["input", "fc1", "fc2", "head"], graph.node_layer, graph.node_unit
    )
    with pytest.raises(ValueError, match="graph has a layer 'head'"):
        p.labels_for(renamed)


def test_changed_weights_warn(tmp_path, graph, labels):
    path = ng.Partition(labels, graph).save(tmp_path / "p.json")
    changed = graph.with_adjacency(graph.adjacency * 2.0)
    with pytest.warns(ng.GraphMismatchWarning):
        p = ng.Partition.load(path, graph=changed)
    assert p.metrics["ncut"] == pytest.approx(ng.ncut(changed, labels))


def test_reordered_nodes_are_the_same_graph(tmp_path, graph, labels, rng):
    path = ng.Partition(labels, graph).save(tmp_path / "p.json")
    order = rng.permutation(graph.n_nodes)
    shuffled = graph.subgraph(order)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ng.GraphMismatchWarning)
        p = ng.Partition.load(path, graph=shuffled)
    assert np.array_equal(p.labels, labels[order])
    assert p.metrics["ncut"] == pytest.approx(ng.ncut(graph, labels), rel=1e-12)
    # One weight changed, in the shuffled order: a different graph.
    a = shuffled.adjacency.tolil()
    i, j = shuffled.adjacency.nonzero()
    a[i[0], j[0]] = a[j[0], i[0]] = a[i[0], j[0]] * 1.5
    with pytest.warns(ng.GraphMismatchWarning):
        ng.Partition.load(path, graph=shuffled.with_adjacency(a.tocsr()))


def test_atomic_save_keeps_existing_file(tmp_path, graph, labels, monkeypatch):
    path = tmp_path / "p.json"
    ng.Partition(labels, graph, method="first").save(path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        ng.Partition(labels, graph, method="second").save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["p.json"]  # no temporary file left behind


def test_unserialisable_params_fail_early(graph, labels):
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        ng.Partition(labels, graph, params={"f": object()})
    with pytest.raises(ValueError, match="non-finite"):
        ng.Partition(labels, graph, params={"x": float("nan")})


def test_random_state_records(graph, labels):
    assert ng.Partition(labels, graph, random_state=np.int64(3)).random_state == 3
    gen = np.random.default_rng(0)
    assert "Generator" in ng.Partition(labels, graph, random_state=gen).random_state


def test_subclusters():
    p = ng.Partition({"a": [0, 0, 0, 1, 1, 2, -1], "b": [0, 0, 0, 0], "c": [-1, -1]})
    subs = p.subclusters(min_size=2, max_fraction=0.99)
    assert all(isinstance(s, ng.Subcluster) for s in subs)
    assert [(s.layer, s.cluster, s.units.tolist(), s.size) for s in subs] == [
        ("a", 0, [0, 1, 2], 3),
        ("a", 1, [3, 4], 2),
    ]  # "a"/2 is a singleton; "b"/0 is the whole layer
    assert subs[0].fraction == pytest.approx(3 / 7)  # of all 7 units of "a", -1 included
    assert len(p.subclusters(min_size=1, max_fraction=1.0)) == 4
    assert [s.cluster for s in p.subclusters(min_size=3, max_fraction=0.5)] == [0]
    with pytest.raises(ValueError, match="min_size"):
        p.subclusters(min_size=0)
    with pytest.raises(ValueError, match="max_fraction"):
        p.subclusters(max_fraction=1.5)


def test_subcluster_fraction_counts_unclustered_units():
    # docs/method.md, section 2.3: at most 99% of the layer, whose unclustered (-1) units count.
    p = ng.Partition({"fc": [0] * 40 + [-1] * 60})
    subs = p.subclusters()
    assert [(s.layer, s.cluster, s.size) for s in subs] == [("fc", 0, 40)]
    assert subs[0].fraction == pytest.approx(0.4)
    assert p.subclusters(max_fraction=0.39) == []


def test_from_estimator(graph):
    model = ng.SpectralClustering(3, random_state=4).fit(graph)
    p = ng.Partition.from_estimator(model, graph)
    assert p.method == "SpectralClustering"
    assert p.params["n_clusters"] == 3 and "random_state" not in p.params
    assert p.random_state == 4
    np.testing.assert_array_equal(p.labels, model.labels_)


def test_isolated_units_round_trip(tmp_path):
    a = sp.csr_array(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0.0]]))
    g = ng.NeuronGraph(a, ["input", "fc"], [0, 1, 1], [0, 0, 1])
    p = ng.Partition([0, 0, -1], g)
    assert p.metrics["n_unlabelled"] == 1
    q = ng.Partition.load(p.save(tmp_path / "p.json"), graph=g)
    np.testing.assert_array_equal(q.labels, [0, 0, -1])


# ---------------------------------------------------------------------- fingerprints
def test_structure_fingerprint_follows_the_documented_recipe(graph, labels):
    # docs/partition-format.md: sha256 of one "<name>:<size>\n" line per layer, in order.
    text = "input:12\nfc1:16\nfc2:16\nfc3:6\n"
    expected = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert structure_fingerprint({"input": 12, "fc1": 16, "fc2": 16, "fc3": 6}) == expected
    assert ng.Partition(labels, graph).to_dict()["graph"]["fingerprint"] == expected
    assert structure_fingerprint({"fc1": 16, "input": 12, "fc2": 16, "fc3": 6}) != expected


def test_adjacency_fingerprint_follows_the_documented_recipe(graph, labels):
    # The shape as two little-endian int64, then indptr (<i8), indices (<i4), data (<f8)
    # of the matrix with sorted indices and no explicit zeros.
    a = graph.adjacency
    h = hashlib.sha256(np.array(a.shape, dtype="<i8").tobytes())
    for arr, dtype in ((a.indptr, "<i8"), (a.indices, "<i4"), (a.data, "<f8")):
        h.update(np.asarray(arr, dtype=dtype).tobytes())
    expected = "sha256:" + h.hexdigest()
    assert adjacency_fingerprint(graph) == expected
    assert ng.Partition(labels, graph).to_dict()["graph"]["adjacency_sha256"] == expected
    # The same weights in another storage hash the same: dense, unsorted, explicit zeros.
    assert adjacency_fingerprint(a.toarray()) == expected
    coo = a.tocoo()
    order = np.random.default_rng(0).permutation(coo.nnz)
    rows = np.concatenate([coo.row[order], [0]])
    cols = np.concatenate([coo.col[order], [0]])
    data = np.concatenate([coo.data[order], [0.0]])
    shuffled = sp.coo_array((data, (rows, cols)), shape=a.shape).tocsr()
    assert adjacency_fingerprint(shuffled) == expected
    assert adjacency_fingerprint(graph.with_adjacency(a * 2)) != expected


def test_subclusters_function_matches_the_method(rng):
    layer_labels = {"a": rng.integers(-1, 4, 30), "b": rng.integers(-1, 4, 10)}
    p = ng.Partition(layer_labels)
    for min_size, max_fraction in ((1, 1.0), (2, 0.99), (4, 0.2)):
        direct = subclusters(layer_labels, min_size=min_size, max_fraction=max_fraction)
        via = p.subclusters(min_size=min_size, max_fraction=max_fraction)
        assert [(s.layer, s.cluster, s.units.tolist()) for s in direct] == [
            (s.layer, s.cluster, s.units.tolist()) for s in via
        ]
        for s in direct:  # each group is exactly the units of that label in that layer
            np.testing.assert_array_equal(
                s.units, np.flatnonzero(layer_labels[s.layer] == s.cluster)
            )
            assert s.size >= min_size and s.fraction <= max_fraction
    assert [s.layer for s in subclusters(layer_labels, ["b"], min_size=1)] == ["b"] * len(
        np.unique(layer_labels["b"][layer_labels["b"] >= 0])
    )


def test_a_label_beyond_int64_is_a_clear_error():
    from nngraph.datasets import layered_graph

    g, _ = layered_graph()
    doc = ng.Partition(np.zeros(g.n_nodes, dtype=int), g).to_dict()
    doc["layers"][1]["labels"][3] = 10**30
    with pytest.raises(ValueError, match=r"labels of layer 'fc1' must hold integers from -1"):
        ng.Partition.from_dict(doc)


def test_a_subgraph_partition_keeps_the_network_layer_sizes(tmp_path):
    import torch
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    g = ng.weight_graph(model, torch.zeros(1, 5))
    keep = g.node_unit < 4  # the last units of every layer left out
    h = g.subgraph(keep)
    p = ng.Partition(np.arange(h.n_nodes) % 2, h)
    assert p.layer_sizes == {"input": 5, "0": 12, "2": 8, "4": 3}
    for name, size in p.layer_sizes.items():
        labels = p.layer_labels[name]
        assert (labels[: min(4, size)] >= 0).all() and (labels[4:] == -1).all()
    back = ng.Partition.load(p.save(tmp_path / "p.json"), graph=h)
    np.testing.assert_array_equal(back.labels, p.labels)
    np.testing.assert_array_equal(back.labels_for(g)[keep], p.labels)  # fits the whole graph
    assert (back.labels_for(g)[~keep] == -1).all()


def test_a_subgraph_partition_sized_by_its_largest_units_still_binds(tmp_path):
    # Files written before the network's layer sizes were used size each layer of a
    # subgraph by its largest unit index + 1: they bind to that subgraph still.
    import torch
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Linear(12, 3))
    g = ng.weight_graph(model, torch.zeros(1, 5))
    h = g.subgraph(g.node_unit < 4)
    old_sizes = {"input": 4, "0": 4, "2": 3}
    labels = {name: np.arange(n) % 2 for name, n in old_sizes.items()}
    p = ng.Partition(labels, h)
    np.testing.assert_array_equal(p.labels_for(h), ng.Partition(labels).labels_for(h))
    back = ng.Partition.load(p.save(tmp_path / "old.json"), graph=h)
    np.testing.assert_array_equal(back.labels, p.labels)
    with pytest.raises(ValueError, match="layer 'input' has 4 units in the partition but 5"):
        p.labels_for(g)  # the whole graph has units 4-11 the file does not label


def test_files_hashed_in_the_graph_node_order_or_other_layer_order_are_the_same_graph(
    tmp_path, graph, labels, rng
):
    from nngraph.partition._partition_file import _hash_in_order

    order = rng.permutation(graph.n_nodes)
    shuffled = graph.subgraph(order)
    doc = ng.Partition(labels[order], shuffled).to_dict()
    # As written before the (layer, unit) order: the graph's own node order, and no
    # graph.adjacency_order.
    doc["graph"]["adjacency_sha256"] = _hash_in_order(shuffled, np.arange(shuffled.n_nodes))
    del doc["graph"]["adjacency_order"]
    renamed_order = list(reversed(graph.layer_names))
    relisted = ng.NeuronGraph(
        graph.adjacency,
        renamed_order,
        len(renamed_order) - 1 - graph.node_layer,
        graph.node_unit,
    )
    relisted_doc = ng.Partition(labels, graph).to_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ng.GraphMismatchWarning)
        ng.Partition.from_dict(doc, graph=shuffled)
        back = ng.Partition.from_dict(relisted_doc, graph=relisted)  # layers listed reversed
    np.testing.assert_array_equal(back.labels, labels)
    doc["graph"]["adjacency_sha256"] = "sha256:" + "0" * 64
    with pytest.warns(ng.GraphMismatchWarning):
        ng.Partition.from_dict(doc, graph=shuffled)


def test_a_renumbered_layer_is_another_graph_even_in_node_order(tmp_path, graph, labels):
    # Same matrix in node order, but a layer's units renumbered: other weights between
    # the same (layer, unit) pairs. New files say how they hashed, so only files written
    # before that (no graph.adjacency_order) may match in the graph's node order.
    doc = ng.Partition(labels, graph).to_dict()
    assert doc["graph"]["adjacency_order"] == "layer, unit"
    unit = graph.node_unit.copy()
    first = graph.node_layer == 1
    unit[first] = unit[first].max() - unit[first]
    renumbered = ng.NeuronGraph(graph.adjacency, graph.layer_names, graph.node_layer, unit)
    with pytest.warns(ng.GraphMismatchWarning) as record:
        ng.Partition.from_dict(doc, graph=renumbered)
    assert record[0].filename == __file__
    old = dict(doc, graph={k: v for k, v in doc["graph"].items() if k != "adjacency_order"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ng.GraphMismatchWarning)
        ng.Partition.from_dict(old, graph=renumbered)  # an old file: node order accepted
