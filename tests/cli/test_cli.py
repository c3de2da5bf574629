"""The nngraph command line."""

from __future__ import annotations

import json
import subprocess
import sys

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


def test_run_writes_results(tmp_path):
    assert main(["run", "--output", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["graphs"]["weight"]["n_nodes"] == 1098
    assert ng.NeuronGraph.load(tmp_path / "out" / "graph-weight.npz").n_nodes == 1098


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
