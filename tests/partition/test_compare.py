"""compare_partitioners, its result table and the `nngraph compare` entry point."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from nngraph.cli import main
from nngraph.datasets import layered_graph as mlp_like_graph
from nngraph.partition._compare import (
    PartitionerComparison,
    compare_partitioners,
    make_partitioner,
)
from nngraph.partition._label_propagation import LabelPropagation
from nngraph.partition._leiden import Leiden
from nngraph.partition._louvain import Louvain
from nngraph.partition._metrics import compare_partitions, modularity, ncut
from nngraph.partition._spectral_clustering import SpectralClustering


def compare_main(argv):
    return main(["compare", *argv])


pytestmark = pytest.mark.usefixtures("community_kernels")


@pytest.fixture
def layered(rng):
    return mlp_like_graph((32, 48, 48, 32, 16), 4, rng)


@pytest.fixture
def layered_graph(layered):
    return layered[0]


def test_table_matches_metrics(layered_graph, layered):
    modules = layered[1]
    parts = {
        "spectral": SpectralClustering(4, random_state=0),
        "louvain": Louvain(random_state=0),
        "leiden": Leiden(random_state=0),
        "lpa": LabelPropagation(random_state=0),
    }
    result = compare_partitioners(layered_graph, parts)
    assert isinstance(result, PartitionerComparison)
    assert result.names == list(parts)
    for i, row in enumerate(result.rows):
        labels = result.labels[row["method"]]
        assert row["n_clusters"] == len(set(labels)) == len(row["sizes"]) == 4
        assert row["sizes"] == sorted(row["sizes"], reverse=True)
        assert sum(row["sizes"]) == layered_graph.n_nodes and row["n_isolated"] == 0
        assert row["ncut"] == pytest.approx(ncut(layered_graph, labels))
        assert row["modularity"] == pytest.approx(modularity(layered_graph, labels))
        assert row["seconds"] >= 0
        assert compare_partitions(labels, modules, "ari") >= 0.95
        for j, other in enumerate(result.names):
            b = result.labels[other]
            assert result.nmi[i, j] == pytest.approx(compare_partitions(labels, b, "nmi"))
            assert result.ari[i, j] == pytest.approx(compare_partitions(labels, b, "ari"))
    np.testing.assert_allclose(result.nmi, result.nmi.T)
    np.testing.assert_allclose(np.diag(result.ari), 1.0)
    # The estimators passed in are cloned, not fitted.
    assert not any(hasattr(est, "labels_") for est in parts.values())
    assert all(hasattr(est, "labels_") for est in result.estimators.values())


def test_outputs(layered_graph, tmp_path):
    result = compare_partitioners(
        layered_graph, [Louvain(), Louvain(resolution=2.0), "lpa"], random_state=0
    )
    assert result.names == ["Louvain-1", "Louvain-2", "lpa"]
    text = str(result)
    assert "method" in text and "NMI" in text and "ARI" in text
    assert all(name in text for name in result.names)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("method"))
    assert lines[lines.index(header) + 1].startswith("------")

    rows = list(csv.DictReader(io.StringIO(result.to_csv(tmp_path / "c.csv"))))
    assert [r["method"] for r in rows] == result.names
    assert float(rows[1]["modularity"]) == result.rows[1]["modularity"]
    assert float(rows[0]["ari_lpa"]) == result.ari[0, 2]
    assert [int(s) for s in rows[2]["sizes"].split()] == result.rows[2]["sizes"]
    assert (tmp_path / "c.csv").read_text() == result.to_csv()

    data = json.loads(result.to_json(tmp_path / "c.json"))
    assert data == json.loads((tmp_path / "c.json").read_text()) == result.to_dict()
    assert data["graph"]["n_nodes"] == layered_graph.n_nodes
    assert [m["method"] for m in data["methods"]] == result.names
    assert data["methods"][1]["params"]["resolution"] == 2.0
    assert data["nmi"]["Louvain-1"]["lpa"] == result.nmi[0, 2]


def test_reproducible_with_random_state(layered_graph):
    parts = [Louvain(), Leiden(), LabelPropagation()]
    a = compare_partitioners(layered_graph, parts, random_state=3)
    b = compare_partitioners(layered_graph, parts, random_state=3)
    for name in a.names:
        np.testing.assert_array_equal(a.labels[name], b.labels[name])
    # Without random_state each clone keeps its own.
    c = compare_partitioners(layered_graph, {"x": Louvain(random_state=9)})
    assert c.estimators["x"].random_state == 9


def test_isolated_units_and_plain_matrices(layered_graph):
    a = layered_graph.adjacency.tolil()
    a[0, :] = 0
    a[:, 0] = 0
    result = compare_partitioners(a.tocsr(), ["louvain", "spectral:n_clusters=4"], random_state=0)
    assert [r["n_isolated"] for r in result.rows] == [1, 1]
    assert all(result.labels[n][0] == -1 for n in result.names)


def test_specs():
    est = make_partitioner("louvain:resolution=2,backend=igraph,random_state=None")
    assert isinstance(est, Louvain) and est.resolution == 2 and est.backend == "igraph"
    assert make_partitioner("spectral", n_clusters=7).n_clusters == 7
    assert make_partitioner("spectral:n_clusters=3").n_clusters == 3
    assert make_partitioner("louvain:return_levels=true").return_levels is True
    with pytest.raises(ValueError, match="sets 'resolution' twice"):
        make_partitioner("louvain:resolution=1,resolution=2")
    assert make_partitioner("louvain:random_state=none,tol=1e-6").random_state is None
    assert isinstance(make_partitioner("label-propagation"), LabelPropagation)
    with pytest.raises(ValueError, match="unknown partitioner"):
        make_partitioner("kmeans")
    with pytest.raises(ValueError, match="key=value"):
        make_partitioner("louvain:2")
    with pytest.raises(ValueError, match="louvain has no parameter 'n_init'; its parameters: b"):
        make_partitioner("louvain:n_init=2")


def test_bad_partitioners(layered_graph):
    with pytest.raises(ValueError, match="no partitioners"):
        compare_partitioners(layered_graph, [])
    with pytest.raises(TypeError, match="not an estimator"):
        compare_partitioners(layered_graph, {"x": object()})
    with pytest.raises(TypeError, match="dict"):
        compare_partitioners(layered_graph, "louvain")
    with pytest.raises(ValueError, match="negative"):
        compare_partitioners(-np.ones((3, 3)), ["louvain"])


def test_compare_main(layered_graph, tmp_path, capsys):
    path = layered_graph.save(tmp_path / "g.npz")
    out = tmp_path / "cmp" / "result.json"
    out.parent.mkdir()
    argv = ["--graph-file", str(path), "--k", "4", "--output", str(out)]
    assert compare_main([*argv, "--methods", "spectral", "louvain", "lpa", "leiden"]) == 0
    printed = capsys.readouterr().out
    assert "spectral" in printed and "NMI" in printed and f"saved {out}" in printed
    data = json.loads(out.read_text())
    assert [m["method"] for m in data["methods"]] == ["spectral", "louvain", "lpa", "leiden"]
    assert data["methods"][0]["n_clusters"] == 4
    # --equal-k searches the resolution for Louvain and Leiden.
    csv_out = tmp_path / "r.csv"
    argv = ["--graph-file", str(path), "--k", "6", "--equal-k", "--output", str(csv_out)]
    assert compare_main([*argv, "--methods", "louvain", "leiden:beta=0.02"]) == 0
    rows = list(csv.DictReader(csv_out.open()))
    assert [int(r["n_clusters"]) for r in rows] == [6, 6]
    assert compare_main(["--graph-file", str(path), "--output", "x.txt"]) == 2
    assert compare_main(["--graph-file", str(path), "--methods", "kmeans"]) == 2
    assert "unknown partitioner" in capsys.readouterr().err


def test_make_partitioner_seeds_only_where_the_spec_does_not():
    from nngraph.partition import make_partitioner, make_partitioners

    assert make_partitioner("spectral:random_state=3", random_state=0).random_state == 3
    assert make_partitioner("spectral", random_state=7).random_state == 7
    assert make_partitioner("louvain", random_state=7).random_state == 7
    assert make_partitioner("spectral").random_state is None
    made = make_partitioners(["louvain:random_state=1", "leiden"], random_state=9)
    assert [p.random_state for p in made.values()] == [1, 9]
