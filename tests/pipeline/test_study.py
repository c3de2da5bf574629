"""The whole study as one function (ng.study, nngraph.pipeline._study) and its result."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import torch
import torch.nn as nn

import nngraph as ng
from nngraph.datasets import Dataset, load_digits
from nngraph.pipeline import GraphStudy, StudyConfig, StudyResult

K = 4


@pytest.fixture(scope="module")
def result(session_cache_dir):
    """Run a reduced study (2 shuffles, k=4) on the bundled default network, once."""
    with pytest.MonkeyPatch.context() as mp:  # the autouse cache fixture is per test
        mp.setenv("NNGRAPH_CACHE_DIR", str(session_cache_dir))
        return ng.study(n_shuffles=2, k=K)


def test_the_result_holds_the_weight_graph_of_the_bundled_network(result):
    assert isinstance(result, StudyResult)
    assert result.config == StudyConfig(n_shuffles=2, k=K)
    assert result.model_info["name"] == "mlp" and result.model_info["test_accuracy"] > 0.8
    assert isinstance(result.model, nn.Module)
    assert list(result.graphs) == ["weight"]
    study = result.graphs["weight"]
    assert isinstance(study, GraphStudy)
    assert isinstance(study.graph, ng.NeuronGraph) and study.graph.kind == "weight"
    assert study.graph.layer_sizes.tolist() == [64, 256, 256, 256, 256, 10]
    assert set(result.timings) == {"model", "graph-weight", "partition-weight"}
    assert all(t >= 0 for t in result.timings.values())


def test_the_partition_is_spectral_clustering_with_k_clusters(result):
    study = result.graphs["weight"]
    part, graph = study.partition, study.graph
    assert part.method == "SpectralClustering" and part.n_clusters == K
    labels = part.labels_for(graph)
    assert part.metrics["ncut"] == pytest.approx(ng.ncut(graph, labels), rel=1e-12)
    assert part.metrics["modularity"] == pytest.approx(ng.modularity(graph, labels), rel=1e-12)
    expected = ng.SpectralClustering(K, random_state=result.config.seed).fit(graph)
    np.testing.assert_array_equal(labels, expected.labels_)
    assert study.eigengap.suggested_k == expected.suggested_k_


def test_the_comparison_has_one_row_per_partitioner(result):
    study = result.graphs["weight"]
    comparison = study.comparison
    assert [row["method"] for row in comparison.rows] == ["spectral", "louvain", "leiden"]
    spectral = comparison.rows[0]
    assert spectral["n_clusters"] == K
    assert spectral["ncut"] == pytest.approx(study.partition.metrics["ncut"], rel=1e-12)
    assert comparison.nmi.shape == comparison.ari.shape == (3, 3)
    np.testing.assert_allclose(np.diag(comparison.ari), 1.0)


def test_clusterability_compares_the_partition_with_shuffles(result):
    study = result.graphs["weight"]
    clus = study.clusterability
    assert clus.n_shuffles == 2 and clus.method == "layer"
    assert clus.random_state == result.config.seed
    assert clus.ncut == pytest.approx(study.partition.metrics["ncut"], rel=1e-12)
    assert np.all(np.isfinite(clus.null))


def test_the_summary_is_strict_json(result):
    summary = result.summary()
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    weight = summary["graphs"]["weight"]
    study = result.graphs["weight"]
    assert weight["n_nodes"] == study.graph.n_nodes and weight["spectral"]["k"] == K
    assert weight["spectral"]["n_subclusters"] == len(study.partition.subclusters())
    assert "null" not in weight["clusterability"]
    assert summary["config"]["n_shuffles"] == 2


def test_save_writes_files_that_load_back(result, tmp_path):
    folder = result.save(tmp_path / "out")
    assert folder == tmp_path / "out"
    assert sorted(p.name for p in folder.iterdir()) == [
        "clusterability-weight.json",
        "comparison-weight.csv",
        "graph-weight.npz",
        "partition-weight.json",
        "summary.json",
    ]
    study = result.graphs["weight"]
    graph = ng.NeuronGraph.load(folder / "graph-weight.npz")
    assert graph.layer_names == study.graph.layer_names
    assert (graph.adjacency != study.graph.adjacency).nnz == 0

    part = ng.Partition.load(folder / "partition-weight.json", graph)
    np.testing.assert_array_equal(part.labels, study.partition.labels_for(graph))
    assert part.metrics["ncut"] == pytest.approx(study.partition.metrics["ncut"], rel=1e-12)

    rows = list(csv.DictReader(io.StringIO((folder / "comparison-weight.csv").read_text())))
    assert [r["method"] for r in rows] == ["spectral", "louvain", "leiden"]

    clus = json.loads((folder / "clusterability-weight.json").read_text())
    np.testing.assert_array_equal(clus["null"], study.clusterability.null)

    assert json.loads((folder / "summary.json").read_text()) == result.summary()


def test_unknown_options_are_refused():
    with pytest.raises(TypeError, match=r"unknown study option\(s\) \['n_shufles'\]"):
        ng.study(n_shufles=2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 1}, "k must be an integer >= 2"),
        ({"n_shuffles": -1}, "n_shuffles must be an integer >= 0"),
        ({"graphs": ()}, "graphs must name at least one"),
        ({"graphs": ("weight", "other")}, "graphs must be one of"),
        ({"dropout": 1.0}, "dropout must be a finite"),
    ],
)
def test_bad_option_values_are_refused_before_any_work(options, message):
    with pytest.raises(ValueError, match=message):
        ng.study(**options)


def test_a_model_of_your_own_needs_its_data():
    with pytest.raises(ValueError, match="pass the network's data with it"):
        ng.study(nn.Linear(4, 2), n_shuffles=0)


def test_data_goes_with_a_model_of_your_own_only():
    data = load_digits()
    with pytest.raises(ValueError, match="data goes with a model of your own"):
        ng.study("mlp", data)
    with pytest.raises(ValueError, match="data goes with a model of your own"):
        ng.study(data=data)


def _small_problem() -> tuple[nn.Module, Dataset]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(120, 12, generator=generator)
    y = torch.randint(0, 3, (120,), generator=generator)
    data = Dataset(x[:100], y[:100], x[100:], y[100:], n_classes=3, name="random")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)
        )
    return model, data


def test_a_model_of_your_own_with_a_dataset():
    model, data = _small_problem()
    before = [p.detach().clone() for p in model.parameters()]
    res = ng.study(
        model,
        data,
        graphs=("weight", "activation"),
        k=3,
        partitioners=("spectral",),
        n_shuffles=2,
    )
    assert res.model is model
    assert res.model_info == {"name": "Sequential"} and res.config.model == "Sequential"
    assert list(res.graphs) == ["weight", "activation"]
    weight, activation = res.graphs["weight"].graph, res.graphs["activation"].graph
    assert weight.layer_names == ["input", "0", "2", "4"]
    assert activation.layer_names == ["0", "2", "4"]  # activation_graph: no input units
    assert activation.kind == "activation"
    assert res.graphs["weight"].clusterability.method == "layer"
    assert res.graphs["activation"].clusterability.method == "offdiagonal"
    for kind in ("weight", "activation"):
        assert res.graphs[kind].partition.n_clusters == 3
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_n_shuffles_zero_skips_clusterability():
    model, data = _small_problem()
    res = ng.study(model, data, k=2, partitioners=("spectral",), n_shuffles=0)
    assert res.graphs["weight"].clusterability is None
    assert "clusterability" not in res.summary()["graphs"]["weight"]
