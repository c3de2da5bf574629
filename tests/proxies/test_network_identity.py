"""The network a partition was computed on travels with it, and the proxies check it.

A graph records its network's fingerprint; a partition bound to the graph writes it to
its file; importance and coherence warn when they get a network with other parameters
(the same layers, so the units would otherwise be matched silently).
"""

from __future__ import annotations

import copy
import json
import warnings

import pytest
import torch
import torch.nn as nn

import nngraph as ng
from nngraph.graphs._network_fingerprint import network_fingerprint


def _mlp(seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Linear(12, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        model[1].running_mean.copy_(torch.randn(12, generator=g))
        model[1].running_var.copy_(torch.rand(12, generator=g) + 0.5)
    return model.eval()


@pytest.fixture
def data(rng):
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    x = torch.randn(60, 5, generator=g)
    return x, torch.randint(0, 3, (60,), generator=g)


def test_fingerprint_follows_every_parameter_and_buffer():
    model = _mlp(0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    fp = network_fingerprint(model)
    assert fp.startswith("sha256:") and len(fp) == 7 + 64
    assert network_fingerprint(copy.deepcopy(model)) == fp
    for name in ("0.weight", "3.bias", "1.running_mean", "1.running_var"):
        other = copy.deepcopy(model)
        with torch.no_grad():
            other.state_dict()[name].view(-1)[0] += 1e-6
        assert network_fingerprint(other) != fp, name
    # Same values in another dtype: another network.
    assert network_fingerprint(copy.deepcopy(model).double()) != fp
    assert network_fingerprint(copy.deepcopy(model).bfloat16()) != fp
    # The model is read, not changed.
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert not model.training


def test_graphs_record_their_network_and_partitions_carry_it(tmp_path, data):
    model = _mlp(0)
    x, _ = data
    fp = network_fingerprint(model)
    wg = ng.weight_graph(model, x[:1])
    ag = ng.activation_graph(model, x)
    assert wg.meta["network_sha256"] == fp and ag.meta["network_sha256"] == fp
    loaded = ng.NeuronGraph.load(wg.save(tmp_path / "g"))
    assert loaded.meta["network_sha256"] == fp

    for graph, kind in ((wg, "weight"), (ag, "activation")):
        est = ng.SpectralClustering(2, random_state=0).fit(graph)
        part = ng.Partition.from_estimator(est, graph)
        path = part.save(tmp_path / f"{kind}.json")
        doc = json.loads(path.read_text())
        assert doc["graph"]["kind"] == kind and doc["graph"]["network_sha256"] == fp
        back = ng.Partition.load(path)
        assert back.graph_info["network_sha256"] == fp and back.graph_info["kind"] == kind
        # Saved again, unbound: the identity is kept.
        again = json.loads(back.save(tmp_path / f"{kind}2.json").read_text())
        assert again["graph"]["network_sha256"] == fp


def test_a_graph_without_a_network_records_none(tmp_path):
    g, truth = ng.datasets.layered_graph((4, 5, 3), 2, random_state=0)
    doc = ng.Partition(truth, g).to_dict()
    assert "network_sha256" not in doc["graph"] and "kind" not in doc["graph"]


@pytest.mark.parametrize("field", ["kind", "network_sha256"])
def test_the_reader_refuses_a_malformed_identity(field):
    doc = {
        "format": "nngraph.partition",
        "version": 1,
        "layers": [{"name": "fc", "labels": [0, 1]}],
        "graph": {field: 5},
    }
    with pytest.raises(ValueError, match=f"'graph.{field}' must be a string"):
        ng.Partition.from_dict(doc)


@pytest.mark.parametrize("proxy", ["importance", "coherence"])
def test_proxies_warn_on_another_network_only(tmp_path, data, proxy):
    x, y = data
    model, other = _mlp(0), _mlp(1)
    graph = ng.weight_graph(model, x[:1])
    est = ng.SpectralClustering(2, random_state=0).fit(graph)
    part = ng.Partition.from_estimator(est, graph)
    path = part.save(tmp_path / "part.json")
    run = getattr(ng, proxy)
    kwargs = {"n_random": 4, "n_null_partitions": 4, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ng.GraphMismatchWarning)
        run(model, path, x, y, **kwargs)  # the same network: silent
        run(copy.deepcopy(model), path, x, y, **kwargs)  # a copy is the same network
    with pytest.warns(ng.GraphMismatchWarning, match="other parameters") as record:
        run(other, path, x, y, **kwargs)
    assert record[0].filename == __file__  # points at the caller's line


def test_lazy_conjugate_and_negative_views_are_hashed_by_their_values():
    model = _mlp(0)
    z = torch.randn(3, dtype=torch.complex64, generator=torch.Generator().manual_seed(1))
    model.register_buffer("phase", z.conj())  # a lazy conjugate view, unused by forward
    resolved = copy.deepcopy(model)
    resolved.phase = z.conj().resolve_conj()
    assert network_fingerprint(model) == network_fingerprint(resolved)
    assert ng.weight_graph(model, torch.zeros(1, 5)).meta["network_sha256"] == network_fingerprint(
        model
    )


def test_a_reweighted_graph_no_longer_names_the_network():
    graph = ng.weight_graph(_mlp(0), torch.zeros(1, 5))
    assert "network_sha256" in graph.subgraph(range(10)).meta  # the same weights
    assert "network_sha256" not in graph.with_adjacency(graph.adjacency * 2).meta


def test_judge_partitions_warns_at_the_callers_line(data):
    x, y = data
    model, other = _mlp(0), _mlp(1)
    graph = ng.weight_graph(model, x[:1])
    with pytest.warns(ng.GraphMismatchWarning, match="other parameters") as record:
        ng.judge_partitions(
            graph,
            {"spectral": ng.SpectralClustering(2, random_state=0)},
            other,
            x,
            y,
            proxies=("importance",),
            n_random=4,
            n_null_partitions=4,
            random_state=0,
        )
    assert {w.filename for w in record if w.category is ng.GraphMismatchWarning} == {__file__}
