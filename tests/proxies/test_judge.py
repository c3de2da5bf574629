"""judge_partitions: partitioners judged by the proxies; `nngraph compare --proxies`."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import torch
import torch.nn as nn

import nngraph as ng
from nngraph.cli import main
from nngraph.proxies import ProxyResult, judge_partitions, random_relabel


@pytest.fixture(scope="module")
def task():
    """Train a small MLP on a 3-class problem; its weight graph."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 6, generator=g)
    y = (x @ torch.randn(6, 3, generator=g)).argmax(1)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)
        )
        opt = torch.optim.Adam(model.parameters(), 1e-2)
        for _ in range(200):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()
    return model, ng.weight_graph(model, x[:1]), x, y


PARTITIONERS = {"spectral": ng.SpectralClustering(3), "louvain": ng.Louvain(n_clusters=3)}


@pytest.mark.usefixtures("community_kernels")
def test_proxy_columns_summarise_the_proxies(task):
    model, g, x, y = task
    judged = judge_partitions(
        g,
        PARTITIONERS,
        model,
        x,
        y,
        proxies=["importance", "dataset"],
        n_random=19,
        n_null_partitions=4,
        baseline=True,
        random_state=0,
    )
    assert judged.extra_columns == [
        "importance_tested",
        "importance_significant",
        "importance_p",
        "importance_random_significant",
        "importance_random_p",
        "dataset_tested",
        "dataset_significant",
        "dataset_p",
        "dataset_random_significant",
        "dataset_random_p",
    ]
    for row in judged.rows:
        res = judged.details[row["method"]]["importance"]
        assert isinstance(res, ProxyResult)
        assert row["importance_tested"] == res.n_rows
        assert row["importance_significant"] == pytest.approx(
            res.n_significant("balanced_accuracy") / res.n_rows
        )
        assert row["importance_p"] == res.combined_p("balanced_accuracy")
        assert 0 < row["importance_random_p"] <= 1
        random = judged.details[row["method"]]["importance (random)"]
        assert random.n_rows == res.n_rows  # same sub-cluster sizes
        assert sorted(r["size"] for r in random.rows) == sorted(r["size"] for r in res.rows)
    # the same columns in the printout and the CSV, after modularity
    text = str(judged)
    assert "importance_significant" in text and "dataset_random_p" in text
    header = next(csv.reader(io.StringIO(judged.to_csv())))
    assert header[header.index("modularity") + 1 : header.index("sizes")] == judged.extra_columns
    assert "importance_p" in judged.to_dict()["methods"][0]


@pytest.mark.usefixtures("community_kernels")
def test_statistic_choice_and_an_existing_comparison(task):
    model, g, x, y = task
    cmp = ng.compare_partitioners(g, PARTITIONERS, random_state=0)
    judged = judge_partitions(
        g,
        None,
        model,
        x,
        y,
        proxies=["importance"],
        statistics={"importance": "loss"},
        n_random=9,
        n_null_partitions=0,
        comparison=cmp,
    )
    assert judged is cmp and cmp.labels["spectral"] is not None
    res = cmp.details["spectral"]["importance"]
    assert cmp.rows[0]["importance_p"] == res.combined_p("loss")
    with pytest.raises(ValueError, match="no statistic"):
        judge_partitions(
            g, None, model, x, y, proxies=["importance"], statistics={"importance": "nope"},
            n_random=9, comparison=ng.compare_partitioners(g, PARTITIONERS),
        )  # fmt: skip
    with pytest.raises(ValueError):
        judge_partitions(g, PARTITIONERS, model, x, y, proxies=["lesions"])
    with pytest.raises(ValueError, match="no proxies"):
        judge_partitions(g, PARTITIONERS, model, x, y, proxies=[])


def test_random_relabel_keeps_sizes_and_left_out_units():
    part = ng.Partition(
        {"a": np.array([0, 0, 1, 1, 1, -1, 2]), "b": np.array([1, 1, 0, -1])}, method="m"
    )
    shuffled = random_relabel(part, random_state=3)
    assert shuffled.method == "m (random)"
    for name in part.layer_names:
        before, after = part.layer_labels[name], shuffled.layer_labels[name]
        assert np.array_equal(before < 0, after < 0)
        assert np.array_equal(np.bincount(before[before >= 0]), np.bincount(after[after >= 0]))
    again = random_relabel(part, random_state=3)
    assert all(
        np.array_equal(again.layer_labels[n], shuffled.layer_labels[n]) for n in part.layer_names
    )


def test_add_column_checks_its_input(task):
    _, g, _, _ = task
    cmp = ng.compare_partitioners(g, {"spectral": ng.SpectralClustering(3)}, random_state=0)
    cmp.add_column("score", {"spectral": 0.5})
    assert cmp.rows[0]["score"] == 0.5 and cmp.extra_columns == ["score"]
    with pytest.raises(ValueError, match="own columns"):
        cmp.add_column("ncut", {"spectral": 1.0})
    with pytest.raises(ValueError, match="no method"):
        cmp.add_column("x", {"louvain": 1.0})


@pytest.mark.usefixtures("community_kernels")
def test_cli_compare_with_proxies(tmp_path, capsys):
    out = tmp_path / "cmp.csv"
    args = ["compare", "--methods", "spectral", "louvain", "--k", "4"]
    assert main([*args, "--proxies", "importance", "--n-random", "9", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "importance_significant" in printed
    header = out.read_text().splitlines()[0].split(",")
    assert {"importance_tested", "importance_significant", "importance_p"} <= set(header)
    graph = tmp_path / "g.npz"
    assert main(["graph", "--output", str(graph)]) == 0
    assert main(["compare", "--graph-file", str(graph), "--proxies"]) == 2
    assert "--proxies needs the network" in capsys.readouterr().err
