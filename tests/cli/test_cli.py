"""The nngraph command line: every subcommand, its files, its errors."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nngraph as ng
from nngraph.cli import main
from tests.helpers import python_with_ctrl_c

SMALL_RUN = [
    "--k", "4", "--shuffles", "3", "--n-random", "9", "--null-partitions", "3", "--steps", "8",
]  # fmt: skip


def test_graph_subcommand_writes_a_loadable_graph(tmp_path, capsys):
    out = tmp_path / "g.npz"
    assert main(["graph", "--output", str(out), "--graphml", str(tmp_path / "g.graphml")]) == 0
    g = ng.NeuronGraph.load(out)
    assert g.layer_names == ["input", "0", "2", "4", "6", "8"]
    assert g.layer_sizes.tolist() == [64, 256, 256, 256, 256, 10]
    assert (tmp_path / "g.graphml").stat().st_size > 0
    assert "1098 units" in capsys.readouterr().out
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_a_seed_in_the_method_spec_wins_over_seed(tmp_path):
    g = tmp_path / "g.npz"
    assert main(["graph", "--output", str(g)]) == 0
    labels = {}
    for name, argv in {
        "spec 3, --seed 5": ["--method", "spectral:random_state=3", "--seed", "5"],
        "--seed 3": ["--seed", "3"],
        "--seed 5": ["--seed", "5"],
    }.items():
        out = tmp_path / f"{len(labels)}.json"
        assert main(["cluster", "--graph-file", str(g), *argv, "--output", str(out)]) == 0
        labels[name] = ng.Partition.load(out)
    assert labels["spec 3, --seed 5"].random_state == 3
    assert labels["--seed 5"].random_state == 5
    assert np.array_equal(labels["spec 3, --seed 5"].labels, labels["--seed 3"].labels)


def test_cluster_compare_and_clusterability_agree_for_one_seed(tmp_path, capsys):
    g = tmp_path / "g.npz"
    assert main(["graph", "--output", str(g)]) == 0
    part = tmp_path / "p.json"
    assert main(["cluster", "--graph-file", str(g), "--seed", "3", "--output", str(part)]) == 0
    ncut = ng.Partition.load(part).metrics["ncut"]
    cmp_out = tmp_path / "c.csv"
    argv = ["compare", "--graph-file", str(g), "--methods", "spectral", "louvain", "--seed", "3"]
    assert main([*argv, "--output", str(cmp_out)]) == 0
    rows = list(csv.DictReader(io.StringIO(cmp_out.read_text())))
    assert float(rows[0]["ncut"]) == pytest.approx(ncut, rel=1e-12)
    clus = tmp_path / "clus.json"
    argv = ["clusterability", "--graph-file", str(g), "--shuffles", "2", "--seed", "3"]
    assert main([*argv, "--output", str(clus)]) == 0
    assert json.loads(clus.read_text())["ncut"] == pytest.approx(ncut, rel=1e-12)
    err = capsys.readouterr().err
    assert "smallest possible p-value is 1/3" in err  # honest about 2 shuffles


def test_clusterability_with_two_workers_gives_the_serial_null(tmp_path):
    """--jobs 2 gives the serial null, on the kept pool of 2 workers (not when it started)."""
    g = tmp_path / "g.npz"
    assert main(["graph", "--output", str(g)]) == 0
    nulls = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"clus{jobs}.json"
        argv = ["clusterability", "--graph-file", str(g), "--shuffles", "4", "--seed", "3"]
        assert main([*argv, "--jobs", jobs, "--output", str(out)]) == 0
        nulls[jobs] = json.loads(out.read_text())["null"]
    assert nulls["1"] == nulls["2"]
    from nngraph.stats import _worker_pool

    assert _worker_pool._POOL is not None and _worker_pool._POOL._max_workers == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["clusterability", "--jobs", "0"], "--jobs: must be at least 1"),
        (["clusterability", "--jobs", "-2"], "--jobs: must be at least 1"),
        (["run", "--shuffles", "x"], "--shuffles: expected an integer"),
        (["graph", "--dropout", "2.0"], "--dropout: must be in [0, 1)"),
        (["run", "--seed", "-1"], "--seed: must be at least 0"),
        (["graph", "--prune", "1"], "--prune: must be in [0, 1)"),
        (["run", "--l1=-1e-5"], "--l1: must be a finite number >= 0"),
        (["run", "--cluster-lambda", "inf"], "--cluster-lambda: must be a finite number >= 0"),
        (["run", "--cluster-k", "1"], "--cluster-k: must be at least 2"),
    ],
)
def test_bad_numbers_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_training_options_reach_the_model_zoo(tmp_path, monkeypatch):
    import nngraph.models as models

    seen = {}

    class Stop(Exception):
        pass

    def fake(name, **kwargs):
        seen.update(kwargs, name=name)
        raise Stop

    monkeypatch.setattr(models, "pretrained", fake)
    argv = ["graph", "--prune", "0.9", "--l1", "5e-5", "--l2", "1e-4", "--cluster-lambda", "0.1"]
    with pytest.raises(Stop):
        main([*argv, "--cluster-k", "3", "--dropout", "0.5", "--output", str(tmp_path / "g.npz")])
    expected = {"prune": 0.9, "l1": 5e-5, "l2": 1e-4, "cluster_lambda": 0.1, "cluster_k": 3}
    assert {k: seen[k] for k in expected} == expected
    assert seen["dropout"] == 0.5 and seen["weight_decay"] == 0.0 and seen["name"] == "mlp"


def test_model_options_with_a_graph_file_are_refused(tmp_path, capsys):
    g = tmp_path / "g.npz"
    g.write_bytes(b"")
    argv = ["cluster", "--graph-file", str(g), "--dropout", "0.5", "--graph", "activation"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--dropout, --graph cannot be used with --graph-file" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cluster", "--output", "{tmp}/no/p.json"], "the folder '{tmp}/no' does not exist"),
        (["cluster", "--output", "{tmp}/p.txt"], "--output must end in .json"),
        (["clusterability", "--output", "{tmp}"], "--output must end in .json"),
        (["compare", "--output", "{tmp}/x.parquet"], "must end in .csv or .json"),
        (["graph", "--output", "{tmp}/missing/g.npz"], "'{tmp}/missing' does not exist"),
        (["cluster", "--graph-file", "{tmp}/nope.npz"], "{tmp}/nope.npz"),
        (["importance", "--partition", "{tmp}/nope.json"], "{tmp}/nope.json"),
    ],
)
def test_bad_paths_fail_at_once_naming_the_users_path(tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err
    assert ".tmp" not in err


def test_run_writes_the_report_folder_and_refuses_to_mix_runs(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", *SMALL_RUN, "--quiet", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Is it modular?") and "report.html" in printed
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "report.md", "summary.json", "config.toml", "figures"} <= names
    assert "graph-activation.npz" in names and "importance-weight.csv" in names
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["k"] == 4 and summary["config"]["n_random"] == 9
    # "in all" is the whole run: the stages, then writing the files and the report.
    in_all = re.search(r"([0-9.]+) s in all: (.*)", printed)
    stages = dict(re.findall(r"(?:^|, )([^,]+?) ([0-9.]+) s", in_all.group(2)))
    assert list(stages)[-1] == "files and report" and float(stages["files and report"]) > 0
    assert float(in_all.group(1)) == pytest.approx(
        sum(map(float, stages.values())), abs=0.1 * len(stages)
    )
    assert "files and report" not in summary["timings"]  # written inside that stage

    # A second run into the same folder is refused, and the folder is left alone.
    before = sorted(p.name for p in out.iterdir())
    assert main(["run", "--shuffles", "0", "--output", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before

    # With --force it is replaced whole: no clusterability file of the old run is left.
    argv = ["run", *SMALL_RUN, "--shuffles", "0", "--graphs", "weight", "--no-importance"]
    assert main([*argv, "--coherence", "--quiet", "--force", "--output", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert "clusterability-weight.json" not in names and "graph-activation.npz" not in names
    assert "importance-weight.csv" not in names and "report.html" in names


def test_run_reads_a_config_file_and_flags_win(tmp_path, capsys):
    cfg = tmp_path / "study.toml"
    cfg.write_text(
        'graphs = ["weight"]\nk = 3\nn_shuffles = 0\nimportance = false\ncoherence = []\n'
    )
    out = tmp_path / "out"
    assert main(["run", "--config", str(cfg), "--k", "5", "--quiet", "--output", str(out)]) == 0
    config = ng.load_config(out / "config.toml")
    assert (config.k, config.graphs, config.n_shuffles) == (5, ("weight",), 0)
    cfg.write_text("n_shufles = 3\n")
    assert main(["run", "--config", str(cfg), "--output", str(tmp_path / "o2")]) == 2
    assert "did you mean 'n_shuffles'" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


USER_MODULE = """
import torch

