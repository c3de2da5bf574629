"""The nngraph command line."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

import nngraph as ng
from nngraph.cli import main


def test_graph_subcommand_writes_a_loadable_graph(tmp_path, capsys):
    out = tmp_path / "g.npz"
    assert main(["graph", "--output", str(out), "--graphml", str(tmp_path / "g.graphml")]) == 0
    g = ng.NeuronGraph.load(out)
    assert g.layer_names == ["input", "0", "2", "4", "6", "8"]
    assert g.layer_sizes.tolist() == [64, 256, 256, 256, 256, 10]
    assert (tmp_path / "g.graphml").stat().st_size > 0
    assert "1098 units" in capsys.readouterr().out


def test_run_writes_results_that_agree(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--shuffles", "3", "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "clusterability-weight.json",
        "comparison-weight.csv",
        "graph-weight.npz",
        "partition-weight.json",
        "summary.json",
    ]
    graph = ng.NeuronGraph.load(out / "graph-weight.npz")
    assert graph.n_nodes == 1098 and graph.layer_sizes.tolist() == [64, 256, 256, 256, 256, 10]

    part = ng.Partition.load(out / "partition-weight.json", graph)
    labels = part.labels_for(graph)
    assert part.n_clusters == 12 and part.method == "SpectralClustering"
    assert part.metrics["ncut"] == pytest.approx(ng.ncut(graph, labels), rel=1e-12)
    assert part.metrics["modularity"] == pytest.approx(ng.modularity(graph, labels), rel=1e-12)

    rows = {
        r["method"]: r
        for r in csv.DictReader(io.StringIO((out / "comparison-weight.csv").read_text()))
    }
    assert list(rows) == ["spectral", "louvain", "leiden"]
    assert float(rows["spectral"]["ncut"]) == pytest.approx(part.metrics["ncut"], rel=1e-12)
    assert int(rows["spectral"]["n_clusters"]) == 12

    clus = json.loads((out / "clusterability-weight.json").read_text())
    assert clus["ncut"] == pytest.approx(part.metrics["ncut"], rel=1e-12)
    assert len(clus["null"]) == clus["n_shuffles"] == 3
    assert clus["method"] == "layer"

    summary = json.loads((out / "summary.json").read_text())
    weight = summary["graphs"]["weight"]
    assert weight["n_nodes"] == graph.n_nodes and weight["n_edges"] == graph.n_edges
    assert weight["spectral"]["ncut"] == pytest.approx(part.metrics["ncut"], rel=1e-12)
    assert weight["spectral"]["n_subclusters"] == len(part.subclusters())
    assert weight["clusterability"]["z"] == pytest.approx(clus["z"])
    assert summary["config"]["k"] == 12 and summary["config"]["n_shuffles"] == 3


def test_bad_arguments_exit_nonzero(tmp_path, capsys):
    assert main(["graph", "--dropout", "2.0", "--output", str(tmp_path / "g.npz")]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "g.npz").exists()


def test_module_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "nngraph", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "run" in proc.stdout and "graph" in proc.stdout


def test_run_on_an_activation_graph_uses_the_offdiagonal_null(tmp_path):
    out = tmp_path / "act"
    assert (
        main(["run", "--graph", "activation", "--shuffles", "2", "--k", "4", "--output", str(out)])
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["graphs"]["activation"]["kind"] == "activation"
    assert summary["graphs"]["activation"]["clusterability"]["method"] == "offdiagonal"


def test_written_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    out = tmp_path / "g.npz"
    assert main(["graph", "--output", str(out)]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_importance_subcommand_reads_a_partition_file(tmp_path, capsys):
    part = tmp_path / "part.json"
    assert main(["cluster", "--k", "4", "--output", str(part)]) == 0
    out = tmp_path / "imp.json"
    argv = ["importance", "--partition", str(part), "--n-random", "4", "--null-partitions", "2"]
    assert main([*argv, "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["proxy"] == "importance" and doc["rows"]
    assert "combined p" in capsys.readouterr().out
    assert main([*argv, "--output", str(tmp_path / "no" / "imp.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_coherence_subcommand_writes_rows_and_a_figure(tmp_path, capsys):
    part = tmp_path / "part.json"
    assert main(["cluster", "--k", "4", "--output", str(part)]) == 0
    out, fig = tmp_path / "coh.csv", tmp_path / "coh.png"
    argv = ["coherence", "--partition", str(part), "--n-random", "4", "--null-partitions", "2"]
    assert main([*argv, "--output", str(out), "--figure", str(fig)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and "label_entropy_p" in rows[0]
    assert fig.stat().st_size > 5000
    assert main([*argv, "--figure", str(tmp_path / "coh.jpg")]) == 2
    assert "--figure must be a .png" in capsys.readouterr().err
