"""The whole study as one function (ng.study) and its result, on the reduced study."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import numpy as np
import pytest
import torch
import torch.nn as nn

import nngraph as ng
from nngraph.datasets import Dataset
from nngraph.pipeline import GraphStudy, StudyConfig, StudyResult

from .conftest import SMALL

K = SMALL["k"]


def test_every_stage_ran_on_both_graphs(small_study):
    res = small_study
    assert isinstance(res, StudyResult) and res.config == StudyConfig(**SMALL)
    assert res.model_info["name"] == "mlp" and res.model_info["test_accuracy"] > 0.8
    assert list(res.graphs) == ["weight", "activation"]
    for kind, gs in res.graphs.items():
        assert isinstance(gs, GraphStudy) and gs.graph.kind == kind
        assert gs.partition.n_clusters == K
        assert gs.clusterability.n_shuffles == SMALL["n_shuffles"]
        assert gs.importance.info["n_random"] == SMALL["n_random"]
        assert set(gs.coherence) == {"dataset", "visualization"}
    assert res.graphs["weight"].clusterability.method == "layer"
    assert res.graphs["activation"].clusterability.method == "offdiagonal"


def test_compilation_is_timed_apart_from_the_partitioners(small_study):
    stages = list(small_study.timings)
    assert stages[0] == "network" and stages[1].startswith("compile")
    assert "weight: partitions" in stages and "activation: importance" in stages[-3]
    assert all(t >= 0 for t in small_study.timings.values())


def test_the_partition_is_spectral_clustering_with_the_seed(small_study):
    gs = small_study.graphs["weight"]
    labels = gs.partition.labels_for(gs.graph)
    expected = ng.SpectralClustering(K, random_state=small_study.config.seed).fit(gs.graph)
    np.testing.assert_array_equal(labels, expected.labels_)
    assert gs.eigengap.suggested_k == expected.suggested_k_
    assert gs.clusterability.ncut == pytest.approx(gs.partition.metrics["ncut"], rel=1e-12)
    assert [r["method"] for r in gs.comparison.rows] == ["spectral", "louvain"]


def test_the_proxies_test_the_study_partition(small_study):
    gs = small_study.graphs["weight"]
    subclusters = gs.partition.subclusters(min_size=2)
    assert gs.importance.n_rows == len([s for s in subclusters if s.fraction <= 0.99])
    table = gs.subcluster_table()
    assert len(table) >= gs.importance.n_rows
    row = table[0]
    assert {"layer", "cluster", "size", "importance.loss_p", "dataset.label_entropy_p"} <= set(row)
    order = [gs.graph.layer_names.index(r["layer"]) for r in table]
    assert order == sorted(order)


def test_the_verdict_is_plain_words_with_numbers(small_study):
    v = small_study.verdict()
    assert v.modular in ("yes", "partly", "no")  # "untested" only when nothing ran
    text = v.text()
    assert text.startswith("Is it modular?")
    assert "from 3 shuffles" in text and "Benjamini-Hochberg" in text
    assert "eigengap suggests" in text or "k = 4" in text
    # 3 shuffles and 9 random sets cannot be significant: the notes say so
    assert any("1/4 = 0.25" in n for n in v.notes)
    assert small_study.graphs["weight"].clusterability.p >= 0.25
    assert v.graphs["weight"].clusterable is False


def _with(result, **graph_changes):
    graphs = {k: dataclasses.replace(gs, **graph_changes) for k, gs in result.graphs.items()}
    return dataclasses.replace(result, graphs=graphs)


def test_the_verdict_follows_the_evidence(small_study):
    res = small_study
    gs = res.graphs["weight"]
    clus = dataclasses.replace(gs.clusterability, null=np.full(99, gs.clusterability.ncut + 1))
    imp = dataclasses.replace(
        gs.importance, rows=[dict(r, loss_significant=False) for r in gs.importance.rows]
    )
    imp.rows = [dict(r, balanced_accuracy_significant=False) for r in imp.rows]
    imp.rows = [dict(r, selectivity_significant=False) for r in imp.rows]
    quiet = _with(res, clusterability=clus, importance=imp, coherence={})
    assert quiet.verdict().modular == "partly"
    assert "more clusterable than shuffled networks, but no sub-cluster" in quiet.verdict().headline
    hit = dict(imp.rows[0], loss_significant=True)
    imp_hit = dataclasses.replace(imp, rows=[hit, *imp.rows[1:]])
    both = _with(res, clusterability=clus, importance=imp_hit, coherence={})
    v = both.verdict()
    assert v.modular == "yes" and v.graphs["weight"].n_significant == 1
    assert v.graphs["weight"].significant["importance"][0]["statistics"] == ["loss"]
    neither = _with(res, importance=imp, coherence={})
    assert neither.verdict().modular == "no"
    # Both graphs qualify in `both` (the changes went to each): the headline names both.
    assert list(v.graphs) == ["weight", "activation"]
    assert v.headline.startswith(
        "The weight and activation graphs are each more clusterable than shuffled networks, "
        "and 1 and 1 of their sub-clusters respectively are significantly important"
    )
    # One graph, one significant sub-cluster: "is", not "are".
    one = dataclasses.replace(both, graphs={"weight": both.graphs["weight"]})
    assert one.verdict().headline.startswith(
        "The weight graph is more clusterable than shuffled networks, and 1 of its "
        "sub-clusters is significantly important or coherent"
    )


def test_the_summary_is_strict_json(small_study):
    summary = small_study.summary()
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["verdict"]["modular"] == small_study.verdict().modular
    assert summary["config"]["k"] == K and summary["data"]["name"] == "digits"
    weight = summary["graphs"]["weight"]
    assert weight["importance"]["n_subclusters"] == small_study.graphs["weight"].importance.n_rows
    assert summary["versions"]["torch"] == torch.__version__.split("+")[0] or summary["versions"][
        "torch"
    ].startswith(torch.__version__.split("+")[0])


def test_the_files_load_back(small_study, tmp_path):
    written = small_study.write_files(tmp_path)
    names = {p.name for p in written}
    for kind in ("weight", "activation"):
        for stem in (
            "graph-{}.npz",
            "partition-{}.json",
            "comparison-{}.csv",
            "clusterability-{}.json",
            "importance-{}.csv",
            "importance-{}.json",
            "coherence-dataset-{}.csv",
            "coherence-visualization-{}.json",
            "subclusters-{}.csv",
        ):
            assert stem.format(kind) in names
    assert {"summary.json", "config.toml", "versions.json"} <= names
    gs = small_study.graphs["weight"]
    graph = ng.NeuronGraph.load(tmp_path / "graph-weight.npz")
    assert (graph.adjacency != gs.graph.adjacency).nnz == 0
    part = ng.Partition.load(tmp_path / "partition-weight.json", graph)
    np.testing.assert_array_equal(part.labels, gs.partition.labels_for(graph))
    rows = list(csv.DictReader(io.StringIO((tmp_path / "subclusters-weight.csv").read_text())))
    assert len(rows) == len(gs.subcluster_table())
    assert ng.load_config(tmp_path / "config.toml") == small_study.config


def test_the_written_ncut_is_the_ncut_of_the_written_graph_and_partition(small_study, tmp_path):
    """Recompute n-cut and modularity from the saved files alone; every file agrees."""
    folder = small_study.save(tmp_path / "run")
    summary = json.loads((folder / "summary.json").read_text())
    for kind in ("weight", "activation"):
        graph = ng.NeuronGraph.load(folder / f"graph-{kind}.npz")
        doc = json.loads((folder / f"partition-{kind}.json").read_text())
        by_layer = {layer["name"]: layer["labels"] for layer in doc["layers"]}
        assert list(by_layer) == graph.layer_names
        labels = np.concatenate([by_layer[name] for name in graph.layer_names])
        assert labels.shape == (graph.n_nodes,) and len(np.unique(labels)) == K
        ncut, modularity = ng.ncut(graph, labels), ng.modularity(graph, labels)
        assert 0 < ncut < K
        clus = json.loads((folder / f"clusterability-{kind}.json").read_text())
        comparison = csv.DictReader(io.StringIO((folder / f"comparison-{kind}.csv").read_text()))
        spectral = next(r for r in comparison if r["method"] == "spectral")
        recorded = {
            "partition": doc["metrics"]["ncut"],
            "summary": summary["graphs"][kind]["spectral"]["ncut"],
            "summary clusterability": summary["graphs"][kind]["clusterability"]["ncut"],
            "clusterability": clus["ncut"],
            "comparison": float(spectral["ncut"]),
        }
        for where, value in recorded.items():
            assert value == pytest.approx(ncut, rel=1e-12), (kind, where)
        assert doc["metrics"]["modularity"] == pytest.approx(modularity, rel=1e-12)
        assert summary["graphs"][kind]["spectral"]["modularity"] == pytest.approx(
            modularity, rel=1e-12
        )


def test_unknown_options_are_refused_with_a_suggestion():
    with pytest.raises(ValueError, match=r"unknown option 'n_shufles'.*'n_shuffles'"):
        ng.study(n_shufles=2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 1}, "k must be an integer >= 2"),
        ({"n_shuffles": -1}, "n_shuffles must be an integer >= 0"),
        ({"graphs": ()}, "graphs must name at least one"),
        ({"graphs": ("weight", "other")}, "graphs must be one of"),
        ({"dropout": 1.0}, "dropout must be"),
        ({"jobs": 0}, "jobs must be an integer >= 1"),
    ],
)
def test_bad_option_values_are_refused_before_any_work(options, message):
    with pytest.raises(ValueError, match=message):
        ng.study(**options)


def test_a_bad_output_folder_fails_before_any_work(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    with pytest.raises(FileExistsError, match="already exists"):
        ng.study(output=tmp_path / "taken", model="no_such_module:f")  # fails before loading


def test_a_k_too_large_for_a_graph_fails_before_any_graph_is_studied(capsys):
    # The activation graph has fewer units than the weight graph: both are built first.
    with pytest.raises(ValueError, match=r"k = 1040 .* the activation graph has 1034 units"):
        ng.study(k=1040, n_shuffles=2, progress=True)
    err = capsys.readouterr().err
    assert "[nngraph] activation graph done" in err
    assert "partitions" not in err and "clusterability" not in err


def test_a_model_of_your_own_needs_its_data():
    with pytest.raises(ValueError, match="pass the network's data with it"):
        ng.study(nn.Linear(4, 2), n_shuffles=0)


def test_data_goes_with_a_model_of_your_own_only():
    data = ng.datasets.load_digits()
    with pytest.raises(ValueError, match="data goes with a network of your own"):
        ng.study("mlp", data)


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


def test_a_model_of_your_own_is_studied_and_left_untouched():
    model, data = _small_problem()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    res = ng.study(
        model,
        data,
        k=3,
        partitioners=("spectral",),
        n_shuffles=2,
        n_random=4,
        n_null_partitions=2,
        steps=4,
    )
    assert res.model is model and model.training  # mode restored
    assert res.model_info == {"name": "Sequential"} and res.config.model == "Sequential"
    assert res.graphs["weight"].graph.layer_names == ["input", "0", "2", "4"]
    assert res.graphs["activation"].graph.layer_names == ["0", "2", "4"]
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def _weight_graph_only(model: nn.Module, data: Dataset):
    """Study the weight graph with every optional stage switched off."""
    return ng.study(
        model,
        data,
        graphs="weight",
        k=2,
        partitioners=(),
        n_shuffles=0,
        importance=False,
        coherence=(),
    )


def test_a_batch_norm_on_batch_statistics_is_left_unfolded_with_a_warning():
    model, data = _small_problem()
    model.insert(1, nn.BatchNorm1d(16, track_running_stats=False))
    with pytest.warns(UserWarning, match="batch norm '1' keeps no running statistics, so the"):
        res = _weight_graph_only(model, data)
    g = res.graphs["weight"].graph
    assert g.meta["options"]["fold_batchnorm"] is False
    assert g.layer_names == ["input", "0", "3", "5"]


def test_nothing_optional_runs_when_switched_off():
    model, data = _small_problem()
    res = _weight_graph_only(model, data)
    gs = res.graphs["weight"]
    assert gs.clusterability is None and gs.importance is None and gs.coherence == {}
    assert gs.comparison is None and gs.proxies() == {}
    assert "clusterability" not in res.summary()["graphs"]["weight"]
    assert res.verdict().modular == "untested"
    assert res.verdict().headline.startswith("Nothing was tested")


def test_writing_the_folder_is_timed_apart_from_the_stages(tmp_path):
    model, data = _small_problem()
    options = dict(graphs="weight", k=2, partitioners=(), n_shuffles=0)
    res = ng.study(model, data, importance=False, coherence=(), output=tmp_path / "a", **options)
    assert res.save_seconds is not None and res.save_seconds > 0
    assert "files and report" not in res.timings
    total = float(res.text().split("\n\n")[-1].split(" s in all")[0])
    assert total == pytest.approx(sum(res.timings.values()) + res.save_seconds, abs=0.1)
    assert "files and report" in res.text()
    res.save(tmp_path / "b")  # a later save lists the study's stages only
    timings = json.loads((tmp_path / "b" / "summary.json").read_text())["timings"]
    assert list(timings) == list(res.timings)
    assert ng.study(model, data, importance=False, coherence=(), **options).save_seconds is None


def _two_task_network(width: int = 16):
    """Two tasks side by side with nothing shared: inputs 0-3 decide head 0, 4-7 head 1.

    Hidden units ``[0, width)`` read only the first four inputs, ``[width, 2 width)`` only
    the last four; each head reads only its own half (half the units carry the sum,
    half its negative, so the sign survives the ReLU). A head fails only when every
    unit of one sign is silenced: a random half of the layer rarely does that.
    """
    import torch.nn as nn

    first, second = nn.Linear(8, 2 * width), nn.Linear(2 * width, 4)
    with torch.no_grad():
        first.weight.zero_()
        first.bias.zero_()
        second.weight.zero_()
        second.bias.zero_()
        for head in range(2):
            units = range(head * width, (head + 1) * width)
            for i, u in enumerate(units):
                sign = 1.0 if i % 2 == 0 else -1.0
                first.weight[u, 4 * head : 4 * head + 4] = sign * (1.0 + 0.1 * i)
                second.weight[2 * head + 1, u] = sign  # class 1: the sum is positive
                second.weight[2 * head, u] = -sign
    return nn.Sequential(first, nn.ReLU(), second).eval()


def test_a_network_of_two_separate_tasks_is_found_and_each_part_hurts_its_own_head():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 8, generator=g)
    y = torch.stack([(x[:, :4].sum(1) > 0), (x[:, 4:].sum(1) > 0)], dim=1).long()
    model = _two_task_network()
    assert (model(x).reshape(-1, 2, 2).argmax(2) == y).all()  # both heads exact
    data = (x[:200], y[:200], x[200:], y[200:])
    with pytest.warns(UserWarning):  # the two halves are two connected components
        res = ng.study(model, data, graphs=("weight",), k=2, n_shuffles=19, coherence=(),
                       n_random=99, n_null_partitions=5, partitioners=("spectral",))  # fmt: skip
    gs = res.graphs["weight"]
    labels = gs.partition.labels
    hidden = gs.graph.node_layer == gs.graph.layer_names.index("0")
    assert len(set(labels[hidden][:16])) == 1 and len(set(labels[hidden][16:])) == 1
    assert labels[hidden][0] != labels[hidden][16]  # the planted halves, found
    rows = gs.importance.rows
    assert [bool(r["head_gap_significant"]) for r in rows] == [True, True]
    v = res.verdict()
    assert v.modular == "yes"
    hits = v.graphs["weight"].significant["importance"]
    assert all("head_gap" in h["statistics"] for h in hits)
    text = v.text()
    # each half's lesion leaves its own head at chance and the other head intact
    for r in rows:
        heads = [r["balanced_accuracy_head0"], r["balanced_accuracy_head1"]]
        assert sorted(heads) == [pytest.approx(0.5, abs=0.05), pytest.approx(1.0)]
    assert "leaves head 0 at a balanced accuracy of 0.50" in text
    assert "leaves head 1 at a balanced accuracy of 0.50" in text