def build(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 12), torch.nn.ReLU(), torch.nn.Linear(12, 12), torch.nn.ReLU(),
        torch.nn.Linear(12, 3),
    )
    x = torch.randn(90, 6)
    y = torch.arange(90) % 3
    return model, {"x_train": x[:60], "y_train": y[:60], "x_test": x[60:], "y_test": y[60:]}
"""


def test_run_on_a_network_of_ones_own(tmp_path, monkeypatch, capsys):
    (tmp_path / "cli_user_net.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "cli_user_net", raising=False)
    argv = ["run", "--model", "cli_user_net:build", *SMALL_RUN, "--k", "3", "--quiet"]
    assert main([*argv, "--output", "out"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["model"]["source"] == "cli_user_net:build"
    assert summary["graphs"]["weight"]["layers"] == {"input": 6, "0": 12, "2": 12, "4": 3}
    cfg = tmp_path / "user.toml"
    cfg.write_text(
        'model = "cli_user_net:build"\ngraphs = "activation"\nn_shuffles = 0\n'
        "importance = false\ncoherence = []\nk = 2\n"
    )
    assert main(["run", "--config", str(cfg), "--quiet", "--output", "out2"]) == 0
    assert (tmp_path / "out2" / "graph-activation.npz").exists()
    # Training options would be recorded but not applied: refused, before any work.
    for command in (["run", "--output", "out3"], ["graph", "--output", "g.npz"]):
        argv = [*command, "--model", "cli_user_net:build", "--prune", "0.5"]
        assert main(argv) == 2
        assert "prune trains a bundled network" in capsys.readouterr().err
    assert not (tmp_path / "out3").exists() and not (tmp_path / "g.npz").exists()


def test_importance_and_coherence_read_a_partition_file(tmp_path, capsys):
    part = tmp_path / "part.json"
    assert main(["cluster", "--k", "4", "--output", str(part)]) == 0
    out = tmp_path / "imp.json"
    argv = ["importance", "--partition", str(part), "--n-random", "4", "--null-partitions", "2"]
    assert main([*argv, "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["proxy"] == "importance" and doc["rows"]
    captured = capsys.readouterr()
    assert "combined p" in captured.out and "1/5 = 0.2" in captured.err
    out, fig = tmp_path / "coh.csv", tmp_path / "coh.png"
    argv = ["coherence", "--partition", str(part), "--n-random", "4", "--null-partitions", "2"]
    assert main([*argv, "--output", str(out), "--figure", str(fig)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and "label_entropy_p" in rows[0]
    assert fig.stat().st_size > 5000
    assert main([*argv, "--figure", str(tmp_path / "coh.jpg")]) == 2
    assert "--figure must end in .png" in capsys.readouterr().err


def test_module_entry_point_and_help():
    proc = subprocess.run(
        [sys.executable, "-m", "nngraph", "run", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert (
        "--config" in proc.stdout and "--force" in proc.stdout and "MODULE:FUNCTION" in proc.stdout
    )


def test_help_defaults_are_the_study_defaults():
    from nngraph.cli._parser import build_parser
    from nngraph.pipeline import StudyConfig

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    helps = {a.dest: a.help or "" for a in run._actions}
    c = StudyConfig()
    assert f"({c.k})" in helps["k"]
    assert f"({c.n_shuffles})" in helps["n_shuffles"]
    assert f"({c.n_random};" in helps["n_random"]
    assert f"({c.n_null_partitions})" in helps["n_null_partitions"]
    assert f"({c.steps})" in helps["steps"]
    assert f"({c.jobs})" in helps["jobs"]
    assert " ".join(c.graphs) in helps["graphs"]
    assert " ".join(c.partitioners) in helps["partitioners"]
    assert " ".join(c.coherence) in helps["coherence"]


def test_ctrl_c_during_a_numba_kernel_exits_130_too(monkeypatch, capsys):
    # numba turns the interrupt into "SystemError: ... returned a result with an
    # exception set"; the command line still says "interrupted" in one line.
    from nngraph.cli import _commands

    def interrupted_in_a_kernel(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise SystemError("CPUDispatcher(f) returned a result with an exception set")  # noqa: B904

    monkeypatch.setattr(_commands, "cmd_cluster", interrupted_in_a_kernel)
    assert main(["cluster"]) == 130
    err = capsys.readouterr().err
    assert "nngraph cluster: interrupted; nothing was written" in err and "Traceback" not in err


@pytest.mark.slow
def test_ctrl_c_exits_130_with_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        python_with_ctrl_c("-m", "nngraph", "run", *SMALL_RUN, "--output", str(out)),
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    for line in proc.stderr:
        if "partitions" in line:  # well into the work
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, rest
    assert "interrupted" in rest and "Traceback" not in rest
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
